//! Streaming encryption for JS: [`Encryptor`] over the core [`crate::Encryptor`].

use alloc::vec::Vec;

use js_sys::Uint8Array;
use wasm_bindgen::prelude::*;
use zeroize::Zeroize;

#[cfg(not(feature = "builtin-crypto"))]
use super::convert::derivation_to_js;
#[cfg(feature = "test-hooks")]
use super::convert::type_error;
use super::convert::{
    context_from_js, context_to_js, edks_from_js, header_to_js, key_to_js, pack_job,
};
use super::error::encrypt_error;
#[cfg(feature = "builtin-crypto")]
use crate::suite::TAG_LEN;
use crate::{AlgorithmSuite, DataKey, EncryptError, EncryptOptions};

/// One message being written. Call `update` with plaintext chunks, then `finish` once; each
/// returns the ciphertext bytes completed by that call. Call `free()` when done (the JS glue
/// does, also on errors and aborts).
#[wasm_bindgen]
#[derive(Debug)]
pub struct Encryptor {
    inner: Option<crate::Encryptor>,
    /// Output of the last call, reused so that steady streaming does not reallocate.
    out: Vec<u8>,
    /// Detached frames sealed here: JS writes a frame's plaintext into this buffer (through
    /// `frameBuffer`), the core seals it in place, JS copies the sealed frame out.
    #[cfg(feature = "builtin-crypto")]
    frame: Vec<u8>,
    /// The last frame job, packed (`convert::pack_job`).
    job: Vec<u8>,
}

impl From<crate::Encryptor> for Encryptor {
    fn from(inner: crate::Encryptor) -> Self {
        Self {
            inner: Some(inner),
            out: Vec::new(),
            #[cfg(feature = "builtin-crypto")]
            frame: Vec::new(),
            job: Vec::new(),
        }
    }
}

/// An encryption waiting for its encrypted data keys (the core's [`crate::PendingEncryptor`]):
/// JS wraps `dataKey()` with each recipient's key through WebCrypto RSA-OAEP (native, so no
/// RSA in this module) and passes the EDKs to `withEncryptedDataKeys`. Without the core's
/// derivation (the lite module) JS derives the keys too: `keyDerivation`, then
/// `headerToSeal` with the EDKs and the commit key, then `sealHeader` with the header tag.
#[wasm_bindgen]
#[derive(Debug)]
pub struct PendingEncryptor {
    inner: Option<crate::PendingEncryptor>,
    /// Without the core's derivation: the header waiting for the caller's tag.
    #[cfg(not(feature = "builtin-crypto"))]
    sealing: Option<crate::HeaderToSeal>,
}

impl From<crate::PendingEncryptor> for PendingEncryptor {
    fn from(inner: crate::PendingEncryptor) -> Self {
        Self {
            inner: Some(inner),
            #[cfg(not(feature = "builtin-crypto"))]
            sealing: None,
        }
    }
}

#[wasm_bindgen]
impl PendingEncryptor {
    /// Generates the data key, message ID and signing key. `suite_id` is 0x0578 or 0x0478,
    /// `frame_length` in `1..=2^31-1` (`undefined`: the core's defaults); `context` an object
    /// of strings (or `undefined`).
    #[wasm_bindgen(constructor)]
    pub fn new(
        suite_id: Option<u16>,
        frame_length: Option<f64>,
        context: JsValue,
    ) -> Result<PendingEncryptor, JsValue> {
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
        crate::PendingEncryptor::new(&options).map(Self::from).map_err(|e| encrypt_error(&e))
    }

