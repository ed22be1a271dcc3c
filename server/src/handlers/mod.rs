//! HTTP handlers: they authenticate, call the domain functions and audit.

pub(crate) mod ops;
pub(crate) mod v0;

use std::net::SocketAddr;

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{ConnectInfo, FromRequestParts, OriginalUri};
use axum::http::request::Parts;

use crate::error::AppError;
use crate::state::{AppState, Caller};

/// Header that carries the request ID (set by [`ops::request_id`] when absent).
pub(crate) const REQUEST_ID: &str = "x-request-id";

/// The authenticated caller: a bearer token that belongs to a principal, within its rate.
/// A refused request is audited here, since no handler will see it.
impl FromRequestParts<AppState> for Caller {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        let request_id =
            parts.headers.get(REQUEST_ID).and_then(|v| v.to_str().ok()).unwrap_or("-").to_string();
        let token = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        let principal = match token {
            Some(token) => state.principal_of(token.trim()).await?,
            None => None,
        };
        // The path as the client sent it: routers nested under /v0 see it shortened.
        let path = parts.extensions.get::<OriginalUri>().map_or(parts.uri.path(), |u| u.0.path());
        let action = format!("{} {path}", parts.method);
        let Some(principal) = principal else {
            // Limited per client address before they are audited, so that requests without a
            // valid token cannot flood the audit log or hold the writer lock.
            let client = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip());
            let bucket =
                format!("anonymous {}", client.map_or("unknown".into(), |ip| ip.to_string()));
            if state.limiter.check_key(&bucket).is_err() {
                return Err(AppError::RateLimited);
            }
            let anonymous = Caller { principal: "-".into(), request_id };
            return state.audit(&anonymous, &action, None, None, Err(AppError::Unauthorized)).await;
        };
        let caller = Caller { principal, request_id };
        if state.limiter.check_key(&caller.principal).is_err() {
            return state.audit(&caller, &action, None, None, Err(AppError::RateLimited)).await;
        }
        Ok(caller)
    }
}

/// Refuses callers other than the admin principal.
pub(crate) fn require_admin(caller: &Caller) -> Result<(), AppError> {
    if caller.principal == crate::ADMIN_PRINCIPAL {
        Ok(())
    } else {
        Err(AppError::AccessDenied(format!("only {} may do this", crate::ADMIN_PRINCIPAL)))
    }
}

/// A JSON request body, or the reason it is not one, as an [`AppError`] that the handler
/// audits (axum's own rejections would answer in plain text and skip the audit log).
pub(crate) fn json_body<T>(body: Result<Json<T>, JsonRejection>) -> Result<T, AppError> {
    body.map(|Json(v)| v).map_err(|e| AppError::invalid(e.body_text()))
}
