//! Writing messages: a streaming [`Encryptor`] and the one-shot [`encrypt`].
//!
//! Source: `client-apis/encrypt.md`. Only format 2.0 committing suites are written, framed.

use alloc::collections::VecDeque;
use alloc::vec::Vec;

use crate::context::{self, EncryptionContext, PUBLIC_KEY_ENTRY, RESERVED_PREFIX};
use crate::crypto::{
    self, COMMIT_KEY_LEN, ContentCipher, ContentKey, DataKey, KeyDerivation, Signer,
};
use crate::error::EncryptError;
use crate::format::{
    AAD_FINAL_FRAME, AAD_FRAME, BodyAad, ContentType, EncryptedDataKey, Header, MAX_FRAME_LENGTH,
    MAX_SEQUENCE_NUMBER, frame_iv, write,
};
use crate::frame::{self, FrameCipher, FrameJob};
use crate::keyring::Keyring;
use crate::suite::{AlgorithmSuite, IV_LEN, TAG_LEN};

/// Frame length when the caller names none: 64 KiB, large enough for AES-GCM to run at full
/// speed and small enough to stream in constant memory.
pub const DEFAULT_FRAME_LENGTH: u32 = 64 * 1024;

/// What every call returns once one has failed.
const POISONED: &str = "an earlier call failed; the message cannot be completed";

/// What to write.
#[derive(Clone, Debug)]
pub struct EncryptOptions {
    /// 0x0578 (signed, the default) or 0x0478.
    pub suite: AlgorithmSuite,
    /// Plaintext bytes per frame, `1..=2^31-1`.
    pub frame_length: u32,
    /// Non-secret pairs bound to the message. Keys must not start with `aws-crypto-`.
    pub encryption_context: EncryptionContext,
}

impl Default for EncryptOptions {
    fn default() -> Self {
        Self {
            suite: AlgorithmSuite::default(),
            frame_length: DEFAULT_FRAME_LENGTH,
            encryption_context: EncryptionContext::new(),
        }
    }
}

/// Streaming encryption: feed plaintext in chunks of any size with [`Encryptor::update`], then
/// call [`Encryptor::finish`]. It holds at most one frame of plaintext.
///
/// Detached frames (the AES-GCM done by the caller, see [`FrameJob`]): instead of `update`
/// with plaintext, call [`Encryptor::frame_job`] for each frame (every regular frame exactly
/// one frame length, then one final frame of at most one frame length), seal each job's
/// plaintext with its IV and AAD, pass the results to [`Encryptor::frame_sealed`] in frame
/// order, then call [`Encryptor::finish`]. The output is byte for byte what `update` would
/// have written for the same plaintext. The two ways cannot be mixed within one message, but
/// for `update` with empty input, which writes the header early.
///
/// After any error the encryptor is spent: every later call fails with
/// [`EncryptError::InvalidState`] and writes nothing, and a failed `update` or `finish`
/// leaves `out` as it found it. The caller MUST discard the output written so far.
pub struct Encryptor {
    header: Header,
    header_written: bool,
    /// `None` when the caller derived the keys ([`HeaderToSeal`]): it seals every frame.
    cipher: Option<ContentCipher>,
    /// The derived content key, until [`Encryptor::dangerous_take_content_key`] takes it.
    content_key: Option<ContentKey>,
    frame_length: usize,
    /// Next sequence number to seal (`update`) or to issue as a job (detached frames).
    next_sequence: u32,
    pending: Vec<u8>,
    signer: Option<Signer>,
    detached: Detached,
    /// Set by the first failed call (see `guard`).
    poisoned: bool,
}

/// The detached-frame state: jobs issued but not yet sealed, oldest first.
#[derive(Default)]
struct Detached {
    active: bool,
    /// Plaintext lengths of the open jobs; the first has sequence number `next_sealed`.
    open: VecDeque<usize>,
    next_sealed: u32,
    final_issued: bool,
    final_sealed: bool,
}