    /// **Test hook, never for real messages**: a pending encryption with a fixed data key,
    /// message ID (32 bytes) and signing key (48 bytes, signed suite), so that two runs give
    /// the same bytes. Reusing a data key and message ID for different plaintexts breaks
    /// AES-GCM. Only with the `test-hooks` feature: the release module (build/pkg, the npm
    /// package) has no such export.
    #[cfg(feature = "test-hooks")]
    #[wasm_bindgen(js_name = dangerousWithFixedSecrets)]
    pub fn dangerous_with_fixed_secrets(
        suite_id: u16,
        frame_length: f64,
        context: JsValue,
        data_key: &[u8],
        message_id: &[u8],
        signing_key: Option<Vec<u8>>,
    ) -> Result<PendingEncryptor, JsValue> {
        let suite = AlgorithmSuite::from_id(suite_id)
            .ok_or_else(|| encrypt_error(&EncryptError::UnsupportedSuite(suite_id)))?;
        let options = EncryptOptions {
            suite,
            frame_length: frame_length_from_js(frame_length)?,
            encryption_context: context_from_js(&context)?,
        };
        let message_id: [u8; 32] =
            message_id.try_into().map_err(|_| type_error("messageId must be 32 bytes"))?;
        let signing_key: Option<[u8; 48]> = match signing_key {
            Some(k) => Some(k.try_into().map_err(|_| type_error("signingKey must be 48 bytes"))?),
            None => None,
        };
        crate::PendingEncryptor::dangerous_with_fixed_secrets(
            &options,
            &DataKey::from_slice(data_key),
            message_id,
            signing_key.as_ref(),
        )
        .map(Self::from)
        .map_err(|e| encrypt_error(&e))
    }

    /// A copy of the plaintext data key, for the RSA-OAEP wraps. The caller MUST zero-fill it
    /// when done (the module's own copy is zeroized when this object goes).
    #[wasm_bindgen(js_name = dataKey)]
    pub fn data_key(&self) -> Result<Uint8Array, JsValue> {
        let inner = self.inner.as_ref().ok_or_else(finished)?;
        Ok(key_to_js(inner.data_key().dangerous_as_bytes()))
    }

    /// The encryption context the header will hold (with `aws-crypto-public-key` for signed
    /// suites), for keyrings that bind their EDKs to it.
    #[wasm_bindgen(js_name = encryptionContext)]
    pub fn encryption_context(&self) -> Result<JsValue, JsValue> {
        let inner = self.inner.as_ref().ok_or_else(finished)?;
        Ok(context_to_js(inner.encryption_context()))
    }

    /// The message's suite ID, for keyrings whose requests depend on it.
    #[wasm_bindgen(getter, js_name = suiteId)]
    pub fn suite_id(&self) -> Result<u16, JsValue> {
        Ok(self.inner.as_ref().ok_or_else(finished)?.suite().id())
    }

    /// Makes `data_key` (a generator keyring's, the AWS KMS keyring's GenerateDataKey) the
    /// message's instead of the random one. Throws an `"encrypt"` error `DATA_KEY_LENGTH` if
    /// it is not of the suite's length. The key bytes are zeroed, in
    /// wasm memory and (copied back on return) in the caller's array.
    #[wasm_bindgen(js_name = useGeneratedDataKey)]
    pub fn use_generated_data_key(&mut self, data_key: &mut [u8]) -> Result<(), JsValue> {
        let key = DataKey::from_slice(data_key);
        data_key.zeroize();
        let inner = self.inner.as_mut().ok_or_else(finished)?;
        inner.use_generated_data_key(key).map_err(|e| encrypt_error(&e))
    }

    /// Seals the header over `edks` (`[{ providerId, providerInfo, ciphertext }]`, at least
    /// one) and returns the encryptor; this object is spent.
    #[cfg(feature = "builtin-crypto")]
    #[wasm_bindgen(js_name = withEncryptedDataKeys)]
    pub fn with_encrypted_data_keys(&mut self, edks: JsValue) -> Result<Encryptor, JsValue> {
        let edks = edks_from_js(&edks)?;
        let inner = self.inner.take().ok_or_else(finished)?;
        inner.with_encrypted_data_keys(edks).map(Encryptor::from).map_err(|e| encrypt_error(&e))
    }

    /// Without the core's derivation (the lite module): how the content key and the commit
    /// key come from `dataKey()`, `{ hash, salt, keyInfo, commitInfo, keyLength }` (see the
    /// Decryptor's `headerAuth`).
    #[cfg(not(feature = "builtin-crypto"))]
    #[wasm_bindgen(js_name = keyDerivation)]
    pub fn key_derivation(&self) -> Result<JsValue, JsValue> {
        let inner = self.inner.as_ref().ok_or_else(finished)?;
        Ok(derivation_to_js(&inner.key_derivation()).into())
    }

