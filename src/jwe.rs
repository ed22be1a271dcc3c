//! The key server's data-key answer: a JWE (RFC 7516, compact serialization) to the caller's
//! ephemeral P-256 key, `"alg": "ECDH-ES"` (direct key agreement, RFC 7518 §4.6) and
//! `"enc": "A256GCM"`, so that no data key crosses the wire (or sits in a proxy's log) in
//! the clear.
//!
//! This module is the profile, sans-IO and without the key agreement itself: the Concat KDF
//! that turns the shared secret Z into the content key, sealing under a protected header the
//! caller wrote, and opening with the header fields the caller read (the JavaScript glue
//! parses the header's JSON and runs ECDH in WebCrypto with a non-extractable key; native
//! callers use serde and aws-lc-rs). Every rule about what is accepted is here.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use aes_gcm::aead::array::Array;
use aes_gcm::{AeadInOut, Aes256Gcm, KeyInit};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

/// The key-management algorithm: ephemeral-static ECDH, the derived key used directly.
pub const ALG: &str = "ECDH-ES";
/// The content encryption algorithm.
pub const ENC: &str = "A256GCM";
/// The curve of the ephemeral keys (`crv` of `epk` and of the recipient's key).
pub const CURVE: &str = "P-256";

const IV_LEN: usize = 12;
const TAG_LEN: usize = 16;

/// Why a JWE did not open. One variant for every cryptographic failure (no oracle).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum JweError {
    /// Not five base64url segments with an empty encrypted key, a 12-byte IV and a 16-byte
    /// tag.
    Malformed,
    /// The header names another algorithm, encryption or curve than this profile's.
    Unsupported(String),
    /// The header's `kid` is not the key the caller asked to unwrap.
    WrongKey,
    /// The tag did not verify: another recipient's JWE, or altered in transit.
    Failed,
}

impl fmt::Display for JweError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Malformed => f.write_str("JWE: malformed compact serialization"),
            Self::Unsupported(what) => write!(f, "JWE: unsupported {what}"),
            Self::WrongKey => f.write_str("JWE: names another key than the one asked for"),
            Self::Failed => f.write_str("JWE: does not open with this key"),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for JweError {}

/// The content key for shared secret `z`: RFC 7518 §4.6.2 Concat KDF with this profile's
/// parameters: AlgorithmID = `enc`, empty PartyUInfo and PartyVInfo (`apu`/`apv` are not
/// used), 256 bits.
pub fn content_key(z: &[u8]) -> Zeroizing<[u8; 32]> {
    concat_kdf(z, ENC.as_bytes(), b"", b"", 256)
}

/// Concat KDF (NIST SP 800-56A §5.8.1) with SHA-256 as RFC 7518 §4.6.2 uses it, for at most
/// 256 bits (one round): SHA-256(round 1 || Z || OtherInfo), OtherInfo = AlgorithmID ||
/// PartyUInfo || PartyVInfo (each with a 32-bit big-endian length) || SuppPubInfo (`bits`).
/// Shorter keys are the leading bytes; the rest of the array is zero.
fn concat_kdf(z: &[u8], alg: &[u8], apu: &[u8], apv: &[u8], bits: u32) -> Zeroizing<[u8; 32]> {
    let mut hash = Sha256::new();
    hash.update(1u32.to_be_bytes());
    hash.update(z);
    for field in [alg, apu, apv] {
        hash.update(u32::try_from(field.len()).unwrap_or(u32::MAX).to_be_bytes());
        hash.update(field);
    }
    hash.update(bits.to_be_bytes());
    let mut key: [u8; 32] = hash.finalize().into();
    let len = usize::try_from(bits / 8).unwrap_or(32).min(32);
    key[len..].fill(0);
    Zeroizing::new(key)
}

/// The compact JWE of `plaintext` under the content key from `z`, with `protected` (the
/// header JSON, which must say this profile's `alg`, `enc` and `epk`) as its protected
/// header and `iv` as its (random, never reused) IV.
pub fn seal(protected: &str, z: &[u8], iv: [u8; IV_LEN], plaintext: &[u8]) -> String {
    let protected = URL_SAFE_NO_PAD.encode(protected);
    let key = content_key(z);
    let cipher = Aes256Gcm::new(&Array::from(*key));
    let mut body = Zeroizing::new(plaintext.to_vec());
    let tag = cipher
        .encrypt_inout_detached(&Array::from(iv), protected.as_bytes(), body.as_mut_slice().into())
        .unwrap_or_default();
    [protected, String::new(), URL_SAFE_NO_PAD.encode(iv), URL_SAFE_NO_PAD.encode(&*body)].join(".")
        + "."
        + &URL_SAFE_NO_PAD.encode(tag)
}

/// The header fields an opener read from the protected header (first segment) of a JWE.
#[derive(Clone, Debug)]
pub struct Protected<'a> {
    /// `alg`.
    pub alg: &'a str,
    /// `enc`.
    pub enc: &'a str,
    /// `crv` of `epk`.
    pub crv: &'a str,
    /// `kid`: the name of the key that unwrapped the data key (`KEYID/vN`).
    pub kid: &'a str,
}

