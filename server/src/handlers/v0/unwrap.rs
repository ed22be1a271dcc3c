//! Unwrap bound to a verified header, and plain RSA Decrypt for compatibility.

use axum::Json;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;
use serde_json::json;

use crate::domain::recipient::{Recipient, RecipientJwk};
use crate::domain::{Answer, Caller, DomainError, EdkSelector, Unwrapped};
use crate::handlers::{KeyRef, json_body};
use crate::state::AppState;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct UnwrapRequest {
    header: String,
    /// Position of the EDK in the header...
    #[serde(default, deserialize_with = "crate::handlers::whole")]
    edk_index: Option<usize>,
    /// ...or its key name (provider information), for clients that do not track positions.
    key_name: Option<String>,
    /// The caller's ephemeral P-256 public key (JWK): the data key comes back as a JWE to it.
    recipient: Option<RecipientJwk>,
}

type Unwrap = (Vec<u8>, EdkSelector, Option<Recipient>);

fn parse_unwrap(req: UnwrapRequest) -> Result<Unwrap, DomainError> {
    let header =
        STANDARD.decode(&req.header).map_err(|_| DomainError::invalid("header is not base64"))?;
    let selector = match (req.edk_index, req.key_name) {
        (Some(i), None) => EdkSelector::Index(i),
        (None, Some(name)) => EdkSelector::Name(name),
        _ => return Err(DomainError::invalid("give exactly one of edkIndex and keyName")),
    };
    Ok((header, selector, req.recipient.as_ref().map(Recipient::agree).transpose()?))
}

pub(crate) async fn unwrap(
    State(state): State<AppState>,
    caller: Caller,
    body: Result<Json<UnwrapRequest>, JsonRejection>,
) -> Result<Response, DomainError> {
    let (header, selector, recipient) = match json_body(body).and_then(parse_unwrap) {
        Ok(parsed) => parsed,
        Err(e) => return state.keys.refuse(&caller, "Unwrap", e).await,
    };
    let unwrapped = state.keys.unwrap(&caller, &header, selector, recipient).await?;
    Ok(answer(unwrapped, "wrappedDataKey", "dataKey"))
}

/// `{"keyId", "keyVersion"}` and the secret: as a JWE under `sealed`, or in the clear under
/// `clear`.
fn answer(unwrapped: Unwrapped, sealed: &str, clear: &str) -> Response {
    match unwrapped.secret {
        Answer::Sealed(jwe) => Json(json!({
            "keyId": unwrapped.key_id,
            "keyVersion": unwrapped.version,
            sealed: jwe,
        }))
        .into_response(),
        Answer::Clear(secret) => secret_json(&unwrapped.key_id, unwrapped.version, clear, &secret),
    }
}

/// A JSON answer `{"keyId", "keyVersion", FIELD: base64(secret)}` whose every copy of the
/// secret is zeroized: the base64 text, and the body buffer, which the HTTP stack drops
/// (zeroizing it) once written.
fn secret_json(key_id: &str, version: i64, field: &str, secret: &[u8]) -> Response {
    let b64 = zeroize::Zeroizing::new(STANDARD.encode(secret));
    let mut body = zeroize::Zeroizing::new(Vec::with_capacity(b64.len() + key_id.len() + 64));
    let head = json!({ "keyId": key_id, "keyVersion": version }).to_string();
    body.extend_from_slice(&head.as_bytes()[..head.len() - 1]);
    body.extend_from_slice(format!(",\"{field}\":\"").as_bytes());
    body.extend_from_slice(b64.as_bytes());
    body.extend_from_slice(b"\"}");
    let bytes = bytes::Bytes::from_owner(ZeroizedBody(body));
    ([(header::CONTENT_TYPE, "application/json")], axum::body::Body::from(bytes)).into_response()
}

/// A body buffer that is zeroized when the last reference to it goes.
struct ZeroizedBody(zeroize::Zeroizing<Vec<u8>>);

impl AsRef<[u8]> for ZeroizedBody {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct DecryptRequest {
    ciphertext_blob: String,
    #[serde(default)]
    encryption_algorithm: Option<String>,
    #[serde(default, deserialize_with = "crate::handlers::whole")]
    key_version: Option<i64>,
    /// The caller's ephemeral P-256 public key (JWK): the plaintext comes back as a JWE to it.
    #[serde(default)]
    recipient: Option<RecipientJwk>,
}

type Decrypt = (Vec<u8>, bool, Option<i64>, Option<Recipient>);

fn parse_decrypt(req: DecryptRequest) -> Result<Decrypt, DomainError> {
    let sha1 = match req.encryption_algorithm.as_deref() {
        None | Some("RSAES_OAEP_SHA_256") => false,
        Some("RSAES_OAEP_SHA_1") => true,
        Some(other) => return Err(DomainError::invalid(format!("unsupported algorithm {other}"))),
    };
    let ciphertext = STANDARD
        .decode(&req.ciphertext_blob)
        .map_err(|_| DomainError::invalid("ciphertextBlob is not base64"))?;
    let recipient = req.recipient.as_ref().map(Recipient::agree).transpose()?;
    Ok((ciphertext, sha1, req.key_version, recipient))
}

pub(crate) async fn decrypt(
    State(state): State<AppState>,
    caller: Caller,
    KeyRef(key_ref): KeyRef,
    body: Result<Json<DecryptRequest>, JsonRejection>,
) -> Result<Response, DomainError> {
    let (ciphertext, sha1, version, recipient) = match json_body(body).and_then(parse_decrypt) {
        Ok(parsed) => parsed,
        Err(e) => return state.keys.refuse(&caller, "Decrypt", e).await,
    };
    let decrypted =
        state.keys.decrypt(&caller, &key_ref, ciphertext, sha1, version, recipient).await?;
    Ok(answer(decrypted, "wrappedPlaintext", "plaintext"))
}