/// An encryption whose data key exists but is not yet wrapped: the caller wraps
/// [`PendingEncryptor::data_key`] for each recipient (asynchronously, say, with WebCrypto) and
/// hands the EDKs to [`PendingEncryptor::with_encrypted_data_keys`], which seals the header.
/// [`Encryptor::new`] does both steps with a [`Keyring`].
pub struct PendingEncryptor {
    suite: AlgorithmSuite,
    frame_length: u32,
    /// The caller's context plus the signature's public key entry (signed suites).
    context: EncryptionContext,
    serialized_context: Vec<u8>,
    data_key: DataKey,
    message_id: [u8; 32],
    signer: Option<Signer>,
}

impl PendingEncryptor {
    /// Checks `options` and generates the data key, message ID and (signed suite) signing key.
    pub fn new(options: &EncryptOptions) -> Result<Self, EncryptError> {
        // Before any secret is made: bad options cost no key generation.
        check_options(options)?;
        let data_key =
            DataKey::generate(options.suite.key_len()).map_err(|_| EncryptError::Random)?;
        let signer = match options.suite.is_signed() {
            true => Some(Signer::generate(options.suite)?),
            false => None,
        };
        let mut message_id = [0u8; 32];
        crypto::random(&mut message_id).map_err(|_| EncryptError::Random)?;
        Self::with_secrets(options, data_key, message_id, signer)
    }

    /// `options` must have passed `check_options` (both callers check first).
    fn with_secrets(
        options: &EncryptOptions,
        data_key: DataKey,
        message_id: [u8; 32],
        signer: Option<Signer>,
    ) -> Result<Self, EncryptError> {
        let mut context = options.encryption_context.clone();
        if let Some(signer) = &signer {
            context.insert(PUBLIC_KEY_ENTRY.into(), signer.public_entry());
        }
        let serialized_context = context::serialize(&context)
            .filter(|c| u16::try_from(c.len()).is_ok())
            .ok_or(EncryptError::ContextTooLarge)?;
        Ok(Self {
            suite: options.suite,
            frame_length: options.frame_length,
            context,
            serialized_context,
            data_key,
            message_id,
            signer,
        })
    }

    /// **Test hook, never for real messages.** [`Encryptor::dangerous_new_with_fixed_secrets`] before
    /// its EDKs: a pending encryption with a caller-chosen data key, message ID and signing
    /// key, so that two encryptions of the same plaintext give the
    /// same bytes (tests compare the detached-frame and the `update` paths with it). Reusing a
    /// data key and message ID across different plaintexts destroys AES-GCM's security.
    /// Only with the `test-hooks` feature, which no release build enables.
    #[cfg(feature = "test-hooks")]
    #[doc(hidden)]
    pub fn dangerous_with_fixed_secrets(
        options: &EncryptOptions,
        data_key: &DataKey,
        message_id: [u8; 32],
        signing_key: Option<&[u8; 48]>,
    ) -> Result<Self, EncryptError> {
        check_options(options)?;
        let expected = options.suite.key_len();
        if data_key.len() != expected {
            return Err(EncryptError::DataKeyLength { expected, actual: data_key.len() });
        }
        let signer = match (options.suite.is_signed(), signing_key) {
            (true, Some(bytes)) => Some(Signer::from_bytes(options.suite, bytes)?),
            (true, None) => return Err(EncryptError::InvalidSigningKey),
            (false, _) => None,
        };
        let data_key = DataKey::from_slice(data_key.dangerous_as_bytes());
        PendingEncryptor::with_secrets(options, data_key, message_id, signer)
    }

    /// The plaintext data key to wrap. It is zeroized when this value (or the encryptor made
    /// from it) is dropped; a caller that copies it must wipe the copy.
    pub fn data_key(&self) -> &DataKey {
        &self.data_key
    }

    /// The encryption context the header will hold (the caller's pairs, plus
    /// `aws-crypto-public-key` for signed suites): what a keyring may bind its EDKs to.
    pub fn encryption_context(&self) -> &EncryptionContext {
        &self.context
    }

    /// The suite of the message.
    pub fn suite(&self) -> AlgorithmSuite {
        self.suite
    }

