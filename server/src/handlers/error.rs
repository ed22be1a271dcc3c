//! Domain errors as HTTP answers: a status, a stable code and a short message. Details of
//! internal failures go to the log only.

use axum::Json;
use axum::extract::rejection::{BytesRejection, JsonRejection, PathRejection, QueryRejection};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::domain::DomainError;

fn status(e: &DomainError) -> StatusCode {
    match e {
        DomainError::NotFound(_) => StatusCode::NOT_FOUND,
        DomainError::Invalid(_)
        | DomainError::InvalidCiphertext
        | DomainError::IncorrectKey(_)
        | DomainError::InvalidKeyUsage(_)
        | DomainError::Tag(_)
        | DomainError::Unsupported(_)
        | DomainError::MalformedPolicy(_)
        | DomainError::InvalidGrantToken
        | DomainError::InvalidMarker
        | DomainError::InvalidSignature
        | DomainError::InvalidMac
        | DomainError::InvalidImportToken
        | DomainError::ExpiredImportToken
        | DomainError::IncorrectKeyMaterial(_) => StatusCode::BAD_REQUEST,
        DomainError::AlreadyExists(_) => StatusCode::CONFLICT,
        DomainError::DryRun => StatusCode::PRECONDITION_FAILED,
        DomainError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
        DomainError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        DomainError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
        DomainError::Unauthorized => StatusCode::UNAUTHORIZED,
        DomainError::AccessDenied(_)
        | DomainError::KeyDisabled(_)
        | DomainError::KeyPendingDeletion(_) => StatusCode::FORBIDDEN,
        DomainError::InvalidState(_) => StatusCode::CONFLICT,
        DomainError::RateLimited | DomainError::LimitExceeded(_) => StatusCode::TOO_MANY_REQUESTS,
        DomainError::Unavailable(_) | DomainError::AuditFailed(_) => {
            StatusCode::SERVICE_UNAVAILABLE
        }
        DomainError::Internal(_) | DomainError::Misconfigured(_) => {
            StatusCode::INTERNAL_SERVER_ERROR
        }
    }
}

impl IntoResponse for DomainError {
    fn into_response(self) -> Response {
        match &self {
            DomainError::Internal(detail) | DomainError::Misconfigured(detail) => {
                tracing::error!(detail = %detail, "request failed");
            }
            DomainError::Unavailable(detail) | DomainError::AuditFailed(detail) => {
                tracing::warn!(code = self.code(), detail = %detail, "request refused");
            }
            _ => {}
        }
        let body = serde_json::json!({ "error": self.code(), "message": self.public_message() });
        let mut response = (status(&self), Json(body)).into_response();
        // The rate limiters refill within a second too (RFC 6585 lets a 429 say when).
        if matches!(
            self,
            DomainError::Unavailable(_) | DomainError::AuditFailed(_) | DomainError::RateLimited
        ) {
            response
                .headers_mut()
                .insert(axum::http::header::RETRY_AFTER, axum::http::HeaderValue::from_static("1"));
        }
        response
    }
}

/// axum's rejections of a request's form (path, query, body) as the [`DomainError`] of the
/// same status, so that they answer in the JSON error shape and can be audited: axum's own
/// answer is plain text.
fn rejected(status: StatusCode, text: String) -> DomainError {
    match status {
        StatusCode::PAYLOAD_TOO_LARGE => DomainError::TooLarge(text),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => DomainError::UnsupportedMediaType(text),
        // A route that extracts parameters it does not have: our bug, not the client's.
        s if s.is_server_error() => DomainError::Internal(text),
        // 400 and 422 alike: AWS answers every malformed request with one code.
        _ => DomainError::Invalid(text),
    }
}

macro_rules! from_rejection {
    ($($rejection:ty),*) => {$(
        impl From<$rejection> for DomainError {
            fn from(e: $rejection) -> Self {
                rejected(e.status(), e.body_text())
            }
        }
    )*};
}

from_rejection!(JsonRejection, PathRejection, QueryRejection, BytesRejection);
