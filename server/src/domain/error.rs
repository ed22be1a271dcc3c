//! The domain's one error type. Each variant carries a message a client may see; details of
//! internal failures stay in the log (the HTTP layer decides what is shown).

use crate::store::StoreError;

/// Why a key-server or archive operation failed.
#[derive(Debug)]
pub enum DomainError {
    /// No such key, alias, version or object.
    NotFound(String),
    /// The request is malformed or names something invalid.
    Invalid(String),
    /// The request body, or the object it carries, is over its size limit.
    TooLarge(String),
    /// The request body is not of the media type the operation reads (JSON).
    UnsupportedMediaType(String),
    /// The path exists, but not with this method.
    MethodNotAllowed(String),
    /// No valid bearer token.
    Unauthorized,
    /// The key policy (or admin rule) does not allow the action.
    AccessDenied(String),
    /// The key is disabled.
    KeyDisabled(String),
    /// The key is pending deletion; using it raises an alarm record.
    KeyPendingDeletion(String),
    /// The state does not allow the change (enabling a pending key, a taken object ID).
    InvalidState(String),
    /// The wrapped key, header or context did not verify.
    InvalidCiphertext,
    /// A name (alias, access key ID) that must be unique is taken.
    AlreadyExists(String),
    /// The ciphertext belongs to another key than the one the request names.
    IncorrectKey(String),
    /// The key's usage or spec does not allow the operation (RSA for GenerateDataKey).
    InvalidKeyUsage(String),
    /// A tag breaks AWS's tag rules (length, count, the reserved `aws:` prefix).
    Tag(String),
    /// The operation or option is not supported (yet) by this server.
    Unsupported(String),
    /// The request would have succeeded; it asked only to check (DryRun).
    DryRun,
    /// A grant token that names no grant.
    InvalidGrantToken,
    /// A paging marker this server did not give out.
    InvalidMarker,
    /// Verify: the signature is not the key's over the message.
    InvalidSignature,
    /// VerifyMac: the MAC is not the key's over the message.
    InvalidMac,
    /// ImportKeyMaterial: an import token that names no import parameters of this key.
    InvalidImportToken,
    /// ImportKeyMaterial: the import token's 24 hours are over.
    ExpiredImportToken,
    /// ImportKeyMaterial: material that is not the key's (another key's, the wrong size).
    IncorrectKeyMaterial(String),
    /// A key policy document that does not parse or breaks the grammar's rules.
    MalformedPolicy(String),
    /// The principal exceeded its request rate.
    RateLimited,
    /// A quota (open uploads per principal) is used up.
    LimitExceeded(String),
    /// The database cannot be reached now; retry later.
    Unavailable(String),
    /// The audit record could not be made durable, so the request did nothing.
    AuditFailed(String),
    /// The server's own configuration cannot work (a root key that belongs to another
    /// database); found at start.
    Misconfigured(String),
    /// Anything else; the message is logged, not returned.
    Internal(String),
}