    /// Replaces the random data key with one a generator keyring made (the AWS KMS keyring's
    /// `GenerateDataKey`), of the suite's key length ([`EncryptError::DataKeyLength`]
    /// otherwise). The random key is zeroized.
    pub fn use_generated_data_key(&mut self, data_key: DataKey) -> Result<(), EncryptError> {
        let expected = self.suite.key_len();
        if data_key.len() != expected {
            return Err(EncryptError::DataKeyLength { expected, actual: data_key.len() });
        }
        self.data_key = data_key;
        Ok(())
    }

    /// How the content key and the commit key come from the data key, for a caller that
    /// derives them itself and seals the header with [`PendingEncryptor::header_to_seal`].
    pub fn key_derivation(&self) -> KeyDerivation {
        KeyDerivation::new(self.suite, &self.message_id)
    }

    /// Seals the header over `edks` (1 to 65,535, each field at most 65,535 bytes).
    pub fn with_encrypted_data_keys(
        self,
        edks: Vec<EncryptedDataKey>,
    ) -> Result<Encryptor, EncryptError> {
        let (cipher, content_key, commit_key) =
            crypto::derive_keys(self.suite, &self.data_key, &self.message_id)
                .ok_or(EncryptError::InvalidState(crypto::NO_BUILTIN_CRYPTO))?;
        let commit_key = commit_key.expect("committing suites derive a commit key");
        let header = self.header_to_seal(edks, &commit_key[..])?;
        let tag = cipher.seal(&[0; IV_LEN], header.aad(), &mut [])?;
        let mut encryptor = header.seal(&tag)?;
        encryptor.cipher = Some(cipher);
        encryptor.content_key = Some(content_key);
        Ok(encryptor)
    }

    /// The header over `edks` with the commit key that the caller derived by
    /// [`PendingEncryptor::key_derivation`] (32 bytes), to be sealed with the tag the caller
    /// computes ([`HeaderToSeal`]). The data key is zeroized.
    pub fn header_to_seal(
        self,
        edks: Vec<EncryptedDataKey>,
        commit_key: &[u8],
    ) -> Result<HeaderToSeal, EncryptError> {
        let Self { suite, frame_length, context, serialized_context, message_id, signer, .. } =
            self;
        if edks.is_empty() || edks.len() > usize::from(u16::MAX) {
            return Err(EncryptError::EncryptedDataKeyCount(edks.len()));
        }
        let commit_key: [u8; COMMIT_KEY_LEN] = commit_key
            .try_into()
            .map_err(|_| EncryptError::InvalidState("a commit key has 32 bytes"))?;
        let bytes = write::header_body_v2(
            suite,
            &message_id,
            &serialized_context,
            &edks,
            frame_length,
            &commit_key,
        )
        .ok_or(EncryptError::EncryptedDataKeyTooLarge)?;
        let body_len = bytes.len();
        let header = Header {
            suite,
            message_id: message_id.to_vec(),
            context,
            edks,
            content_type: ContentType::Framed,
            frame_length,
            commit_key: Some(commit_key),
            iv: [0; IV_LEN],
            tag: [0; TAG_LEN],
            bytes,
            body_len,
        };
        Ok(HeaderToSeal { header, signer })
    }
}

/// A header complete but for its authentication tag ([`PendingEncryptor::header_to_seal`]):
/// the caller computes the AES-GCM tag of an empty plaintext under the derived content key,
/// an all-zero IV and [`HeaderToSeal::aad`], and passes it to [`HeaderToSeal::seal`].
pub struct HeaderToSeal {
    header: Header,
    signer: Option<Signer>,
}

impl HeaderToSeal {
    /// The header tag's AAD: the header body.
    pub fn aad(&self) -> &[u8] {
        &self.header.bytes
    }

