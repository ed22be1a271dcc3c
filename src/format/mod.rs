//! The message format: header fields, body framing and the byte reader they share.
//!
//! Source: `data-format/message-header.md`, `message-body.md`, `message-body-aad.md` and
//! `message-footer.md` of the specification. Parsing lives in [`read`], serialization in
//! [`write`]; both are pure functions over byte slices.

// Only the signed suites have a signature to encode.
#[cfg(feature = "signing")]
pub(crate) mod der;
pub(crate) mod read;
pub(crate) mod write;

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use crate::context::{ContextError, EncryptionContext};
use crate::suite::{AlgorithmSuite, IV_LEN, TAG_LEN};

/// "Type" of a format 1.0 header: Customer Authenticated Encrypted Data.
pub(crate) const V1_TYPE: u8 = 0x80;
/// "Sequence Number End" that introduces the final frame.
pub(crate) const SEQUENCE_NUMBER_END: u32 = 0xFFFF_FFFF;
/// Body AAD content strings (`message-body-aad.md` "Body AAD Content").
pub(crate) const AAD_FRAME: &[u8] = b"AWSKMSEncryptionClient Frame";
pub(crate) const AAD_FINAL_FRAME: &[u8] = b"AWSKMSEncryptionClient Final Frame";
pub(crate) const AAD_SINGLE_BLOCK: &[u8] = b"AWSKMSEncryptionClient Single Block";

/// Largest frame length a writer may choose: the official SDKs bound it by 2^31-1.
pub const MAX_FRAME_LENGTH: u32 = i32::MAX as u32;
/// Frames a message can hold: sequence numbers run from 1 and 0xFFFF_FFFF marks the final frame.
pub(crate) const MAX_SEQUENCE_NUMBER: u32 = SEQUENCE_NUMBER_END - 1;

/// The suite a message names in its first bytes (4 are enough in either format), before its
/// header is read: for a caller choosing how to read the rest (a signed message wants its
/// hash on a thread of its own). `None` for bytes that start no message this crate reads.
/// Nothing is checked beyond that: the header parse decides.
pub fn message_suite(prefix: &[u8]) -> Option<AlgorithmSuite> {
    let id = match prefix {
        [2, hi, lo, ..] => u16::from_be_bytes([*hi, *lo]),
        [1, V1_TYPE, hi, lo, ..] => u16::from_be_bytes([*hi, *lo]),
        _ => return None,
    };
    AlgorithmSuite::from_id(id)
}

/// An encrypted data key: the data key wrapped by one key of one key provider.
///
/// Source: `framework/structures.md` "Encrypted Data Key".
#[derive(Clone, PartialEq, Eq)]
pub struct EncryptedDataKey {
    /// Key provider ID (UTF-8). For a raw RSA keyring, its key namespace.
    pub provider_id: String,
    /// Key provider information. For a raw RSA keyring, its key name.
    pub provider_info: Vec<u8>,
    /// The wrapped data key.
    pub ciphertext: Vec<u8>,
}

impl fmt::Debug for EncryptedDataKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EncryptedDataKey")
            .field("provider_id", &self.provider_id)
            .field("provider_info", &String::from_utf8_lossy(&self.provider_info))
            .field("ciphertext_len", &self.ciphertext.len())
            .finish()
    }
}

/// How the message body is laid out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ContentType {
    /// `01`: one block (read only; the specification forbids writing it).
    NonFramed,
    /// `02`: a sequence of frames.
    Framed,
}

/// A parsed message header, with the exact bytes it was parsed from.
///
/// A header fresh from the parser is **not authenticated**: nothing in it may be trusted until
/// a data key verified its commitment and tag (see [`crate::Decryptor`]).
#[derive(Clone)]
pub struct Header {
    pub(crate) suite: AlgorithmSuite,
    pub(crate) message_id: Vec<u8>,
    pub(crate) context: EncryptionContext,
    pub(crate) edks: Vec<EncryptedDataKey>,
    pub(crate) content_type: ContentType,
    pub(crate) frame_length: u32,
    pub(crate) commit_key: Option<[u8; 32]>,
    pub(crate) iv: [u8; IV_LEN],
    pub(crate) tag: [u8; TAG_LEN],
    pub(crate) bytes: Vec<u8>,
    pub(crate) body_len: usize,
}

