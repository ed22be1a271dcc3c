//! The AWS KMS API: the JSON 1.1 protocol at `POST /` (`X-Amz-Target: TrentService.<Op>`,
//! `Content-Type: application/x-amz-json-1.1`), authenticated with SigV4, answered in AWS's
//! shapes and with AWS's exception names (SDKs match on them). Operations are in [`ops`];
//! here are the protocol, authentication and the error mapping.

mod ops;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use crate::domain::{Caller, DomainError};
use crate::handlers::sigv4::{self, SigV4Error};
use crate::state::AppState;

/// The protocol's media type.
const JSON_1_1: &str = "application/x-amz-json-1.1";
/// The target prefix of every KMS operation.
const SERVICE_PREFIX: &str = "TrentService.";

/// `POST /`: one KMS operation.
pub(crate) async fn call(
    State(state): State<AppState>,
    parts: Parts,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let request_id = parts
        .headers
        .get(crate::handlers::REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-")
        .to_string();
    let answer = answer(&state, &parts, body).await;
    let (status, body) = match answer {
        Ok(value) => (StatusCode::OK, value),
        Err(e) => e.into_parts(),
    };
    let mut response = (status, body.to_string()).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(JSON_1_1));
    if let Ok(id) = HeaderValue::from_str(&request_id) {
        headers.insert("x-amzn-requestid", id);
    }
    if status == StatusCode::SERVICE_UNAVAILABLE || status == StatusCode::TOO_MANY_REQUESTS {
        headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    response
}

async fn answer(
    state: &AppState,
    parts: &Parts,
    body: Result<Bytes, BytesRejection>,
) -> Result<Value, KmsError> {
    let target = parts.headers.get("x-amz-target").and_then(|v| v.to_str().ok()).unwrap_or("");
    let Some(operation) = target.strip_prefix(SERVICE_PREFIX) else {
        return Err(KmsError::Protocol(
            "UnknownOperationException",
            format!("X-Amz-Target {target:?} is not a TrentService operation"),
        ));
    };
    let media = parts.headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok());
    if media.is_none_or(|m| m.split(';').next().is_none_or(|t| t.trim() != JSON_1_1)) {
        return Err(KmsError::Protocol(
            "SerializationException",
            format!("Content-Type must be {JSON_1_1}"),
        ));
    }
    let body = body.map_err(|e| KmsError::Domain(DomainError::from(e)))?;
    let mut caller = authenticate(state, parts, &body).await?;
    let input: Value = if body.is_empty() {
        Value::Object(serde_json::Map::new())
    } else {
        match serde_json::from_slice(&body) {
            Ok(v @ Value::Object(_)) => v,
            _ => {
                let e = DomainError::invalid("the request body is not a JSON object");
                return Err(KmsError::Serialization(refused(state, &caller, operation, e).await));
            }
        }
    };
    caller.parameters = Some(std::sync::Arc::new(request_parameters(&input)));
    ops::run(state, &caller, operation, input).await.map_err(KmsError::Domain)
}

/// The caller: a SigV4 signature (AWS clients), or a bearer token as `/v0` takes them (a
/// browser with a sign-in token; the request is then in the deployment's own region).
async fn authenticate(state: &AppState, parts: &Parts, body: &[u8]) -> Result<Caller, KmsError> {
    let bearer = parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("Bearer "));
    if bearer {
        let mut parts = parts.clone();
        return Caller::from_request_parts(&mut parts, state).await.map_err(|e| match e {
            DomainError::Unauthorized => KmsError::Auth(SigV4Error::UnrecognizedClient),
            DomainError::RateLimited => KmsError::Auth(SigV4Error::Throttling),
            other => KmsError::Domain(other),
        });
    }
    let signed = sigv4::authenticate(&state.auth, parts, body, "kms").await;
    Ok(signed.map_err(KmsError::Auth)?.caller)
}

/// Members of a request that never go into an audit record: secrets, and blobs that are
/// large and say nothing to a reader (CloudTrail leaves them out too).
const UNRECORDED: [&str; 12] = [
    "Plaintext",
    "ImportToken",
    "EncryptedKeyMaterial",
    "CiphertextBlob",
    "GrantToken",
    "GrantTokens",
    "Recipient",
    "Message",
    "Signature",
    "Mac",
    "PublicKey",
    "SecretAccessKey",
];

/// CloudTrail's `requestParameters` of a request: its members in camelCase, without
/// [`UNRECORDED`] ones.
fn request_parameters(input: &Value) -> Value {
    let Value::Object(members) = input else { return Value::Null };
    let kept = members.iter().filter(|(k, _)| !UNRECORDED.contains(&k.as_str())).map(|(k, v)| {
        let mut name = k.clone();
        if let Some(first) = name.get_mut(..1) {
            first.make_ascii_lowercase();
        }
        (name, v.clone())
    });
    Value::Object(kept.collect())
}

