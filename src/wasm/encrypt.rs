//! Streaming encryption for JS: [`Encryptor`] over the core [`crate::Encryptor`].

use alloc::vec::Vec;

use js_sys::Uint8Array;
use wasm_bindgen::prelude::*;

use super::convert::{context_from_js, header_to_js};
use super::error::{decrypt_error, encrypt_error};
use super::keyring::WrappingKeys;
use crate::{AlgorithmSuite, DecryptError, EncryptError, EncryptOptions};

/// One message being written. Call `update` with plaintext chunks, then `finish` once; each
/// returns the ciphertext bytes completed by that call. Call `free()` when done (the JS glue
/// does, also on errors and aborts).
#[wasm_bindgen]
#[derive(Debug)]
pub struct Encryptor {
    inner: Option<crate::Encryptor>,
    /// Output of the last call, reused so that steady streaming does not reallocate.
    out: Vec<u8>,
}

impl From<crate::Encryptor> for Encryptor {
    fn from(inner: crate::Encryptor) -> Self {
        Self { inner: Some(inner), out: Vec::new() }
    }
}

#[wasm_bindgen]
impl Encryptor {
    /// Generates the data key, wraps it with every key of `keys` and prepares the header.
    /// `suite_id` is 0x0578 or 0x0478, `frame_length` in `1..=2^31-1` (`undefined`: the
    /// core's defaults); `context` an object of strings (or `undefined`).
    #[wasm_bindgen(constructor)]
    pub fn new(
        keys: &WrappingKeys,
        suite_id: Option<u16>,
        frame_length: Option<f64>,
        context: JsValue,
    ) -> Result<Encryptor, JsValue> {
        let defaults = EncryptOptions::default();
        let suite = match suite_id {
            None => defaults.suite,
            Some(id) => AlgorithmSuite::from_id(id)
                .ok_or_else(|| encrypt_error(&EncryptError::UnsupportedSuite(id)))?,
        };
        let frame_length = match frame_length {
            None => defaults.frame_length,
            Some(n) => frame_length_from_js(n)?,
        };
        let options =
            EncryptOptions { suite, frame_length, encryption_context: context_from_js(&context)? };
        crate::Encryptor::new(&keys.keyring()?, &options)
            .map(Self::from)
            .map_err(|e| encrypt_error(&e))
    }

    /// The header this encryptor writes: `{ encryptionContext, suiteId, frameLength,
    /// encryptedDataKeys: [{ providerId, providerInfo }] }`.
    pub fn header(&self) -> Result<JsValue, JsValue> {
        Ok(header_to_js(self.inner()?.header()))
    }

    /// Encrypts a plaintext chunk; returns the ciphertext completed so far (the header on the
    /// first call, then whole frames).
    pub fn update(&mut self, plaintext: &[u8]) -> Result<Uint8Array, JsValue> {
        self.out.clear();
        let inner = self.inner.as_mut().ok_or_else(finished)?;
        inner.update(plaintext, &mut self.out).map_err(|e| encrypt_error(&e))?;
        Ok(Uint8Array::from(self.out.as_slice()))
    }

    /// Writes the final frame and the signature footer (signed suite); the encryptor is spent.
    pub fn finish(&mut self) -> Result<Uint8Array, JsValue> {
        self.out.clear();
        let inner = self.inner.take().ok_or_else(finished)?;
        inner.finish(&mut self.out).map_err(|e| encrypt_error(&e))?;
        Ok(Uint8Array::from(self.out.as_slice()))
    }
}

impl Encryptor {
    fn inner(&self) -> Result<&crate::Encryptor, JsValue> {
        self.inner.as_ref().ok_or_else(finished)
    }
}

/// Misuse after `finish`: the decrypt side's `InvalidState` (the encrypt enum has none).
fn finished() -> JsValue {
    decrypt_error(&DecryptError::InvalidState("the encryptor is finished"))
}

/// A JS number as a frame length; anything that is not an integer in `1..=2^31-1` is the
/// core's `InvalidFrameLength` (checked by the core for in-range integers).
fn frame_length_from_js(n: f64) -> Result<u32, JsValue> {
    if n.fract() == 0.0 && (0.0..=f64::from(u32::MAX)).contains(&n) {
        // An integer in u32 range: the conversion is exact.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        return Ok(n as u32);
    }
    // Only shown in the error message: saturating is what we want.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let shown = if n.is_finite() && n > 0.0 { n as u64 } else { 0 };
    Err(encrypt_error(&EncryptError::InvalidFrameLength(shown)))
}
