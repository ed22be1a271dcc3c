//! Errors of the message core: one enum for encryption, one for decryption.
//!
//! Cryptographic failures of one primitive are opaque on purpose (no padding oracle); variants
//! only say *where* in the message a check failed, which an attacker who changed it knows anyway.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use crate::crypto::AeadFailed;

/// The part of a message a truncation or parse error refers to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Section {
    /// The message header (up to and including the header authentication tag).
    Header,
    /// The message body (frames, or the non-framed content).
    Body,
    /// The footer that carries the signature of a signed suite.
    Footer,
}

/// A context key in double quotes, escaped as `{:?}` escapes ASCII (`\"`, `\\`, `\n`, other
/// control characters as `\u{..}`) but other characters left as they are: `{:?}` also
/// escapes the non-printable ones, with Unicode tables that made up 4.4 KB of the gzipped
/// wasm module.
struct Quoted<'a>(&'a str);

impl fmt::Display for Quoted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use fmt::Write as _;
        f.write_char('"')?;
        for c in self.0.chars() {
            match c {
                '"' | '\\' => write!(f, "\\{c}")?,
                '\n' => f.write_str("\\n")?,
                '\r' => f.write_str("\\r")?,
                '\t' => f.write_str("\\t")?,
                '\0' => f.write_str("\\0")?,
                c if c.is_control() => write!(f, "\\u{{{:x}}}", u32::from(c))?,
                c => f.write_char(c)?,
            }
        }
        f.write_char('"')
    }
}

impl fmt::Display for Section {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Header => "header",
            Self::Body => "body",
            Self::Footer => "footer",
        })
    }
}

/// Why a message could not be written.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum EncryptError {
    /// The caller's encryption context uses a key in the reserved `aws-crypto-` namespace.
    ReservedContextKey(String),
    /// The serialized encryption context exceeds the 65,535 bytes its length field can hold.
    ContextTooLarge,
    /// Frame lengths must be in `1..=2^31-1`.
    InvalidFrameLength(u64),
    /// The suite cannot be used to encrypt (only committing format 2.0 suites can; only
    /// unsigned ones in a build without the `signing` feature).
    UnsupportedSuite(u16),
    /// The keyring produced no encrypted data key, or more than a header can hold.
    EncryptedDataKeyCount(usize),
    /// A field of an encrypted data key (provider ID, provider info or ciphertext) exceeds the
    /// 65,535 bytes its length field can hold.
    EncryptedDataKeyTooLarge,
    /// A caller-supplied data key does not have the suite's key length.
    DataKeyLength {
        /// The suite's key length, in bytes.
        expected: usize,
        /// Length of the key given.
        actual: usize,
    },
    /// A caller-supplied signing key is missing (signed suite) or not a valid P-384 scalar.
    InvalidSigningKey,
    /// A keyring could not wrap the data key (details deliberately withheld).
    WrapFailed,
    /// A keyring that has only a private key, or a failure reported by a remote keyring.
    Keyring(String),
    /// The plaintext needs more frames than the 32-bit sequence number allows.
    TooManyFrames,
    /// The operating system's random number generator failed.
    Random,
    /// AES-GCM refused to seal the header tag or a frame. Its input limits (2^36 - 32 bytes)
    /// lie far above the largest frame, so this signals a broken invariant, not bad input.
    SealFailed,
    /// A method was called in a state that does not allow it (a caller bug), such as a
    /// detached frame of the wrong length or out of order.
    InvalidState(&'static str),
}

