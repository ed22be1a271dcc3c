//! Streaming decryption for JS: [`Decryptor`] over the core [`crate::Decryptor`].

use alloc::vec::Vec;

use js_sys::Uint8Array;
use wasm_bindgen::prelude::*;

#[cfg(feature = "builtin-crypto")]
use super::convert::key_to_js;
use super::convert::{
    attempt_from_js_error, attempt_from_js_key, context_from_js, edk_to_js, header_to_js, pack_job,
};
#[cfg(not(feature = "builtin-crypto"))]
use super::convert::{derivation_to_js, set};
use super::error::decrypt_error;
use crate::{
    CommitmentPolicy, DecryptError, DecryptOptions, DecryptState, Limits, UnwrapError,
    UnwrapSession,
};

/// One message being read. Feed it with `update`; when `state` is `"need-data-key"`, ask the
/// keyring about each `nextCandidate()` EDK and report its answer (`reportKey`,
/// `reportError`) until `reportKey` returns true, then feed the input not yet `consumed`; at
/// the end of the input call `finish`. Call `free()` when done.
#[wasm_bindgen]
#[derive(Debug)]
pub struct Decryptor {
    inner: Option<crate::Decryptor>,
    out: Vec<u8>,
    consumed: usize,
    /// Delegated hashing (signed suites only): see `hashed`.
    #[cfg(feature = "signing")]
    hashed: usize,
    state: DecryptState,
    provisional: bool,
    /// Detached frames opened here: JS writes a frame body into this buffer (through
    /// `frameBuffer`), the core opens it in place, JS copies the plaintext out.
    #[cfg(feature = "builtin-crypto")]
    frame: Vec<u8>,
    /// The last frame job, packed (`convert::pack_job`).
    job: Vec<u8>,
    /// The search for the data key, from the first `nextCandidate` until a key verifies.
    unwrap: Option<UnwrapSession<JsValue>>,
}

impl From<crate::Decryptor> for Decryptor {
    fn from(inner: crate::Decryptor) -> Self {
        Self {
            inner: Some(inner),
            out: Vec::new(),
            consumed: 0,
            #[cfg(feature = "signing")]
            hashed: 0,
            state: DecryptState::NeedInput,
            provisional: false,
            #[cfg(feature = "builtin-crypto")]
            frame: Vec::new(),
            job: Vec::new(),
            unwrap: None,
        }
    }
}

#[wasm_bindgen]
impl Decryptor {
    /// `expected_context`: pairs the message must carry (object of strings or `undefined`);
    /// `allow_legacy`: also read non-committing format 1.0 messages; `refuse_signed`: fail
    /// right after the header of a signed message; `max_encrypted_data_keys`: `undefined` for
    /// the core's default (10).
    #[cfg(feature = "builtin-crypto")]
    #[wasm_bindgen(constructor)]
    pub fn new(
        expected_context: JsValue,
        allow_legacy: bool,
        refuse_signed: bool,
        max_encrypted_data_keys: Option<u32>,
    ) -> Result<Decryptor, JsValue> {
        let options =
            options(expected_context, allow_legacy, refuse_signed, max_encrypted_data_keys)?;
        Ok(crate::Decryptor::new(options).into())
    }

    /// As the constructor, in detached mode: frame bodies are opened by the caller (state
    /// `"frame-body"`, see `frameJob`).
    #[wasm_bindgen(js_name = newDetached)]
    pub fn new_detached(
        expected_context: JsValue,
        allow_legacy: bool,
        refuse_signed: bool,
        max_encrypted_data_keys: Option<u32>,
    ) -> Result<Decryptor, JsValue> {
        let options =
            options(expected_context, allow_legacy, refuse_signed, max_encrypted_data_keys)?;
        Ok(crate::Decryptor::with_detached_frames(options).into())
    }

    /// Feeds message bytes; returns the plaintext released by this call (authenticated frame
    /// by frame; see `provisional`). Then read `consumed` and `state`.
    #[cfg(feature = "builtin-crypto")]
    pub fn update(&mut self, input: &[u8]) -> Result<Uint8Array, JsValue> {
        self.step(input)?;
        Ok(Uint8Array::from(self.out.as_slice()))
    }