    /// Without the core's derivation: builds the header over `edks` with the caller's commit
    /// key (32 bytes) and returns the AAD of its tag, which the caller computes (AES-GCM of
    /// an empty plaintext, all-zero IV, the derived content key) for `sealHeader`.
    #[cfg(not(feature = "builtin-crypto"))]
    #[wasm_bindgen(js_name = headerToSeal)]
    pub fn header_to_seal(
        &mut self,
        edks: JsValue,
        commit_key: &[u8],
    ) -> Result<Uint8Array, JsValue> {
        let edks = edks_from_js(&edks)?;
        let inner = self.inner.take().ok_or_else(finished)?;
        let header = inner.header_to_seal(edks, commit_key).map_err(|e| encrypt_error(&e))?;
        let aad = Uint8Array::from(header.aad());
        self.sealing = Some(header);
        Ok(aad)
    }

    /// Without the core's derivation: completes the header with the caller's tag and
    /// returns the encryptor (detached frames only); this object is spent.
    #[cfg(not(feature = "builtin-crypto"))]
    #[wasm_bindgen(js_name = sealHeader)]
    pub fn seal_header(&mut self, tag: &[u8]) -> Result<Encryptor, JsValue> {
        let header = self.sealing.take().ok_or_else(finished)?;
        header.seal(tag).map(Encryptor::from).map_err(|e| encrypt_error(&e))
    }
}

#[wasm_bindgen]
impl Encryptor {
    /// Delegated hashing (signed suite, before anything is written): the caller hashes
    /// every byte this encryptor writes, with a `MessageHasher` (in a worker, say), and ends
    /// with `finishWithDigest`; `frameSealed` no longer needs the sealed bytes.
    #[cfg(feature = "signing")]
    #[wasm_bindgen(js_name = delegateHash)]
    pub fn delegate_hash(&mut self) -> Result<(), JsValue> {
        let inner = self.inner.as_mut().ok_or_else(finished)?;
        inner.delegate_hash().map_err(|e| encrypt_error(&e))
    }

    /// Delegated hashing: the footer of a message whose digest (of everything written before
    /// it) is `digest`; the encryptor is spent.
    #[cfg(feature = "signing")]
    #[wasm_bindgen(js_name = finishWithDigest)]
    pub fn finish_with_digest(&mut self, digest: &[u8]) -> Result<Uint8Array, JsValue> {
        self.out.clear();
        let inner = self.inner.take().ok_or_else(finished)?;
        inner.finish_with_digest(digest, &mut self.out).map_err(|e| encrypt_error(&e))?;
        Ok(Uint8Array::from(self.out.as_slice()))
    }

    /// Whether the suite is signed: `frameSealed` then needs the sealed bytes.
    #[wasm_bindgen(getter, js_name = isSigned)]
    pub fn is_signed(&self) -> Result<bool, JsValue> {
        Ok(self.inner()?.header().suite().is_signed())
    }

    /// Takes the derived AES-GCM content key (once; then `undefined`) for WebCrypto. The
    /// caller MUST import it as a non-extractable key and zero-fill the array.
    #[cfg(feature = "builtin-crypto")]
    #[wasm_bindgen(js_name = takeContentKey)]
    pub fn take_content_key(&mut self) -> Result<Option<Uint8Array>, JsValue> {
        let inner = self.inner.as_mut().ok_or_else(finished)?;
        Ok(inner.dangerous_take_content_key().map(|key| key_to_js(&key)))
    }

    /// Detached frames: starts the next frame of `len` plaintext bytes (every regular frame
    /// exactly the frame length, then one final frame); returns the address of its job in
    /// the module's memory (packed: see `convert::pack_job`), valid until the next call.
    #[wasm_bindgen(js_name = frameJob)]
    pub fn frame_job(&mut self, len: usize, is_final: bool) -> Result<usize, JsValue> {
        let inner = self.inner.as_mut().ok_or_else(finished)?;
        pack_job(&inner.frame_job(len, is_final).map_err(|e| encrypt_error(&e))?, &mut self.job)
    }

