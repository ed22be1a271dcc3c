//! Parsing: pure functions over byte slices that say how many more bytes they need.

use alloc::vec::Vec;

use super::{
    ContentType, EncryptedDataKey, Header, MAX_SEQUENCE_NUMBER, Reader, SEQUENCE_NUMBER_END,
    V1_TYPE,
};
use crate::context::{self, ContextError, EncryptionContext};
use crate::decrypt::Limits;
use crate::error::{DecryptError, Section};
use crate::suite::{AlgorithmSuite, IV_LEN, MessageFormatVersion, TAG_LEN};

/// Outcome of parsing a prefix of the input.
#[derive(Debug)]
pub(crate) enum Parse<T> {
    /// Parsed a `T` from the first `usize` bytes.
    Done(T, usize),
    /// The input must reach at least this many bytes in all before parsing can go on.
    Incomplete(usize),
}

const fn malformed(what: &'static str) -> DecryptError {
    DecryptError::Malformed(Section::Header, what)
}

/// Parses a message header (body and authentication) from the start of `buf`.
///
/// Fails as soon as a field is invalid or a limit is exceeded, even when the header is not
/// complete yet: the EDK count is checked before any EDK is read, as `client-apis/decrypt.md`
/// "Parse the header" requires.
pub(crate) fn header(buf: &[u8], limits: &Limits) -> Result<Parse<Header>, DecryptError> {
    let mut r = Reader::new(buf);
    macro_rules! field {
        ($e:expr) => {
            match $e {
                Some(v) => v,
                None => {
                    let wanted = r.wanted();
                    if wanted > limits.max_header_len {
                        return Err(DecryptError::HeaderTooLarge { max: limits.max_header_len });
                    }
                    return Ok(Parse::Incomplete(wanted));
                }
            }
        };
    }

    let version = field!(r.u8());
    let version = match version {
        1 => MessageFormatVersion::V1,
        2 => MessageFormatVersion::V2,
        v => return Err(DecryptError::UnsupportedVersion(v)),
    };
    if version == MessageFormatVersion::V1 && field!(r.u8()) != V1_TYPE {
        return Err(malformed("message type is not 0x80"));
    }
    let suite_id = field!(r.u16());
    let suite =
        AlgorithmSuite::from_id(suite_id).ok_or(DecryptError::UnsupportedSuite(suite_id))?;
    if suite.format_version() != version {
        return Err(malformed("algorithm suite does not belong to the message format version"));
    }
    let message_id = field!(r.bytes(suite.message_id_len())).to_vec();

    let aad_len = usize::from(field!(r.u16()));
    if aad_len > limits.max_context_len {
        return Err(DecryptError::ContextTooLarge { max: limits.max_context_len });
    }
    let context = match field!(r.bytes(aad_len)) {
        [] => EncryptionContext::new(),
        aad => context::deserialize(aad).map_err(|e| {
            malformed(match e {
                ContextError::Truncated | ContextError::TrailingBytes => {
                    "encryption context length disagrees with its entries"
                }
                ContextError::ZeroCount => "encryption context has a zero pair count",
                ContextError::NotUtf8 => "encryption context is not UTF-8",
                ContextError::Duplicate => "encryption context has a duplicate key",
            })
        })?,
    };

    let edk_count = usize::from(field!(r.u16()));
    if edk_count == 0 {
        return Err(malformed("no encrypted data keys"));
    }
    if edk_count > limits.max_encrypted_data_keys {
        return Err(DecryptError::TooManyEncryptedDataKeys {
            count: edk_count,
            max: limits.max_encrypted_data_keys,
        });
    }
    let mut edks = Vec::with_capacity(edk_count);
    for _ in 0..edk_count {
        let provider_id = field!(r.bytes16());
        let provider_id = core::str::from_utf8(provider_id)
            .map_err(|_| malformed("key provider ID is not UTF-8"))?
            .into();
        let provider_info = field!(r.bytes16()).to_vec();
        let ciphertext = field!(r.bytes16()).to_vec();
        edks.push(EncryptedDataKey { provider_id, provider_info, ciphertext });
    }

    let content_type = match field!(r.u8()) {
        1 => ContentType::NonFramed,
        2 => ContentType::Framed,
        t => return Err(DecryptError::UnsupportedContentType(t)),
    };
    if version == MessageFormatVersion::V1 {
        if field!(r.array::<4>()) != [0; 4] {
            return Err(malformed("reserved field is not zero"));
        }
        if usize::from(field!(r.u8())) != IV_LEN {
            return Err(malformed("IV length differs from the suite's"));
        }
    }
    let frame_length = field!(r.u32());
    match content_type {
        ContentType::NonFramed if frame_length != 0 => {
            return Err(malformed("non-framed content with a non-zero frame length"));
        }
        ContentType::Framed if frame_length == 0 => {
            return Err(malformed("framed content with a zero frame length"));
        }
        _ => {}
    }
    if u64::from(frame_length) > limits.max_frame_len as u64 {
        return Err(DecryptError::FrameTooLarge {
            length: u64::from(frame_length),
            max: limits.max_frame_len,
        });
    }
    let commit_key = match version {
        MessageFormatVersion::V2 => Some(field!(r.array::<32>())),
        MessageFormatVersion::V1 => None,
    };
    let body_len = r.pos();
    let iv = match version {
        MessageFormatVersion::V1 => field!(r.array::<IV_LEN>()),
        MessageFormatVersion::V2 => [0; IV_LEN],
    };
    let tag = field!(r.array::<TAG_LEN>());
    let len = r.pos();
    if len > limits.max_header_len {
        return Err(DecryptError::HeaderTooLarge { max: limits.max_header_len });
    }
    let header = Header {
        suite,
        message_id,
        context,
        edks,
        content_type,
        frame_length,
        commit_key,
        iv,
        tag,
        bytes: buf[..len].to_vec(),
        body_len,
    };
    Ok(Parse::Done(header, len))
}

