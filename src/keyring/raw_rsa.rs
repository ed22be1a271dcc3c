//! The raw RSA keyring (`framework/raw-rsa-keyring.md`).
//!
//! An EDK of this keyring has the key namespace as provider ID, the key name as provider
//! information and the RSA-OAEP encryption of the data key (empty label, MGF1 with the OAEP
//! hash) as ciphertext.

use alloc::format;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use core::fmt;
use core::str::FromStr;

use zeroize::Zeroizing;

use super::Keyring;
use super::rsa_native::{PrivateKey, PublicKey};
use crate::context::EncryptionContext;
use crate::crypto::DataKey;
use crate::error::{DecryptError, EncryptError};
use crate::format::{EncryptedDataKey, Header};

/// The hash of RSA-OAEP, used for MGF1 too ("If the padding scheme uses MGF1 Padding, the hash
/// function used as part of MGF1 MUST be the same hash function used to ...").
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum OaepHash {
    /// OAEP with SHA-1 and MGF1-SHA-1.
    Sha1,
    /// OAEP with SHA-256 and MGF1-SHA-256 (the default).
    #[default]
    Sha256,
    /// OAEP with SHA-384 and MGF1-SHA-384.
    Sha384,
    /// OAEP with SHA-512 and MGF1-SHA-512.
    Sha512,
}

impl FromStr for OaepHash {
    type Err = KeyError;

    /// Accepts `sha1`, `sha256`, `sha384`, `sha512` (also `SHA-256` style). PKCS#1 v1.5
    /// padding is refused by name, so that asking for it gives a clear error.
    fn from_str(s: &str) -> Result<Self, KeyError> {
        match s.to_ascii_lowercase().replace('-', "").as_str() {
            "sha1" => Ok(Self::Sha1),
            "sha256" => Ok(Self::Sha256),
            "sha384" => Ok(Self::Sha384),
            "sha512" => Ok(Self::Sha512),
            "pkcs1" | "pkcs1v15" | "pkcs1v1.5" => Err(KeyError::Pkcs1v15Refused),
            _ => Err(KeyError::UnknownPadding(s.into())),
        }
    }
}

/// Why a raw RSA keyring could not be built.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyError {
    /// PKCS#1 v1.5 encryption padding is deliberately not supported (Bleichenbacher).
    Pkcs1v15Refused,
    /// A padding name other than the OAEP hashes.
    UnknownPadding(String),
    /// Not PEM, or a PEM label other than `PUBLIC KEY`, `PRIVATE KEY`, `RSA PRIVATE KEY`.
    InvalidPem,
    /// The DER does not hold an RSA key this backend accepts (2048 to 8192 bits).
    InvalidKey,
    /// The key namespace `aws-kms` is reserved for the KMS keyring.
    ReservedNamespace,
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Pkcs1v15Refused => {
                f.write_str("RSA PKCS#1 v1.5 encryption padding is not supported; use OAEP")
            }
            Self::UnknownPadding(p) => {
                write!(f, "unknown RSA padding {p:?} (sha1|sha256|sha384|sha512)")
            }
            Self::InvalidPem => f.write_str(
                "expected a PEM \"PUBLIC KEY\", \"PRIVATE KEY\" or \"RSA PRIVATE KEY\" block",
            ),
            Self::InvalidKey => f.write_str("not an RSA key of 2048 to 8192 bits"),
            Self::ReservedNamespace => f.write_str("key namespace \"aws-kms\" is reserved"),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for KeyError {}

/// A raw RSA keyring: one RSA key identified by key namespace and key name.
pub struct RawRsaKeyring {
    namespace: String,
    name: String,
    hash: OaepHash,
    public: Option<PublicKey>,
    private: Option<PrivateKey>,
}