    /// Completes the header with its tag (16 bytes). The encryptor has no AES-GCM key of its
    /// own unless the core derived it ([`PendingEncryptor::with_encrypted_data_keys`]): the
    /// caller seals every frame (detached frames).
    pub fn seal(self, tag: &[u8]) -> Result<Encryptor, EncryptError> {
        let Self { mut header, signer } = self;
        header.tag = tag
            .try_into()
            .map_err(|_| EncryptError::InvalidState("an AES-GCM tag has 16 bytes"))?;
        header.bytes.extend_from_slice(tag);
        let frame_length = header.frame_length as usize;
        Ok(Encryptor {
            header,
            header_written: false,
            cipher: None,
            content_key: None,
            frame_length,
            next_sequence: 1,
            pending: Vec::new(),
            signer,
            detached: Detached { next_sealed: 1, ..Detached::default() },
            poisoned: false,
        })
    }
}

impl core::fmt::Debug for HeaderToSeal {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("HeaderToSeal").field("suite", &self.header.suite).finish_non_exhaustive()
    }
}

impl core::fmt::Debug for PendingEncryptor {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("PendingEncryptor")
            .field("suite", &self.suite)
            .field("frame_length", &self.frame_length)
            .field("context", &self.context)
            .finish_non_exhaustive()
    }
}

impl Encryptor {
    /// Has `keyring` generate the data key ([`Keyring::generate`]), or generates one and
    /// wraps it with `keyring`, and prepares the header.
    pub fn new(keyring: &dyn Keyring, options: &EncryptOptions) -> Result<Self, EncryptError> {
        let mut pending = PendingEncryptor::new(options)?;
        let edks = match keyring.generate(pending.suite(), pending.encryption_context()) {
            Some(generated) => {
                let (data_key, edks) = generated?;
                pending.use_generated_data_key(data_key)?;
                edks
            }
            None => keyring.wrap(pending.data_key(), pending.encryption_context())?,
        };
        pending.with_encrypted_data_keys(edks)
    }

    /// **Test hook, never for real messages.** An encryptor with a caller-chosen data key,
    /// message ID, signing key (signed suites: a 48-byte P-384 scalar) and EDKs instead of
    /// fresh random ones and a keyring, so that two encryptions of the same plaintext give the
    /// same bytes (tests compare the detached-frame and the `update` paths with it). Reusing a
    /// data key and message ID across different plaintexts destroys AES-GCM's security.
    /// Only with the `test-hooks` feature, which no release build enables.
    #[cfg(feature = "test-hooks")]
    #[doc(hidden)]
    pub fn dangerous_new_with_fixed_secrets(
        edks: Vec<EncryptedDataKey>,
        options: &EncryptOptions,
        data_key: &DataKey,
        message_id: [u8; 32],
        signing_key: Option<&[u8; 48]>,
    ) -> Result<Self, EncryptError> {
        PendingEncryptor::dangerous_with_fixed_secrets(options, data_key, message_id, signing_key)?
            .with_encrypted_data_keys(edks)
    }

