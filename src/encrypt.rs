//! Writing messages: a streaming [`Encryptor`] and the one-shot [`encrypt`].
//!
//! Source: `client-apis/encrypt.md`. Only format 2.0 committing suites are written, framed.

use alloc::format;
use alloc::vec::Vec;

use crate::context::{self, EncryptionContext, PUBLIC_KEY_ENTRY, RESERVED_PREFIX};
use crate::crypto::{self, ContentCipher, DataKey, Signer};
use crate::error::EncryptError;
use crate::format::{
    AAD_FINAL_FRAME, AAD_FRAME, BodyAad, ContentType, Header, MAX_FRAME_LENGTH,
    MAX_SEQUENCE_NUMBER, frame_iv, write,
};
use crate::keyring::Keyring;
use crate::suite::{AlgorithmSuite, IV_LEN};

/// Frame length when the caller names none: 64 KiB, large enough for AES-GCM to run at full
/// speed and small enough to stream in constant memory.
pub const DEFAULT_FRAME_LENGTH: u32 = 64 * 1024;

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
pub struct Encryptor {
    header: Header,
    header_written: bool,
    cipher: ContentCipher,
    frame_length: usize,
    next_sequence: u32,
    pending: Vec<u8>,
    signer: Option<Signer>,
}

impl Encryptor {
    /// Generates a data key, wraps it with `keyring` and prepares the header.
    pub fn new(keyring: &dyn Keyring, options: &EncryptOptions) -> Result<Self, EncryptError> {
        let suite = options.suite;
        if !suite.is_committing() {
            return Err(EncryptError::UnsupportedSuite(suite.id()));
        }
        if !(1..=MAX_FRAME_LENGTH).contains(&options.frame_length) {
            return Err(EncryptError::InvalidFrameLength(options.frame_length.into()));
        }
        if let Some(key) =
            options.encryption_context.keys().find(|k| k.starts_with(RESERVED_PREFIX))
        {
            return Err(EncryptError::ReservedContextKey(key.clone()));
        }

        let data_key = DataKey::generate(suite.key_len()).map_err(|_| EncryptError::Random)?;
        let mut context = options.encryption_context.clone();
        let signer = match suite.is_signed() {
            true => {
                let signer = Signer::generate().map_err(|_| EncryptError::Random)?;
                context.insert(PUBLIC_KEY_ENTRY.into(), signer.public_entry());
                Some(signer)
            }
            false => None,
        };
        let serialized_context = context::serialize(&context)
            .filter(|c| u16::try_from(c.len()).is_ok())
            .ok_or(EncryptError::ContextTooLarge)?;
        let mut message_id = [0u8; 32];
        crypto::random(&mut message_id).map_err(|_| EncryptError::Random)?;

        let edks = keyring.wrap(&data_key, &context)?;
        if edks.is_empty() || edks.len() > usize::from(u16::MAX) {
            return Err(EncryptError::EncryptedDataKeyCount(edks.len()));
        }
        let (cipher, commit_key) = crypto::derive_keys(suite, &data_key, &message_id);
        let commit_key = commit_key.expect("committing suites derive a commit key");
        let body = write::header_body_v2(
            suite,
            &message_id,
            &serialized_context,
            &edks,
            options.frame_length,
            &commit_key,
        )
        .ok_or_else(|| EncryptError::Keyring(format!("an EDK field exceeds {} bytes", u16::MAX)))?;
        // Header authentication: empty plaintext, the header body as AAD, an all-zero IV.
        let tag =
            cipher.seal(&[0; IV_LEN], &body, &mut []).map_err(|_| EncryptError::WrapFailed)?;
        let body_len = body.len();
        let mut bytes = body;
        bytes.extend_from_slice(&tag);

        let header = Header {
            suite,
            message_id: message_id.to_vec(),
            context,
            edks,
            content_type: ContentType::Framed,
            frame_length: options.frame_length,
            commit_key: Some(*commit_key),
            iv: [0; IV_LEN],
            tag,
            bytes,
            body_len,
        };
        Ok(Self {
            header,
            header_written: false,
            cipher,
            frame_length: options.frame_length as usize,
            next_sequence: 1,
            pending: Vec::new(),
            signer,
        })
    }

    /// The header this encryptor writes (encryption context, EDKs, suite, frame length).
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// Encrypts `input` and appends whatever output is complete (header, whole frames) to
    /// `out`. Plaintext short of a frame is kept for the next call.
    pub fn update(&mut self, mut input: &[u8], out: &mut Vec<u8>) -> Result<(), EncryptError> {
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

    /// Writes the final frame and, for a signed suite, the signature footer.
    pub fn finish(mut self, out: &mut Vec<u8>) -> Result<(), EncryptError> {
        self.update(&[], out)?;
        let start = out.len();
        let last = core::mem::take(&mut self.pending);
        self.seal_frame(&last, true, out)?;
        if let Some(mut signer) = self.signer.take() {
            signer.update(&out[start..]);
            let signature = signer.sign();
            let len =
                u16::try_from(signature.len()).expect("DER ECDSA P-384 signatures are < 104 bytes");
            out.extend_from_slice(&len.to_be_bytes());
            out.extend_from_slice(&signature);
        }
        Ok(())
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
        let tag = self
            .cipher
            .seal(&iv, aad.as_ref(), &mut out[at..])
            .map_err(|_| EncryptError::TooManyFrames)?;
        out.extend_from_slice(&tag);
        self.next_sequence = sequence + 1;
        Ok(())
    }
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
