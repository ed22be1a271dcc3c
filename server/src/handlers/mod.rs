//! HTTP handlers: they authenticate, parse, call the domain and answer; the domain audits.

mod error;
pub(crate) mod ops;
pub(crate) mod v0;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{ConnectInfo, FromRef, FromRequestParts, OriginalUri};
use axum::http::request::Parts;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::domain::{Caller, DomainError, KeyServer};

/// Header that carries the request ID (set by [`ops::request_id`] when absent).
pub(crate) const REQUEST_ID: &str = "x-request-id";

/// What authenticating a request needs: the token store (through the key server) and the
/// per-principal rate limiter. Any router whose state provides it may extract a [`Caller`].
#[derive(Clone, Debug)]
pub(crate) struct Auth {
    keys: Arc<KeyServer>,
    limiter: Arc<DefaultKeyedRateLimiter<String>>,
}

impl Auth {
    /// `per_second` requests per principal, bursts of twice that.
    pub(crate) fn new(keys: Arc<KeyServer>, per_second: u32) -> Self {
        use std::num::NonZeroU32;
        let per_second = NonZeroU32::new(per_second.max(1)).unwrap_or(NonZeroU32::MIN);
        let burst = per_second.saturating_mul(NonZeroU32::new(2).unwrap_or(NonZeroU32::MIN));
        let limiter = RateLimiter::keyed(Quota::per_second(per_second).allow_burst(burst));
        Self { keys, limiter: Arc::new(limiter) }
    }
}

/// The authenticated caller: a bearer token that belongs to a principal, within its rate.
/// A refused request is audited here, since no handler will see it.
impl<S: Send + Sync> FromRequestParts<S> for Caller
where
    Auth: FromRef<S>,
{
    type Rejection = DomainError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, DomainError> {
        let auth = Auth::from_ref(state);
        let request_id =
            parts.headers.get(REQUEST_ID).and_then(|v| v.to_str().ok()).unwrap_or("-").to_string();
        let token = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        let principal = match token {
            Some(token) => auth.keys.principal_of(token.trim()).await?,
            None => None,
        };
        // The path as the client sent it: routers nested under /v0 see it shortened.
        let path = parts.extensions.get::<OriginalUri>().map_or(parts.uri.path(), |u| u.0.path());
        let action = format!("{} {path}", parts.method);
        let Some(principal) = principal else {
            // Limited per client address before they are audited, so that requests without a
            // valid token cannot flood the audit log.
            let client = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip());
            let bucket =
                format!("anonymous {}", client.map_or("unknown".into(), |ip| ip.to_string()));
            if auth.limiter.check_key(&bucket).is_err() {
                return Err(DomainError::RateLimited);
            }
            let anonymous = Caller { principal: "-".into(), request_id };
            return auth.keys.refuse(&anonymous, &action, DomainError::Unauthorized).await;
        };
        let caller = Caller { principal, request_id };
        if auth.limiter.check_key(&caller.principal).is_err() {
            return auth.keys.refuse(&caller, &action, DomainError::RateLimited).await;
        }
        Ok(caller)
    }
}

/// A JSON request body, or the reason it is not one, as a [`DomainError`] that the domain
/// audits (axum's own rejections would answer in plain text and skip the audit log).
pub(crate) fn json_body<T>(body: Result<Json<T>, JsonRejection>) -> Result<T, DomainError> {
    body.map(|Json(v)| v).map_err(|e| DomainError::invalid(e.body_text()))
}
