//! HTTP handlers: they authenticate, parse, call the domain and answer; the domain audits.

pub(crate) mod demo;
mod error;
pub(crate) mod kms;
pub(crate) mod ops;
pub(crate) mod sigv4;
pub(crate) mod v0;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{ConnectInfo, FromRef, FromRequestParts, OriginalUri};
use axum::http::Method;
use axum::http::request::Parts;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::domain::{Authentication, Caller, DomainError, KeyServer};

/// Header that carries the request ID (set by [`ops::request_id`] when absent).
pub(crate) const REQUEST_ID: &str = "x-request-id";

/// What authenticating a request needs: the token store (through the key server) and the
/// per-principal rate limiter. Any router whose state provides it may extract a [`Caller`].
#[derive(Clone, Debug)]
pub(crate) struct Auth {
    keys: Arc<KeyServer>,
    limiter: Arc<DefaultKeyedRateLimiter<String>>,
    /// Requests without a valid token, per client address: stricter, and kept apart so that
    /// a flood of bad tokens never uses up an authenticated principal's rate.
    anonymous: Arc<DefaultKeyedRateLimiter<std::net::IpAddr>>,
    refusals: Arc<Refusals>,
}

/// Anonymous requests each address may make per second (bursts of twice that).
const ANONYMOUS_PER_SECOND: u32 = 10;
/// Refusals of one address within this window share one audit record.
const REFUSAL_WINDOW: std::time::Duration = std::time::Duration::from_secs(10);
/// Addresses tracked at once; beyond that, finished windows are dropped first.
const REFUSAL_ADDRESSES: usize = 10_000;

/// Aggregates refusals of requests without a valid token, per client address and window: the
/// first refusal of a window is recorded (naming how many the previous window left out),
/// the rest are only counted. A flood then costs a record per address per window, not an
/// fsync per request.
#[derive(Debug, Default)]
struct Refusals {
    windows: std::sync::Mutex<std::collections::HashMap<std::net::IpAddr, Window>>,
}

#[derive(Debug)]
struct Window {
    start: std::time::Instant,
    unrecorded: u64,
}

impl Refusals {
    /// `Some(n)` when this refusal opens a window and must be recorded (`n`: refusals of the
    /// address's previous window that were not), `None` when it is only counted.
    fn note(&self, ip: std::net::IpAddr) -> Option<u64> {
        let now = std::time::Instant::now();
        let Ok(mut windows) = self.windows.lock() else { return Some(0) };
        if windows.len() >= REFUSAL_ADDRESSES {
            windows.retain(|_, w| now.duration_since(w.start) < REFUSAL_WINDOW);
            if windows.len() >= REFUSAL_ADDRESSES {
                windows.clear();
            }
        }
        match windows.get_mut(&ip) {
            Some(w) if now.duration_since(w.start) < REFUSAL_WINDOW => {
                w.unrecorded += 1;
                None
            }
            Some(w) => {
                let before = std::mem::replace(w, Window { start: now, unrecorded: 0 });
                Some(before.unrecorded)
            }
            None => {
                windows.insert(ip, Window { start: now, unrecorded: 0 });
                Some(0)
            }
        }
    }
}

impl Auth {
    /// `per_second` requests per principal, bursts of twice that.
    pub(crate) fn new(keys: Arc<KeyServer>, per_second: u32) -> Self {
        use std::num::NonZeroU32;
        let per_second = NonZeroU32::new(per_second.max(1)).unwrap_or(NonZeroU32::MIN);
        let burst = per_second.saturating_mul(NonZeroU32::new(2).unwrap_or(NonZeroU32::MIN));
        let limiter = RateLimiter::keyed(Quota::per_second(per_second).allow_burst(burst));
        let anonymous = NonZeroU32::new(ANONYMOUS_PER_SECOND).unwrap_or(NonZeroU32::MIN);
        let anonymous = RateLimiter::keyed(
            Quota::per_second(anonymous).allow_burst(anonymous.saturating_mul(burst_factor())),
        );
        Self {
            keys,
            limiter: Arc::new(limiter),
            anonymous: Arc::new(anonymous),
            refusals: Arc::default(),
        }
    }
}

fn burst_factor() -> std::num::NonZeroU32 {
    std::num::NonZeroU32::new(2).unwrap_or(std::num::NonZeroU32::MIN)
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
        let request_id = request_id(parts);
        let token = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        let proved = match token {
            Some(token) => auth.keys.authenticate(token.trim()).await?,
            None => Authentication::Unknown(None),
        };
        let action = action_of(parts);
        let (principal, token_id, identity) = match proved {
            Authentication::Known { principal, token_id, identity } => {
                (principal, token_id, identity)
            }
            Authentication::Unknown(why) => return Err(auth.refuse_anonymous(parts, why).await),
        };
        let caller =
            Caller { principal, request_id, token_id, identity, region: None, parameters: None };
        auth.admit(&caller, &action).await?;
        // For the extractors after this one, whose refusals are audited under this caller.
        parts.extensions.insert(caller.clone());
        Ok(caller)
    }
}

