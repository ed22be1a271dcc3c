//! Reading messages: a streaming sans-IO [`Decryptor`] and the one-shot [`decrypt`].
//!
//! Source: `client-apis/decrypt.md`. The decryptor is fed bytes and appends plaintext to a
//! caller's buffer; it never reads, writes or blocks, so the same machine serves Rust readers,
//! JS streams and the key server.

use alloc::collections::VecDeque;
use alloc::string::String;
use alloc::vec::Vec;

use zeroize::Zeroize;

use crate::context::{self, EncryptionContext, PUBLIC_KEY_ENTRY};
use crate::crypto::{self, ContentCipher, ContentKey, DataKey, KeyDerivation, Verifier};
use crate::error::{DecryptError, Section};
use crate::format::read::{self, FrameHead, Parse};
use crate::format::{
    AAD_FINAL_FRAME, AAD_FRAME, AAD_SINGLE_BLOCK, BodyAad, ContentType, Header, Reader, frame_iv,
};
use crate::frame::{self, FrameCipher, FrameJob};
use crate::keyring::{Keyring, UnwrapSession};
use crate::suite::{CommitmentPolicy, IV_LEN, TAG_LEN};

/// Bounds on what a message may make the decryptor hold or do. Every one is checked before
/// the memory or work it guards.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Most encrypted data keys a header may carry. The specification's "maximum number of
    /// encrypted data keys" (`client-apis/client.md`); default 10, as the issue asks, which
    /// also bounds the unwrap attempts a hostile message can cause.
    pub max_encrypted_data_keys: usize,
    /// Largest header in bytes. Default 256 KiB: ten 4096-bit EDKs and a full 64 KiB context
    /// take well under 80 KiB.
    pub max_header_len: usize,
    /// Largest frame (or non-framed body) the decryptor will buffer, in bytes. Default 64 MiB;
    /// the writers of the official SDKs default to 4 KiB and ours to 64 KiB.
    pub max_frame_len: usize,
    /// Largest serialized encryption context. Default 65,535, the most its length field holds.
    pub max_context_len: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_encrypted_data_keys: 10,
            max_header_len: 256 * 1024,
            max_frame_len: 64 * 1024 * 1024,
            max_context_len: u16::MAX as usize,
        }
    }
}

/// How to read.
#[derive(Clone, Debug, Default)]
pub struct DecryptOptions {
    /// Whether legacy non-committing (format 1.0) messages are accepted.
    pub commitment_policy: CommitmentPolicy,
    /// The "reproduced encryption context" (`framework/cmm-interface.md`): a pair whose key
    /// is stored in the message MUST have this value; a pair whose key is not stored MUST have
    /// been authenticated by the header without being stored (the "encryption context to only
    /// authenticate" of the required-encryption-context CMM). Either failure is
    /// [`DecryptError::ContextMismatch`].
    pub expected_context: EncryptionContext,
    /// Fail right after the header if the suite is signed: the specification's option for
    /// callers that must never see plaintext before the signature is verified.
    pub refuse_signed: bool,
    /// Bounds against hostile input.
    pub limits: Limits,
}

/// What the decryptor needs next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DecryptState {
    /// All input so far is used: the caller MUST feed more bytes, or call
    /// [`Decryptor::finish`] at the end of the input.
    NeedInput,
    /// The header is parsed (not yet authenticated): the caller MUST find the data key among
    /// the header's EDKs, by the rules of an [`UnwrapSession`] ([`Decryptor::unwrap_session`])
    /// and pass it to [`Decryptor::provide_data_key`] (or call [`Decryptor::unwrap_with`],
    /// which does both with a [`Keyring`]), then feed the unconsumed rest of the input.
    NeedDataKey,
    /// The message is complete and verified: the caller MUST call [`Decryptor::finish`];
    /// any further input is an error. In detached mode, frames whose opening is not yet
    /// confirmed stay unverified until [`Decryptor::finish`] succeeds.
    Done,
    /// Delegated hashing only ([`Decryptor::delegate_hash`]): the footer was read. The caller
    /// MUST pass the digest of every message byte before the footer to
    /// [`Decryptor::provide_digest`], which verifies the signature.
    NeedDigest,
    /// Detached mode only: a frame head was read. The caller MUST take
    /// [`Decryptor::frame_job`], pass the next `sealed_len()` bytes of the message to
    /// [`Decryptor::frame_body`] (not to `update`), open them with the job's IV and AAD,
    /// report the outcome in frame order ([`Decryptor::frame_opened`] or
    /// [`Decryptor::open_job`]), then feed the input that follows the frame.
    FrameBody,
}