    /// Detached frames: completes the oldest open job with its sealed bytes (ciphertext and
    /// tag); returns the bytes to write before them (the frame head, preceded by the header
    /// the first time).
    #[cfg(feature = "signing")]
    #[wasm_bindgen(js_name = frameSealed)]
    pub fn frame_sealed(&mut self, sealed: &[u8]) -> Result<Uint8Array, JsValue> {
        self.complete(Some(sealed))
    }

    /// `frameSealed` for an unsigned suite, without passing the sealed bytes in.
    #[wasm_bindgen(js_name = frameSealedUnsigned)]
    pub fn frame_sealed_unsigned(&mut self) -> Result<Uint8Array, JsValue> {
        self.complete(None)
    }

    /// The address in the module's memory of a buffer for one frame of `len` plaintext bytes
    /// plus its tag. Valid until the next `frameBuffer` call; views of the memory MUST be made
    /// afresh after every call (the memory may grow).
    #[cfg(feature = "builtin-crypto")]
    #[wasm_bindgen(js_name = frameBuffer)]
    pub fn frame_buffer(&mut self, len: usize) -> usize {
        self.frame.clear();
        self.frame.resize(len + TAG_LEN, 0);
        self.frame.as_mut_ptr() as usize
    }

    /// Detached frames with the core's AES-GCM: starts a frame of `len` bytes whose plaintext
    /// is in the frame buffer, seals it there (ciphertext then tag) and completes it; returns
    /// the bytes to write before the buffer's `len + 16` bytes. No other job may be open.
    #[cfg(feature = "builtin-crypto")]
    #[wasm_bindgen(js_name = sealInPlace)]
    pub fn seal_in_place(&mut self, len: usize, is_final: bool) -> Result<Uint8Array, JsValue> {
        let inner = self.inner.as_mut().ok_or_else(finished)?;
        let frame = self.frame.get_mut(..len + TAG_LEN).ok_or_else(buffer_error)?;
        let job = inner.frame_job(len, is_final).map_err(|e| encrypt_error(&e))?;
        let (plain, tag) = frame.split_at_mut(len);
        tag.copy_from_slice(&inner.seal_job(job.sequence(), plain).map_err(|e| encrypt_error(&e))?);
        self.out.clear();
        inner.frame_sealed(Some(frame), &mut self.out).map_err(|e| encrypt_error(&e))?;
        Ok(Uint8Array::from(self.out.as_slice()))
    }

    /// Seals the open job `sequence` (its `len` plaintext bytes in the frame buffer) with the
    /// core's AES-GCM, in place, without completing it: for when WebCrypto failed on it.
    #[cfg(feature = "builtin-crypto")]
    #[wasm_bindgen(js_name = sealJob)]
    pub fn seal_job(&mut self, sequence: u32, len: usize) -> Result<(), JsValue> {
        let inner = self.inner.as_mut().ok_or_else(finished)?;
        let frame = self.frame.get_mut(..len + TAG_LEN).ok_or_else(buffer_error)?;
        let (plain, tag) = frame.split_at_mut(len);
        tag.copy_from_slice(&inner.seal_job(sequence, plain).map_err(|e| encrypt_error(&e))?);
        Ok(())
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

    fn complete(&mut self, sealed: Option<&[u8]>) -> Result<Uint8Array, JsValue> {
        self.out.clear();
        let inner = self.inner.as_mut().ok_or_else(finished)?;
        inner.frame_sealed(sealed, &mut self.out).map_err(|e| encrypt_error(&e))?;
        Ok(Uint8Array::from(self.out.as_slice()))
    }
}

/// The frame buffer is smaller than the frame (a caller bug: `frameBuffer(len)` first).
#[cfg(feature = "builtin-crypto")]
fn buffer_error() -> JsValue {
    encrypt_error(&EncryptError::InvalidState("frameBuffer was not sized for this frame"))
}

/// Misuse after `finish` (or after `withEncryptedDataKeys` spent a pending encryption).
fn finished() -> JsValue {
    encrypt_error(&EncryptError::InvalidState("the encryptor is finished"))
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