    /// Bytes of the last `update`'s input used; the rest MUST be fed again.
    #[wasm_bindgen(getter)]
    pub fn consumed(&self) -> usize {
        self.consumed
    }

    /// `"need-input"`, `"need-data-key"`, `"frame-body"` (detached mode), `"need-digest"`
    /// (delegated hashing) or `"done"` after the last `update`.
    #[wasm_bindgen(getter)]
    pub fn state(&self) -> String {
        match self.state {
            DecryptState::NeedInput => "need-input",
            DecryptState::NeedDataKey => "need-data-key",
            DecryptState::FrameBody => "frame-body",
            DecryptState::NeedDigest => "need-digest",
            DecryptState::Done => "done",
        }
        .into()
    }

    /// Delegated hashing (detached mode, signed suite, state `"need-data-key"`): returns the
    /// header bytes, the first the signature covers; the caller hashes them with a
    /// `MessageHasher`, then the first `hashed` bytes of each later `updateDetached` input
    /// and every frame body, and passes the digest to `provideDigest` at state
    /// `"need-digest"`; `frameBody` then needs no body.
    #[cfg(feature = "signing")]
    #[wasm_bindgen(js_name = delegateHash)]
    pub fn delegate_hash(&mut self) -> Result<Uint8Array, JsValue> {
        let inner = self.inner.as_mut().ok_or_else(finished)?;
        inner.delegate_hash().map(Uint8Array::from).map_err(|e| decrypt_error(&e))
    }

    /// Delegated hashing: how many of the last update's `consumed` bytes, from the first,
    /// the signature covers (0 otherwise).
    #[cfg(feature = "signing")]
    #[wasm_bindgen(getter)]
    pub fn hashed(&self) -> usize {
        self.hashed
    }

    /// Delegated hashing: the digest of every message byte before the footer; verifies the
    /// signature.
    #[cfg(feature = "signing")]
    #[wasm_bindgen(js_name = provideDigest)]
    pub fn provide_digest(&mut self, digest: &[u8]) -> Result<(), JsValue> {
        let inner = self.inner.as_mut().ok_or_else(finished)?;
        inner.provide_digest(digest).map_err(|e| decrypt_error(&e))?;
        self.state = DecryptState::Done;
        Ok(())
    }

    /// Whether the message's suite is signed (false before the header is parsed):
    /// `frameBody` then needs the frame bodies.
    #[wasm_bindgen(getter, js_name = isSigned)]
    pub fn is_signed(&self) -> Result<bool, JsValue> {
        Ok(self.inner()?.header().is_some_and(|h| h.suite().is_signed()))
    }

    /// Takes the derived AES-GCM content key once the header is verified (once; then
    /// `undefined`) for WebCrypto. The caller MUST import it as a non-extractable key and
    /// zero-fill the array.
    #[cfg(feature = "builtin-crypto")]
    #[wasm_bindgen(js_name = takeContentKey)]
    pub fn take_content_key(&mut self) -> Result<Option<Uint8Array>, JsValue> {
        let inner = self.inner.as_mut().ok_or_else(finished)?;
        Ok(inner.dangerous_take_content_key().map(|key| key_to_js(&key)))
    }

    /// Detached mode: `update`, returning the address of the frame job in the module's
    /// memory (packed: see `convert::pack_job`; valid until the next call) when the state is
    /// `"frame-body"`, else 0. The job's body (plaintext length plus 16 bytes of input) MUST
    /// go to `frameBody` (signed suites) or `frameBodySkip`, not to `update`.
    #[wasm_bindgen(js_name = updateDetached)]
    pub fn update_detached(&mut self, input: &[u8]) -> Result<usize, JsValue> {
        self.step(input)?;
        let Some(inner) = self.inner.as_ref() else { return Err(finished()) };
        match inner.frame_job() {
            Some(job) if self.state == DecryptState::FrameBody => pack_job(job, &mut self.job),
            _ => Ok(0),
        }
    }