/// Result of one [`Decryptor::update`].
#[must_use]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Progress {
    /// Bytes of the input used; the caller MUST feed the rest again later.
    pub consumed: usize,
    /// What the decryptor needs next.
    pub state: DecryptState,
    /// True while plaintext released so far is authenticated frame by frame but the message
    /// signature is not yet verified: the caller MUST NOT act on it until
    /// [`Decryptor::finish`] succeeds, and MUST discard it if anything fails.
    pub provisional: bool,
    /// Delegated hashing only ([`Decryptor::delegate_hash`]): how many of the `consumed`
    /// bytes, from the first, the message signature covers (frame heads, not the footer); the
    /// caller MUST hash them. 0 otherwise.
    pub hashed: usize,
}

/// How to verify a header with keys the caller derives ([`Decryptor::header_auth`]).
#[derive(Clone, Debug)]
pub struct HeaderAuth {
    /// The suite's recipe for the content and commit keys.
    pub derivation: KeyDerivation,
    /// The header tag's IV (all zero in format 2.0, the header's IV field in 1.0).
    pub iv: [u8; IV_LEN],
    /// The header tag's AAD: the header body, then the expected pairs it does not store.
    pub aad: Vec<u8>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stage {
    Header,
    NeedKey,
    Body,
    /// Detached mode: waiting for [`Decryptor::frame_body`].
    FrameBody,
    Footer,
    /// Delegated hashing: waiting for [`Decryptor::provide_digest`].
    NeedDigest,
    Done,
}

/// Streaming decryption of one message.
///
/// Detached frames ([`Decryptor::with_detached_frames`]): the decryptor parses, checks and
/// hashes everything but leaves the AES-GCM of frame bodies to the caller; see
/// [`DecryptState::FrameBody`] and [`FrameJob`].
pub struct Decryptor {
    options: DecryptOptions,
    stage: Stage,
    failed: Option<DecryptError>,
    /// Bytes of the unit being assembled (header, frame or footer), only as many as needed.
    buf: Vec<u8>,
    /// Input length the unit in `buf` needs before it can be parsed further.
    want: usize,
    head: Option<(FrameHead, usize)>,
    header: Option<Header>,
    cipher: Option<ContentCipher>,
    verifier: Option<Verifier>,
    next_sequence: u32,
    /// Expected pairs the header does not store: they join the header tag's AAD.
    auth_only: EncryptionContext,
    /// Plaintext of a signed message's final frame or non-framed body, released only once the
    /// signature verifies (`client-apis/decrypt.md` "Decrypt the message body").
    held: Vec<u8>,
    /// The derived content key, until [`Decryptor::dangerous_take_content_key`] takes it.
    content_key: Option<ContentKey>,
    /// Detached mode: frame bodies are opened by the caller.
    detached: bool,
    /// Detached mode: the frame whose body is awaited ([`Stage::FrameBody`]).
    job: Option<FrameJob>,
    /// Detached mode: frames whose bodies were read but whose opening is not confirmed,
    /// oldest first.
    unconfirmed: VecDeque<FrameJob>,
    /// Delegated hashing: the caller hashes the message ([`Decryptor::delegate_hash`]).
    hash_delegated: bool,
    /// Delegated hashing: the footer's signature, until the digest comes.
    signature: Option<Vec<u8>>,
    /// Delegated hashing: bytes of the current `update`'s input the signature covers.
    hashed: usize,
}

impl Decryptor {
    /// A decryptor waiting for the first byte of a message.
    pub fn new(options: DecryptOptions) -> Self {
        Self {
            options,
            stage: Stage::Header,
            failed: None,
            buf: Vec::new(),
            want: 0,
            head: None,
            header: None,
            cipher: None,
            verifier: None,
            next_sequence: 1,
            auth_only: EncryptionContext::new(),
            held: Vec::new(),
            content_key: None,
            detached: false,
            job: None,
            unconfirmed: VecDeque::new(),
            hash_delegated: false,
            signature: None,
            hashed: 0,
        }
    }

    /// Delegated hashing, in detached mode, once the header is parsed (state
    /// [`DecryptState::NeedDataKey`]) and the suite is signed: the decryptor does not hash
    /// the message for the signature; the caller MUST hash, with a [`crate::MessageHasher`]
    /// of the suite, the bytes the signature covers, in order: the header bytes returned
    /// here, then of each later [`Decryptor::update`] the first [`Progress::hashed`] bytes of
    /// its input (frame heads), and each frame body passed to [`Decryptor::frame_body`]; and
    /// pass the digest to [`Decryptor::provide_digest`] at [`DecryptState::NeedDigest`]. This
    /// lets the one sequential pass of a signed suite run on another thread than the frames.
    pub fn delegate_hash(&mut self) -> Result<&[u8], DecryptError> {
        self.sticky(|this| {
            let signed = this.header.as_ref().is_some_and(|h| h.suite().is_signed());
            if !this.detached || this.stage != Stage::NeedKey || !signed {
                return Err(DecryptError::InvalidState(
                    "delegate the hash of a signed message in detached mode, before its key",
                ));
            }
            this.hash_delegated = true;
            Ok(())
        })?;
        Ok(self.header.as_ref().expect("checked above").as_bytes())
    }

