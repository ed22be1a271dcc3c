//! The key server's rules: key lifecycle, policy, audit and key material. It speaks the
//! store's traits and its own error type, never HTTP.

pub mod audit;
pub mod error;
pub(crate) mod keys;
pub(crate) mod material;
pub mod oidc;
pub mod policy;
pub(crate) mod recipient;
pub mod root;
pub mod secrets;
mod service;

pub use error::DomainError;
pub(crate) mod blob;
pub use service::Resealed;
pub(crate) use service::{
    Answer, Authentication, Ciphertext, Constraints, DataKeyLength, DigestOptions, EdkSelector,
    Grant, GrantRef, Import, KeyServer, MaterialAnswer, NewGrant, NewKey, NewReplica,
    RotationEntry, Sealed, Target, Unwrapped, require_admin,
};

/// The principal whose token `serve` creates on first start; it may create keys, aliases and
/// tokens, read the audit log, and always read or replace key policies.
pub const ADMIN_PRINCIPAL: &str = "admin";

/// Principal of the records the server writes itself (sweeper, first start).
pub(crate) const SYSTEM_PRINCIPAL: &str = "system";

/// Where this deployment is, in AWS terms: the account ID in every ARN, and the region of
/// requests that name none (the `/v0` API).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Location {
    pub(crate) account: String,
    pub(crate) region: String,
}

impl Default for Location {
    fn default() -> Self {
        Self { account: "000000000000".into(), region: "us-east-1".into() }
    }
}

impl Location {
    /// Checks the forms AWS uses: a 12-digit account ID, a region such as `eu-west-3`.
    pub fn new(account: &str, region: &str) -> Result<Self, DomainError> {
        if account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) {
            return Err(DomainError::Misconfigured(format!(
                "--account-id {account:?}: an AWS account ID is 12 digits"
            )));
        }
        if !keys::valid_region(region) {
            return Err(DomainError::Misconfigured(format!(
                "--region {region:?}: a region is lowercase letters, digits and dashes, such as \
                 us-east-1"
            )));
        }
        Ok(Self { account: account.into(), region: region.into() })
    }
}

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
    /// The region the request is addressed to (its SigV4 credential scope); `None` for the
    /// deployment's own region.
    pub region: Option<String>,
    /// What the request asked, without secrets, for its audit record (CloudTrail's
    /// `requestParameters`; AWS KMS API calls).
    pub parameters: Option<std::sync::Arc<serde_json::Value>>,
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
            region: None,
            parameters: None,
        }
    }

    /// The claims of its sign-in token (none for a static token).
    pub(crate) fn claims(&self) -> &policy::Claims {
        self.identity.as_ref().map_or(&policy::NO_CLAIMS, |i| &i.claims)
    }
}
