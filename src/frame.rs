//! Detached frames: the AES-GCM of frame bodies done outside the core.
//!
//! [`crate::Encryptor`] and [`crate::Decryptor`] normally seal and open each frame with the
//! pure-Rust AES-GCM. In detached mode they still write and parse the header, derive the keys,
//! check the key commitment, number the frames, build each frame's IV and body AAD, hash the
//! message for signed suites and check the signature, but hand the caller a [`FrameJob`] per
//! frame: "seal (or open) these bytes with this IV and AAD". The caller may run several jobs
//! at once (WebCrypto, worker threads) and MUST report the results back in frame order; the
//! core keeps every rule about order, the final frame and limits.

use core::fmt;

use crate::crypto::{ContentCipher, ContentKey};
use crate::error::{DecryptError, EncryptError};
use crate::format::BodyAad;
use crate::suite::{IV_LEN, TAG_LEN};

/// One frame's AES-GCM work: IV and AAD (the message body AAD of `message-body-aad.md`).
///
/// Neither is secret. For encryption the input is `plaintext_len` bytes and the output
/// `plaintext_len + 16` bytes (ciphertext then tag); for decryption the reverse.
#[derive(Clone)]
pub struct FrameJob {
    pub(crate) sequence: u32,
    pub(crate) is_final: bool,
    pub(crate) hold: bool,
    pub(crate) iv: [u8; IV_LEN],
    pub(crate) aad: BodyAad,
    pub(crate) plaintext_len: usize,
}

impl FrameJob {
    /// The frame's sequence number (1 for non-framed content).
    pub fn sequence(&self) -> u32 {
        self.sequence
    }

    /// Whether this is the final frame (or the non-framed body) of the message.
    pub fn is_final(&self) -> bool {
        self.is_final
    }

    /// Decryption only: the frame's plaintext MUST be held back until the message signature
    /// verified ([`crate::DecryptState::Done`]): the final frame of a signed message.
    pub fn hold(&self) -> bool {
        self.hold
    }

    /// The 12-byte AES-GCM IV.
    pub fn iv(&self) -> &[u8; IV_LEN] {
        &self.iv
    }

    /// The AES-GCM additional authenticated data.
    pub fn aad(&self) -> &[u8] {
        self.aad.as_ref()
    }

    /// Plaintext bytes of the frame.
    pub fn plaintext_len(&self) -> usize {
        self.plaintext_len
    }

    /// Ciphertext and tag bytes of the frame: `plaintext_len() + 16`.
    pub fn sealed_len(&self) -> usize {
        self.plaintext_len + TAG_LEN
    }
}

impl fmt::Debug for FrameJob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FrameJob")
            .field("sequence", &self.sequence)
            .field("is_final", &self.is_final)
            .field("hold", &self.hold)
            .field("plaintext_len", &self.plaintext_len)
            .finish_non_exhaustive()
    }
}

/// The core's AES-GCM for detached frames sealed or opened on other threads (aws-lc-rs
/// natively), keyed with the message's content key, which stays inside it. It is `Sync`: the
/// threads of one message share it. [`crate::Encryptor::frame_cipher`] and
/// [`crate::Decryptor::frame_cipher`] make it; the jobs still come from, and are reported in
/// order to, the encryptor or decryptor.
pub struct FrameCipher(ContentCipher);

impl FrameCipher {
    pub(crate) fn new(key: &ContentKey) -> Self {
        Self(ContentCipher::new(key))
    }

    /// Seals `buf`, the plaintext of `job` (`plaintext_len()` bytes), in place; returns the
    /// tag.
    pub fn seal(&self, job: &FrameJob, buf: &mut [u8]) -> Result<[u8; TAG_LEN], EncryptError> {
        seal_job(&self.0, job, buf)
    }

    /// Opens `buf`, the body of `job` (ciphertext then tag, `sealed_len()` bytes), in place:
    /// its first `plaintext_len()` bytes are then the plaintext. If the tag fails
    /// ([`DecryptError::BadFrameTag`]) they hold none.
    pub fn open(&self, job: &FrameJob, buf: &mut [u8]) -> Result<(), DecryptError> {
        open_job(&self.0, job, buf)
    }
}

impl fmt::Debug for FrameCipher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FrameCipher").finish_non_exhaustive()
    }
}

pub(crate) fn seal_job(
    cipher: &ContentCipher,
    job: &FrameJob,
    buf: &mut [u8],
) -> Result<[u8; TAG_LEN], EncryptError> {
    if buf.len() != job.plaintext_len {
        return Err(EncryptError::InvalidState("frame of the wrong length"));
    }
    Ok(cipher.seal(&job.iv, job.aad(), buf)?)
}

pub(crate) fn open_job(
    cipher: &ContentCipher,
    job: &FrameJob,
    buf: &mut [u8],
) -> Result<(), DecryptError> {
    if buf.len() != job.sealed_len() {
        return Err(DecryptError::InvalidState("frame body of the wrong length"));
    }
    let (content, tag) = buf.split_at_mut(job.plaintext_len);
    let tag: &[u8; TAG_LEN] = (&*tag).try_into().expect("sealed_len adds one tag");
    cipher
        .open(&job.iv, job.aad(), content, tag)
        .map_err(|_| DecryptError::BadFrameTag { sequence: job.sequence })
}
