//! Algorithm suites of the AWS Encryption SDK message format.
//!
//! Source: aws-encryption-sdk-specification `framework/algorithm-suites.md`, tables
//! "Supported Algorithm Suites", "... Encryption Key Derivation Settings", "... Encryption
//! Settings", "... Commit Key Derivation Settings" and "... Signature Settings".

use core::fmt;

/// Every suite of the ESDK format uses AES-GCM with a 12-byte IV ("IV Length (bytes)").
pub const IV_LEN: usize = 12;
/// Every suite of the ESDK format uses a 16-byte GCM tag ("Authentication Tag Length").
pub const TAG_LEN: usize = 16;

/// An ESDK algorithm suite. Variant names follow the specification's ENUM names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
#[allow(non_camel_case_types)]
pub enum AlgorithmSuite {
    /// 0x0578: AES-256-GCM, HKDF-SHA512, key commitment, ECDSA P-384. The default.
    AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384,
    /// 0x0478: AES-256-GCM, HKDF-SHA512, key commitment, unsigned.
    AES_256_GCM_HKDF_SHA512_COMMIT_KEY,
    /// 0x0378 (message format 1.0, decrypt only).
    AES_256_GCM_IV12_TAG16_HKDF_SHA384_ECDSA_P384,
    /// 0x0346 (message format 1.0, decrypt only).
    AES_192_GCM_IV12_TAG16_HKDF_SHA384_ECDSA_P384,
    /// 0x0214 (message format 1.0, decrypt only).
    AES_128_GCM_IV12_TAG16_HKDF_SHA256_ECDSA_P256,
    /// 0x0178 (message format 1.0, decrypt only).
    AES_256_GCM_IV12_TAG16_HKDF_SHA256,
    /// 0x0146 (message format 1.0, decrypt only).
    AES_192_GCM_IV12_TAG16_HKDF_SHA256,
    /// 0x0114 (message format 1.0, decrypt only).
    AES_128_GCM_IV12_TAG16_HKDF_SHA256,
    /// 0x0078 (message format 1.0, decrypt only).
    AES_256_GCM_IV12_TAG16_NO_KDF,
    /// 0x0046 (message format 1.0, decrypt only).
    AES_192_GCM_IV12_TAG16_NO_KDF,
    /// 0x0014 (message format 1.0, decrypt only).
    AES_128_GCM_IV12_TAG16_NO_KDF,
}

/// How the data key becomes the frame encryption key ("Key Derivation Algorithm").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kdf {
    Identity,
    HkdfSha256,
    HkdfSha384,
    /// HKDF-SHA512 with the message ID as salt and a commit key (format 2.0 suites).
    HkdfSha512Commit,
}

/// The suite's asymmetric signature algorithm.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Signing {
    EcdsaP256Sha256,
    EcdsaP384Sha384,
}

/// Message format version a suite belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MessageFormatVersion {
    /// Message format 1.0 (`01`): non-committing suites, read only with a legacy policy.
    V1,
    /// Message format 2.0 (`02`): committing suites.
    V2,
}

impl AlgorithmSuite {
    /// All suites this crate can read, in the specification's table order.
    pub const ALL: [Self; 11] = [
        Self::AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384,
        Self::AES_256_GCM_HKDF_SHA512_COMMIT_KEY,
        Self::AES_256_GCM_IV12_TAG16_HKDF_SHA384_ECDSA_P384,
        Self::AES_192_GCM_IV12_TAG16_HKDF_SHA384_ECDSA_P384,
        Self::AES_128_GCM_IV12_TAG16_HKDF_SHA256_ECDSA_P256,
        Self::AES_256_GCM_IV12_TAG16_HKDF_SHA256,
        Self::AES_192_GCM_IV12_TAG16_HKDF_SHA256,
        Self::AES_128_GCM_IV12_TAG16_HKDF_SHA256,
        Self::AES_256_GCM_IV12_TAG16_NO_KDF,
        Self::AES_192_GCM_IV12_TAG16_NO_KDF,
        Self::AES_128_GCM_IV12_TAG16_NO_KDF,
    ];

    /// The two-byte suite identifier written in the header.
    pub const fn id(self) -> u16 {
        match self {
            Self::AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384 => 0x0578,
            Self::AES_256_GCM_HKDF_SHA512_COMMIT_KEY => 0x0478,
            Self::AES_256_GCM_IV12_TAG16_HKDF_SHA384_ECDSA_P384 => 0x0378,
            Self::AES_192_GCM_IV12_TAG16_HKDF_SHA384_ECDSA_P384 => 0x0346,
            Self::AES_128_GCM_IV12_TAG16_HKDF_SHA256_ECDSA_P256 => 0x0214,
            Self::AES_256_GCM_IV12_TAG16_HKDF_SHA256 => 0x0178,
            Self::AES_192_GCM_IV12_TAG16_HKDF_SHA256 => 0x0146,
            Self::AES_128_GCM_IV12_TAG16_HKDF_SHA256 => 0x0114,
            Self::AES_256_GCM_IV12_TAG16_NO_KDF => 0x0078,
            Self::AES_192_GCM_IV12_TAG16_NO_KDF => 0x0046,
            Self::AES_128_GCM_IV12_TAG16_NO_KDF => 0x0014,
        }
    }

