//! Core errors as JS `Error`s with a stable `code` per variant.
//!
//! The codes are part of the npm package's API (`pkg-template/index.d.ts` lists them): never
//! rename one. The matches below are exhaustive on purpose (the enums are `non_exhaustive`
//! only for other crates), so a new core variant does not compile until it has a code.

use js_sys::{Error, Reflect};
use wasm_bindgen::JsValue;

use crate::{DecryptError, EncryptError, Section};

/// A JS `Error` with `name`, `kind`, `code` and extra numeric or string fields (those of an
/// empty name left out: a variant has at most two).
pub(crate) fn js_error(
    kind: &str,
    code: &str,
    message: &str,
    details: &[(&str, JsValue)],
) -> JsValue {
    let err = Error::new(message);
    let set = |key: &str, value: JsValue| {
        // Setting a data property on a fresh Error object cannot fail.
        let _ = Reflect::set(&err, &key.into(), &value);
    };
    set("kind", kind.into());
    set("code", code.into());
    for (key, value) in details {
        if !key.is_empty() {
            set(key, value.clone());
        }
    }
    err.into()
}

/// No field: `js_error` leaves it out.
const NONE: (&str, JsValue) = ("", JsValue::UNDEFINED);

fn section(s: Section) -> JsValue {
    JsValue::from_str(match s {
        Section::Header => "header",
        Section::Body => "body",
        Section::Footer => "footer",
    })
}

/// Converts a [`DecryptError`].
pub fn decrypt_error(err: &DecryptError) -> JsValue {
    use DecryptError as E;
    let num = |n: usize| JsValue::from_f64(n as f64);
    let (code, details): (&str, [(&str, JsValue); 2]) = match err {
        E::Truncated(s) => ("TRUNCATED", [("section", section(*s)), NONE]),
        E::TrailingBytes => ("TRAILING_BYTES", [NONE, NONE]),
        E::Malformed(s, _) => ("MALFORMED", [("section", section(*s)), NONE]),
        E::UnsupportedVersion(v) => ("UNSUPPORTED_VERSION", [("version", (*v).into()), NONE]),
        E::UnsupportedSuite(id) => ("UNSUPPORTED_SUITE", [("suiteId", (*id).into()), NONE]),
        E::UnsupportedContentType(t) => {
            ("UNSUPPORTED_CONTENT_TYPE", [("contentType", (*t).into()), NONE])
        }
        E::CommitmentPolicy(id) => ("COMMITMENT_POLICY", [("suiteId", (*id).into()), NONE]),
        E::SignedMessageRefused => ("SIGNED_MESSAGE_REFUSED", [NONE, NONE]),
        E::TooManyEncryptedDataKeys { count, max } => {
            ("TOO_MANY_ENCRYPTED_DATA_KEYS", [("count", num(*count)), ("max", num(*max))])
        }
        E::HeaderTooLarge { max } => ("HEADER_TOO_LARGE", [("max", num(*max)), NONE]),
        E::FrameTooLarge { length, max } => {
            ("FRAME_TOO_LARGE", [("length", (*length as f64).into()), ("max", num(*max))])
        }
        E::ContextTooLarge { max } => ("CONTEXT_TOO_LARGE", [("max", num(*max)), NONE]),
        E::ContextMismatch(key) => ("CONTEXT_MISMATCH", [("key", key.as_str().into()), NONE]),
        E::PublicKeyEntry => ("PUBLIC_KEY_ENTRY", [NONE, NONE]),
        E::NoDecryptableKey { failed_attempts, .. } => {
            ("NO_DECRYPTABLE_KEY", [("failedAttempts", num(*failed_attempts)), NONE])
        }
        E::UnwrapFailed => ("UNWRAP_FAILED", [NONE, NONE]),
        E::Keyring(_) => ("KEYRING", [NONE, NONE]),
        E::CommitmentMismatch => ("COMMITMENT_MISMATCH", [NONE, NONE]),
        E::BadHeaderTag => ("BAD_HEADER_TAG", [NONE, NONE]),
        E::BadFrameTag { sequence } => ("BAD_FRAME_TAG", [("sequence", (*sequence).into()), NONE]),
        E::FrameSequence { expected } => {
            ("FRAME_SEQUENCE", [("expected", (*expected).into()), NONE])
        }
        E::BadSignature => ("BAD_SIGNATURE", [NONE, NONE]),
        E::InvalidState(_) => ("INVALID_STATE", [NONE, NONE]),
    };
    js_error("decrypt", code, &err.to_string(), &details)
}

/// Converts an [`EncryptError`].
pub fn encrypt_error(err: &EncryptError) -> JsValue {
    use EncryptError as E;
    let (code, details): (&str, [(&str, JsValue); 2]) = match err {
        E::ReservedContextKey(key) => {
            ("RESERVED_CONTEXT_KEY", [("key", key.as_str().into()), NONE])
        }
        E::ContextTooLarge => ("CONTEXT_TOO_LARGE", [NONE, NONE]),
        E::InvalidFrameLength(n) => {
            ("INVALID_FRAME_LENGTH", [("frameLength", (*n as f64).into()), NONE])
        }
        E::UnsupportedSuite(id) => ("UNSUPPORTED_SUITE", [("suiteId", (*id).into()), NONE]),
        E::EncryptedDataKeyCount(n) => {
            ("ENCRYPTED_DATA_KEY_COUNT", [("count", (*n as f64).into()), NONE])
        }
        E::EncryptedDataKeyTooLarge => ("ENCRYPTED_DATA_KEY_TOO_LARGE", [NONE, NONE]),
        E::DataKeyLength { .. } => ("DATA_KEY_LENGTH", [NONE, NONE]),
        E::InvalidSigningKey => ("INVALID_SIGNING_KEY", [NONE, NONE]),
        E::WrapFailed => ("WRAP_FAILED", [NONE, NONE]),
        E::Keyring(_) => ("KEYRING", [NONE, NONE]),
        E::TooManyFrames => ("TOO_MANY_FRAMES", [NONE, NONE]),
        E::Random => ("RANDOM", [NONE, NONE]),
        E::SealFailed => ("SEAL_FAILED", [NONE, NONE]),
        E::InvalidState(_) => ("INVALID_STATE", [NONE, NONE]),
    };
    js_error("encrypt", code, &err.to_string(), &details)
}
