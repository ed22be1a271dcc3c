//! The demo's own routes: the page's configuration and the development OpenID Connect
//! issuer (discovery, keys, and a token endpoint that signs in as a demo principal).

use axum::Json;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use axum::http::{HeaderMap, header};
use serde::Deserialize;
use serde_json::Value;

use crate::demo::DevIssuer;
use crate::domain::DomainError;
use crate::handlers::json_body;

/// What the demo routes serve, and to which `Host` values the page's routes answer.
#[derive(Clone, Debug)]
pub(crate) struct DemoState {
    pub(crate) config: Value,
    pub(crate) issuer: DevIssuer,
    pub(crate) hosts: Vec<String>,
}

impl DemoState {
    /// A page served under another name (DNS rebinding) must not sign in as a demo user.
    fn check_host(&self, headers: &HeaderMap) -> Result<(), DomainError> {
        let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("");
        if self.hosts.iter().any(|h| h.eq_ignore_ascii_case(host)) {
            Ok(())
        } else {
            Err(DomainError::AccessDenied(format!(
                "the demo is served to {} only",
                self.hosts.join(", ")
            )))
        }
    }
}

pub(crate) async fn config(
    State(demo): State<DemoState>,
    headers: HeaderMap,
) -> Result<Json<Value>, DomainError> {
    demo.check_host(&headers)?;
    Ok(Json(demo.config))
}

pub(crate) async fn discovery(State(demo): State<DemoState>) -> Json<Value> {
    Json(demo.issuer.discovery())
}

pub(crate) async fn jwks(State(demo): State<DemoState>) -> Json<Value> {
    Json(demo.issuer.jwks())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SignIn {
    user: String,
}

/// `POST /demo/oidc/token {"user": "alice"}`: a short-lived ID token for that demo user.
pub(crate) async fn token(
    State(demo): State<DemoState>,
    headers: HeaderMap,
    body: Result<Json<SignIn>, JsonRejection>,
) -> Result<Json<Value>, DomainError> {
    demo.check_host(&headers)?;
    let request = json_body(body)?;
    demo.issuer.sign_in(&request.user).map(Json)
}
