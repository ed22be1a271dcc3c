//! The multi-keyring (`framework/multi-keyring.md`): a generator plus children.

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::fmt;

use super::{FirstAnswer, Keyring};
use crate::context::EncryptionContext;
use crate::crypto::DataKey;
use crate::error::{DecryptError, EncryptError};
use crate::format::{EncryptedDataKey, Header};
use crate::suite::AlgorithmSuite;

/// Every keyring wraps the same data key, generator first (a generator that makes data keys,
/// such as the AWS KMS keyring, makes it, see [`Keyring::generate`]); on decrypt each keyring is asked
/// in turn for each EDK, by the rule of [`FirstAnswer`] (the npm package's `MultiKeyring`
/// follows the same one).
pub struct MultiKeyring {
    keyrings: Vec<Box<dyn Keyring>>,
}

impl MultiKeyring {
    /// A multi-keyring whose EDKs start with the generator's, then each child's in order.
    pub fn new(generator: Box<dyn Keyring>, children: Vec<Box<dyn Keyring>>) -> Self {
        let mut keyrings = Vec::with_capacity(children.len() + 1);
        keyrings.push(generator);
        keyrings.extend(children);
        Self { keyrings }
    }
}

impl Keyring for MultiKeyring {
    /// The generator's data key, if it makes one, wrapped by every child too.
    fn generate(
        &self,
        suite: AlgorithmSuite,
        context: &EncryptionContext,
    ) -> Option<Result<(DataKey, Vec<EncryptedDataKey>), EncryptError>> {
        let (generator, children) = self.keyrings.split_first()?;
        let generated = generator.generate(suite, context)?;
        Some(generated.and_then(|(key, mut edks)| {
            for child in children {
                edks.extend(child.wrap(&key, context)?);
            }
            Ok((key, edks))
        }))
    }

    fn wrap(
        &self,
        data_key: &DataKey,
        context: &EncryptionContext,
    ) -> Result<Vec<EncryptedDataKey>, EncryptError> {
        let mut edks = Vec::new();
        for keyring in &self.keyrings {
            edks.extend(keyring.wrap(data_key, context)?);
        }
        Ok(edks)
    }

    fn unwrap(
        &self,
        edk: &EncryptedDataKey,
        header: &Header,
    ) -> Option<Result<DataKey, DecryptError>> {
        let mut answers = FirstAnswer::default();
        for keyring in &self.keyrings {
            if let Some(key) = answers.add(keyring.unwrap(edk, header)) {
                return Some(Ok(key));
            }
        }
        answers.finish()
    }
}

impl fmt::Debug for MultiKeyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MultiKeyring").field("keyrings", &self.keyrings.len()).finish()
    }
}
