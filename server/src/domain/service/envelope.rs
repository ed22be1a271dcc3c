//! Cryptographic operations of the AWS KMS API: Encrypt, Decrypt, ReEncrypt,
//! GenerateDataKey (with and without plaintext) and GenerateRandom. Symmetric keys seal
//! [`blob`]s (the encryption context bound as authenticated data); RSA keys encrypt with
//! OAEP and take no context, as in AWS. Each call is authorised (with its encryption context)
//! before the key's state is looked at, and leaves one audit record.

use zeroize::Zeroizing;

use super::{Caller, DomainError, KeyServer, Result};
use crate::domain::blob;
use crate::domain::keys::{self, SYMMETRIC_DEFAULT};
use crate::domain::{material, secrets};
use crate::store::KeyRow;
use cipherdrop::EncryptionContext;

/// Most bytes Encrypt takes for a symmetric key, GenerateDataKey and GenerateRandom make
/// (AWS KMS: 4096, 1024 and 1024).
const MAX_SYMMETRIC_PLAINTEXT: usize = 4096;
const MAX_DATA_KEY_BYTES: usize = 1024;
const MAX_RANDOM_BYTES: usize = 1024;
/// Longest ciphertext blob Decrypt takes (AWS KMS: 6144 bytes).
const MAX_CIPHERTEXT: usize = 6144;

/// A ciphertext and the key that made it.
#[derive(Debug)]
pub(crate) struct Sealed {
    /// The key's ARN.
    pub(crate) key_arn: String,
    /// Ciphertext blob.
    pub(crate) blob: Vec<u8>,
    /// `SYMMETRIC_DEFAULT` or the RSA algorithm used.
    pub(crate) algorithm: String,
}

/// A plaintext and the key that opened it.
pub(crate) struct Opened {
    /// The key's ARN.
    pub(crate) key_arn: String,
    /// The plaintext, wiped on drop.
    pub(crate) plaintext: Zeroizing<Vec<u8>>,
    /// The algorithm it was encrypted with.
    pub(crate) algorithm: String,
}

impl std::fmt::Debug for Opened {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Opened").field("key_arn", &self.key_arn).finish_non_exhaustive()
    }
}

/// How a data key's length is asked for: exactly one of the two.
#[derive(Clone, Copy, Debug)]
pub(crate) enum DataKeyLength {
    /// `KeySpec` AES_256 or AES_128.
    Spec(usize),
    /// `NumberOfBytes`.
    Bytes(usize),
}

/// What to decrypt, and what the caller expects of it.
#[derive(Debug)]
pub(crate) struct Ciphertext<'a> {
    /// The blob.
    pub(crate) blob: &'a [u8],
    /// The key it must belong to (required for RSA keys).
    pub(crate) key_ref: Option<&'a str>,
    /// The encryption context it was made with.
    pub(crate) context: &'a EncryptionContext,
    /// `SYMMETRIC_DEFAULT` (the default) or an RSA algorithm.
    pub(crate) algorithm: Option<&'a str>,
}

/// What to encrypt to.
#[derive(Debug)]
pub(crate) struct Target<'a> {
    /// The key.
    pub(crate) key_ref: &'a str,
    /// The encryption context (symmetric keys only).
    pub(crate) context: &'a EncryptionContext,
    /// `SYMMETRIC_DEFAULT` (the default) or an RSA algorithm.
    pub(crate) algorithm: Option<&'a str>,
}

/// Whether `algorithm` fits `key` and, for RSA, whether it is OAEP with SHA-1.
fn algorithm_for(key: &KeyRow, algorithm: Option<&str>) -> Result<(String, bool)> {
    let algorithm = algorithm.unwrap_or(SYMMETRIC_DEFAULT);
    if !key.encryption_algorithms().contains(&algorithm) {
        return Err(DomainError::InvalidKeyUsage(format!(
            "key {} ({}) does not support EncryptionAlgorithm {algorithm}",
            key.key_id, key.key_spec
        )));
    }
    Ok((algorithm.to_string(), algorithm == "RSAES_OAEP_SHA_1"))
}