    /// Detached mode: the body of the current frame job (hashed for the signature). Then
    /// open it and report with `frameOpened`, in frame order.
    #[cfg(feature = "signing")]
    #[wasm_bindgen(js_name = frameBody)]
    pub fn frame_body(&mut self, body: &[u8]) -> Result<(), JsValue> {
        let inner = self.inner.as_mut().ok_or_else(finished)?;
        inner.frame_body(Some(body)).map_err(|e| decrypt_error(&e))
    }

    /// `frameBody` for an unsigned suite, without passing the body in.
    #[wasm_bindgen(js_name = frameBodySkip)]
    pub fn frame_body_skip(&mut self) -> Result<(), JsValue> {
        let inner = self.inner.as_mut().ok_or_else(finished)?;
        inner.frame_body(None).map_err(|e| decrypt_error(&e))
    }

    /// Detached mode: whether the oldest unconfirmed frame opened (its tag verified).
    #[wasm_bindgen(js_name = frameOpened)]
    pub fn frame_opened(&mut self, sequence: u32, ok: bool) -> Result<(), JsValue> {
        let inner = self.inner.as_mut().ok_or_else(finished)?;
        inner.frame_opened(sequence, ok).map_err(|e| decrypt_error(&e))
    }

    /// The address in the module's memory of a buffer of `len` bytes for one frame body.
    /// Valid until the next `frameBuffer` call; views of the memory MUST be made afresh after
    /// every call (the memory may grow).
    #[cfg(feature = "builtin-crypto")]
    #[wasm_bindgen(js_name = frameBuffer)]
    pub fn frame_buffer(&mut self, len: usize) -> usize {
        self.frame.clear();
        self.frame.resize(len, 0);
        self.frame.as_mut_ptr() as usize
    }

    /// Detached mode with the core's AES-GCM: the current job's body is in the frame buffer;
    /// passes it as `frameBody`, opens it in place and confirms it. The plaintext is then the
    /// buffer's first `plaintextLength` bytes. No other frame may be unconfirmed.
    #[cfg(feature = "builtin-crypto")]
    #[wasm_bindgen(js_name = openInPlace)]
    pub fn open_in_place(&mut self) -> Result<(), JsValue> {
        let inner = self.inner.as_mut().ok_or_else(finished)?;
        let Some(job) = inner.frame_job() else {
            return Err(decrypt_error(&DecryptError::InvalidState("no frame body is awaited")));
        };
        let sequence = job.sequence();
        let frame = self.frame.get_mut(..job.sealed_len()).ok_or_else(buffer_error)?;
        inner.frame_body(Some(frame)).map_err(|e| decrypt_error(&e))?;
        inner.open_job(sequence, frame).map_err(|e| decrypt_error(&e))
    }

    /// Opens the oldest unconfirmed frame `sequence` (its body in the frame buffer) with the
    /// core's AES-GCM and confirms it: for when WebCrypto failed on it.
    #[cfg(feature = "builtin-crypto")]
    #[wasm_bindgen(js_name = openJob)]
    pub fn open_job(&mut self, sequence: u32) -> Result<(), JsValue> {
        let inner = self.inner.as_mut().ok_or_else(finished)?;
        inner.open_job(sequence, &mut self.frame).map_err(|e| decrypt_error(&e))
    }

    /// True while released plaintext awaits the message signature (signed suites): it MUST
    /// be discarded if anything fails before `finish` succeeds.
    #[wasm_bindgen(getter)]
    pub fn provisional(&self) -> bool {
        self.provisional
    }

    /// The parsed header (not authenticated before `reportKey` returned true), or `undefined`.
    pub fn header(&self) -> Result<JsValue, JsValue> {
        Ok(self.inner()?.header().map_or(JsValue::UNDEFINED, header_to_js))
    }

    /// The serialized header, for keyrings that send it along (a key server).
    #[wasm_bindgen(js_name = headerBytes)]
    pub fn header_bytes(&self) -> Result<Option<Uint8Array>, JsValue> {
        Ok(self.inner()?.header().map(|h| Uint8Array::from(h.as_bytes())))
    }

