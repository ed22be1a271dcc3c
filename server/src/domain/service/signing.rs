//! Keys that sign, MAC or agree rather than encrypt (AWS KMS Sign, Verify, GenerateMac,
//! VerifyMac, DeriveSharedSecret). Each call is authorised before the key's state is looked
//! at, checks the key's usage and algorithm, and leaves one audit record; private keys are
//! opened from the root key for the call only.

use zeroize::Zeroizing;

use super::{Caller, DomainError, KeyServer, Result};
use crate::domain::material::{
    self, GENERATE_VERIFY_MAC, KEY_AGREEMENT, MAX_MESSAGE, Message, SIGN_VERIFY,
};
use crate::store::KeyRow;

/// What a signing-family call does.
#[derive(Clone, Copy, Debug)]
enum Use {
    Sign,
    Verify,
    GenerateMac,
    VerifyMac,
    DeriveSharedSecret,
}

impl Use {
    fn action(self) -> &'static str {
        match self {
            Self::Sign => "Sign",
            Self::Verify => "Verify",
            Self::GenerateMac => "GenerateMac",
            Self::VerifyMac => "VerifyMac",
            Self::DeriveSharedSecret => "DeriveSharedSecret",
        }
    }

    fn usage(self) -> &'static str {
        match self {
            Self::Sign | Self::Verify => SIGN_VERIFY,
            Self::GenerateMac | Self::VerifyMac => GENERATE_VERIFY_MAC,
            Self::DeriveSharedSecret => KEY_AGREEMENT,
        }
    }
}

fn message_bytes(message: Message<'_>) -> &[u8] {
    match message {
        Message::Raw(m) | Message::Digest(m) => m,
    }
}

impl KeyServer {
    /// The key, if `caller` may `what` with it, it has the usage `what` needs and is enabled;
    /// `check` then vets the request against the key (its algorithm) before any key work.
    async fn key_for(
        &self,
        caller: &Caller,
        key_ref: &str,
        what: Use,
        check: impl FnOnce(&KeyRow) -> Result<()>,
    ) -> Result<KeyRow> {
        let key = self.resolve(caller, key_ref).await?;
        self.allowed(caller, &key, what.action(), None).await?;
        key.require_enabled()?;
        if key.key_usage != what.usage() {
            return Err(DomainError::InvalidKeyUsage(format!(
                "key {} is for {}: {} needs a {} key",
                key.key_id,
                key.key_usage,
                what.action(),
                what.usage()
            )));
        }
        check(&key)?;
        Ok(key)
    }

    /// The current version's secret material (private key or HMAC key).
    async fn secret_of(&self, key: &KeyRow) -> Result<Zeroizing<Vec<u8>>> {
        let version = self.version(key, key.current_version).await?;
        self.open_material(key, version.version, version.private_sealed).await
    }

    /// Runs one signing-family call with its audit record: `act` gets the vetted key.
    async fn signing_call<T>(
        &self,
        caller: &Caller,
        key_ref: &str,
        what: Use,
        message: Option<&[u8]>,
        check: impl FnOnce(&KeyRow) -> Result<()>,
        act: impl AsyncFnOnce(KeyRow) -> Result<T>,
    ) -> Result<T> {
        let mut key_id = None;
        let outcome = async {
            if let Some(m) = message
                && !(1..=MAX_MESSAGE).contains(&m.len())
            {
                return Err(DomainError::invalid("Message must be 1 to 4096 bytes"));
            }
            let key = self.key_for(caller, key_ref, what, check).await?;
            key_id = Some(key.key_id.clone());
            act(key).await
        }
        .await;
        self.audit.outcome(caller, what.action(), key_id.as_deref(), None, outcome).await
    }