impl fmt::Display for EncryptError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ReservedContextKey(k) => {
                write!(
                    f,
                    "encryption context key {} is reserved (prefix \"aws-crypto-\")",
                    Quoted(k)
                )
            }
            Self::ContextTooLarge => f.write_str("encryption context is larger than 65535 bytes"),
            Self::InvalidFrameLength(n) => {
                write!(f, "frame length {n} is outside 1..=2147483647")
            }
            Self::UnsupportedSuite(id) => write!(f, "algorithm suite 0x{id:04X} cannot encrypt"),
            Self::EncryptedDataKeyCount(n) => {
                write!(f, "keyring produced {n} encrypted data keys (need 1..=65535)")
            }
            Self::EncryptedDataKeyTooLarge => {
                f.write_str("an encrypted data key field is larger than 65535 bytes")
            }
            Self::DataKeyLength { expected, actual } => {
                write!(f, "data key has {actual} bytes, the suite needs {expected}")
            }
            Self::InvalidSigningKey => f.write_str("signing key is missing or not a P-384 scalar"),
            Self::WrapFailed => f.write_str("wrapping the data key failed"),
            Self::Keyring(msg) => write!(f, "keyring failed: {msg}"),
            Self::TooManyFrames => f.write_str("plaintext needs more than 2^32-2 frames"),
            Self::Random => f.write_str("random number generator failed"),
            Self::SealFailed => f.write_str("AES-GCM refused to seal"),
            Self::InvalidState(what) => write!(f, "encryptor misuse: {what}"),
        }
    }
}

/// Why a message could not be read. Once a [`crate::Decryptor`] returns one, it returns the
/// same error from then on.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DecryptError {
    /// The input ended inside the given section.
    Truncated(Section),
    /// Bytes follow the end of the message.
    TrailingBytes,
    /// A field does not follow the message format; the text names the field.
    Malformed(Section, &'static str),
    /// The message format version is not 1 or 2.
    UnsupportedVersion(u8),
    /// The algorithm suite ID is not one the ESDK defines, or one this build leaves out
    /// (0x0214, ECDSA P-256, without the `legacy-p256` feature, as in the npm package; every
    /// signed suite without the `signing` feature, reported before any key is unwrapped).
    UnsupportedSuite(u16),
    /// The content type is neither framed (2) nor non-framed (1).
    UnsupportedContentType(u8),
    /// A non-committing (format 1.0) message under a policy that requires commitment.
    CommitmentPolicy(u16),
    /// The caller refused signed messages while streaming, and this one is signed.
    SignedMessageRefused,
    /// More encrypted data keys than the configured maximum.
    TooManyEncryptedDataKeys {
        /// Count in the header.
        count: usize,
        /// Configured maximum.
        max: usize,
    },
    /// The header is larger than the configured maximum.
    HeaderTooLarge {
        /// Configured maximum, in bytes.
        max: usize,
    },
    /// A frame (or non-framed body) is longer than the configured maximum.
    FrameTooLarge {
        /// Length declared by the message.
        length: u64,
        /// Configured maximum.
        max: usize,
    },
    /// The serialized encryption context is longer than the configured maximum.
    ContextTooLarge {
        /// Configured maximum, in bytes.
        max: usize,
    },
    /// A pair the caller required is missing from the message or has another value.
    ContextMismatch(String),
    /// The reserved `aws-crypto-public-key` entry is missing (signed suite) or present
    /// (unsigned suite), or does not hold a valid public key.
    PublicKeyEntry,
    /// No encrypted data key could be unwrapped by the keyring.
    NoDecryptableKey {
        /// Keyring attempts that failed cryptographically (wrong key, bad padding, ...).
        failed_attempts: usize,
        /// What the keyrings said of their own setup when they failed (a raw RSA keyring's
        /// OAEP hash), each distinct text once, in order (see [`crate::Attempt::Failed`]).
        notes: Vec<String>,
    },
    /// One encrypted data key did not unwrap (wrong key, bad padding, wrong length: opaque).
    UnwrapFailed,
    /// A keyring refused or failed for a reason it may tell (for example a key server's
    /// policy denial, or a keyring that holds no private key).
    Keyring(String),
    /// The unwrapped data key does not open this message: its commit key differs.
    CommitmentMismatch,
    /// The header authentication tag does not verify.
    BadHeaderTag,
    /// A frame's authentication tag does not verify.
    BadFrameTag {
        /// Sequence number of the frame (1 for non-framed content).
        sequence: u32,
    },
    /// Frames out of order, or a frame IV that is not the one its sequence number implies.
    FrameSequence {
        /// Sequence number expected next.
        expected: u32,
    },
    /// The footer signature does not verify.
    BadSignature,
    /// A method was called in a state that does not allow it (a caller bug).
    InvalidState(&'static str),
}

impl fmt::Display for DecryptError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Truncated(s) => write!(f, "message is truncated in its {s}"),
            Self::TrailingBytes => f.write_str("unexpected bytes after the end of the message"),
            Self::Malformed(s, what) => write!(f, "malformed {s}: {what}"),
            Self::UnsupportedVersion(v) => write!(f, "unsupported message format version {v}"),
            Self::UnsupportedSuite(id) => write!(f, "unsupported algorithm suite 0x{id:04X}"),
            Self::UnsupportedContentType(t) => write!(f, "unsupported content type {t}"),
            Self::CommitmentPolicy(id) => write!(
                f,
                "algorithm suite 0x{id:04X} does not commit to its key; the commitment policy \
                 refuses it (allow legacy messages to read it)"
            ),
            Self::SignedMessageRefused => {
                f.write_str("message is signed and signed messages were refused for streaming")
            }
            Self::TooManyEncryptedDataKeys { count, max } => {
                write!(f, "message has {count} encrypted data keys, more than the maximum {max}")
            }
            Self::HeaderTooLarge { max } => write!(f, "header is larger than {max} bytes"),
            Self::FrameTooLarge { length, max } => {
                write!(f, "frame of {length} bytes is larger than the maximum {max}")
            }
            Self::ContextTooLarge { max } => {
                write!(f, "encryption context is larger than {max} bytes")
            }
            Self::ContextMismatch(k) => {
                write!(
                    f,
                    "encryption context does not have the required value for key {}",
                    Quoted(k)
                )
            }
            Self::PublicKeyEntry => {
                f.write_str("encryption context entry aws-crypto-public-key does not fit the suite")
            }
            Self::NoDecryptableKey { failed_attempts, notes } => {
                write!(
                    f,
                    "no encrypted data key could be unwrapped ({failed_attempts} failed attempts)"
                )?;
                // Written one by one: `join` would be one more allocating routine in the
                // wasm module for this message alone.
                for (i, note) in notes.iter().enumerate() {
                    f.write_str(if i == 0 { ": " } else { "; " })?;
                    f.write_str(note)?;
                }
                Ok(())
            }
            Self::UnwrapFailed => f.write_str("encrypted data key did not unwrap"),
            Self::Keyring(msg) => write!(f, "keyring failed: {msg}"),
            Self::CommitmentMismatch => f.write_str("key commitment does not match the data key"),
            Self::BadHeaderTag => f.write_str("header authentication tag does not verify"),
            Self::BadFrameTag { sequence } => {
                write!(f, "authentication tag of frame {sequence} does not verify")
            }
            Self::FrameSequence { expected } => {
                write!(f, "frame out of sequence or with a wrong IV (expected frame {expected})")
            }
            Self::BadSignature => f.write_str("message signature does not verify"),
            Self::InvalidState(what) => write!(f, "decryptor misuse: {what}"),
        }
    }
}