    /// The data key length of the message's suite in bytes (0 before the header is parsed).
    #[wasm_bindgen(getter, js_name = dataKeyLength)]
    pub fn data_key_length(&self) -> Result<usize, JsValue> {
        Ok(self.inner()?.header().map_or(0, |h| h.suite().key_len()))
    }

    /// At `"need-data-key"`: the next EDK `{ providerId, providerInfo, ciphertext }` to ask
    /// the keyring about (header order). Once none is left it throws the core's verdict: the
    /// first refusal a keyring threw, as thrown, else `NO_DECRYPTABLE_KEY`.
    #[wasm_bindgen(js_name = nextCandidate)]
    pub fn next_candidate(&mut self) -> Result<JsValue, JsValue> {
        let inner = self.inner.as_ref().ok_or_else(finished)?;
        if self.unwrap.is_none() {
            self.unwrap = Some(inner.unwrap_session().map_err(|e| decrypt_error(&e))?);
        }
        let session = self.unwrap.as_mut().expect("the session was just made");
        let index = session.next_candidate().map_err(|err| match err {
            UnwrapError::Refused(refusal) => refusal,
            UnwrapError::Decrypt(e) => decrypt_error(&e),
        })?;
        let header = inner.header().expect("a session has a header");
        Ok(edk_to_js(&header.encrypted_data_keys()[index], true))
    }

    /// The keyring's answer for the last candidate: the data key (a Uint8Array, zero-filled
    /// here) or `null` (not its EDK). True once the key verified the header (key commitment,
    /// header tag): then feed the rest of the input. A key of another length than
    /// `dataKeyLength` is a failed attempt; one that fails the commitment or the header tag
    /// ends the decryption.
    #[wasm_bindgen(js_name = reportKey)]
    pub fn report_key(&mut self, key: JsValue) -> Result<bool, JsValue> {
        let attempt = attempt_from_js_key(&key)?;
        let session = self.unwrap.as_mut().ok_or_else(not_asked)?;
        let Some(data_key) = session.report(attempt).map_err(|e| decrypt_error(&e))? else {
            return Ok(false);
        };
        self.unwrap = None;
        #[cfg(feature = "builtin-crypto")]
        {
            let inner = self.inner.as_mut().ok_or_else(finished)?;
            inner.provide_data_key(&data_key).map_err(|e| decrypt_error(&e))?;
        }
        drop(data_key);
        Ok(true)
    }

    /// Without the core's derivation (the lite module), after `reportKey` returned true:
    /// `{ hash, salt, keyInfo, commitInfo, keyLength, iv, aad }`. The caller derives the
    /// content key (HKDF, or the data key itself without `hash`) and the commit key (with
    /// `commitInfo`, 32 bytes, same extract), computes the AES-GCM tag of an empty plaintext
    /// under `iv` and `aad` with the content key, and passes both to `provideDerivedKeys`.
    #[cfg(not(feature = "builtin-crypto"))]
    #[wasm_bindgen(js_name = headerAuth)]
    pub fn header_auth(&self) -> Result<JsValue, JsValue> {
        let auth = self.inner()?.header_auth().map_err(|e| decrypt_error(&e))?;
        let obj = derivation_to_js(&auth.derivation);
        set(&obj, "iv", &Uint8Array::from(&auth.iv[..]).into());
        set(&obj, "aad", &Uint8Array::from(auth.aad.as_slice()).into());
        Ok(obj.into())
    }

    /// The caller's commit key (`undefined` for suites without one) and header tag: verifies
    /// the header as `reportKey` does with the core's derivation (same errors).
    #[cfg(not(feature = "builtin-crypto"))]
    #[wasm_bindgen(js_name = provideDerivedKeys)]
    pub fn provide_derived_keys(
        &mut self,
        commit_key: Option<Vec<u8>>,
        header_tag: &[u8],
    ) -> Result<(), JsValue> {
        let inner = self.inner.as_mut().ok_or_else(finished)?;
        inner.provide_derived_keys(commit_key.as_deref(), header_tag).map_err(|e| decrypt_error(&e))
    }