    /// Delegated hashing, state [`DecryptState::NeedDigest`]: the digest of every message
    /// byte before the footer; verifies the signature with it.
    pub fn provide_digest(&mut self, digest: &[u8]) -> Result<(), DecryptError> {
        self.sticky(|this| {
            let (Stage::NeedDigest, Some(signature), Some(verifier)) =
                (this.stage, this.signature.take(), this.verifier.take())
            else {
                return Err(DecryptError::InvalidState("no digest is awaited"));
            };
            verifier.verify_digest(digest, &signature)?;
            this.stage = Stage::Done;
            Ok(())
        })
    }

    /// A decryptor in detached mode: frame bodies are opened by the caller (see
    /// [`DecryptState::FrameBody`]). Everything else is as with [`Decryptor::new`].
    pub fn with_detached_frames(options: DecryptOptions) -> Self {
        Self { detached: true, ..Self::new(options) }
    }

    /// **Key material.** Takes the derived AES-GCM content key once the header is verified,
    /// for an external AES-GCM in detached mode (WebCrypto imports it as a non-extractable
    /// key). `None` before that and on a second call. The caller MUST NOT store or log it
    /// and SHOULD zeroize its copies once imported; the returned value is zeroized on drop.
    pub fn dangerous_take_content_key(&mut self) -> Option<ContentKey> {
        self.content_key.take()
    }

    /// Detached mode: the core's AES-GCM for frames opened on other threads
    /// ([`FrameCipher::open`]), once the header is verified. It takes the content key, so
    /// `None` before, on a second call and after [`Decryptor::dangerous_take_content_key`].
    pub fn frame_cipher(&mut self) -> Option<FrameCipher> {
        self.content_key.take().map(|key| FrameCipher::new(&key))
    }

    /// Detached mode: the frame whose body the caller must pass to
    /// [`Decryptor::frame_body`] ([`DecryptState::FrameBody`]).
    pub fn frame_job(&self) -> Option<&FrameJob> {
        self.job.as_ref()
    }

    /// Detached mode: the body of the frame of [`Decryptor::frame_job`] (ciphertext and tag,
    /// `sealed_len()` bytes). REQUIRED for a signed suite (it is hashed into the signature);
    /// `None` is allowed for an unsigned suite. The caller MUST then open the frame and report
    /// it ([`Decryptor::frame_opened`] or [`Decryptor::open_job`]); plaintext of a job with
    /// `hold()` MUST NOT be released before [`DecryptState::Done`].
    pub fn frame_body(&mut self, body: Option<&[u8]>) -> Result<(), DecryptError> {
        self.sticky(|this| {
            let Some(job) = this.job.as_ref().filter(|_| this.stage == Stage::FrameBody) else {
                return Err(DecryptError::InvalidState("no frame body is awaited"));
            };
            match body {
                Some(bytes) if bytes.len() != job.sealed_len() => {
                    return Err(DecryptError::InvalidState("frame body of the wrong length"));
                }
                None if this.verifier.as_ref().is_some_and(|v| !v.is_delegated()) => {
                    return Err(DecryptError::InvalidState(
                        "a signed message needs the frame body",
                    ));
                }
                _ => {}
            }
            let job = this.job.take().expect("checked above");
            if let Some(v) = &mut this.verifier {
                v.update(body.unwrap_or_default());
            }
            this.next_sequence = this.next_sequence.wrapping_add(1);
            this.stage = match (job.is_final, this.verifier.is_some()) {
                (false, _) => Stage::Body,
                (true, true) => Stage::Footer,
                (true, false) => Stage::Done,
            };
            this.unconfirmed.push_back(job);
            Ok(())
        })
    }

    /// Detached mode: reports whether the oldest unconfirmed frame, `sequence`, opened (its
    /// tag verified). `false` fails the decryption with [`DecryptError::BadFrameTag`].
    pub fn frame_opened(&mut self, sequence: u32, ok: bool) -> Result<(), DecryptError> {
        self.sticky(|this| {
            if this.unconfirmed.front().map(FrameJob::sequence) != Some(sequence) {
                return Err(DecryptError::InvalidState("frames must be confirmed in order"));
            }
            if !ok {
                return Err(DecryptError::BadFrameTag { sequence });
            }
            this.unconfirmed.pop_front();
            Ok(())
        })
    }

    /// Detached mode: opens the oldest unconfirmed frame, `sequence`, with the core's own
    /// AES-GCM, in place (`buf`: its ciphertext and tag; on success the first
    /// `plaintext_len()` bytes are the plaintext, and if the tag fails they hold none), and
    /// confirms it. For callers whose external AES-GCM is missing or failed.
    pub fn open_job(&mut self, sequence: u32, buf: &mut [u8]) -> Result<(), DecryptError> {
        self.sticky(|this| {
            let Some(cipher) = this.cipher.as_ref() else {
                return Err(DecryptError::InvalidState("the caller derived this message's keys"));
            };
            let Some(job) = this.unconfirmed.front() else {
                return Err(DecryptError::InvalidState("no frame is waiting to be opened"));
            };
            if job.sequence != sequence || buf.len() != job.sealed_len() {
                return Err(DecryptError::InvalidState("frames must be opened in order"));
            }
            frame::open_job(cipher, job, buf)?;
            this.unconfirmed.pop_front();
            Ok(())
        })
    }

