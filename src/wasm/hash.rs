//! The message hash of signed suites for JS: [`MessageHasher`] over [`crate::MessageHasher`],
//! for delegated hashing on another thread (a Web Worker with its own instance of the module).
//! Only with `signing`: the npm package's lite module (no `signing`) hashes no message; its
//! glue hashes signed messages with the main module.

#[cfg(feature = "signing")]
use js_sys::Uint8Array;
use wasm_bindgen::prelude::*;

#[cfg(feature = "signing")]
use super::error::decrypt_error;
use crate::AlgorithmSuite;
#[cfg(feature = "signing")]
use crate::{DecryptError, suite::Signing};

/// The running SHA-384 (or SHA-256) of a signed message. `update` with every message byte
/// before the footer, in order; `finish` once. Call `free()` when done.
#[cfg(feature = "signing")]
#[wasm_bindgen]
#[derive(Debug)]
pub struct MessageHasher {
    inner: Option<crate::MessageHasher>,
}

#[cfg(feature = "signing")]
#[wasm_bindgen]
impl MessageHasher {
    /// The hash of the signed suite `suite_id` (0x0578, ...).
    #[wasm_bindgen(constructor)]
    pub fn new(suite_id: u16) -> Result<MessageHasher, JsValue> {
        AlgorithmSuite::from_id(suite_id)
            .and_then(crate::MessageHasher::for_suite)
            .map(|h| Self { inner: Some(h) })
            .ok_or_else(|| decrypt_error(&DecryptError::UnsupportedSuite(suite_id)))
    }

    /// Hashes the next bytes of the message.
    pub fn update(&mut self, bytes: &[u8]) -> Result<(), JsValue> {
        self.inner.as_mut().ok_or_else(finished)?.update(bytes);
        Ok(())
    }

    /// The digest; the hasher is spent.
    pub fn finish(&mut self) -> Result<Uint8Array, JsValue> {
        let hasher = self.inner.take().ok_or_else(finished)?;
        Ok(Uint8Array::from(hasher.finalize().as_slice()))
    }
}

#[cfg(feature = "signing")]
fn finished() -> JsValue {
    decrypt_error(&DecryptError::InvalidState("the hasher is finished"))
}

/// Whether the message starting with `prefix` (its first 4 bytes) is of a signed suite;
/// `undefined` if those bytes start no message this module reads.
#[wasm_bindgen(js_name = messageIsSigned)]
pub fn message_is_signed(prefix: &[u8]) -> Option<bool> {
    crate::message_suite(prefix).map(AlgorithmSuite::is_signed)
}

/// The hash a signed suite's signature covers the message with, in WebCrypto spelling
/// (`"SHA-384"`), for a native hasher (Node's `createHash`); `undefined` for an unsigned or
/// unknown suite.
#[cfg(feature = "signing")]
#[wasm_bindgen(js_name = signatureHash)]
pub fn signature_hash(suite_id: u16) -> Option<String> {
    Some(match AlgorithmSuite::from_id(suite_id)?.signing()? {
        Signing::EcdsaP384Sha384 => "SHA-384".into(),
        Signing::EcdsaP256Sha256 => "SHA-256".into(),
    })
}