    /// The header this encryptor writes (encryption context, EDKs, suite, frame length).
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// Encrypts `input` and appends whatever output is complete (header, whole frames) to
    /// `out`. Plaintext short of a frame is kept for the next call. An empty `input` writes
    /// only the header, if not yet written: allowed in detached mode too, so that a caller
    /// can send the header before any frame is sealed (with delegated hashing the caller
    /// hashes it, as everything else written).
    pub fn update(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<(), EncryptError> {
        let start = out.len();
        self.guard(|this| this.encrypt_chunk(input, out)).inspect_err(|_| out.truncate(start))
    }

    fn encrypt_chunk(&mut self, mut input: &[u8], out: &mut Vec<u8>) -> Result<(), EncryptError> {
        if self.detached.active && !input.is_empty() {
            return Err(EncryptError::InvalidState(
                match self.signer.as_ref().is_some_and(Signer::is_delegated) {
                    true => "plaintext passed to update with a delegated hash: use detached frames",
                    false => "plaintext passed to update in detached mode",
                },
            ));
        }
        let start = out.len();
        if !self.header_written {
            out.extend_from_slice(&self.header.bytes);
            self.header_written = true;
        }
        if !self.pending.is_empty() {
            let take = input.len().min(self.frame_length - self.pending.len());
            self.pending.extend_from_slice(&input[..take]);
            input = &input[take..];
            if self.pending.len() == self.frame_length {
                let frame = core::mem::take(&mut self.pending);
                self.seal_frame(&frame, false, out)?;
                self.pending = frame;
                self.pending.clear();
            }
        }
        while input.len() >= self.frame_length {
            let (frame, rest) = input.split_at(self.frame_length);
            self.seal_frame(frame, false, out)?;
            input = rest;
        }
        self.pending.extend_from_slice(input);
        if let Some(signer) = &mut self.signer {
            signer.update(&out[start..]);
        }
        Ok(())
    }

    /// Writes the final frame and, for a signed suite, the signature footer. In detached
    /// mode the final frame MUST have been sealed ([`Encryptor::frame_sealed`]) first; then
    /// only the footer is written. With delegated hashing, call
    /// [`Encryptor::finish_with_digest`] instead.
    pub fn finish(mut self, out: &mut Vec<u8>) -> Result<(), EncryptError> {
        let start = out.len();
        self.guard(|this| this.write_end(out)).inspect_err(|_| out.truncate(start))
    }

    fn write_end(&mut self, out: &mut Vec<u8>) -> Result<(), EncryptError> {
        if self.signer.as_ref().is_some_and(Signer::is_delegated) {
            return Err(EncryptError::InvalidState("the hash is delegated: finish_with_digest"));
        }
        let start;
        if self.detached.active {
            if !self.detached.final_sealed {
                return Err(EncryptError::InvalidState("the final frame is not sealed"));
            }
            start = out.len();
        } else {
            self.encrypt_chunk(&[], out)?;
            start = out.len();
            let last = core::mem::take(&mut self.pending);
            self.seal_frame(&last, true, out)?;
        }
        if let Some(mut signer) = self.signer.take() {
            signer.update(&out[start..]);
            let signature = signer.sign().expect("the hash is not delegated");
            write_footer(&signature, out);
        }
        Ok(())
    }

    /// Delegated hashing: from now on the encryptor does not hash the message for its
    /// signature; the caller MUST hash, with a [`crate::MessageHasher`] of the suite, every
    /// byte the encryptor writes (header, frame heads and the sealed bytes written after
    /// them), in order, and pass the digest to [`Encryptor::finish_with_digest`]. This lets
    /// the one sequential pass of a signed suite run on another thread than the frames.
    /// Only for a signed suite, before anything was written. It puts the encryptor in
    /// detached mode: [`Encryptor::finish_with_digest`] needs a final frame sealed through
    /// [`Encryptor::frame_sealed`], so `update` takes no plaintext from then on.
    pub fn delegate_hash(&mut self) -> Result<(), EncryptError> {
        self.guard(|this| match &mut this.signer {
            Some(signer) if !this.header_written && this.next_sequence == 1 => {
                signer.delegate();
                this.detached.active = true;
                Ok(())
            }
            Some(_) => Err(EncryptError::InvalidState("output was already written")),
            None => Err(EncryptError::InvalidState("the suite is not signed")),
        })
    }

    /// Delegated hashing: writes the signature footer of a message whose digest (SHA-384 of
    /// everything written before the footer) is `digest`. The final frame MUST have been
    /// sealed.
    pub fn finish_with_digest(
        mut self,
        digest: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), EncryptError> {
        self.guard(|this| {
            let signer = match this.signer.take() {
                Some(signer) if signer.is_delegated() => signer,
                _ => return Err(EncryptError::InvalidState("the hash is not delegated")),
            };
            if !this.detached.final_sealed {
                return Err(EncryptError::InvalidState("the final frame is not sealed"));
            }
            let digest: &[u8; 48] = digest
                .try_into()
                .map_err(|_| EncryptError::InvalidState("a SHA-384 digest has 48 bytes"))?;
            write_footer(&signer.sign_digest(digest), out);
            Ok(())
        })
    }

    /// **Key material.** Takes the derived AES-GCM content key (its only copy outside the
    /// cipher), for an external AES-GCM in detached mode: WebCrypto imports it as a
    /// non-extractable key. `None` on a second call or after a failed one. The caller MUST NOT
    /// store or log it and SHOULD zeroize its copies once imported; the returned value is
    /// zeroized on drop.
    pub fn dangerous_take_content_key(&mut self) -> Option<ContentKey> {
        if self.poisoned {
            return None;
        }
        self.content_key.take()
    }

    /// Detached frames: the core's AES-GCM for jobs sealed on other threads
    /// ([`FrameCipher::seal`]). It takes the content key, so `None` on a second call, after
    /// [`Encryptor::dangerous_take_content_key`] or a failed call, and when the caller derived
    /// the keys.
    pub fn frame_cipher(&mut self) -> Option<FrameCipher> {
        if self.poisoned {
            return None;
        }
        self.content_key.take().map(|key| FrameCipher::new(&key))
    }

    /// Detached frames: starts the next frame, of `len` plaintext bytes, and returns its
    /// job. Regular frames MUST be exactly the frame length; the final frame (`is_final`) at
    /// most the frame length, and nothing may follow it. The caller MUST seal the job's
    /// plaintext with AES-GCM under the content key, with the job's IV and AAD, and pass the
    /// result to [`Encryptor::frame_sealed`]; several jobs may be open at once.
    pub fn frame_job(&mut self, len: usize, is_final: bool) -> Result<FrameJob, EncryptError> {
        self.guard(|this| {
            if !this.detached.active && (!this.pending.is_empty() || this.next_sequence != 1) {
                return Err(EncryptError::InvalidState("plaintext was passed to update"));
            }
            if this.detached.final_issued {
                return Err(EncryptError::InvalidState("the final frame was already started"));
            }
            if (!is_final && len != this.frame_length) || len > this.frame_length {
                return Err(EncryptError::InvalidState("frame of the wrong length"));
            }
            let sequence = this.next_sequence;
            if sequence > MAX_SEQUENCE_NUMBER || (!is_final && sequence == MAX_SEQUENCE_NUMBER) {
                return Err(EncryptError::TooManyFrames);
            }
            this.detached.active = true;
            this.detached.open.push_back(len);
            this.detached.final_issued = is_final;
            this.next_sequence = sequence + 1;
            Ok(this.job(sequence, len, is_final))
        })
    }

    /// Detached frames: seals the open job `sequence` with the core's own AES-GCM, in place
    /// (`buf` holds its plaintext); returns the tag. For callers whose external AES-GCM is
    /// missing or failed: the result is what the external one would give.
    pub fn seal_job(
        &mut self,
        sequence: u32,
        buf: &mut [u8],
    ) -> Result<[u8; TAG_LEN], EncryptError> {
        self.guard(|this| {
            let index = sequence.checked_sub(this.detached.next_sealed).map(|i| i as usize);
            let Some(&len) = index.and_then(|i| this.detached.open.get(i)) else {
                return Err(EncryptError::InvalidState(
                    "no open frame job has this sequence number",
                ));
            };
            if buf.len() != len {
                return Err(EncryptError::InvalidState("frame of the wrong length"));
            }
            let is_final = this.detached.final_issued && sequence + 1 == this.next_sequence;
            frame::seal_job(this.cipher()?, &this.job(sequence, len, is_final), buf)
        })
    }

    /// Detached frames: completes the oldest open job with its sealed bytes (ciphertext then
    /// tag, `sealed_len()` bytes) and appends the frame's head (sequence number, IV, and for
    /// the final frame its length) to `out`, preceded by the header if not yet written. The
    /// caller MUST write the sealed bytes right after that head. For a signed suite the
    /// sealed bytes are REQUIRED (they are hashed into the signature) unless the hashing is
    /// delegated; for an unsigned suite `None` is allowed.
    pub fn frame_sealed(
        &mut self,
        sealed: Option<&[u8]>,
        out: &mut Vec<u8>,
    ) -> Result<(), EncryptError> {
        self.guard(|this| {
            let Some(&len) = this.detached.open.front() else {
                return Err(EncryptError::InvalidState("no frame job is open"));
            };
            match sealed {
                Some(bytes) if bytes.len() != len + TAG_LEN => {
                    return Err(EncryptError::InvalidState("sealed frame of the wrong length"));
                }
                None if this.signer.as_ref().is_some_and(|s| !s.is_delegated()) => {
                    return Err(EncryptError::InvalidState(
                        "a signed message needs the sealed bytes",
                    ));
                }
                _ => {}
            }
            this.detached.open.pop_front();
            let sequence = this.detached.next_sealed;
            let is_final = this.detached.final_issued && this.detached.open.is_empty();
            let start = out.len();
            if !this.header_written {
                out.extend_from_slice(&this.header.bytes);
                this.header_written = true;
            }
            // Final frames hold at most one frame length, itself below 2^31.
            let final_len =
                is_final.then(|| u32::try_from(len).expect("final frame within frame length"));
            write::frame_head(out, sequence, &frame_iv(sequence), final_len);
            if let Some(signer) = &mut this.signer {
                signer.update(&out[start..]);
                signer.update(sealed.unwrap_or_default());
            }
            this.detached.next_sealed = sequence + 1;
            this.detached.final_sealed = is_final;
            Ok(())
        })
    }

    /// Runs `f` unless an earlier call failed, and remembers if this one fails: a failed call
    /// may have dropped plaintext or left output unhashed, so nothing may extend the message.
    fn guard<T>(
        &mut self,
        f: impl FnOnce(&mut Self) -> Result<T, EncryptError>,
    ) -> Result<T, EncryptError> {
        if self.poisoned {
            return Err(EncryptError::InvalidState(POISONED));
        }
        let result = f(self);
        self.poisoned = result.is_err();
        result
    }

    fn job(&self, sequence: u32, len: usize, is_final: bool) -> FrameJob {
        let content = if is_final { AAD_FINAL_FRAME } else { AAD_FRAME };
        FrameJob {
            sequence,
            is_final,
            hold: false,
            iv: frame_iv(sequence),
            aad: BodyAad::new(&self.header.message_id, content, sequence, len as u64),
            plaintext_len: len,
        }
    }

    fn cipher(&self) -> Result<&ContentCipher, EncryptError> {
        self.cipher
            .as_ref()
            .ok_or(EncryptError::InvalidState("the caller derived this message's keys"))
    }

    fn seal_frame(
        &mut self,
        plaintext: &[u8],
        is_final: bool,
        out: &mut Vec<u8>,
    ) -> Result<(), EncryptError> {
        let sequence = self.next_sequence;
        // A regular frame must leave a sequence number for the final frame.
        if sequence > MAX_SEQUENCE_NUMBER || (!is_final && sequence == MAX_SEQUENCE_NUMBER) {
            return Err(EncryptError::TooManyFrames);
        }
        let len = plaintext.len();
        let iv = frame_iv(sequence);
        let content = if is_final { AAD_FINAL_FRAME } else { AAD_FRAME };
        let aad = BodyAad::new(&self.header.message_id, content, sequence, len as u64);
        // Final frames hold at most one frame length, itself below 2^31.
        let final_len =
            is_final.then(|| u32::try_from(len).expect("final frame within frame length"));
        write::frame_head(out, sequence, &iv, final_len);
        let at = out.len();
        out.extend_from_slice(plaintext);
        let tag = self.cipher()?.seal(&iv, aad.as_ref(), &mut out[at..])?;
        out.extend_from_slice(&tag);
        self.next_sequence = sequence + 1;
        Ok(())
    }
}

/// Appends the footer: the signature with its 2-byte length (`message-footer.md`).
fn write_footer(signature: &[u8], out: &mut Vec<u8>) {
    let len = u16::try_from(signature.len()).expect("DER ECDSA P-384 signatures are < 104 bytes");
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(signature);
}

/// Checks what the caller chose: a committing suite, the frame length, no reserved keys.
fn check_options(options: &EncryptOptions) -> Result<(), EncryptError> {
    let suite = options.suite;
    // Without the `signing` feature (the npm package's lite module) no suite is signed.
    if !suite.is_committing() || (suite.is_signed() && !cfg!(feature = "signing")) {
        return Err(EncryptError::UnsupportedSuite(suite.id()));
    }
    if !(1..=MAX_FRAME_LENGTH).contains(&options.frame_length) {
        return Err(EncryptError::InvalidFrameLength(options.frame_length.into()));
    }
    if let Some(key) = options.encryption_context.keys().find(|k| k.starts_with(RESERVED_PREFIX)) {
        return Err(EncryptError::ReservedContextKey(key.clone()));
    }
    Ok(())
}

impl core::fmt::Debug for Encryptor {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Encryptor").field("header", &self.header).finish_non_exhaustive()
    }
}

