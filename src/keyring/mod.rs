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
mod unwrap;

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
pub use unwrap::{Attempt, FirstAnswer, UnwrapError, UnwrapSession};

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

    /// Tries the header's EDKs by the rules of [`UnwrapSession`] (header order; the first key
    /// of the suite's length; else the first refusal, else
    /// [`DecryptError::NoDecryptableKey`]) and returns the data key, not yet verified against
    /// the header.
    fn unwrap_any(&self, header: &Header) -> Result<DataKey, DecryptError> {
        let edks = header.encrypted_data_keys();
        let mut session = UnwrapSession::new(header);
        loop {
            let edk = &edks[session.next_candidate()?];
            if let Some(key) = session.report(self.unwrap(edk, header).into())? {
                return Ok(key);
            }
        }
    }
}
