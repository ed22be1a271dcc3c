//! The server's one error type. Clients get a status, a stable code and a short message;
//! details of internal failures go to the log only.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

/// Why a request failed.
#[derive(Debug)]
pub enum AppError {
    /// No such key, alias or version.
    NotFound(String),
    /// The request is malformed or names something invalid.
    Invalid(String),
    /// No valid bearer token.
    Unauthorized,
    /// The key policy (or admin rule) does not allow the action.
    AccessDenied(String),
    /// The key is disabled.
    KeyDisabled(String),
    /// The key is pending deletion; using it raises an alarm record.
    KeyPendingDeletion(String),
    /// The key's state does not allow the change (for example enabling a pending key).
    InvalidState(String),
    /// The wrapped key, header or context did not verify.
    InvalidCiphertext,
    /// The principal exceeded its request rate.
    RateLimited,
    /// Anything else; the message is logged, not returned.
    Internal(String),
}

impl AppError {
    pub(crate) fn internal(msg: impl Into<String>) -> Self {
        Self::Internal(msg.into())
    }

    pub(crate) fn invalid(msg: impl Into<String>) -> Self {
        Self::Invalid(msg.into())
    }

    /// Stable code for clients and the audit log.
    pub fn code(&self) -> &'static str {
        match self {
            Self::NotFound(_) => "NotFound",
            Self::Invalid(_) => "InvalidRequest",
            Self::Unauthorized => "Unauthorized",
            Self::AccessDenied(_) => "AccessDenied",
            Self::KeyDisabled(_) => "KeyDisabled",
            Self::KeyPendingDeletion(_) => "KeyPendingDeletion",
            Self::InvalidState(_) => "InvalidState",
            Self::InvalidCiphertext => "InvalidCiphertext",
            Self::RateLimited => "RateLimited",
            Self::Internal(_) => "Internal",
        }
    }

    /// The message a client may see.
    pub fn public_message(&self) -> String {
        match self {
            Self::NotFound(m)
            | Self::Invalid(m)
            | Self::AccessDenied(m)
            | Self::KeyDisabled(m)
            | Self::KeyPendingDeletion(m)
            | Self::InvalidState(m) => m.clone(),
            Self::Unauthorized => "a valid bearer token is required".into(),
            Self::InvalidCiphertext => {
                "the wrapped key, header or encryption context did not verify".into()
            }
            Self::RateLimited => "too many requests".into(),
            Self::Internal(_) => "internal error".into(),
        }
    }

    fn status(&self) -> StatusCode {
        match self {
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Invalid(_) | Self::InvalidCiphertext => StatusCode::BAD_REQUEST,
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::AccessDenied(_) | Self::KeyDisabled(_) | Self::KeyPendingDeletion(_) => {
                StatusCode::FORBIDDEN
            }
            Self::InvalidState(_) => StatusCode::CONFLICT,
            Self::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl std::fmt::Display for AppError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Internal(detail) => write!(f, "internal error: {detail}"),
            other => write!(f, "{}: {}", other.code(), other.public_message()),
        }
    }
}

impl std::error::Error for AppError {}

impl From<sqlx::Error> for AppError {
    fn from(e: sqlx::Error) -> Self {
        Self::Internal(format!("database: {e}"))
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        if let Self::Internal(detail) = &self {
            tracing::error!(detail = %detail, "request failed");
        }
        let body = serde_json::json!({ "error": self.code(), "message": self.public_message() });
        (self.status(), Json(body)).into_response()
    }
}
