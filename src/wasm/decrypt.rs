//! Streaming decryption for JS: [`Decryptor`] over the core [`crate::Decryptor`].

use alloc::vec::Vec;

use js_sys::{Array, Uint8Array};
use wasm_bindgen::prelude::*;
use zeroize::Zeroize;

use super::convert::{context_from_js, edks_to_js, header_to_js};
use super::error::decrypt_error;
use crate::{CommitmentPolicy, DataKey, DecryptError, DecryptOptions, DecryptState, Limits};

/// One message being read. Feed it with `update`; when `state` is `"need-data-key"`, unwrap
/// one of `encryptedDataKeys()` and pass the key to `provideDataKey`, then feed the input
/// not yet `consumed`; at the end of the input call `finish`. Call `free()` when done.
#[wasm_bindgen]
#[derive(Debug)]
pub struct Decryptor {
    inner: Option<crate::Decryptor>,
    out: Vec<u8>,
    consumed: usize,
    state: DecryptState,
    provisional: bool,
}

impl From<crate::Decryptor> for Decryptor {
    fn from(inner: crate::Decryptor) -> Self {
        Self {
            inner: Some(inner),
            out: Vec::new(),
            consumed: 0,
            state: DecryptState::NeedInput,
            provisional: false,
        }
    }
}

#[wasm_bindgen]
impl Decryptor {
    /// `expected_context`: pairs the message must carry (object of strings or `undefined`);
    /// `allow_legacy`: also read non-committing format 1.0 messages; `refuse_signed`: fail
    /// right after the header of a signed message; `max_encrypted_data_keys`: `undefined` for
    /// the core's default (10).
    #[wasm_bindgen(constructor)]
    pub fn new(
        expected_context: JsValue,
        allow_legacy: bool,
        refuse_signed: bool,
        max_encrypted_data_keys: Option<u32>,
    ) -> Result<Decryptor, JsValue> {
        let mut limits = Limits::default();
        if let Some(max) = max_encrypted_data_keys {
            limits.max_encrypted_data_keys = max as usize;
        }
        let options = DecryptOptions {
            commitment_policy: if allow_legacy {
                CommitmentPolicy::RequireEncryptAllowDecrypt
            } else {
                CommitmentPolicy::RequireEncryptRequireDecrypt
            },
            expected_context: context_from_js(&expected_context)?,
            refuse_signed,
            limits,
        };
        Ok(crate::Decryptor::new(options).into())
    }

    /// Feeds message bytes; returns the plaintext released by this call (authenticated frame
    /// by frame; see `provisional`). Then read `consumed` and `state`.
    pub fn update(&mut self, input: &[u8]) -> Result<Uint8Array, JsValue> {
        self.out.clear();
        let inner = self.inner.as_mut().ok_or_else(finished)?;
        let progress = inner.update(input, &mut self.out).map_err(|e| decrypt_error(&e))?;
        self.consumed = progress.consumed;
        self.state = progress.state;
        self.provisional = progress.provisional;
        Ok(Uint8Array::from(self.out.as_slice()))
    }

    /// Bytes of the last `update`'s input used; the rest MUST be fed again.
    #[wasm_bindgen(getter)]
    pub fn consumed(&self) -> usize {
        self.consumed
    }

    /// `"need-input"`, `"need-data-key"` or `"done"` after the last `update`.
    #[wasm_bindgen(getter)]
    pub fn state(&self) -> String {
        match self.state {
            DecryptState::NeedInput => "need-input",
            DecryptState::NeedDataKey => "need-data-key",
            DecryptState::Done => "done",
        }
        .into()
    }

    /// True while released plaintext awaits the message signature (signed suites): it MUST
    /// be discarded if anything fails before `finish` succeeds.
    #[wasm_bindgen(getter)]
    pub fn provisional(&self) -> bool {
        self.provisional
    }

    /// The parsed header (not authenticated before `provideDataKey`), or `undefined`.
    pub fn header(&self) -> Result<JsValue, JsValue> {
        Ok(self.inner()?.header().map_or(JsValue::UNDEFINED, header_to_js))
    }

    /// The serialized header, for keyrings that send it along (a key server).
    #[wasm_bindgen(js_name = headerBytes)]
    pub fn header_bytes(&self) -> Result<Option<Uint8Array>, JsValue> {
        Ok(self.inner()?.header().map(|h| Uint8Array::from(h.as_bytes())))
    }

    /// The EDKs `{ providerId, providerInfo, ciphertext }` in header order (empty before the
    /// header is parsed).
    #[wasm_bindgen(js_name = encryptedDataKeys)]
    pub fn encrypted_data_keys(&self) -> Result<Array, JsValue> {
        Ok(self.inner()?.header().map(edks_to_js).unwrap_or_default())
    }

    /// The data key length of the message's suite in bytes (0 before the header is parsed).
    #[wasm_bindgen(getter, js_name = dataKeyLength)]
    pub fn data_key_length(&self) -> Result<usize, JsValue> {
        Ok(self.inner()?.header().map_or(0, |h| h.suite().key_len()))
    }

    /// Supplies the unwrapped data key: checks the key commitment and the header tag. The
    /// key bytes are zeroed, in wasm memory and (copied back on return) in the caller's array.
    #[wasm_bindgen(js_name = provideDataKey)]
    pub fn provide_data_key(&mut self, key: &mut [u8]) -> Result<(), JsValue> {
        let data_key = DataKey::from_slice(key);
        key.zeroize();
        let inner = self.inner.as_mut().ok_or_else(finished)?;
        inner.provide_data_key(&data_key).map_err(|e| decrypt_error(&e))
    }

    /// Ends the input: succeeds only if the whole message was read and verified. The
    /// decryptor is spent.
    pub fn finish(&mut self) -> Result<(), JsValue> {
        let inner = self.inner.take().ok_or_else(finished)?;
        inner.finish().map(drop).map_err(|e| decrypt_error(&e))
    }
}

impl Decryptor {
    fn inner(&self) -> Result<&crate::Decryptor, JsValue> {
        self.inner.as_ref().ok_or_else(finished)
    }
}

fn finished() -> JsValue {
    decrypt_error(&DecryptError::InvalidState("the decryptor is finished"))
}

/// The error for "no EDK unwrapped", as the core words it, for the JS unwrap loop.
#[wasm_bindgen(js_name = noDecryptableKey)]
pub fn no_decryptable_key(failed_attempts: usize) -> JsValue {
    decrypt_error(&DecryptError::NoDecryptableKey { failed_attempts })
}