/// Whether `key` may seal with `context`: RSA keys take none, as in AWS KMS.
fn context_for(key: &KeyRow, context: &EncryptionContext) -> Result<()> {
    if !key.is_symmetric() && !context.is_empty() {
        return Err(DomainError::invalid("EncryptionContext is not supported for asymmetric keys"));
    }
    Ok(())
}

impl KeyServer {
    /// Encrypt.
    pub(crate) async fn encrypt(
        &self,
        caller: &Caller,
        target: Target<'_>,
        plaintext: Zeroizing<Vec<u8>>,
        dry_run: bool,
    ) -> Result<Sealed> {
        if plaintext.is_empty() {
            let e = DomainError::invalid("Plaintext must be 1 to 4096 bytes");
            return self.refuse(caller, "Encrypt", e).await;
        }
        let mut key_id = None;
        let outcome = async {
            let key = self.authorised(caller, target.key_ref, "Encrypt", target.context).await?;
            key_id = Some(key.key_id.clone());
            if key.is_symmetric() && plaintext.len() > MAX_SYMMETRIC_PLAINTEXT {
                return Err(DomainError::invalid("Plaintext must be 1 to 4096 bytes"));
            }
            if dry_run {
                return Err(DomainError::DryRun);
            }
            self.seal_to(&key, &target, &plaintext).await
        }
        .await;
        self.audit
            .outcome(caller, "Encrypt", key_id.as_deref(), Some(target.context), outcome)
            .await
    }

    /// GenerateDataKey (`with_plaintext`) or GenerateDataKeyWithoutPlaintext: a random data
    /// key sealed under a symmetric key, and the data key itself for the first.
    pub(crate) async fn generate_data_key(
        &self,
        caller: &Caller,
        target: Target<'_>,
        length: DataKeyLength,
        with_plaintext: bool,
        dry_run: bool,
    ) -> Result<(Sealed, Option<Zeroizing<Vec<u8>>>)> {
        let action = match with_plaintext {
            true => "GenerateDataKey",
            false => "GenerateDataKeyWithoutPlaintext",
        };
        let (DataKeyLength::Spec(len) | DataKeyLength::Bytes(len)) = length;
        if !(1..=MAX_DATA_KEY_BYTES).contains(&len) {
            let e = DomainError::invalid("NumberOfBytes must be 1 to 1024");
            return self.refuse(caller, action, e).await;
        }
        let make = async || {
            let mut data_key = Zeroizing::new(vec![0u8; len]);
            getrandom::fill(&mut data_key).map_err(|_| DomainError::internal("random failed"))?;
            Ok((data_key, Vec::new()))
        };
        let (sealed, data_key, _) =
            self.sealed_secret(caller, &target, action, make, dry_run).await?;
        Ok((sealed, with_plaintext.then_some(data_key)))
    }

    /// GenerateDataKeyPair (`with_plaintext`) or GenerateDataKeyPairWithoutPlaintext: a new
    /// key pair of `spec` (RSA or ECC), its PKCS#8 private key sealed under a symmetric key:
    /// (sealed private key, the private key for the first, SPKI public key).
    pub(crate) async fn generate_data_key_pair(
        &self,
        caller: &Caller,
        target: Target<'_>,
        spec: &str,
        with_plaintext: bool,
        dry_run: bool,
    ) -> Result<(Sealed, Option<Zeroizing<Vec<u8>>>, Vec<u8>)> {
        let action = match with_plaintext {
            true => "GenerateDataKeyPair",
            false => "GenerateDataKeyPairWithoutPlaintext",
        };
        if !material::KEY_PAIR_SPECS.contains(&spec) {
            let e = DomainError::invalid(format!(
                "KeyPairSpec must be one of {:?}, not {spec:?}",
                material::KEY_PAIR_SPECS
            ));
            return self.refuse(caller, action, e).await;
        }
        let spec = spec.to_string();
        let make = async || self.crypto.run(move || material::generate(&spec)).await;
        let (sealed, private, public) =
            self.sealed_secret(caller, &target, action, make, dry_run).await?;
        Ok((sealed, with_plaintext.then_some(private), public))
    }