    /// The parsed header, once available. Until the state has moved past
    /// [`DecryptState::NeedDataKey`], it is **not authenticated**.
    pub fn header(&self) -> Option<&Header> {
        self.header.as_ref()
    }

    /// Whether a data key has verified the header's commitment and authentication tag.
    pub fn is_header_verified(&self) -> bool {
        !matches!(self.stage, Stage::Header | Stage::NeedKey)
    }

    /// At [`DecryptState::NeedDataKey`], for a caller that derives the keys itself (detached
    /// mode only: the core then has no AES-GCM key of the message): how the data key the
    /// caller found becomes the content and commit keys, and the IV and AAD of the header
    /// tag. The caller derives both keys, computes the AES-GCM tag of an empty plaintext under
    /// that IV and AAD with the content key, and passes the commit key and the tag to
    /// [`Decryptor::provide_derived_keys`].
    pub fn header_auth(&self) -> Result<HeaderAuth, DecryptError> {
        if let Some(err) = &self.failed {
            return Err(err.clone());
        }
        let header = self.awaiting_caller_keys()?;
        Ok(HeaderAuth {
            derivation: KeyDerivation::new(header.suite(), header.message_id()),
            iv: header.iv,
            aad: header.auth_aad(&self.auth_only)?,
        })
    }

    /// The caller's derivation of [`Decryptor::header_auth`]: checks the commit key (format
    /// 2.0; `None` otherwise) and the header tag as [`Decryptor::provide_data_key`] does
    /// (same errors). The caller's AES-GCM then opens every frame: [`Decryptor::open_job`]
    /// is refused.
    pub fn provide_derived_keys(
        &mut self,
        commit_key: Option<&[u8]>,
        header_tag: &[u8],
    ) -> Result<(), DecryptError> {
        self.sticky(|this| {
            this.awaiting_caller_keys()?.check_keys(commit_key, header_tag, &this.auth_only)?;
            this.accept_header()
        })
    }