/// The fields before a frame's encrypted content.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct FrameHead {
    pub(crate) sequence: u32,
    pub(crate) iv: [u8; IV_LEN],
    pub(crate) content_len: u64,
    pub(crate) is_final: bool,
}

/// Parses the fields that precede a frame's encrypted content (`message-body.md` "Regular
/// Frame", "Final Frame"), or of a non-framed body when `frame_length` is `None`.
pub(crate) fn frame_head(
    buf: &[u8],
    frame_length: Option<u32>,
) -> Result<Parse<FrameHead>, DecryptError> {
    let mut r = Reader::new(buf);
    macro_rules! field {
        ($e:expr) => {
            match $e {
                Some(v) => v,
                None => return Ok(Parse::Incomplete(r.wanted())),
            }
        };
    }
    let head = match frame_length {
        None => {
            let iv = field!(r.array());
            let content_len = field!(r.u64());
            FrameHead { sequence: 1, iv, content_len, is_final: true }
        }
        Some(frame_length) => match field!(r.u32()) {
            SEQUENCE_NUMBER_END => {
                let sequence = field!(r.u32());
                let iv = field!(r.array());
                let content_len = u64::from(field!(r.u32()));
                if content_len > u64::from(frame_length) {
                    return Err(DecryptError::Malformed(
                        Section::Body,
                        "final frame is longer than the frame length",
                    ));
                }
                FrameHead { sequence, iv, content_len, is_final: true }
            }
            sequence => {
                let iv = field!(r.array());
                FrameHead { sequence, iv, content_len: u64::from(frame_length), is_final: false }
            }
        },
    };
    if head.sequence > MAX_SEQUENCE_NUMBER {
        return Err(DecryptError::Malformed(Section::Body, "sequence number out of range"));
    }
    Ok(Parse::Done(head, r.pos()))
}
