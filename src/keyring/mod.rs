//! Keyrings wrap a message's data key for each recipient key and unwrap it again.
//!
//! Modelled on age's recipient/identity pair, folded into one object-safe trait so that a
//! multi-keyring can hold any mix of keyrings as `Box<dyn Keyring>`.

mod aws_kms;
mod aws_kms_rsa;
mod kms;
mod multi;
// RSA in wasm is the JS glue's (WebCrypto): the module carries no RSA code.
#[cfg(not(target_arch = "wasm32"))]
mod raw_rsa;
#[cfg(not(target_arch = "wasm32"))]
mod rsa_native;

use alloc::vec::Vec;

pub use aws_kms::{AwsKmsKeyring, KMS_PROVIDER_ID, KmsSymmetricRules};
#[cfg(not(target_arch = "wasm32"))]
pub use aws_kms_rsa::AwsKmsRsaKeyring;
pub use aws_kms_rsa::{KMS_RSA_PROVIDER_ID, KmsRsaRules};
pub use kms::{
    KmsCallError, KmsClient, KmsEncryptionAlgorithm, KmsKeyError, KmsRequest, KmsResponse,
};
pub use multi::MultiKeyring;
#[cfg(not(target_arch = "wasm32"))]
pub use raw_rsa::{KeyError, OaepHash, RawRsaKeyring};

use crate::context::EncryptionContext;
use crate::crypto::DataKey;
use crate::error::{DecryptError, EncryptError};
use crate::format::{EncryptedDataKey, Header};
use crate::suite::AlgorithmSuite;

/// Wraps data keys for, and unwraps them from, encrypted data keys (EDKs).
///
/// Source: `framework/keyring-interface.md` (OnEncrypt, OnDecrypt), reduced to one EDK at a
/// time so that the decryptor decides the order and can stop at the first success.
pub trait Keyring {
    /// OnEncrypt when the materials hold no data key yet: a keyring that makes data keys
    /// itself (the AWS KMS keyring, with `GenerateDataKey`) returns the key, of
    /// `suite.key_len()` bytes, and its EDKs. `None` (the default) means it does not: the
    /// encryptor then wraps a data key of its own random bytes with [`Keyring::wrap`].
    /// Only the generator of a message is asked.
    fn generate(
        &self,
        suite: AlgorithmSuite,
        context: &EncryptionContext,
    ) -> Option<Result<(DataKey, Vec<EncryptedDataKey>), EncryptError>> {
        let _ = (suite, context);
        None
    }

    /// Wraps `data_key` for every wrapping key of this keyring.
    fn wrap(
        &self,
        data_key: &DataKey,
        context: &EncryptionContext,
    ) -> Result<Vec<EncryptedDataKey>, EncryptError>;

    /// Unwraps one EDK of the (not yet authenticated) `header`. `None` means the EDK is not
    /// for this keyring.
    fn unwrap(
        &self,
        edk: &EncryptedDataKey,
        header: &Header,
    ) -> Option<Result<DataKey, DecryptError>>;

    /// Tries the header's EDKs in order and returns the first data key that unwraps with the
    /// suite's key length. A keyring's first refusal (for example a key server's policy denial)
    /// is returned when nothing unwraps, because it says more than "no key".
    fn unwrap_any(&self, header: &Header) -> Result<DataKey, DecryptError> {
        let mut failed_attempts = 0;
        let mut refusal = None;
        for edk in header.encrypted_data_keys() {
            match self.unwrap(edk, header) {
                None => {}
                Some(Ok(key)) if key.len() == header.suite().key_len() => return Ok(key),
                // The first refusal: a key server's denial, say, rather than a later keyring's
                // "only a public key".
                Some(Err(err @ DecryptError::Keyring(_))) if refusal.is_none() => {
                    refusal = Some(err)
                }
                Some(Err(DecryptError::Keyring(_))) => {}
                Some(_) => failed_attempts += 1,
            }
        }
        Err(refusal.unwrap_or(DecryptError::NoDecryptableKey { failed_attempts }))
    }
}