impl RawRsaKeyring {
    /// A keyring from a PEM key: an SPKI `PUBLIC KEY` wraps only; a PKCS#8 `PRIVATE KEY` or
    /// PKCS#1 `RSA PRIVATE KEY` wraps and unwraps.
    pub fn from_pem(
        namespace: &str,
        name: &str,
        pem: &[u8],
        hash: OaepHash,
    ) -> Result<Self, KeyError> {
        let (label, der) = pem_rfc7468::decode_vec(pem).map_err(|_| KeyError::InvalidPem)?;
        let der = Zeroizing::new(der);
        match label {
            "PUBLIC KEY" => Self::from_public_der(namespace, name, &der, hash),
            "PRIVATE KEY" => {
                Self::with_private(namespace, name, PrivateKey::from_pkcs8_der(&der)?, hash)
            }
            "RSA PRIVATE KEY" => {
                Self::with_private(namespace, name, PrivateKey::from_pkcs1_der(&der)?, hash)
            }
            _ => Err(KeyError::InvalidPem),
        }
    }

    /// A wrap-only keyring from an SPKI DER public key.
    pub fn from_public_der(
        namespace: &str,
        name: &str,
        spki: &[u8],
        hash: OaepHash,
    ) -> Result<Self, KeyError> {
        Self::build(namespace, name, hash, Some(PublicKey::from_spki_der(spki)?), None)
    }

    /// A keyring from a PKCS#8 DER private key; it wraps with the key's public half.
    pub fn from_private_pkcs8_der(
        namespace: &str,
        name: &str,
        pkcs8: &[u8],
        hash: OaepHash,
    ) -> Result<Self, KeyError> {
        Self::with_private(namespace, name, PrivateKey::from_pkcs8_der(pkcs8)?, hash)
    }

    fn with_private(
        namespace: &str,
        name: &str,
        private: PrivateKey,
        hash: OaepHash,
    ) -> Result<Self, KeyError> {
        Self::build(namespace, name, hash, Some(private.public_key()), Some(private))
    }

    fn build(
        namespace: &str,
        name: &str,
        hash: OaepHash,
        public: Option<PublicKey>,
        private: Option<PrivateKey>,
    ) -> Result<Self, KeyError> {
        if namespace == "aws-kms" {
            return Err(KeyError::ReservedNamespace);
        }
        Ok(Self { namespace: namespace.into(), name: name.into(), hash, public, private })
    }

    /// The key namespace (EDK provider ID).
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// The key name (EDK provider information).
    pub fn name(&self) -> &str {
        &self.name
    }

    fn label(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }
}

impl Keyring for RawRsaKeyring {
    fn wrap(
        &self,
        data_key: &DataKey,
        _context: &EncryptionContext,
    ) -> Result<Vec<EncryptedDataKey>, EncryptError> {
        let public = self.public.as_ref().ok_or_else(|| {
            EncryptError::Keyring(format!("raw RSA keyring {} has no public key", self.label()))
        })?;
        let ciphertext = public.encrypt(self.hash, data_key.dangerous_as_bytes())?;
        Ok(vec![EncryptedDataKey {
            provider_id: self.namespace.clone(),
            provider_info: self.name.as_bytes().to_vec(),
            ciphertext,
        }])
    }

    fn unwrap(
        &self,
        edk: &EncryptedDataKey,
        header: &Header,
    ) -> Option<Result<DataKey, DecryptError>> {
        if edk.provider_id != self.namespace || edk.provider_info != self.name.as_bytes() {
            return None;
        }
        let Some(private) = &self.private else {
            let msg = format!("raw RSA keyring {} has only a public key", self.label());
            return Some(Err(DecryptError::Keyring(msg)));
        };
        let expected = header.suite().key_len();
        Some(private.decrypt(self.hash, &edk.ciphertext, expected).map(|k| DataKey::from_slice(&k)))
    }
}

impl fmt::Debug for RawRsaKeyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RawRsaKeyring")
            .field("namespace", &self.namespace)
            .field("name", &self.name)
            .field("hash", &self.hash)
            .field("private", &self.private.is_some())
            .finish_non_exhaustive()
    }
}
