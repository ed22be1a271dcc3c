//! The encryption context: non-secret key/value pairs bound to a message.
//!
//! Source: `framework/structures.md` "Encryption Context" and its "Serialization".

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;

/// Encryption context. A `BTreeMap` of `String`s iterates in the order the specification
/// requires for serialization: "sorted, by key, in ascending order according to the UTF-8
/// encoded binary value".
pub type EncryptionContext = BTreeMap<String, String>;

/// Prefix of keys reserved for the SDK itself ("aws-crypto-").
pub const RESERVED_PREFIX: &str = "aws-crypto-";

/// The reserved key under which signed suites store the verification key
/// (`framework/default-cmm.md`).
pub const PUBLIC_KEY_ENTRY: &str = "aws-crypto-public-key";

/// Serializes `context` as specified: empty for an empty context, otherwise a 2-byte count and
/// length-prefixed entries. Returns `None` if a field does not fit its 2-byte length.
pub(crate) fn serialize(context: &EncryptionContext) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    if context.is_empty() {
        return Some(out);
    }
    out.extend_from_slice(&u16::try_from(context.len()).ok()?.to_be_bytes());
    for (k, v) in context {
        for field in [k.as_bytes(), v.as_bytes()] {
            out.extend_from_slice(&u16::try_from(field.len()).ok()?.to_be_bytes());
            out.extend_from_slice(field);
        }
    }
    Some(out)
}

/// Why a serialized context could not be read.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum ContextError {
    Truncated,
    ZeroCount,
    NotUtf8,
    Duplicate,
    TrailingBytes,
}

/// Parses a serialized, non-empty encryption context that spans all of `bytes`.
pub(crate) fn deserialize(bytes: &[u8]) -> Result<EncryptionContext, ContextError> {
    let mut r = crate::format::Reader::new(bytes);
    let count = r.u16().ok_or(ContextError::Truncated)?;
    if count == 0 {
        return Err(ContextError::ZeroCount);
    }
    let mut context = EncryptionContext::new();
    for _ in 0..count {
        let key = r.str16().map_err(|e| e.into_context_error())?;
        let value = r.str16().map_err(|e| e.into_context_error())?;
        if context.insert(key, value).is_some() {
            return Err(ContextError::Duplicate);
        }
    }
    if !r.rest().is_empty() {
        return Err(ContextError::TrailingBytes);
    }
    Ok(context)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn ctx(pairs: &[(&str, &str)]) -> EncryptionContext {
        pairs.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect()
    }

    #[test]
    fn empty_context_serializes_to_nothing() {
        assert_eq!(serialize(&EncryptionContext::new()), Some(Vec::new()));
    }

    #[test]
    fn sorted_by_utf8_bytes() {
        // "Z" (0x5A) < "a" (0x61) < "é" (0xC3 0xA9): byte order, not alphabetical.
        let bytes = serialize(&ctx(&[("é", "3"), ("a", "2"), ("Z", "1")])).unwrap();
        assert_eq!(
            bytes,
            [0, 3, 0, 1, b'Z', 0, 1, b'1', 0, 1, b'a', 0, 1, b'2', 0, 2, 0xC3, 0xA9, 0, 1, b'3']
        );
        assert_eq!(deserialize(&bytes).unwrap(), ctx(&[("Z", "1"), ("a", "2"), ("é", "3")]));
    }

    #[test]
    fn rejects_bad_encodings() {
        assert_eq!(deserialize(&[0, 0]), Err(ContextError::ZeroCount));
        assert_eq!(deserialize(&[0, 1, 0, 1, b'a']), Err(ContextError::Truncated));
        assert_eq!(deserialize(&[0, 1, 0, 1, 0xFF, 0, 0]), Err(ContextError::NotUtf8));
        let dup = [0, 2, 0, 1, b'a', 0, 0, 0, 1, b'a', 0, 0];
        assert_eq!(deserialize(&dup), Err(ContextError::Duplicate));
        assert_eq!(deserialize(&[0, 1, 0, 1, b'a', 0, 0, 9]), Err(ContextError::TrailingBytes));
    }
}