impl Auth {
    /// Refuses a request that proved nobody (a bad bearer token, a bad signature), `why` for
    /// the record: [`DomainError::RateLimited`] past the anonymous rate of its address, else
    /// [`DomainError::Unauthorized`], recorded once per address and window (or the audit
    /// failure, if that record cannot be written).
    async fn refuse_anonymous(&self, parts: &Parts, why: Option<String>) -> DomainError {
        let client = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip());
        let client = client.unwrap_or(std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED));
        if self.anonymous.check_key(&client).is_err() {
            return DomainError::RateLimited;
        }
        let Some(unrecorded) = self.refusals.note(client) else {
            return DomainError::Unauthorized;
        };
        let anonymous = Caller::named("-", &request_id(parts));
        let why = why.map(|w| format!("{w}; ")).unwrap_or_default();
        let detail = format!(
            "{why}client={client} (later refusals of this address within {}s are counted, not \
             recorded; the previous window left out {unrecorded})",
            REFUSAL_WINDOW.as_secs()
        );
        let action = action_of(parts);
        let refused =
            self.keys.refuse_noted::<()>(&anonymous, &action, DomainError::Unauthorized, detail);
        match refused.await {
            Ok(()) => DomainError::Unauthorized,
            Err(e) => e,
        }
    }

    /// Lets an authenticated caller in within its principal's rate; a refusal is recorded.
    async fn admit(&self, caller: &Caller, action: &str) -> Result<(), DomainError> {
        if self.limiter.check_key(&caller.principal).is_err() {
            return self.keys.refuse(caller, action, DomainError::RateLimited).await;
        }
        Ok(())
    }
}

/// The request's `x-request-id` (`-` if it has none).
fn request_id(parts: &Parts) -> String {
    parts.headers.get(REQUEST_ID).and_then(|v| v.to_str().ok()).unwrap_or("-").to_string()
}

/// What a refusal before any operation is recorded as: the method and the path as the client
/// sent it (routers nested under /v0 see it shortened).
fn action_of(parts: &Parts) -> String {
    let path = parts.extensions.get::<OriginalUri>().map_or(parts.uri.path(), |u| u.0.path());
    format!("{} {path}", parts.method)
}

/// Path parameters, refused as a [`DomainError`] (a segment that is not UTF-8, a part number
/// that is not one) and audited under the caller extracted before it: axum's own rejection
/// answers in plain text and is recorded nowhere.
#[derive(Debug)]
pub(crate) struct Path<T>(pub(crate) T);

impl<S, T> FromRequestParts<S> for Path<T>
where
    S: Send + Sync,
    T: DeserializeOwned + Send,
    Auth: FromRef<S>,
{
    type Rejection = DomainError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, DomainError> {
        let e = match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(value)) => return Ok(Self(value)),
            Err(e) => DomainError::from(e),
        };
        match parts.extensions.get::<Caller>() {
            Some(caller) => Auth::from_ref(state).keys.refuse(caller, &action_of(parts), e).await,
            None => Err(e),
        }
    }
}

/// The key a `/v0/keys/...` route names: a key ID or `alias/NAME`, which AWS accepts wherever
/// a key ID goes. The alias comes in one segment (`alias%2FNAME`, the only way for a name that
/// holds `/`) or in two (`/keys/alias/NAME/...`, the router's second set of key routes).
#[derive(Debug)]
pub(crate) struct KeyRef(pub(crate) String);

#[derive(Debug, Deserialize)]
struct KeyPath {
    key_id: Option<String>,
    alias: Option<String>,
}

impl<S> FromRequestParts<S> for KeyRef
where
    S: Send + Sync,
    Auth: FromRef<S>,
{
    type Rejection = DomainError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, DomainError> {
        let Path(path) = Path::<KeyPath>::from_request_parts(parts, state).await?;
        match (path.key_id, path.alias) {
            (Some(key_id), None) => Ok(Self(key_id)),
            (None, Some(name)) => Ok(Self(format!("alias/{name}"))),
            _ => Err(DomainError::internal("a key route names neither a key ID nor an alias")),
        }
    }
}

/// Answers requests no route matches, in the JSON error shape.
pub(crate) async fn no_route(method: Method, uri: OriginalUri) -> DomainError {
    DomainError::NotFound(format!("no route {method} {}", uri.0.path()))
}

/// Answers a method a route does not have, in the JSON error shape (axum adds `Allow`).
pub(crate) async fn no_method(method: Method, uri: OriginalUri) -> DomainError {
    DomainError::MethodNotAllowed(format!("{} does not allow {method}", uri.0.path()))
}

/// An optional integer field that a JSON body may write as `7` or as `7.0`: JSON Schema's
/// `integer`, which openapi.json promises, counts both; serde's integers only the first.
pub(crate) fn whole<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: TryFrom<i64>,
{
    use serde::de::Error as _;
    let Some(n) = Option::<serde_json::Number>::deserialize(d)? else { return Ok(None) };
    let float = || n.as_f64().filter(|f| f.fract() == 0.0 && f.abs() <= 9_007_199_254_740_992.0);
    // Whole and within ±2^53, where every f64 is exact: the cast cannot truncate.
    #[allow(clippy::cast_possible_truncation)]
    let value = n.as_i64().or_else(|| float().map(|f| f as i64));
    let value = value.ok_or_else(|| D::Error::custom(format!("{n} is not an integer")))?;
    T::try_from(value).map(Some).map_err(|_| D::Error::custom(format!("{n} is out of range")))
}

/// A JSON request body, or the reason it is not one, as a [`DomainError`] that the domain
/// audits (axum's own rejections would answer in plain text and skip the audit log).
pub(crate) fn json_body<T>(body: Result<Json<T>, JsonRejection>) -> Result<T, DomainError> {
    body.map(|Json(v)| v).map_err(DomainError::from)
}
