//! Domain errors as HTTP answers: a status, a stable code and a short message. Details of
//! internal failures go to the log only.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::domain::DomainError;

fn status(e: &DomainError) -> StatusCode {
    match e {
        DomainError::NotFound(_) => StatusCode::NOT_FOUND,
        DomainError::Invalid(_) | DomainError::InvalidCiphertext => StatusCode::BAD_REQUEST,
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
        if matches!(self, DomainError::Unavailable(_) | DomainError::AuditFailed(_)) {
            response
                .headers_mut()
                .insert(axum::http::header::RETRY_AFTER, axum::http::HeaderValue::from_static("1"));
        }
        response
    }
}
