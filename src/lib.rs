//! cipherdrop: client-side envelope encryption in the AWS Encryption SDK message format.
//!
//! Each message gets a fresh data key, wrapped by one or more [`Keyring`]s; the plaintext is
//! encrypted as AES-256-GCM frames under a key derived from it, committed to in the header
//! and, with the default suite 0x0578, signed with a one-time ECDSA P-384 key. Messages are
//! byte-compatible with the official AWS Encryption SDKs (message format 2.0; format 1.0 is
//! read when [`CommitmentPolicy::RequireEncryptAllowDecrypt`] allows it).
//!
//! The core is sans-IO: [`Encryptor`] and [`Decryptor`] are fed bytes and append output to
//! a caller's buffer, so the same code serves files, network streams and JavaScript streams.
//!
//! ```
//! # #[cfg(not(target_arch = "wasm32"))] {
//! use cipherdrop::{DecryptOptions, EncryptOptions, OaepHash, RawRsaKeyring, decrypt, encrypt};
//! # let pem = include_bytes!("../tests/data/rsa-2048.pem");
//! let keyring = RawRsaKeyring::from_pem("acme", "archive-2026", pem, OaepHash::Sha256)?;
//! let message = encrypt(&keyring, b"hello", &EncryptOptions::default())?;
//! let (plaintext, header) = decrypt(&keyring, &message, DecryptOptions::default())?;
//! assert_eq!(plaintext, b"hello");
//! assert_eq!(header.suite().id(), 0x0578);
//! # }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![cfg_attr(not(feature = "std"), no_std)]
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![deny(rustdoc::broken_intra_doc_links)]

extern crate alloc;

mod context;
mod crypto;
mod decrypt;
mod encrypt;
mod error;
mod format;
mod frame;
pub mod jwe;
mod keyring;
mod suite;
#[cfg(target_arch = "wasm32")]
pub mod wasm;

pub use context::{EncryptionContext, PUBLIC_KEY_ENTRY, RESERVED_PREFIX};
pub use crypto::{DataKey, KdfHash, KeyDerivation, MessageHasher};
pub use decrypt::{DecryptOptions, DecryptState, Decryptor, HeaderAuth, Limits, Progress, decrypt};
pub use encrypt::{
    DEFAULT_FRAME_LENGTH, EncryptOptions, Encryptor, HeaderToSeal, PendingEncryptor, encrypt,
};
pub use error::{DecryptError, EncryptError, Section};
pub use format::{ContentType, EncryptedDataKey, Header, MAX_FRAME_LENGTH, message_suite};
pub use frame::{FrameCipher, FrameJob};
#[cfg(not(target_arch = "wasm32"))]
pub use keyring::AwsKmsRsaKeyring;
pub use keyring::{
    Attempt, AwsKmsKeyring, FirstAnswer, KMS_PROVIDER_ID, KMS_RSA_PROVIDER_ID, Keyring,
    KmsCallError, KmsClient, KmsEncryptionAlgorithm, KmsKeyError, KmsRequest, KmsResponse,
    KmsRsaRules, KmsSymmetricRules, MultiKeyring, UnwrapError, UnwrapSession,
};
#[cfg(not(target_arch = "wasm32"))]
pub use keyring::{KeyError, OaepHash, RawRsaKeyring};
pub use suite::{AlgorithmSuite, CommitmentPolicy, MessageFormatVersion, TAG_LEN};

/// The crate version, as built.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
