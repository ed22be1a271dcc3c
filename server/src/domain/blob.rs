//! Ciphertext blobs of symmetric keys (Encrypt, GenerateDataKey, ReEncrypt), in our own
//! format, documented in the README ("Use it as AWS KMS"):
//!
//! ```text
//! 0x01 | key ID (16 bytes, the UUID) | material version (u32 BE) | IV (12) | ciphertext | tag (16)
//! ```
//!
//! (`0x02` for a multi-Region key: its ID's 32 hex digits after `mrk-` as the 16 bytes.)
//!
//! AES-256-GCM under the key version's material, with authenticated data
//! `"cipherdrop-kms-blob-1" | the blob's first 21 bytes | the encryption context`, the
//! context as sorted (key, value) pairs, each string preceded by its length (u16 BE), after
//! the pair count (u16 BE). So a blob opens only under the key and version it names, with the
//! context it was made with; the key ID is in the clear so that Decrypt needs no KeyId, as in
//! AWS.

use std::collections::BTreeMap;

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use zeroize::Zeroizing;

use super::error::DomainError;

/// Format byte: a key ID in the UUID form, or a multi-Region key's (`mrk-` and 32 hex
/// digits), both 16 bytes in the blob.
const FORMAT: u8 = 1;
const FORMAT_MRK: u8 = 2;
const DOMAIN: &[u8] = b"cipherdrop-kms-blob-1";
const HEADER_LEN: usize = 1 + 16 + 4;
const TAG_LEN: usize = 16;
/// The shortest blob: a header, an IV and a tag around an empty plaintext.
const MIN_LEN: usize = HEADER_LEN + NONCE_LEN + TAG_LEN;

/// What a blob's clear header names.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct BlobKey {
    /// Key ID, in the UUID form.
    pub(crate) key_id: String,
    /// Material version, from 1.
    pub(crate) version: i64,
}

/// Reads the key a blob names; `InvalidCiphertext` for anything that is not one of ours.
pub(crate) fn key_of(blob: &[u8]) -> Result<BlobKey, DomainError> {
    if blob.len() < MIN_LEN || ![FORMAT, FORMAT_MRK].contains(&blob[0]) {
        return Err(DomainError::InvalidCiphertext);
    }
    let hex = super::secrets::hex(&blob[1..17]);
    let key_id = if blob[0] == FORMAT_MRK {
        format!("mrk-{hex}")
    } else {
        format!("{}-{}-{}-{}-{}", &hex[..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..])
    };
    let version = u32::from_be_bytes([blob[17], blob[18], blob[19], blob[20]]);
    if version == 0 {
        return Err(DomainError::InvalidCiphertext);
    }
    Ok(BlobKey { key_id, version: i64::from(version) })
}

/// Seals `plaintext` under key version (`key_id`, `version`) with `material`.
pub(crate) fn seal(
    key_id: &str,
    version: i64,
    material: &[u8],
    context: &BTreeMap<String, String>,
    plaintext: &[u8],
) -> Result<Vec<u8>, DomainError> {
    let (format, id) = match key_id.strip_prefix("mrk-") {
        Some(hex) => (FORMAT_MRK, hex_bytes(hex)),
        None => (FORMAT, uuid_bytes(key_id)),
    };
    let id = id.ok_or_else(|| DomainError::internal("key ID is not a UUID or mrk- ID"))?;
    let version =
        u32::try_from(version).map_err(|_| DomainError::internal("material version overflow"))?;
    let mut blob = Vec::with_capacity(MIN_LEN + plaintext.len());
    blob.push(format);
    blob.extend_from_slice(&id);
    blob.extend_from_slice(&version.to_be_bytes());
    let iv: [u8; NONCE_LEN] = super::secrets::random()?;
    blob.extend_from_slice(&iv);
    let aad = aad(&blob[..HEADER_LEN], context)?;
    let mut sealed = plaintext.to_vec();
    let key = aead_key(material)?;
    key.seal_in_place_append_tag(Nonce::assume_unique_for_key(iv), Aad::from(aad), &mut sealed)
        .map_err(|_| DomainError::internal("sealing failed"))?;
    blob.extend_from_slice(&sealed);
    Ok(blob)
}

/// Opens a blob under `material`; every failure is the one `InvalidCiphertext`.
pub(crate) fn open(
    material: &[u8],
    context: &BTreeMap<String, String>,
    blob: &[u8],
) -> Result<Zeroizing<Vec<u8>>, DomainError> {
    key_of(blob)?;
    let aad = aad(&blob[..HEADER_LEN], context).map_err(|_| DomainError::InvalidCiphertext)?;
    let iv: [u8; NONCE_LEN] = blob[HEADER_LEN..HEADER_LEN + NONCE_LEN]
        .try_into()
        .map_err(|_| DomainError::InvalidCiphertext)?;
    let mut buffer = Zeroizing::new(blob[HEADER_LEN + NONCE_LEN..].to_vec());
    let key = aead_key(material)?;
    let len = key
        .open_in_place(Nonce::assume_unique_for_key(iv), Aad::from(aad), &mut buffer)
        .map_err(|_| DomainError::InvalidCiphertext)?
        .len();
    buffer.truncate(len);
    Ok(buffer)
}