    /// The error the keyring threw for the last candidate: code `KEYRING` is a refusal, any
    /// other a failed attempt (see `convert::attempt_from_js_error`).
    #[wasm_bindgen(js_name = reportError)]
    pub fn report_error(&mut self, err: JsValue) -> Result<(), JsValue> {
        let session = self.unwrap.as_mut().ok_or_else(not_asked)?;
        let found = session.report(attempt_from_js_error(err)).map_err(|e| decrypt_error(&e))?;
        debug_assert!(found.is_none(), "an error is never a key");
        Ok(())
    }

    /// Ends the input: succeeds only if the whole message was read and verified. The
    /// decryptor is spent.
    pub fn finish(&mut self) -> Result<(), JsValue> {
        let inner = self.inner.take().ok_or_else(finished)?;
        inner.finish().map(drop).map_err(|e| decrypt_error(&e))
    }
}

impl Decryptor {
    fn step(&mut self, input: &[u8]) -> Result<(), JsValue> {
        self.out.clear();
        let inner = self.inner.as_mut().ok_or_else(finished)?;
        let progress = inner.update(input, &mut self.out).map_err(|e| decrypt_error(&e))?;
        self.consumed = progress.consumed;
        #[cfg(feature = "signing")]
        {
            self.hashed = progress.hashed;
        }
        self.state = progress.state;
        self.provisional = progress.provisional;
        Ok(())
    }

    fn inner(&self) -> Result<&crate::Decryptor, JsValue> {
        self.inner.as_ref().ok_or_else(finished)
    }
}

fn finished() -> JsValue {
    decrypt_error(&DecryptError::InvalidState("the decryptor is finished"))
}

fn options(
    expected_context: JsValue,
    allow_legacy: bool,
    refuse_signed: bool,
    max_encrypted_data_keys: Option<u32>,
) -> Result<DecryptOptions, JsValue> {
    let mut limits = Limits::default();
    if let Some(max) = max_encrypted_data_keys {
        limits.max_encrypted_data_keys = max as usize;
    }
    Ok(DecryptOptions {
        commitment_policy: if allow_legacy {
            CommitmentPolicy::RequireEncryptAllowDecrypt
        } else {
            CommitmentPolicy::RequireEncryptRequireDecrypt
        },
        expected_context: context_from_js(&expected_context)?,
        refuse_signed,
        limits,
    })
}

fn not_asked() -> JsValue {
    decrypt_error(&DecryptError::InvalidState("no candidate EDK awaits an answer"))
}

/// The frame buffer does not hold the frame (a caller bug: `frameBuffer(len)` first).
#[cfg(feature = "builtin-crypto")]
fn buffer_error() -> JsValue {
    decrypt_error(&DecryptError::InvalidState("frameBuffer was not sized for this frame"))
}

/// The multi-keyring's answer for one EDK from its keyrings' answers, in order (the core's
/// rule, `FirstAnswer`): the first key; else the first error thrown; else `null`.
#[wasm_bindgen]
#[derive(Debug, Default)]
pub struct FirstAnswer {
    inner: crate::FirstAnswer<JsValue>,
}

#[wasm_bindgen]
impl FirstAnswer {
    /// Before the first keyring's answer.
    #[wasm_bindgen(constructor)]
    pub fn new() -> FirstAnswer {
        Self::default()
    }

    /// A keyring returned `key` (`null`: not its EDK): true if it settles the EDK; then the
    /// other keyrings MUST NOT be asked.
    pub fn key(&mut self, key: JsValue) -> bool {
        let answer = (!key.is_null() && !key.is_undefined()).then_some(Ok::<_, JsValue>(key));
        self.inner.add(answer).is_some()
    }

    /// A keyring threw `err`.
    pub fn error(&mut self, err: JsValue) {
        self.inner.add::<()>(Some(Err(err)));
    }

    /// After the last keyring: `null`, or throws the first error.
    pub fn finish(&mut self) -> Result<JsValue, JsValue> {
        core::mem::take(&mut self.inner).finish::<JsValue>().unwrap_or(Ok(JsValue::NULL))
    }
}