    /// A secret `make` gives (with its public part, if any), sealed under the symmetric key
    /// `target` names, with the call's audit record.
    async fn sealed_secret(
        &self,
        caller: &Caller,
        target: &Target<'_>,
        action: &str,
        make: impl AsyncFnOnce() -> Result<(Zeroizing<Vec<u8>>, Vec<u8>)>,
        dry_run: bool,
    ) -> Result<(Sealed, Zeroizing<Vec<u8>>, Vec<u8>)> {
        let mut key_id = None;
        let outcome = async {
            let key = self.authorised(caller, target.key_ref, action, target.context).await?;
            key_id = Some(key.key_id.clone());
            if !key.is_symmetric() {
                return Err(DomainError::InvalidKeyUsage(format!(
                    "key {} is {}: data keys are made under symmetric keys",
                    key.key_id, key.key_spec
                )));
            }
            if dry_run {
                return Err(DomainError::DryRun);
            }
            let (secret, public) = make().await?;
            let sealed = self.seal_to(&key, target, &secret).await?;
            Ok((sealed, secret, public))
        }
        .await;
        self.audit.outcome(caller, action, key_id.as_deref(), Some(target.context), outcome).await
    }

    /// Decrypt.
    pub(crate) async fn decrypt_blob(
        &self,
        caller: &Caller,
        ciphertext: Ciphertext<'_>,
        dry_run: bool,
    ) -> Result<Opened> {
        let mut key_id = None;
        let outcome = async {
            let key = self.key_of_ciphertext(caller, &ciphertext).await?;
            key_id = Some(key.key_id.clone());
            self.allowed(caller, &key, "Decrypt", Some(ciphertext.context)).await?;
            key.require_enabled()?;
            if dry_run {
                return Err(DomainError::DryRun);
            }
            self.open_from(&key, &ciphertext).await
        }
        .await;
        let context = Some(ciphertext.context);
        self.audit.outcome(caller, "Decrypt", key_id.as_deref(), context, outcome).await
    }

    /// ReEncrypt: opened under the source key (ReEncryptFrom) and sealed under the target
    /// (ReEncryptTo), the plaintext never leaving the server. Returns the source key's ARN
    /// and algorithm beside the new ciphertext.
    pub(crate) async fn re_encrypt(
        &self,
        caller: &Caller,
        source: Ciphertext<'_>,
        target: Target<'_>,
        dry_run: bool,
    ) -> Result<(Sealed, String, String)> {
        let mut key_id = None;
        let outcome = async {
            let from = self.key_of_ciphertext(caller, &source).await?;
            key_id = Some(from.key_id.clone());
            self.allowed(caller, &from, "ReEncryptFrom", Some(source.context)).await?;
            from.require_enabled()?;
            let to = self.authorised(caller, target.key_ref, "ReEncryptTo", target.context).await?;
            if dry_run {
                return Err(DomainError::DryRun);
            }
            let opened = self.open_from(&from, &source).await?;
            let sealed = self.seal_to(&to, &target, &opened.plaintext).await?;
            Ok((sealed, opened.key_arn.clone(), opened.algorithm.clone()))
        }
        .await;
        let context = Some(source.context);
        self.audit.outcome(caller, "ReEncrypt", key_id.as_deref(), context, outcome).await
    }

    /// GenerateRandom: any authenticated caller (an IAM permission in AWS, with no key).
    pub(crate) async fn generate_random(
        &self,
        caller: &Caller,
        bytes: usize,
    ) -> Result<Zeroizing<Vec<u8>>> {
        let outcome = if (1..=MAX_RANDOM_BYTES).contains(&bytes) {
            let mut out = Zeroizing::new(vec![0u8; bytes]);
            getrandom::fill(&mut out)
                .map(|()| out)
                .map_err(|_| DomainError::internal("random failed"))
        } else {
            Err(DomainError::invalid("NumberOfBytes must be 1 to 1024"))
        };
        self.audit.outcome(caller, "GenerateRandom", None, None, outcome).await
    }

