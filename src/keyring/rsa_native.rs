//! RSA-OAEP natively through aws-lc-rs: constant-time, blinded private-key operations (the
//! `rsa` crate's decryption has the Marvin timing issue, RUSTSEC-2023-0071).

use alloc::vec;
use alloc::vec::Vec;

use aws_lc_rs::rsa::{
    OAEP_SHA1_MGF1SHA1, OAEP_SHA256_MGF1SHA256, OAEP_SHA384_MGF1SHA384, OAEP_SHA512_MGF1SHA512,
    OaepAlgorithm, OaepPrivateDecryptingKey, OaepPublicEncryptingKey, PrivateDecryptingKey,
    PublicEncryptingKey,
};
use zeroize::Zeroizing;

use super::{KeyError, OaepHash};
use crate::error::{DecryptError, EncryptError};

fn algorithm(hash: OaepHash) -> &'static OaepAlgorithm {
    match hash {
        OaepHash::Sha1 => &OAEP_SHA1_MGF1SHA1,
        OaepHash::Sha256 => &OAEP_SHA256_MGF1SHA256,
        OaepHash::Sha384 => &OAEP_SHA384_MGF1SHA384,
        OaepHash::Sha512 => &OAEP_SHA512_MGF1SHA512,
    }
}

pub(crate) struct PublicKey(OaepPublicEncryptingKey);

impl PublicKey {
    pub(crate) fn from_spki_der(der: &[u8]) -> Result<Self, KeyError> {
        let key = PublicEncryptingKey::from_der(der).map_err(|_| KeyError::InvalidKey)?;
        OaepPublicEncryptingKey::new(key).map(Self).map_err(|_| KeyError::InvalidKey)
    }

    pub(crate) fn encrypt(
        &self,
        hash: OaepHash,
        plaintext: &[u8],
    ) -> Result<Vec<u8>, EncryptError> {
        let mut out = vec![0u8; self.0.ciphertext_size()];
        let len = self
            .0
            .encrypt(algorithm(hash), plaintext, &mut out, None)
            .map_err(|_| EncryptError::WrapFailed)?
            .len();
        out.truncate(len);
        Ok(out)
    }
}

pub(crate) struct PrivateKey(OaepPrivateDecryptingKey, PublicEncryptingKey);

impl PrivateKey {
    pub(crate) fn from_pkcs8_der(der: &[u8]) -> Result<Self, KeyError> {
        let key = PrivateDecryptingKey::from_pkcs8(der).map_err(|_| KeyError::InvalidKey)?;
        let public = key.public_key();
        OaepPrivateDecryptingKey::new(key)
            .map(|k| Self(k, public))
            .map_err(|_| KeyError::InvalidKey)
    }

    pub(crate) fn from_pkcs1_der(der: &[u8]) -> Result<Self, KeyError> {
        Self::from_pkcs8_der(&pkcs1_to_pkcs8(der)?)
    }

    pub(crate) fn public_key(&self) -> PublicKey {
        // The public half of a key aws-lc-rs accepted is itself acceptable.
        PublicKey(OaepPublicEncryptingKey::new(self.1.clone()).expect("public half of a valid key"))
    }

    /// Decrypts a wrapped key of exactly `expected_len` bytes; every failure is the same opaque
    /// error, so callers cannot tell bad padding from a wrong length.
    pub(crate) fn decrypt(
        &self,
        hash: OaepHash,
        ciphertext: &[u8],
        expected_len: usize,
    ) -> Result<Zeroizing<Vec<u8>>, DecryptError> {
        let mut out = Zeroizing::new(vec![0u8; self.0.min_output_size()]);
        let len = self
            .0
            .decrypt(algorithm(hash), ciphertext, &mut out, None)
            .map_err(|_| DecryptError::UnwrapFailed)?
            .len();
        if len != expected_len {
            return Err(DecryptError::UnwrapFailed);
        }
        out.truncate(len);
        Ok(out)
    }
}

/// DER of `AlgorithmIdentifier { rsaEncryption (1.2.840.113549.1.1.1), NULL }`.
const RSA_ALGORITHM_ID: &[u8] =
    &[0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00];

/// Wraps a PKCS#1 `RSAPrivateKey` into a PKCS#8 `PrivateKeyInfo` (RFC 5208 §5), the only
/// private-key encoding aws-lc-rs's decrypting key parses. Written by hand: three DER headers
/// do not justify the `der`/`pkcs8` crates in the native build.
fn pkcs1_to_pkcs8(pkcs1: &[u8]) -> Result<Zeroizing<Vec<u8>>, KeyError> {
    fn header(out: &mut Vec<u8>, tag: u8, len: usize) -> Result<(), KeyError> {
        let [hi, lo] = u16::try_from(len).map_err(|_| KeyError::InvalidKey)?.to_be_bytes();
        match (hi, lo) {
            (0, 0..=0x7f) => out.extend_from_slice(&[tag, lo]),
            (0, _) => out.extend_from_slice(&[tag, 0x81, lo]),
            _ => out.extend_from_slice(&[tag, 0x82, hi, lo]),
        }
        Ok(())
    }
    let mut octets = Vec::new();
    header(&mut octets, 0x04, pkcs1.len())?;
    let inner_len = 3 + RSA_ALGORITHM_ID.len() + octets.len() + pkcs1.len();
    let mut out = Zeroizing::new(Vec::with_capacity(inner_len + 4));
    header(&mut out, 0x30, inner_len)?;
    out.extend_from_slice(&[0x02, 0x01, 0x00]); // version 0
    out.extend_from_slice(RSA_ALGORITHM_ID);
    out.extend_from_slice(&octets);
    out.extend_from_slice(pkcs1);
    Ok(out)
}
