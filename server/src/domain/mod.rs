//! The key server's rules: key lifecycle, policy, audit and key material. It speaks the
//! store's traits and its own error type, never HTTP.

pub mod audit;
pub mod error;
pub(crate) mod keys;
pub mod oidc;
pub mod policy;
pub(crate) mod recipient;
pub mod root;
pub mod secrets;
mod service;

pub use error::DomainError;
pub use service::Resealed;
pub(crate) use service::{
    Answer, Authentication, DigestOptions, EdkSelector, KeyServer, NewKey, Unwrapped, require_admin,
};

/// The principal whose token `serve` creates on first start; it may create keys, aliases and
/// tokens, read the audit log, and always read or replace key policies.
pub const ADMIN_PRINCIPAL: &str = "admin";

/// Principal of the records the server writes itself (sweeper, first start).
pub(crate) const SYSTEM_PRINCIPAL: &str = "system";

/// Who made a request, and its ID, for authorisation and the audit log.
#[derive(Clone, Debug)]
pub struct Caller {
    /// Principal name, `-` when unauthenticated.
    pub principal: String,
    /// The request's `x-request-id`.
    pub request_id: String,
    /// ID of the token the caller presented (never the token itself).
    pub token_id: Option<String>,
    /// The verified OpenID Connect sign-in, for callers that presented one.
    pub identity: Option<std::sync::Arc<oidc::Identity>>,
}

impl Caller {
    /// The server itself, for records of its own actions.
    pub(crate) fn system(request_id: &str) -> Self {
        Self::named(SYSTEM_PRINCIPAL, request_id)
    }

    /// A caller known by name alone (no token: the server itself, the demo's set-up).
    pub(crate) fn named(principal: &str, request_id: &str) -> Self {
        Self {
            principal: principal.into(),
            request_id: request_id.into(),
            token_id: None,
            identity: None,
        }
    }

    /// The claims of its sign-in token (none for a static token).
    pub(crate) fn claims(&self) -> &policy::Claims {
        self.identity.as_ref().map_or(&policy::NO_CLAIMS, |i| &i.claims)
    }
}