/// Records a refusal of `operation` and returns it.
async fn refused(
    state: &AppState,
    caller: &Caller,
    operation: &str,
    e: DomainError,
) -> DomainError {
    match state.keys.refuse::<()>(caller, operation, e).await {
        Err(e) => e,
        Ok(()) => DomainError::internal("a refusal was recorded as allowed"),
    }
}

/// Why a KMS request failed.
#[derive(Debug)]
enum KmsError {
    /// Refused before authentication: not a KMS request.
    Protocol(&'static str, String),
    /// The signature did not authenticate.
    Auth(SigV4Error),
    /// The body is not JSON of the operation's shape.
    Serialization(DomainError),
    /// The operation failed.
    Domain(DomainError),
}

impl KmsError {
    /// Status and `{"__type", "message"}` body, as AWS answers.
    fn into_parts(self) -> (StatusCode, Value) {
        let (status, kind, message) = match self {
            Self::Protocol(kind, message) => (StatusCode::BAD_REQUEST, kind, message),
            Self::Auth(e) => (e.status(), e.aws_type(), e.message()),
            Self::Serialization(DomainError::Invalid(m)) => {
                (StatusCode::BAD_REQUEST, "SerializationException", m)
            }
            Self::Serialization(e) | Self::Domain(e) => {
                let (status, kind) = exception(&e);
                match &e {
                    DomainError::Internal(d) | DomainError::Misconfigured(d) => {
                        tracing::error!(detail = %d, "KMS request failed");
                    }
                    DomainError::Unavailable(d) | DomainError::AuditFailed(d) => {
                        tracing::warn!(code = e.code(), detail = %d, "KMS request refused");
                    }
                    _ => {}
                }
                (status, kind, e.public_message())
            }
        };
        (status, serde_json::json!({ "__type": kind, "message": message }))
    }
}

/// The HTTP status and exception name AWS KMS answers a failure with.
fn exception(e: &DomainError) -> (StatusCode, &'static str) {
    let bad = StatusCode::BAD_REQUEST;
    match e {
        DomainError::NotFound(_) => (bad, "NotFoundException"),
        DomainError::Invalid(_) | DomainError::TooLarge(_) => (bad, "ValidationException"),
        DomainError::UnsupportedMediaType(_) | DomainError::MethodNotAllowed(_) => {
            (bad, "SerializationException")
        }
        DomainError::Unauthorized => (bad, "UnrecognizedClientException"),
        DomainError::AccessDenied(_) => (bad, "AccessDeniedException"),
        DomainError::KeyDisabled(_) => (bad, "DisabledException"),
        DomainError::KeyPendingDeletion(_) | DomainError::InvalidState(_) => {
            (bad, "KMSInvalidStateException")
        }
        DomainError::InvalidCiphertext => (bad, "InvalidCiphertextException"),
        DomainError::AlreadyExists(_) => (bad, "AlreadyExistsException"),
        DomainError::IncorrectKey(_) => (bad, "IncorrectKeyException"),
        DomainError::InvalidKeyUsage(_) => (bad, "InvalidKeyUsageException"),
        DomainError::Tag(_) => (bad, "TagException"),
        DomainError::Unsupported(_) => (bad, "UnsupportedOperationException"),
        DomainError::DryRun => (StatusCode::PRECONDITION_FAILED, "DryRunOperationException"),
        DomainError::MalformedPolicy(_) => (bad, "MalformedPolicyDocumentException"),
        DomainError::InvalidGrantToken => (bad, "InvalidGrantTokenException"),
        DomainError::InvalidMarker => (bad, "InvalidMarkerException"),
        DomainError::InvalidSignature => (bad, "KMSInvalidSignatureException"),
        DomainError::InvalidMac => (bad, "KMSInvalidMacException"),
        DomainError::InvalidImportToken => (bad, "InvalidImportTokenException"),
        DomainError::ExpiredImportToken => (bad, "ExpiredImportTokenException"),
        DomainError::IncorrectKeyMaterial(_) => (bad, "IncorrectKeyMaterialException"),
        DomainError::RateLimited => (bad, "ThrottlingException"),
        DomainError::LimitExceeded(_) => (bad, "LimitExceededException"),
        DomainError::Unavailable(_) => {
            (StatusCode::SERVICE_UNAVAILABLE, "DependencyTimeoutException")
        }
        DomainError::AuditFailed(_) | DomainError::Internal(_) | DomainError::Misconfigured(_) => {
            (StatusCode::INTERNAL_SERVER_ERROR, "KMSInternalException")
        }
    }
}
