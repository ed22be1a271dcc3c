//! Serialization of the parts of a format 2.0 message.

use alloc::vec::Vec;

use super::{EncryptedDataKey, SEQUENCE_NUMBER_END};
use crate::suite::{AlgorithmSuite, IV_LEN};

/// Content type byte for framed content, the only one the specification lets us write.
const FRAMED: u8 = 2;

/// The format 2.0 header body (`message-header.md` "Header Body Version 2.0").
///
/// `context` is the already serialized encryption context; the caller checked that it and
/// every EDK field fit their 2-byte lengths.
pub(crate) fn header_body_v2(
    suite: AlgorithmSuite,
    message_id: &[u8; 32],
    context: &[u8],
    edks: &[EncryptedDataKey],
    frame_length: u32,
    commit_key: &[u8; 32],
) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(128 + context.len() + edks.len() * 600);
    out.push(2);
    out.extend_from_slice(&suite.id().to_be_bytes());
    out.extend_from_slice(message_id);
    put16(&mut out, context)?;
    out.extend_from_slice(&u16::try_from(edks.len()).ok()?.to_be_bytes());
    for edk in edks {
        put16(&mut out, edk.provider_id.as_bytes())?;
        put16(&mut out, &edk.provider_info)?;
        put16(&mut out, &edk.ciphertext)?;
    }
    out.push(FRAMED);
    out.extend_from_slice(&frame_length.to_be_bytes());
    out.extend_from_slice(commit_key);
    Some(out)
}

fn put16(out: &mut Vec<u8>, field: &[u8]) -> Option<()> {
    out.extend_from_slice(&u16::try_from(field.len()).ok()?.to_be_bytes());
    out.extend_from_slice(field);
    Some(())
}

/// Appends the fields before a frame's content: sequence number and IV for a regular frame;
/// end marker, sequence number, IV and content length for the final frame.
pub(crate) fn frame_head(
    out: &mut Vec<u8>,
    sequence: u32,
    iv: &[u8; IV_LEN],
    final_len: Option<u32>,
) {
    if let Some(len) = final_len {
        out.extend_from_slice(&SEQUENCE_NUMBER_END.to_be_bytes());
        out.extend_from_slice(&sequence.to_be_bytes());
        out.extend_from_slice(iv);
        out.extend_from_slice(&len.to_be_bytes());
    } else {
        out.extend_from_slice(&sequence.to_be_bytes());
        out.extend_from_slice(iv);
    }
}