impl Header {
    /// The algorithm suite.
    pub fn suite(&self) -> AlgorithmSuite {
        self.suite
    }
    /// The message ID (32 bytes in format 2.0, 16 in format 1.0).
    pub fn message_id(&self) -> &[u8] {
        &self.message_id
    }
    /// The encryption context, including reserved entries such as `aws-crypto-public-key`.
    pub fn encryption_context(&self) -> &EncryptionContext {
        &self.context
    }
    /// The encrypted data keys, in header order.
    pub fn encrypted_data_keys(&self) -> &[EncryptedDataKey] {
        &self.edks
    }
    /// Framed or non-framed body.
    pub fn content_type(&self) -> ContentType {
        self.content_type
    }
    /// Length of each regular frame (0 for non-framed content).
    pub fn frame_length(&self) -> u32 {
        self.frame_length
    }
    /// The serialized header: header body followed by the header authentication.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }
    /// The serialized header body: the AAD of the header authentication tag.
    pub(crate) fn body(&self) -> &[u8] {
        &self.bytes[..self.body_len]
    }
}

impl fmt::Debug for Header {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Header")
            .field("suite", &self.suite)
            .field("context", &self.context)
            .field("edks", &self.edks)
            .field("content_type", &self.content_type)
            .field("frame_length", &self.frame_length)
            .finish_non_exhaustive()
    }
}

/// Reads big-endian fields from a slice and remembers how many bytes it was short.
pub(crate) struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
    /// Input length the last failed read would have needed.
    wanted: usize,
}

/// A length-prefixed string field failed to read.
#[derive(Debug)]
pub(crate) enum FieldError {
    Short,
    NotUtf8,
}

impl FieldError {
    pub(crate) fn into_context_error(self) -> ContextError {
        match self {
            Self::Short => ContextError::Truncated,
            Self::NotUtf8 => ContextError::NotUtf8,
        }
    }
}

impl<'a> Reader<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Self { bytes, pos: 0, wanted: 0 }
    }

    /// How many bytes of input the last failed read needed in all.
    pub(crate) fn wanted(&self) -> usize {
        self.wanted
    }

    pub(crate) fn pos(&self) -> usize {
        self.pos
    }

    pub(crate) fn rest(&self) -> &'a [u8] {
        &self.bytes[self.pos..]
    }

    pub(crate) fn bytes(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.pos.saturating_add(n);
        let Some(out) = self.bytes.get(self.pos..end) else {
            self.wanted = end;
            return None;
        };
        self.pos = end;
        Some(out)
    }

    pub(crate) fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        self.bytes(N).and_then(|b| b.try_into().ok())
    }

    pub(crate) fn u8(&mut self) -> Option<u8> {
        self.array::<1>().map(|[b]| b)
    }

    pub(crate) fn u16(&mut self) -> Option<u16> {
        self.array().map(u16::from_be_bytes)
    }

    pub(crate) fn u32(&mut self) -> Option<u32> {
        self.array().map(u32::from_be_bytes)
    }

    pub(crate) fn u64(&mut self) -> Option<u64> {
        self.array().map(u64::from_be_bytes)
    }

    /// A field with a 2-byte length prefix.
    pub(crate) fn bytes16(&mut self) -> Option<&'a [u8]> {
        let len = self.u16()?;
        self.bytes(usize::from(len))
    }

    /// A UTF-8 string with a 2-byte length prefix.
    pub(crate) fn str16(&mut self) -> Result<String, FieldError> {
        let raw = self.bytes16().ok_or(FieldError::Short)?;
        core::str::from_utf8(raw).map(String::from).map_err(|_| FieldError::NotUtf8)
    }
}

/// The IV of frame `sequence`: the sequence number, big-endian, left-padded with zeros
/// (`client-apis/encrypt.md` "Construct a frame").
pub(crate) fn frame_iv(sequence: u32) -> [u8; IV_LEN] {
    let mut iv = [0u8; IV_LEN];
    iv[IV_LEN - 4..].copy_from_slice(&sequence.to_be_bytes());
    iv
}

/// The message body AAD (`message-body-aad.md`): message ID, content string, sequence number
/// and plaintext length. Built on the stack: it is needed once per frame.
#[derive(Clone)]
pub(crate) struct BodyAad {
    buf: [u8; 32 + 35 + 4 + 8],
    len: usize,
}

impl BodyAad {
    pub(crate) fn new(message_id: &[u8], content: &[u8], sequence: u32, len: u64) -> Self {
        let mut buf = [0u8; 32 + 35 + 4 + 8];
        let mut n = 0;
        for part in [message_id, content, &sequence.to_be_bytes(), &len.to_be_bytes()] {
            buf[n..n + part.len()].copy_from_slice(part);
            n += part.len();
        }
        Self { buf, len: n }
    }
}

impl AsRef<[u8]> for BodyAad {
    fn as_ref(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}