    /// The key `key_ref` names, if `caller` may do `action` with it in `context` and it is
    /// enabled (permission first, as AWS: a caller with no right learns nothing of its state).
    async fn authorised(
        &self,
        caller: &Caller,
        key_ref: &str,
        action: &str,
        context: &EncryptionContext,
    ) -> Result<KeyRow> {
        let key = self.resolve(caller, key_ref).await?;
        self.allowed(caller, &key, action, Some(context)).await?;
        key.require_enabled()?;
        Ok(key)
    }

    /// The key a ciphertext belongs to: the one a symmetric blob names (which must be the
    /// requested key, if one is named), or the requested RSA key.
    async fn key_of_ciphertext(
        &self,
        caller: &Caller,
        ciphertext: &Ciphertext<'_>,
    ) -> Result<KeyRow> {
        if ciphertext.blob.is_empty() || ciphertext.blob.len() > MAX_CIPHERTEXT {
            return Err(DomainError::invalid("CiphertextBlob must be 1 to 6144 bytes"));
        }
        let named = match ciphertext.key_ref {
            Some(key_ref) => Some(self.resolve(caller, key_ref).await?),
            None => None,
        };
        if let Some(key) = named.as_ref().filter(|k| !k.is_symmetric()) {
            return Ok(key.clone());
        }
        let Ok(inner) = blob::key_of(ciphertext.blob) else {
            return Err(match (&named, ciphertext.algorithm) {
                (None, Some(a)) if a != SYMMETRIC_DEFAULT => {
                    DomainError::invalid("KeyId is required to decrypt with an asymmetric key")
                }
                _ => DomainError::InvalidCiphertext,
            });
        };
        match named {
            Some(key) if key.key_id != inner.key_id => Err(DomainError::IncorrectKey(
                "The key ID in the request does not identify a CMK that can perform this \
                 operation."
                    .into(),
            )),
            Some(key) => Ok(key),
            None => self.resolve(caller, &inner.key_id).await.map_err(|_| {
                // A blob naming a key that is not here: as AWS, an invalid ciphertext.
                DomainError::InvalidCiphertext
            }),
        }
    }

    /// Seals `plaintext` under `key`'s current version.
    async fn seal_to(&self, key: &KeyRow, target: &Target<'_>, plaintext: &[u8]) -> Result<Sealed> {
        let (algorithm, sha1) = algorithm_for(key, target.algorithm)?;
        context_for(key, target.context)?;
        let version = self.version(key, key.current_version).await?;
        let blob = if key.is_symmetric() {
            let material = self.open_material(key, version.version, version.private_sealed).await?;
            blob::seal(&key.key_id, version.version, &material, target.context, plaintext)?
        } else {
            secrets::encrypt_to(&version.public_der, sha1, plaintext)?
        };
        Ok(Sealed { key_arn: key.arn(self.account()), blob, algorithm })
    }

    /// Opens a ciphertext of `key`.
    async fn open_from(&self, key: &KeyRow, ciphertext: &Ciphertext<'_>) -> Result<Opened> {
        let (algorithm, sha1) = algorithm_for(key, ciphertext.algorithm)?;
        let plaintext = if key.is_symmetric() {
            let inner = blob::key_of(ciphertext.blob)?;
            let version = self
                .store
                .key_version(&key.key_id, inner.version)
                .await?
                .ok_or(DomainError::InvalidCiphertext)?;
            let material = self.open_material(key, version.version, version.private_sealed).await?;
            blob::open(&material, ciphertext.context, ciphertext.blob)?
        } else {
            context_for(key, ciphertext.context)?;
            let sealed = self.version(key, key.current_version).await?.private_sealed;
            let blob = ciphertext.blob.to_vec();
            self.private_decrypt(&key.key_id, key.current_version, sealed, sha1, blob).await?
        };
        Ok(Opened { key_arn: key.arn(self.account()), plaintext, algorithm })
    }

    /// A symmetric key version's AES-256 material, opened under the root key on the crypto
    /// pool (a PKCS#11 token's calls block).
    pub(super) async fn open_material(
        &self,
        key: &KeyRow,
        version: i64,
        sealed: Vec<u8>,
    ) -> Result<Zeroizing<Vec<u8>>> {
        let (root, name) = (self.root.clone(), keys::key_name(&key.key_id, version));
        self.crypto.run(move || root.open_sealed(&name, &sealed)).await
    }
}