    /// Feeds message bytes; appends authenticated plaintext to `out`.
    pub fn update(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<Progress, DecryptError> {
        self.sticky(|this| this.step(input, out))
    }

    /// Supplies the data key for [`DecryptState::NeedDataKey`]: checks the key commitment and
    /// the header authentication tag with it.
    pub fn provide_data_key(&mut self, data_key: &DataKey) -> Result<(), DecryptError> {
        self.sticky(|this| this.verify_header(data_key))
    }

    /// At [`DecryptState::NeedDataKey`]: the search for the data key among the header's EDKs,
    /// for a caller whose keyrings the core cannot call (JS keyrings, through the wasm
    /// bindings). `R` is the caller's form of a keyring's refusal.
    pub fn unwrap_session<R>(&self) -> Result<UnwrapSession<R>, DecryptError> {
        if let Some(err) = &self.failed {
            return Err(err.clone());
        }
        self.awaiting_key().map(UnwrapSession::new)
    }

    /// Unwraps the data key with `keyring` ([`Keyring::unwrap_any`]) and supplies it.
    pub fn unwrap_with(&mut self, keyring: &dyn Keyring) -> Result<(), DecryptError> {
        self.sticky(|this| {
            let data_key = keyring.unwrap_any(this.awaiting_key()?)?;
            this.verify_header(&data_key)
        })
    }

    /// Ends the input. Succeeds only if the whole message was read and verified; returns its
    /// header.
    pub fn finish(mut self) -> Result<Header, DecryptError> {
        if let Some(err) = self.failed.take() {
            return Err(err);
        }
        match self.stage {
            Stage::Done if !self.unconfirmed.is_empty() => {
                Err(DecryptError::InvalidState("frames were not confirmed opened"))
            }
            Stage::Done => Ok(self.header.take().expect("a finished message has a header")),
            Stage::NeedDigest => Err(DecryptError::InvalidState("the digest was not provided")),
            Stage::Header | Stage::NeedKey => Err(DecryptError::Truncated(Section::Header)),
            Stage::Body | Stage::FrameBody => Err(DecryptError::Truncated(Section::Body)),
            Stage::Footer => Err(DecryptError::Truncated(Section::Footer)),
        }
    }

    fn sticky<T>(
        &mut self,
        f: impl FnOnce(&mut Self) -> Result<T, DecryptError>,
    ) -> Result<T, DecryptError> {
        if let Some(err) = &self.failed {
            return Err(err.clone());
        }
        let result = f(self);
        if let Err(err) = &result {
            self.failed = Some(err.clone());
            // Held-back plaintext is never released now: wipe it, spare capacity included.
            self.held.zeroize();
        }
        result
    }

    fn progress(&self, consumed: usize) -> Progress {
        let state = match self.stage {
            Stage::NeedKey => DecryptState::NeedDataKey,
            Stage::FrameBody => DecryptState::FrameBody,
            Stage::NeedDigest => DecryptState::NeedDigest,
            Stage::Done => DecryptState::Done,
            _ => DecryptState::NeedInput,
        };
        let signed = self.header.as_ref().is_some_and(|h| h.suite().is_signed());
        Progress {
            consumed,
            state,
            provisional: signed && self.stage != Stage::Done,
            hashed: self.hashed,
        }
    }

    /// Copies input into `buf` until it holds `want` bytes; returns whether it does.
    fn fill(&mut self, input: &[u8], consumed: &mut usize) -> bool {
        let missing = self.want.saturating_sub(self.buf.len());
        let take = missing.min(input.len() - *consumed);
        self.buf.extend_from_slice(&input[*consumed..*consumed + take]);
        self.take(take, consumed);
        self.buf.len() >= self.want
    }

    /// Counts `n` more bytes of input as consumed, and as covered by a delegated hash if they
    /// belong to the body (frame heads; the header is given whole by `delegate_hash`, the
    /// footer is not signed).
    fn take(&mut self, n: usize, consumed: &mut usize) {
        *consumed += n;
        if self.hash_delegated && self.stage == Stage::Body {
            self.hashed += n;
        }
    }

    fn step(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<Progress, DecryptError> {
        let mut consumed = 0;
        self.hashed = 0;
        loop {
            match self.stage {
                Stage::NeedKey | Stage::FrameBody => return Ok(self.progress(consumed)),
                Stage::Done | Stage::NeedDigest if consumed < input.len() => {
                    return Err(DecryptError::TrailingBytes);
                }
                Stage::Done | Stage::NeedDigest => return Ok(self.progress(consumed)),
                Stage::Header => match read::header(&self.buf, &self.options.limits)? {
                    Parse::Done(header, _) => {
                        self.buf.clear();
                        self.want = 0;
                        self.auth_only = self.check_header(&header)?;
                        self.header = Some(header);
                        self.stage = Stage::NeedKey;
                    }
                    Parse::Incomplete(want) => {
                        self.want = want;
                        if !self.fill(input, &mut consumed) {
                            return Ok(self.progress(consumed));
                        }
                    }
                },
                Stage::Body if self.detached => {
                    let from_input = self.buf.is_empty();
                    let parsed = match from_input {
                        true => self.parse_frame_head(&input[consumed..])?,
                        false => self.parse_frame_head(&self.buf)?,
                    };
                    match parsed {
                        Parse::Done(head, head_len) => {
                            let bytes = match from_input {
                                true => &input[consumed..consumed + head_len],
                                false => &self.buf[..head_len],
                            };
                            if let Some(v) = &mut self.verifier {
                                v.update(bytes);
                            }
                            if from_input {
                                self.take(head_len, &mut consumed);
                            }
                            self.buf.clear();
                            self.want = 0;
                            self.job = Some(self.body_job(&head)?);
                            self.stage = Stage::FrameBody;
                        }
                        Parse::Incomplete(want) => {
                            self.want = want;
                            if !self.fill(input, &mut consumed) {
                                return Ok(self.progress(consumed));
                            }
                        }
                    }
                }
                Stage::Body => {
                    // Fast path: a whole frame in the input is decrypted without staging.
                    if self.buf.is_empty()
                        && self.head.is_none()
                        && let Parse::Done(head, head_len) =
                            self.parse_frame_head(&input[consumed..])?
                    {
                        let total = frame_len(&head, head_len);
                        if input.len() - consumed >= total {
                            let frame = &input[consumed..consumed + total];
                            consumed += total;
                            self.open_frame(&head, head_len, frame, out)?;
                            continue;
                        }
                    }
                    if let Some((head, head_len)) = &self.head {
                        let (head, head_len) = (*head, *head_len);
                        self.want = frame_len(&head, head_len);
                        if !self.fill(input, &mut consumed) {
                            return Ok(self.progress(consumed));
                        }
                        let frame = core::mem::take(&mut self.buf);
                        self.head = None;
                        self.want = 0;
                        self.open_frame(&head, head_len, &frame, out)?;
                        self.buf = frame;
                        self.buf.clear();
                        continue;
                    }
                    match self.parse_frame_head(&self.buf)? {
                        Parse::Done(head, head_len) => self.head = Some((head, head_len)),
                        Parse::Incomplete(want) => {
                            self.want = want;
                            if !self.fill(input, &mut consumed) {
                                return Ok(self.progress(consumed));
                            }
                        }
                    }
                }
                Stage::Footer => {
                    let mut r = Reader::new(&self.buf);
                    let want = match r.bytes16() {
                        Some(signature) if self.hash_delegated => {
                            self.signature = Some(signature.to_vec());
                            self.buf.clear();
                            self.stage = Stage::NeedDigest;
                            continue;
                        }
                        Some(signature) => {
                            let verifier =
                                self.verifier.take().expect("signed messages have a verifier");
                            verifier.verify(signature)?;
                            out.append(&mut self.held);
                            self.buf.clear();
                            self.stage = Stage::Done;
                            continue;
                        }
                        None => r.wanted(),
                    };
                    self.want = want;
                    if !self.fill(input, &mut consumed) {
                        return Ok(self.progress(consumed));
                    }
                }
            }
        }
    }

    /// Checks that need no key, before any unwrap: commitment policy, signed-suite refusal,
    /// the reserved public-key entry, and the caller's required context pairs. Returns the
    /// required pairs the header does not store.
    fn check_header(&self, header: &Header) -> Result<EncryptionContext, DecryptError> {
        let suite = header.suite();
        if !self.options.commitment_policy.allows_decrypt(suite) {
            return Err(DecryptError::CommitmentPolicy(suite.id()));
        }
        if suite.is_signed() && self.options.refuse_signed {
            return Err(DecryptError::SignedMessageRefused);
        }
        // Before any unwrap, so that a caller can give the same input to a build that reads
        // it (the npm package's lite module has no `signing`: its glue moves to the full one).
        if suite.is_signed() && !cfg!(feature = "signing") {
            return Err(DecryptError::UnsupportedSuite(suite.id()));
        }
        if suite.is_signed() != header.context.contains_key(PUBLIC_KEY_ENTRY) {
            return Err(DecryptError::PublicKeyEntry);
        }
        let mut auth_only = EncryptionContext::new();
        for (key, value) in &self.options.expected_context {
            match header.context.get(key) {
                Some(stored) if stored != value => {
                    return Err(DecryptError::ContextMismatch(key.clone()));
                }
                Some(_) => {}
                None => drop(auth_only.insert(key.clone(), value.clone())),
            }
        }
        Ok(auth_only)
    }

    fn verify_header(&mut self, data_key: &DataKey) -> Result<(), DecryptError> {
        let (cipher, content_key) = self.awaiting_key()?.authenticate(data_key, &self.auth_only)?;
        self.accept_header()?;
        self.cipher = Some(cipher);
        self.content_key = Some(content_key);
        Ok(())
    }

    /// The parsed header that waits for its data key ([`DecryptState::NeedDataKey`]).
    fn awaiting_key(&self) -> Result<&Header, DecryptError> {
        match (self.stage, &self.header) {
            (Stage::NeedKey, Some(header)) => Ok(header),
            _ => Err(DecryptError::InvalidState("no header is waiting for a key")),
        }
    }

    /// [`Decryptor::awaiting_key`] for keys the caller derives: detached mode only, since the
    /// core then has no key to open frames with.
    fn awaiting_caller_keys(&self) -> Result<&Header, DecryptError> {
        match self.awaiting_key() {
            Ok(header) if self.detached => Ok(header),
            _ => Err(DecryptError::InvalidState("no header is waiting for a key (detached mode)")),
        }
    }

    /// The header verified: starts the signature's verifier and the body.
    fn accept_header(&mut self) -> Result<(), DecryptError> {
        let header = self.header.as_ref().expect("a verified header");
        let suite = header.suite();
        let entry = header.context.get(PUBLIC_KEY_ENTRY).map_or("", String::as_str);
        let mut verifier = Verifier::new(suite, entry)?;
        if let Some(v) = &mut verifier {
            if self.hash_delegated {
                v.delegate();
            }
            v.update(header.as_bytes());
        }
        self.verifier = verifier;
        self.stage = Stage::Body;
        Ok(())
    }

    fn parse_frame_head(&self, buf: &[u8]) -> Result<Parse<FrameHead>, DecryptError> {
        let header = self.header.as_ref().expect("body follows the header");
        let framed = header.content_type() == ContentType::Framed;
        let parsed = read::frame_head(buf, framed.then_some(header.frame_length()))?;
        if let Parse::Done(head, _) = &parsed {
            if !framed && head.content_len > self.options.limits.max_frame_len as u64 {
                return Err(DecryptError::FrameTooLarge {
                    length: head.content_len,
                    max: self.options.limits.max_frame_len,
                });
            }
            if framed && (head.sequence != self.next_sequence || head.iv != frame_iv(head.sequence))
            {
                return Err(DecryptError::FrameSequence { expected: self.next_sequence });
            }
        }
        Ok(parsed)
    }

    /// The job of a frame whose head was read (detached mode).
    fn body_job(&self, head: &FrameHead) -> Result<FrameJob, DecryptError> {
        let header = self.header.as_ref().expect("body follows the header");
        let aad_content = match (header.content_type(), head.is_final) {
            (ContentType::NonFramed, _) => AAD_SINGLE_BLOCK,
            (ContentType::Framed, true) => AAD_FINAL_FRAME,
            (ContentType::Framed, false) => AAD_FRAME,
        };
        let plaintext_len =
            usize::try_from(head.content_len).map_err(|_| DecryptError::FrameTooLarge {
                length: head.content_len,
                max: self.options.limits.max_frame_len,
            })?;
        Ok(FrameJob {
            sequence: head.sequence,
            is_final: head.is_final,
            hold: head.is_final && self.verifier.is_some(),
            iv: head.iv,
            aad: BodyAad::new(header.message_id(), aad_content, head.sequence, head.content_len),
            plaintext_len,
        })
    }

    /// Authenticates and decrypts one whole frame (`frame` = head, content and tag).
    fn open_frame(
        &mut self,
        head: &FrameHead,
        head_len: usize,
        frame: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), DecryptError> {
        let header = self.header.as_ref().expect("body follows the header");
        let cipher = self.cipher.as_ref().expect("body follows header verification");
        let content_end = frame.len() - TAG_LEN;
        debug_assert!(!self.detached, "detached frames are opened by the caller");
        let content = &frame[head_len..content_end];
        let tag: &[u8; TAG_LEN] = frame[content_end..].try_into().expect("frame ends with a tag");
        let aad_content = match (header.content_type(), head.is_final) {
            (ContentType::NonFramed, _) => AAD_SINGLE_BLOCK,
            (ContentType::Framed, true) => AAD_FINAL_FRAME,
            (ContentType::Framed, false) => AAD_FRAME,
        };
        let aad = BodyAad::new(header.message_id(), aad_content, head.sequence, head.content_len);
        // Final and non-framed plaintext of a signed message waits for the signature.
        let hold = head.is_final && self.verifier.is_some();
        let sink = if hold { &mut self.held } else { out };
        let at = sink.len();
        sink.extend_from_slice(content);
        if cipher.open(&head.iv, aad.as_ref(), &mut sink[at..], tag).is_err() {
            sink.truncate(at);
            return Err(DecryptError::BadFrameTag { sequence: head.sequence });
        }
        if let Some(v) = &mut self.verifier {
            v.update(frame);
        }
        self.next_sequence = self.next_sequence.wrapping_add(1);
        if head.is_final {
            self.stage = if self.verifier.is_some() { Stage::Footer } else { Stage::Done };
        }
        Ok(())
    }
}

impl Header {
    /// Parses a complete serialized header (as sent to a key server). Fails with
    /// [`DecryptError::Truncated`] if `bytes` end early; returns the header and its length.
    pub fn parse(bytes: &[u8], limits: &Limits) -> Result<(Self, usize), DecryptError> {
        match read::header(bytes, limits)? {
            Parse::Done(header, len) => Ok((header, len)),
            Parse::Incomplete(_) => Err(DecryptError::Truncated(Section::Header)),
        }
    }

    /// Checks `data_key` against the header: its key commitment (format 2.0), then the header
    /// authentication tag. Once this succeeds, the header, encryption context included, is
    /// authentic for anyone who trusts the data key.
    pub fn verify(&self, data_key: &DataKey) -> Result<(), DecryptError> {
        self.authenticate(data_key, &EncryptionContext::new()).map(drop)
    }

    /// [`Header::verify`] with pairs the header authenticates without storing; returns the
    /// content cipher for the body and the key bytes it was built from.
    fn authenticate(
        &self,
        data_key: &DataKey,
        auth_only: &EncryptionContext,
    ) -> Result<(ContentCipher, ContentKey), DecryptError> {
        let suite = self.suite();
        if data_key.len() != suite.key_len() {
            return Err(DecryptError::UnwrapFailed);
        }
        let (cipher, content_key, commit_key) =
            crypto::derive_keys(suite, data_key, self.message_id())
                .ok_or(DecryptError::InvalidState(crypto::NO_BUILTIN_CRYPTO))?;
        let aad = self.auth_aad(auth_only)?;
        // The tag of an empty plaintext is the header tag: GCM's open would compute the same.
        let tag = cipher.seal(&self.iv, &aad, &mut []).map_err(|_| DecryptError::BadHeaderTag)?;
        self.check_keys(commit_key.as_deref().map(|k| &k[..]), &tag, auth_only)?;
        Ok((cipher, content_key))
    }

    /// Header tag AAD: header body, then the serialized pairs to only authenticate
    /// (`client-apis/decrypt.md` "Verify the header").
    fn auth_aad(&self, auth_only: &EncryptionContext) -> Result<Vec<u8>, DecryptError> {
        let mut aad = self.body().to_vec();
        aad.extend(
            context::serialize(auth_only)
                .ok_or(DecryptError::ContextTooLarge { max: usize::from(u16::MAX) })?,
        );
        Ok(aad)
    }

    /// Checks a derived commit key (format 2.0) against the header's, then the header tag
    /// computed with the derived key against the header's, both in constant time: the one
    /// check of both derivations, the core's and a caller's ([`Decryptor::provide_derived_keys`]).
    fn check_keys(
        &self,
        commit_key: Option<&[u8]>,
        tag: &[u8],
        auth_only: &EncryptionContext,
    ) -> Result<(), DecryptError> {
        if let Some(stored) = &self.commit_key
            && !commit_key.is_some_and(|derived| crypto::ct_equal(derived, stored))
        {
            return Err(DecryptError::CommitmentMismatch);
        }
        if !crypto::ct_equal(tag, &self.tag) {
            return Err(match auth_only.keys().next() {
                Some(key) => DecryptError::ContextMismatch(key.clone()),
                None => DecryptError::BadHeaderTag,
            });
        }
        Ok(())
    }
}

/// Bytes of a whole frame: head, content and tag. `content_len` was checked against the
/// limits (a `usize`), so it fits.
fn frame_len(head: &FrameHead, head_len: usize) -> usize {
    let content = usize::try_from(head.content_len).unwrap_or(usize::MAX);
    head_len.saturating_add(content).saturating_add(TAG_LEN)
}

impl core::fmt::Debug for Decryptor {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Decryptor")
            .field("stage", &self.stage)
            .field("failed", &self.failed)
            .field("header", &self.header)
            .finish_non_exhaustive()
    }
}

/// Decrypts a whole message held in memory. Releases nothing unless every check passed.
pub fn decrypt(
    keyring: &dyn Keyring,
    message: &[u8],
    options: DecryptOptions,
) -> Result<(Vec<u8>, Header), DecryptError> {
    // Plaintext never outgrows the message: the vector never reallocates, so no stale copy of
    // released plaintext is left behind where the wipe on failure would miss it.
    let mut plaintext = Vec::with_capacity(message.len());
    let header = decrypt_or_wipe(keyring, message, options, &mut plaintext)?;
    Ok((plaintext, header))
}

/// The body of [`decrypt`]. On failure it zero-fills the plaintext released so far (frames
/// that verified before a later check failed), keeping its length so tests can see it.
fn decrypt_or_wipe(
    keyring: &dyn Keyring,
    message: &[u8],
    options: DecryptOptions,
    plaintext: &mut Vec<u8>,
) -> Result<Header, DecryptError> {
    let mut decryptor = Decryptor::new(options);
    let run = || {
        let mut rest = message;
        loop {
            let progress = decryptor.update(rest, plaintext)?;
            rest = &rest[progress.consumed..];
            match progress.state {
                DecryptState::NeedDataKey => decryptor.unwrap_with(keyring)?,
                _ => break,
            }
        }
        decryptor.finish()
    };
    run().inspect_err(|_| plaintext.as_mut_slice().zeroize())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::context::EncryptionContext;
    use crate::error::EncryptError;
    use crate::format::EncryptedDataKey;
    use crate::suite::AlgorithmSuite;
    use crate::{EncryptOptions, encrypt};

    /// Stores the data key in the clear: enough to reach the body.
    struct ClearKeyring;

    impl Keyring for ClearKeyring {
        fn wrap(
            &self,
            data_key: &DataKey,
            _: &EncryptionContext,
        ) -> Result<Vec<EncryptedDataKey>, EncryptError> {
            Ok(alloc::vec![EncryptedDataKey {
                provider_id: "clear".into(),
                provider_info: Vec::new(),
                ciphertext: data_key.dangerous_as_bytes().to_vec(),
            }])
        }

        fn unwrap(
            &self,
            edk: &EncryptedDataKey,
            _: &Header,
        ) -> Option<Result<DataKey, DecryptError>> {
            Some(Ok(DataKey::from_slice(&edk.ciphertext)))
        }
    }

    /// A failure after two frames verified: a tampered final frame (unsigned suite), or a
    /// tampered signature (signed suite, whose final frame is held back anyway).
    #[test]
    fn a_failed_one_shot_decrypt_wipes_the_plaintext_it_released() {
        for (suite, expected) in [
            (
                AlgorithmSuite::AES_256_GCM_HKDF_SHA512_COMMIT_KEY,
                DecryptError::BadFrameTag { sequence: 3 },
            ),
            (
                AlgorithmSuite::AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384,
                DecryptError::BadSignature,
            ),
        ] {
            let options = EncryptOptions { suite, frame_length: 16, ..EncryptOptions::default() };
            let mut message = encrypt(&ClearKeyring, &[0xA5; 40], &options).unwrap();
            let last = message.len() - 1;
            message[last] ^= 1;
            let mut plaintext = Vec::new();
            let err =
                decrypt_or_wipe(&ClearKeyring, &message, DecryptOptions::default(), &mut plaintext)
                    .unwrap_err();
            assert_eq!(err, expected);
            assert_eq!(plaintext.len(), 32, "two frames were released before the failure");
            assert!(plaintext.iter().all(|&b| b == 0), "and wiped after it");
        }
    }
}