    /// Sign: (key ARN, signature).
    pub(crate) async fn sign(
        &self,
        caller: &Caller,
        key_ref: &str,
        algorithm: &str,
        message: Message<'_>,
        dry_run: bool,
    ) -> Result<(String, Vec<u8>)> {
        let check = |k: &KeyRow| material::check_signing(&k.key_spec, algorithm);
        self.signing_call(
            caller,
            key_ref,
            Use::Sign,
            Some(message_bytes(message)),
            check,
            async |key| {
                if dry_run {
                    return Err(DomainError::DryRun);
                }
                let pkcs8 = self.secret_of(&key).await?;
                let spec = key.key_spec.clone();
                let signature = material::sign(&spec, &pkcs8, algorithm, message)?;
                Ok((key.arn(self.account()), signature))
            },
        )
        .await
    }

    /// Verify: the key ARN if `signature` is valid, `InvalidSignature` if not.
    pub(crate) async fn verify(
        &self,
        caller: &Caller,
        key_ref: &str,
        algorithm: &str,
        message: Message<'_>,
        signature: &[u8],
        dry_run: bool,
    ) -> Result<String> {
        let check = |k: &KeyRow| material::check_signing(&k.key_spec, algorithm);
        self.signing_call(
            caller,
            key_ref,
            Use::Verify,
            Some(message_bytes(message)),
            check,
            async |key| {
                if dry_run {
                    return Err(DomainError::DryRun);
                }
                let spki = self.version(&key, key.current_version).await?.public_der;
                if material::verify(&key.key_spec, &spki, algorithm, message, signature)? {
                    Ok(key.arn(self.account()))
                } else {
                    Err(DomainError::InvalidSignature)
                }
            },
        )
        .await
    }

    /// GenerateMac: (key ARN, MAC).
    pub(crate) async fn generate_mac(
        &self,
        caller: &Caller,
        key_ref: &str,
        algorithm: &str,
        message: &[u8],
        dry_run: bool,
    ) -> Result<(String, Vec<u8>)> {
        let check = |k: &KeyRow| material::check_mac(&k.key_spec, algorithm);
        self.signing_call(caller, key_ref, Use::GenerateMac, Some(message), check, async |key| {
            if dry_run {
                return Err(DomainError::DryRun);
            }
            let secret = self.secret_of(&key).await?;
            let tag = material::mac(&key.key_spec, &secret, algorithm, message)?;
            Ok((key.arn(self.account()), tag))
        })
        .await
    }

    /// VerifyMac: the key ARN if `tag` is the message's MAC, `InvalidMac` if not.
    pub(crate) async fn verify_mac(
        &self,
        caller: &Caller,
        key_ref: &str,
        algorithm: &str,
        message: &[u8],
        tag: &[u8],
        dry_run: bool,
    ) -> Result<String> {
        let check = |k: &KeyRow| material::check_mac(&k.key_spec, algorithm);
        self.signing_call(caller, key_ref, Use::VerifyMac, Some(message), check, async |key| {
            if dry_run {
                return Err(DomainError::DryRun);
            }
            let secret = self.secret_of(&key).await?;
            if material::verify_mac(&key.key_spec, &secret, algorithm, message, tag)? {
                Ok(key.arn(self.account()))
            } else {
                Err(DomainError::InvalidMac)
            }
        })
        .await
    }

    /// DeriveSharedSecret (ECDH with a peer's SPKI public key): (key ARN, shared secret).
    pub(crate) async fn derive_shared_secret(
        &self,
        caller: &Caller,
        key_ref: &str,
        algorithm: &str,
        peer: &[u8],
        dry_run: bool,
    ) -> Result<(String, Zeroizing<Vec<u8>>)> {
        let check = |_: &KeyRow| match algorithm {
            "ECDH" => Ok(()),
            other => Err(DomainError::invalid(format!(
                "KeyAgreementAlgorithm must be ECDH, not {other:?}"
            ))),
        };
        self.signing_call(caller, key_ref, Use::DeriveSharedSecret, None, check, async |key| {
            if dry_run {
                return Err(DomainError::DryRun);
            }
            let pkcs8 = self.secret_of(&key).await?;
            let secret = material::derive(&key.key_spec, &pkcs8, peer)?;
            Ok((key.arn(self.account()), secret))
        })
        .await
    }
}