impl DomainError {
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
            Self::TooLarge(_) => "PayloadTooLarge",
            Self::UnsupportedMediaType(_) => "UnsupportedMediaType",
            Self::MethodNotAllowed(_) => "MethodNotAllowed",
            Self::Unauthorized => "Unauthorized",
            Self::AccessDenied(_) => "AccessDenied",
            Self::KeyDisabled(_) => "KeyDisabled",
            Self::KeyPendingDeletion(_) => "KeyPendingDeletion",
            Self::InvalidState(_) => "InvalidState",
            Self::InvalidCiphertext => "InvalidCiphertext",
            Self::AlreadyExists(_) => "AlreadyExists",
            Self::IncorrectKey(_) => "IncorrectKey",
            Self::InvalidKeyUsage(_) => "InvalidKeyUsage",
            Self::Tag(_) => "TagInvalid",
            Self::Unsupported(_) => "Unsupported",
            Self::DryRun => "DryRun",
            Self::MalformedPolicy(_) => "MalformedPolicyDocument",
            Self::InvalidGrantToken => "InvalidGrantToken",
            Self::InvalidMarker => "InvalidMarker",
            Self::InvalidSignature => "InvalidSignature",
            Self::InvalidMac => "InvalidMac",
            Self::InvalidImportToken => "InvalidImportToken",
            Self::ExpiredImportToken => "ExpiredImportToken",
            Self::IncorrectKeyMaterial(_) => "IncorrectKeyMaterial",
            Self::RateLimited => "RateLimited",
            Self::LimitExceeded(_) => "LimitExceeded",
            Self::Unavailable(_) => "ServiceUnavailable",
            Self::AuditFailed(_) => "AuditUnavailable",
            Self::Misconfigured(_) => "Misconfigured",
            Self::Internal(_) => "Internal",
        }
    }

    /// The message a client may see.
    pub fn public_message(&self) -> String {
        match self {
            Self::NotFound(m)
            | Self::Invalid(m)
            | Self::TooLarge(m)
            | Self::UnsupportedMediaType(m)
            | Self::MethodNotAllowed(m)
            | Self::AccessDenied(m)
            | Self::KeyDisabled(m)
            | Self::KeyPendingDeletion(m)
            | Self::InvalidState(m)
            | Self::AlreadyExists(m)
            | Self::IncorrectKey(m)
            | Self::InvalidKeyUsage(m)
            | Self::Tag(m)
            | Self::Unsupported(m)
            | Self::MalformedPolicy(m)
            | Self::IncorrectKeyMaterial(m)
            | Self::LimitExceeded(m) => m.clone(),
            Self::DryRun => {
                "The request would have succeeded, but the DryRun option is set.".into()
            }
            Self::InvalidGrantToken => "the grant token names no grant".into(),
            Self::InvalidMarker => "the Marker is not one this server gave".into(),
            Self::InvalidSignature => "the signature did not verify".into(),
            Self::InvalidMac => "the MAC did not verify".into(),
            Self::InvalidImportToken => {
                "the import token names no import parameters of this key".into()
            }
            Self::ExpiredImportToken => "the import token has expired".into(),
            Self::Unauthorized => "a valid bearer token is required".into(),
            Self::InvalidCiphertext => {
                "the wrapped key, header or encryption context did not verify".into()
            }
            Self::RateLimited => "too many requests".into(),
            Self::Unavailable(_) => "the key server's database is unavailable; retry".into(),
            Self::AuditFailed(_) => {
                "the audit record could not be written, so nothing was done; retry".into()
            }
            Self::Internal(_) | Self::Misconfigured(_) => "internal error".into(),
        }
    }

    /// The audit record's result for this refusal: `Alarm` for use of a key pending deletion,
    /// `Denied` for refusals of who or how often, `Error` for the rest.
    pub(crate) fn audit_result(&self) -> &'static str {
        match self {
            Self::KeyPendingDeletion(_) => "Alarm",
            Self::AccessDenied(_)
            | Self::KeyDisabled(_)
            | Self::Unauthorized
            | Self::RateLimited
            | Self::LimitExceeded(_) => "Denied",
            _ => "Error",
        }
    }
}

impl std::fmt::Display for DomainError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Internal(detail) => write!(f, "internal error: {detail}"),
            Self::Misconfigured(detail) => write!(f, "misconfigured: {detail}"),
            Self::Unavailable(detail) | Self::AuditFailed(detail) => {
                write!(f, "{}: {detail}", self.code())
            }
            other => write!(f, "{}: {}", other.code(), other.public_message()),
        }
    }
}

impl std::error::Error for DomainError {}

impl From<StoreError> for DomainError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(m) => Self::Unavailable(m),
            StoreError::Conflict(m) => Self::InvalidState(m),
            StoreError::Corrupt(m) | StoreError::Backend(m) => Self::Internal(m),
        }
    }
}