fn aead_key(material: &[u8]) -> Result<LessSafeKey, DomainError> {
    let key = UnboundKey::new(&AES_256_GCM, material)
        .map_err(|_| DomainError::internal("symmetric key material is not 32 bytes"))?;
    Ok(LessSafeKey::new(key))
}

fn aad(header: &[u8], context: &BTreeMap<String, String>) -> Result<Vec<u8>, DomainError> {
    let too_long = || DomainError::invalid("the encryption context is too large");
    let mut aad = DOMAIN.to_vec();
    aad.extend_from_slice(header);
    let count = u16::try_from(context.len()).map_err(|_| too_long())?;
    aad.extend_from_slice(&count.to_be_bytes());
    for (k, v) in context {
        for s in [k, v] {
            let len = u16::try_from(s.len()).map_err(|_| too_long())?;
            aad.extend_from_slice(&len.to_be_bytes());
            aad.extend_from_slice(s.as_bytes());
        }
    }
    Ok(aad)
}

fn uuid_bytes(key_id: &str) -> Option<[u8; 16]> {
    hex_bytes(&key_id.chars().filter(|c| *c != '-').collect::<String>())
}

fn hex_bytes(hex: &str) -> Option<[u8; 16]> {
    if hex.len() != 32 {
        return None;
    }
    let mut out = [0u8; 16];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const ID: &str = "60b846fd-9e49-4b51-8a33-8c8673f8f17a";
    const OTHER: &str = "0e8f6b0c-1c4e-4f1a-9d55-3f1a2b3c4d5e";

    fn ctx(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| ((*k).to_string(), (*v).to_string())).collect()
    }

    #[test]
    fn a_blob_opens_only_with_its_key_version_and_context() {
        let (material, other) = ([7u8; 32], [8u8; 32]);
        let context = ctx(&[("tenant", "acme"), ("purpose", "test")]);
        let blob = seal(ID, 3, &material, &context, b"secret").unwrap();
        assert_eq!(key_of(&blob).unwrap(), BlobKey { key_id: ID.into(), version: 3 });
        assert_eq!(open(&material, &context, &blob).unwrap().as_slice(), b"secret");
        let fails = |r: Result<Zeroizing<Vec<u8>>, DomainError>| {
            assert!(matches!(r, Err(DomainError::InvalidCiphertext)));
        };
        fails(open(&other, &context, &blob));
        fails(open(&material, &ctx(&[("tenant", "acme")]), &blob));
        fails(open(&material, &ctx(&[("tenant", "acme"), ("purpose", "tesT")]), &blob));
        // The key named in the clear is bound: the same bytes relabelled fail.
        let relabelled = [&[1u8][..], &uuid_bytes(OTHER).unwrap(), &blob[17..]].concat();
        fails(open(&material, &context, &relabelled));
        let mut reversioned = blob.clone();
        reversioned[20] = 4;
        fails(open(&material, &context, &reversioned));
        for i in [0, 30, blob.len() - 1] {
            let mut flipped = blob.clone();
            flipped[i] ^= 1;
            assert!(open(&material, &context, &flipped).is_err(), "byte {i}");
        }
        for short in [&blob[..MIN_LEN - 1], &[][..]] {
            assert!(matches!(key_of(short), Err(DomainError::InvalidCiphertext)));
        }
    }

    #[test]
    fn multi_region_key_ids_round_trip_and_are_bound() {
        let mrk = "mrk-0123456789abcdef0123456789abcdef";
        let material = [3u8; 32];
        let blob = seal(mrk, 2, &material, &ctx(&[]), b"x").unwrap();
        assert_eq!(key_of(&blob).unwrap(), BlobKey { key_id: mrk.into(), version: 2 });
        let mut as_uuid = blob.clone();
        as_uuid[0] = FORMAT;
        assert!(open(&material, &ctx(&[]), &as_uuid).is_err());
    }

    #[test]
    fn context_pairs_cannot_be_regrouped() {
        // ("ab","c") and ("a","bc") must not authenticate the same bytes.
        let material = [1u8; 32];
        let blob = seal(ID, 1, &material, &ctx(&[("ab", "c")]), b"x").unwrap();
        assert!(open(&material, &ctx(&[("a", "bc")]), &blob).is_err());
    }
}
