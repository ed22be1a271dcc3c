//! Core errors as JS `Error`s with a stable `code` per variant.
//!
//! The codes are part of the npm package's API (`pkg-template/index.d.ts` lists them): never
//! rename one. The matches below are exhaustive on purpose (the enums are `non_exhaustive`
//! only for other crates), so a new core variant does not compile until it has a code.

use js_sys::{Error, Reflect};
use wasm_bindgen::JsValue;

use crate::{DecryptError, EncryptError, Section};

/// A JS `Error` with `name`, `kind`, `code` and extra numeric or string fields.
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
        set(key, value.clone());
    }
    err.into()
}

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
    let (code, details): (&str, Vec<(&str, JsValue)>) = match err {
        E::Truncated(s) => ("TRUNCATED", vec![("section", section(*s))]),
        E::TrailingBytes => ("TRAILING_BYTES", vec![]),
        E::Malformed(s, _) => ("MALFORMED", vec![("section", section(*s))]),
        E::UnsupportedVersion(v) => ("UNSUPPORTED_VERSION", vec![("version", (*v).into())]),
        E::UnsupportedSuite(id) => ("UNSUPPORTED_SUITE", vec![("suiteId", (*id).into())]),
        E::UnsupportedContentType(t) => {
            ("UNSUPPORTED_CONTENT_TYPE", vec![("contentType", (*t).into())])
        }
        E::CommitmentPolicy(id) => ("COMMITMENT_POLICY", vec![("suiteId", (*id).into())]),
        E::SignedMessageRefused => ("SIGNED_MESSAGE_REFUSED", vec![]),
        E::TooManyEncryptedDataKeys { count, max } => {
            ("TOO_MANY_ENCRYPTED_DATA_KEYS", vec![("count", num(*count)), ("max", num(*max))])
        }
        E::HeaderTooLarge { max } => ("HEADER_TOO_LARGE", vec![("max", num(*max))]),
        E::FrameTooLarge { length, max } => {
            ("FRAME_TOO_LARGE", vec![("length", (*length as f64).into()), ("max", num(*max))])
        }
        E::ContextTooLarge { max } => ("CONTEXT_TOO_LARGE", vec![("max", num(*max))]),
        E::ContextMismatch(key) => ("CONTEXT_MISMATCH", vec![("key", key.as_str().into())]),
        E::PublicKeyEntry => ("PUBLIC_KEY_ENTRY", vec![]),
        E::NoDecryptableKey { failed_attempts, .. } => {
            ("NO_DECRYPTABLE_KEY", vec![("failedAttempts", num(*failed_attempts))])
        }
        E::UnwrapFailed => ("UNWRAP_FAILED", vec![]),
        E::Keyring(_) => ("KEYRING", vec![]),
        E::CommitmentMismatch => ("COMMITMENT_MISMATCH", vec![]),
        E::BadHeaderTag => ("BAD_HEADER_TAG", vec![]),
        E::BadFrameTag { sequence } => ("BAD_FRAME_TAG", vec![("sequence", (*sequence).into())]),
        E::FrameSequence { expected } => ("FRAME_SEQUENCE", vec![("expected", (*expected).into())]),
        E::BadSignature => ("BAD_SIGNATURE", vec![]),
        E::InvalidState(_) => ("INVALID_STATE", vec![]),
    };
    js_error("decrypt", code, &err.to_string(), &details)
}

/// Converts an [`EncryptError`].
pub fn encrypt_error(err: &EncryptError) -> JsValue {
    use EncryptError as E;
    let (code, details): (&str, Vec<(&str, JsValue)>) = match err {
        E::ReservedContextKey(key) => ("RESERVED_CONTEXT_KEY", vec![("key", key.as_str().into())]),
        E::ContextTooLarge => ("CONTEXT_TOO_LARGE", vec![]),
        E::InvalidFrameLength(n) => {
            ("INVALID_FRAME_LENGTH", vec![("frameLength", (*n as f64).into())])
        }
        E::UnsupportedSuite(id) => ("UNSUPPORTED_SUITE", vec![("suiteId", (*id).into())]),
        E::EncryptedDataKeyCount(n) => {
            ("ENCRYPTED_DATA_KEY_COUNT", vec![("count", (*n as f64).into())])
        }
        E::EncryptedDataKeyTooLarge => ("ENCRYPTED_DATA_KEY_TOO_LARGE", vec![]),
        E::DataKeyLength { .. } => ("DATA_KEY_LENGTH", vec![]),
        E::InvalidSigningKey => ("INVALID_SIGNING_KEY", vec![]),
        E::WrapFailed => ("WRAP_FAILED", vec![]),
        E::Keyring(_) => ("KEYRING", vec![]),
        E::TooManyFrames => ("TOO_MANY_FRAMES", vec![]),
        E::Random => ("RANDOM", vec![]),
        E::SealFailed => ("SEAL_FAILED", vec![]),
        E::InvalidState(_) => ("INVALID_STATE", vec![]),
    };
    js_error("encrypt", code, &err.to_string(), &details)
}