/// The protected header (JSON bytes) of a compact JWE, for the caller to read `epk` and the
/// fields of [`Protected`] from.
pub fn protected_header(compact: &str) -> Result<Vec<u8>, JweError> {
    let first = compact.split('.').next().ok_or(JweError::Malformed)?;
    URL_SAFE_NO_PAD.decode(first).map_err(|_| JweError::Malformed)
}

/// Opens a compact JWE of this profile with the shared secret `z` the caller derived from
/// the header's `epk` and its own private key. `header` holds what the caller read from the
/// protected header; `expected_kid` is the key the caller asked to unwrap.
pub fn open(
    compact: &str,
    header: &Protected<'_>,
    expected_kid: &str,
    z: &[u8],
) -> Result<Zeroizing<Vec<u8>>, JweError> {
    if header.alg != ALG {
        return Err(JweError::Unsupported(alloc::format!("alg {:?}", header.alg)));
    }
    if header.enc != ENC {
        return Err(JweError::Unsupported(alloc::format!("enc {:?}", header.enc)));
    }
    if header.crv != CURVE {
        return Err(JweError::Unsupported(alloc::format!("curve {:?}", header.crv)));
    }
    if header.kid != expected_kid {
        return Err(JweError::WrongKey);
    }
    let parts: Vec<&str> = compact.split('.').collect();
    let [protected, encrypted_key, iv, ciphertext, tag] = parts.as_slice() else {
        return Err(JweError::Malformed);
    };
    let decode = |s: &str| URL_SAFE_NO_PAD.decode(s).map_err(|_| JweError::Malformed);
    // Direct key agreement: no encrypted key (RFC 7518 §4.6: "the empty octet sequence").
    if !encrypted_key.is_empty() {
        return Err(JweError::Malformed);
    }
    let iv: [u8; IV_LEN] = decode(iv)?.try_into().map_err(|_| JweError::Malformed)?;
    let tag: [u8; TAG_LEN] = decode(tag)?.try_into().map_err(|_| JweError::Malformed)?;
    let mut body = Zeroizing::new(decode(ciphertext)?);
    let key = content_key(z);
    let cipher = Aes256Gcm::new(&Array::from(*key));
    cipher
        .decrypt_inout_detached(
            &Array::from(iv),
            protected.as_bytes(),
            body.as_mut_slice().into(),
            &Array::from(tag),
        )
        .map_err(|_| JweError::Failed)?;
    Ok(body)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const HEADER: &str = r#"{"alg":"ECDH-ES","enc":"A256GCM","kid":"k/v1"}"#;
    const FIELDS: Protected<'static> = Protected { alg: ALG, enc: ENC, crv: CURVE, kid: "k/v1" };

    #[test]
    fn concat_kdf_matches_rfc7518_appendix_c() {
        // RFC 7518 Appendix C: ECDH-ES for A128GCM with apu "Alice" and apv "Bob".
        let z = [
            158, 86, 217, 29, 129, 113, 53, 211, 114, 131, 66, 131, 191, 132, 38, 156, 251, 49,
            110, 163, 218, 128, 106, 72, 246, 218, 167, 121, 140, 254, 144, 196,
        ];
        let key = concat_kdf(&z, b"A128GCM", b"Alice", b"Bob", 128);
        assert_eq!(URL_SAFE_NO_PAD.encode(&key[..16]), "VqqN6vgjbSBcIijNcacQGg");
        assert_eq!(key[16..], [0; 16]);
    }

    #[test]
    fn seals_and_opens_and_refuses_what_it_must() {
        let z = [9u8; 32];
        let jwe = seal(HEADER, &z, [1; 12], b"data key bytes");
        assert_eq!(&*open(&jwe, &FIELDS, "k/v1", &z).unwrap(), b"data key bytes");
        assert_eq!(protected_header(&jwe).unwrap(), HEADER.as_bytes());
        assert_eq!(open(&jwe, &FIELDS, "k/v2", &z), Err(JweError::WrongKey));
        assert_eq!(open(&jwe, &FIELDS, "k/v1", &[8; 32]), Err(JweError::Failed));
        let hs = Protected { alg: "dir", ..FIELDS };
        assert!(matches!(open(&jwe, &hs, "k/v1", &z), Err(JweError::Unsupported(_))));
        // A changed header, IV or body does not open.
        let parts: Vec<&str> = jwe.split('.').collect();
        let other_header = URL_SAFE_NO_PAD.encode(r#"{"alg":"ECDH-ES","enc":"A256GCM","kid":"x"}"#);
        for (i, replacement) in [(0, other_header.as_str()), (2, "AAAAAAAAAAAAAAAA"), (3, "AAAA")] {
            let mut changed = parts.clone();
            changed[i] = replacement;
            assert!(open(&changed.join("."), &FIELDS, "k/v1", &z).is_err(), "segment {i}");
        }
        let mut with_key = parts.clone();
        with_key[1] = "AAAA";
        assert_eq!(open(&with_key.join("."), &FIELDS, "k/v1", &z), Err(JweError::Malformed));
        assert_eq!(open("a.b.c", &FIELDS, "k/v1", &z), Err(JweError::Malformed));
    }
}