    /// The suite with identifier `id`, if this crate supports it.
    pub fn from_id(id: u16) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.id() == id)
    }

    /// The message format version the suite is written with.
    pub const fn format_version(self) -> MessageFormatVersion {
        if self.is_committing() { MessageFormatVersion::V2 } else { MessageFormatVersion::V1 }
    }

    /// Whether the suite commits to its data key (format 2.0 suites).
    pub const fn is_committing(self) -> bool {
        matches!(
            self,
            Self::AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384
                | Self::AES_256_GCM_HKDF_SHA512_COMMIT_KEY
        )
    }

    /// Whether messages of this suite end with an ECDSA signature footer.
    pub const fn is_signed(self) -> bool {
        self.signing().is_some()
    }

    /// Length in bytes of the data key and of the derived encryption key.
    pub const fn key_len(self) -> usize {
        match self {
            Self::AES_128_GCM_IV12_TAG16_HKDF_SHA256_ECDSA_P256
            | Self::AES_128_GCM_IV12_TAG16_HKDF_SHA256
            | Self::AES_128_GCM_IV12_TAG16_NO_KDF => 16,
            Self::AES_192_GCM_IV12_TAG16_HKDF_SHA384_ECDSA_P384
            | Self::AES_192_GCM_IV12_TAG16_HKDF_SHA256
            | Self::AES_192_GCM_IV12_TAG16_NO_KDF => 24,
            _ => 32,
        }
    }

    /// Length of the "Algorithm Suite Data" header field (the commit key), or 0.
    pub const fn suite_data_len(self) -> usize {
        if self.is_committing() { 32 } else { 0 }
    }

    /// Length of the message ID: 32 bytes in format 2.0, 16 in format 1.0.
    pub const fn message_id_len(self) -> usize {
        match self.format_version() {
            MessageFormatVersion::V1 => 16,
            MessageFormatVersion::V2 => 32,
        }
    }

    pub(crate) const fn kdf(self) -> Kdf {
        match self {
            Self::AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384
            | Self::AES_256_GCM_HKDF_SHA512_COMMIT_KEY => Kdf::HkdfSha512Commit,
            Self::AES_256_GCM_IV12_TAG16_HKDF_SHA384_ECDSA_P384
            | Self::AES_192_GCM_IV12_TAG16_HKDF_SHA384_ECDSA_P384 => Kdf::HkdfSha384,
            Self::AES_128_GCM_IV12_TAG16_HKDF_SHA256_ECDSA_P256
            | Self::AES_256_GCM_IV12_TAG16_HKDF_SHA256
            | Self::AES_192_GCM_IV12_TAG16_HKDF_SHA256
            | Self::AES_128_GCM_IV12_TAG16_HKDF_SHA256 => Kdf::HkdfSha256,
            Self::AES_256_GCM_IV12_TAG16_NO_KDF
            | Self::AES_192_GCM_IV12_TAG16_NO_KDF
            | Self::AES_128_GCM_IV12_TAG16_NO_KDF => Kdf::Identity,
        }
    }

    pub(crate) const fn signing(self) -> Option<Signing> {
        match self {
            Self::AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384
            | Self::AES_256_GCM_IV12_TAG16_HKDF_SHA384_ECDSA_P384
            | Self::AES_192_GCM_IV12_TAG16_HKDF_SHA384_ECDSA_P384 => Some(Signing::EcdsaP384Sha384),
            Self::AES_128_GCM_IV12_TAG16_HKDF_SHA256_ECDSA_P256 => Some(Signing::EcdsaP256Sha256),
            _ => None,
        }
    }
}

impl Default for AlgorithmSuite {
    /// 0x0578, as in the official SDKs.
    fn default() -> Self {
        Self::AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384
    }
}

impl fmt::Display for AlgorithmSuite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0x{:04X}", self.id())
    }
}

/// Which messages decrypt accepts, as the official SDKs' commitment policy.
///
/// Source: `client-apis/client.md` "Commitment Policy" and `framework/commitment-policy.md`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum CommitmentPolicy {
    /// Encrypt and decrypt only committing (format 2.0) suites. The default.
    #[default]
    RequireEncryptRequireDecrypt,
    /// Encrypt with committing suites; also decrypt legacy format 1.0 messages.
    RequireEncryptAllowDecrypt,
}

impl CommitmentPolicy {
    pub(crate) fn allows_decrypt(self, suite: AlgorithmSuite) -> bool {
        suite.is_committing() || self == Self::RequireEncryptAllowDecrypt
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_are_unique() {
        for s in AlgorithmSuite::ALL {
            assert_eq!(AlgorithmSuite::from_id(s.id()), Some(s));
        }
        assert_eq!(AlgorithmSuite::from_id(0x0000), None);
        assert_eq!(AlgorithmSuite::default().id(), 0x0578);
    }

    #[test]
    fn policy_refuses_legacy_by_default() {
        let legacy = AlgorithmSuite::AES_256_GCM_IV12_TAG16_HKDF_SHA256;
        assert!(!CommitmentPolicy::default().allows_decrypt(legacy));
        assert!(CommitmentPolicy::RequireEncryptAllowDecrypt.allows_decrypt(legacy));
        assert!(CommitmentPolicy::default().allows_decrypt(AlgorithmSuite::default()));
    }
}