/// Sealing never sees attacker input, so every AES-GCM failure while writing is one variant.
impl From<AeadFailed> for EncryptError {
    fn from(_: AeadFailed) -> Self {
        Self::SealFailed
    }
}

#[cfg(feature = "std")]
impl std::error::Error for EncryptError {}
#[cfg(feature = "std")]
impl std::error::Error for DecryptError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn context_keys_are_quoted_as_debug_quotes_them_but_for_non_printable_unicode() {
        let ascii: String = (0u8..0x80).map(char::from).collect();
        for key in [ascii.as_str(), "", "a\"b\\c", "clé", "日本語", "\u{85}\u{9f}", "emoji 🔑"]
        {
            assert_eq!(Quoted(key).to_string(), format!("{key:?}"), "{key:?}");
        }
        // {:?} escapes non-printable characters beyond the control ones; these stay as they are.
        assert_eq!(Quoted("a\u{200b}\u{301}").to_string(), "\"a\u{200b}\u{301}\"");
        assert_eq!(
            EncryptError::ReservedContextKey("aws-crypto-x\n".into()).to_string(),
            r#"encryption context key "aws-crypto-x\n" is reserved (prefix "aws-crypto-")"#
        );
    }

    #[test]
    fn every_aead_failure_while_writing_is_a_seal_failure() {
        assert_eq!(EncryptError::from(AeadFailed), EncryptError::SealFailed);
    }
}
