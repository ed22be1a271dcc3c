//! RSA-OAEP in the wasm build: public-key wrap with the `rsa` crate. Private-key unwrap is
//! not offered here: in browsers and Node it goes through WebCrypto, which is native and
//! constant-time (the `rsa` crate's decryption has RUSTSEC-2023-0071).

use alloc::vec::Vec;

use rsa::pkcs8::DecodePublicKey;
use zeroize::Zeroizing;

use super::{KeyError, OaepHash};
use crate::error::{DecryptError, EncryptError};

pub(crate) struct PublicKey(rsa::PublicKey);

impl PublicKey {
    pub(crate) fn from_spki_der(der: &[u8]) -> Result<Self, KeyError> {
        rsa::PublicKey::from_public_key_der(der).map(Self).map_err(|_| KeyError::InvalidKey)
    }

    pub(crate) fn encrypt(
        &self,
        hash: OaepHash,
        plaintext: &[u8],
    ) -> Result<Vec<u8>, EncryptError> {
        match hash {
            OaepHash::Sha1 => self.0.oaep_encrypt::<sha1::Sha1>(plaintext),
            OaepHash::Sha256 => self.0.oaep_encrypt::<sha2::Sha256>(plaintext),
            OaepHash::Sha384 => self.0.oaep_encrypt::<sha2::Sha384>(plaintext),
            OaepHash::Sha512 => self.0.oaep_encrypt::<sha2::Sha512>(plaintext),
        }
        .map_err(|_| EncryptError::WrapFailed)
    }
}

/// Never constructed: see the module documentation.
pub(crate) enum PrivateKey {}

impl PrivateKey {
    pub(crate) fn from_pkcs8_der(_der: &[u8]) -> Result<Self, KeyError> {
        Err(KeyError::PrivateKeyUnsupported)
    }

    pub(crate) fn from_pkcs1_der(_der: &[u8]) -> Result<Self, KeyError> {
        Err(KeyError::PrivateKeyUnsupported)
    }

    pub(crate) fn public_key(&self) -> PublicKey {
        match *self {}
    }

    pub(crate) fn decrypt(
        &self,
        _hash: OaepHash,
        _ciphertext: &[u8],
        _expected_len: usize,
    ) -> Result<Zeroizing<Vec<u8>>, DecryptError> {
        match *self {}
    }
}