/// Encrypts `plaintext` into one message.
pub fn encrypt(
    keyring: &dyn Keyring,
    plaintext: &[u8],
    options: &EncryptOptions,
) -> Result<Vec<u8>, EncryptError> {
    let mut encryptor = Encryptor::new(keyring, options)?;
    let frames = plaintext.len() / encryptor.frame_length + 1;
    let mut out =
        Vec::with_capacity(encryptor.header.bytes.len() + plaintext.len() + frames * 40 + 110);
    encryptor.update(plaintext, &mut out)?;
    encryptor.finish(&mut out)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    const SIGNED: AlgorithmSuite = AlgorithmSuite::AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384;
    const UNSIGNED: AlgorithmSuite = AlgorithmSuite::AES_256_GCM_HKDF_SHA512_COMMIT_KEY;

    fn encryptor(suite: AlgorithmSuite) -> Encryptor {
        let options = EncryptOptions { suite, frame_length: 4, ..EncryptOptions::default() };
        let edk = EncryptedDataKey {
            provider_id: "test".into(),
            provider_info: Vec::new(),
            ciphertext: vec![1; 32],
        };
        PendingEncryptor::new(&options).unwrap().with_encrypted_data_keys(vec![edk]).unwrap()
    }

    /// An encryptor whose `update` failed after sealing one of its frames: the sequence
    /// numbers ran out (set by hand: 2^32 real frames take too long).
    fn failed_update(suite: AlgorithmSuite, out: &mut Vec<u8>) -> Encryptor {
        let mut enc = encryptor(suite);
        enc.update(b"ab", out).unwrap();
        let written = out.len();
        enc.next_sequence = MAX_SEQUENCE_NUMBER - 1;
        assert_eq!(enc.update(b"cdefghij", out), Err(EncryptError::TooManyFrames));
        assert_eq!(out.len(), written, "the failed call leaves no partial output");
        enc
    }

    #[test]
    fn a_failed_update_poisons_the_encryptor() {
        let poisoned = |r: Result<(), EncryptError>| r == Err(EncryptError::InvalidState(POISONED));
        for suite in [SIGNED, UNSIGNED] {
            let mut out = Vec::new();
            let mut enc = failed_update(suite, &mut out);
            let written = out.len();
            assert!(poisoned(enc.update(b"x", &mut out)));
            assert!(poisoned(enc.update(&[], &mut out)));
            assert!(poisoned(enc.frame_job(0, true).map(drop)));
            assert!(poisoned(enc.seal_job(MAX_SEQUENCE_NUMBER, &mut []).map(drop)));
            assert!(poisoned(enc.frame_sealed(None, &mut out)));
            assert!(poisoned(enc.delegate_hash()));
            assert!(enc.dangerous_take_content_key().is_none(), "no key for a broken message");
            let mut other = Vec::new();
            let late = failed_update(suite, &mut other);
            assert!(poisoned(late.finish_with_digest(&[0; 48], &mut other)));
            assert!(poisoned(enc.finish(&mut out)));
            assert_eq!(out.len(), written, "nothing more is written");
        }
    }

    #[test]
    fn a_misuse_error_poisons_too() {
        let mut enc = encryptor(SIGNED);
        enc.frame_job(4, false).unwrap();
        let err = enc.update(b"x", &mut Vec::new()).unwrap_err();
        assert_ne!(err, EncryptError::InvalidState(POISONED), "the first error says what it is");
        assert_eq!(enc.frame_job(4, false).unwrap_err(), EncryptError::InvalidState(POISONED));
    }
}
