//! What the AWS KMS keyrings share: key ARNs (`framework/aws-kms/aws-kms-key-arn.md`), the
//! requests they make (bodies of the KMS JSON 1.1 protocol), the members of the answers they
//! check, and the [`KmsClient`] trait through which a caller does the I/O.
//!
//! The symmetric keyring ([`super::aws_kms`]) calls `GenerateDataKey`, `Encrypt` and
//! `Decrypt`; the RSA keyring ([`super::aws_kms_rsa`]) only `Decrypt`. Both build their
//! requests as [`KmsRequest`] and read answers as [`KmsResponse`].

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;
use core::str::FromStr;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use zeroize::Zeroizing;

use crate::context::EncryptionContext;
use crate::crypto::DataKey;

/// Longest AWS KMS key identifier (the MPL's `MAX_AWS_KMS_IDENTIFIER_LENGTH`).
pub(super) const MAX_IDENTIFIER_LEN: usize = 2048;

/// AWS KMS `CiphertextBlob` length limits (the KMS API's `CiphertextType`: 1 to 6144 bytes),
/// which the MPL checks before it calls Decrypt ("Ciphertext length invalid").
pub(super) const CIPHERTEXT_BLOB_LEN: core::ops::RangeInclusive<usize> = 1..=6144;

/// The AWS KMS encryption algorithms an RSA KMS key decrypts with ("This keyring MUST NOT use
/// a padding scheme outside those defined above").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KmsEncryptionAlgorithm {
    /// `RSAES_OAEP_SHA_1`: OAEP with SHA-1 and MGF1 with SHA-1.
    RsaesOaepSha1,
    /// `RSAES_OAEP_SHA_256`: OAEP with SHA-256 and MGF1 with SHA-256.
    RsaesOaepSha256,
}

impl KmsEncryptionAlgorithm {
    /// The KMS API name (`RSAES_OAEP_SHA_256`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::RsaesOaepSha1 => "RSAES_OAEP_SHA_1",
            Self::RsaesOaepSha256 => "RSAES_OAEP_SHA_256",
        }
    }

    /// The OAEP (and MGF1) hash in WebCrypto spelling: `SHA-1` or `SHA-256`.
    pub fn oaep_hash_name(self) -> &'static str {
        match self {
            Self::RsaesOaepSha1 => "SHA-1",
            Self::RsaesOaepSha256 => "SHA-256",
        }
    }
}

impl FromStr for KmsEncryptionAlgorithm {
    type Err = KmsKeyError;

    /// Accepts exactly the KMS API names `RSAES_OAEP_SHA_1` and `RSAES_OAEP_SHA_256`.
    fn from_str(s: &str) -> Result<Self, KmsKeyError> {
        match s {
            "RSAES_OAEP_SHA_1" => Ok(Self::RsaesOaepSha1),
            "RSAES_OAEP_SHA_256" => Ok(Self::RsaesOaepSha256),
            _ => Err(KmsKeyError::UnsupportedEncryptionAlgorithm(s.into())),
        }
    }
}

impl fmt::Display for KmsEncryptionAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why an AWS KMS RSA keyring could not be built, or a KMS public key was not usable.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum KmsKeyError {
    /// The key identifier is not a KMS key ARN (`arn:PARTITION:kms:REGION:ACCOUNT:key/ID`):
    /// the MPL requires one ("Kms Key ID must be a KMS Key ARN"; an alias ARN cannot decrypt).
    InvalidKeyArn(String),
    /// An encryption algorithm other than `RSAES_OAEP_SHA_1` or `RSAES_OAEP_SHA_256`.
    UnsupportedEncryptionAlgorithm(String),
    /// The public key is not an RSA key of 2048 to 8192 bits, or KMS describes it as a key
    /// that does not encrypt with the configured algorithm.
    InvalidPublicKey(String),
}

impl fmt::Display for KmsKeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidKeyArn(arn) => write!(
                f,
                "{arn:?} is not an AWS KMS key ARN (arn:aws:kms:REGION:ACCOUNT:key/KEY_ID)"
            ),
            Self::UnsupportedEncryptionAlgorithm(a) => write!(
                f,
                "unsupported AWS KMS encryption algorithm {a:?} \
                 (RSAES_OAEP_SHA_1 or RSAES_OAEP_SHA_256)"
            ),
            Self::InvalidPublicKey(why) => write!(f, "AWS KMS public key refused: {why}"),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for KmsKeyError {}

/// A parsed AWS KMS ARN (the MPL's `AwsArnParsing.ParseAwsKmsArn`): six `:`-separated parts,
/// `arn`, a non-empty partition, service `kms`, non-empty region and account, and a resource
/// `key/VALUE` or `alias/VALUE` with a non-empty value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct KmsArn<'a> {
    partition: &'a str,
    region: &'a str,
    account: &'a str,
    resource_type: &'a str,
    resource: &'a str,
}

impl<'a> KmsArn<'a> {
    pub(super) fn parse(s: &'a str) -> Option<Self> {
        let parts: Vec<&str> = s.split(':').collect();
        let [arn, partition, service, region, account, resource] = parts[..] else {
            return None;
        };
        let (resource_type, resource) = resource.split_once('/')?;
        let valid = arn == "arn"
            && !partition.is_empty()
            && service == "kms"
            && !region.is_empty()
            && !account.is_empty()
            && matches!(resource_type, "key" | "alias")
            && !resource.is_empty();
        valid.then_some(Self { partition, region, account, resource_type, resource })
    }

    fn is_multi_region(&self) -> bool {
        self.resource_type == "key" && self.resource.starts_with("mrk-")
    }

    /// "AWS KMS MRK Match for Decrypt": the same ARN, or two multi-Region keys that differ
    /// only in their region.
    pub(super) fn mrk_match(&self, other: &Self) -> bool {
        self == other
            || (self.is_multi_region()
                && other.is_multi_region()
                && self.partition == other.partition
                && self.account == other.account
                && self.resource == other.resource)
    }
}

/// Checks that `key_arn` is a KMS key ARN (not an alias, not a bare key ID), ASCII and at most
/// 2048 characters, as both AWS KMS keyrings require of their configured key.
pub(super) fn check_key_arn(key_arn: &str) -> Result<(), KmsKeyError> {
    let ok = key_arn.is_ascii()
        && key_arn.len() <= MAX_IDENTIFIER_LEN
        && KmsArn::parse(key_arn).is_some_and(|a| a.resource_type == "key");
    match ok {
        true => Ok(()),
        false => Err(KmsKeyError::InvalidKeyArn(key_arn.into())),
    }
}

/// The region a key ARN names; `key_arn` MUST have passed [`check_key_arn`].
pub(super) fn key_arn_region(key_arn: &str) -> &str {
    KmsArn::parse(key_arn).expect("checked by check_key_arn").region
}

/// "A valid AWS KMS key ARN": a KMS ARN with resource type `key`.
pub(super) fn is_key_arn(s: &str) -> bool {
    KmsArn::parse(s).is_some_and(|a| a.resource_type == "key")
}

/// One AWS KMS call a keyring makes, with the members the keyring specifications list.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub enum KmsRequest<'a> {
    /// `Decrypt`: "`KeyId` the configured AWS KMS key identifier, `CiphertextBlob` the
    /// encrypted data key ciphertext" (the symmetric keyring adds the encryption context and
    /// grant tokens; the RSA keyring the encryption algorithm).
    Decrypt {
        /// The configured key ARN.
        key_id: &'a str,
        /// The EDK's ciphertext.
        ciphertext_blob: &'a [u8],
        /// The RSA keyring's configured encryption algorithm (`None`: symmetric).
        encryption_algorithm: Option<KmsEncryptionAlgorithm>,
        /// The message's encryption context (`None`: RSA, which takes none).
        encryption_context: Option<&'a EncryptionContext>,
        /// The keyring's grant tokens.
        grant_tokens: &'a [String],
    },
    /// `Encrypt` of an existing data key.
    Encrypt {
        /// The configured key ARN.
        key_id: &'a str,
        /// The plaintext data key.
        plaintext: &'a DataKey,
        /// The message's encryption context.
        encryption_context: &'a EncryptionContext,
        /// The keyring's grant tokens.
        grant_tokens: &'a [String],
    },
    /// `GenerateDataKey` of the suite's key derivation input length.
    GenerateDataKey {
        /// The configured key ARN.
        key_id: &'a str,
        /// The suite's key length in bytes.
        number_of_bytes: usize,
        /// The message's encryption context.
        encryption_context: &'a EncryptionContext,
        /// The keyring's grant tokens.
        grant_tokens: &'a [String],
    },
}

impl KmsRequest<'_> {
    /// The operation's name: the `X-Amz-Target` header is `TrentService.{operation}`.
    pub fn operation(&self) -> &'static str {
        match self {
            Self::Decrypt { .. } => "Decrypt",
            Self::Encrypt { .. } => "Encrypt",
            Self::GenerateDataKey { .. } => "GenerateDataKey",
        }
    }

    /// The key the request names (the configured ARN).
    pub fn key_id(&self) -> &str {
        match self {
            Self::Decrypt { key_id, .. }
            | Self::Encrypt { key_id, .. }
            | Self::GenerateDataKey { key_id, .. } => key_id,
        }
    }

    /// The request body for the KMS JSON 1.1 protocol (`X-Amz-Target:
    /// TrentService.{operation}`, `Content-Type: application/x-amz-json-1.1`), members in
    /// alphabetical order. An `Encrypt` body holds the data key: it is zeroized when dropped.
    pub fn to_json(&self) -> Zeroizing<String> {
        let mut members: Vec<(&str, Zeroizing<String>)> = Vec::new();
        let mut member = |name, value: String| members.push((name, Zeroizing::new(value)));
        match *self {
            Self::Decrypt {
                key_id,
                ciphertext_blob,
                encryption_algorithm,
                encryption_context,
                grant_tokens,
            } => {
                member("CiphertextBlob", json_string(&STANDARD.encode(ciphertext_blob)));
                if let Some(alg) = encryption_algorithm {
                    member("EncryptionAlgorithm", json_string(alg.as_str()));
                }
                if let Some(context) = encryption_context {
                    member("EncryptionContext", json_context(context));
                }
                if !grant_tokens.is_empty() {
                    member("GrantTokens", json_strings(grant_tokens));
                }
                member("KeyId", json_string(key_id));
            }
            Self::Encrypt { key_id, plaintext, encryption_context, grant_tokens } => {
                member("EncryptionContext", json_context(encryption_context));
                if !grant_tokens.is_empty() {
                    member("GrantTokens", json_strings(grant_tokens));
                }
                member("KeyId", json_string(key_id));
                let base64 = Zeroizing::new(STANDARD.encode(plaintext.dangerous_as_bytes()));
                member("Plaintext", json_string(&base64));
            }
            Self::GenerateDataKey { key_id, number_of_bytes, encryption_context, grant_tokens } => {
                member("EncryptionContext", json_context(encryption_context));
                if !grant_tokens.is_empty() {
                    member("GrantTokens", json_strings(grant_tokens));
                }
                member("KeyId", json_string(key_id));
                member("NumberOfBytes", number_of_bytes.to_string());
            }
        }
        let mut out = Zeroizing::new(String::from("{"));
        for (i, (name, value)) in members.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(&json_string(name));
            out.push(':');
            out.push_str(value);
        }
        out.push('}');
        out
    }
}

/// The members of a successful AWS KMS answer that the keyrings check: `KeyId`, `Plaintext`
/// (Decrypt, GenerateDataKey) and `CiphertextBlob` (Encrypt, GenerateDataKey).
pub struct KmsResponse {
    pub(super) key_id: Option<String>,
    pub(super) plaintext: Option<Zeroizing<Vec<u8>>>,
    pub(super) ciphertext_blob: Option<Vec<u8>>,
}

impl KmsResponse {
    /// The answer's `KeyId`, `Plaintext` and `CiphertextBlob` members (the last two base64, as
    /// in the JSON body), any of them absent. A member that is not base64 counts as absent.
    pub fn new(
        key_id: Option<&str>,
        plaintext_base64: Option<&str>,
        ciphertext_blob_base64: Option<&str>,
    ) -> Self {
        let plaintext = plaintext_base64.and_then(|p| STANDARD.decode(p).ok()).map(Zeroizing::new);
        let ciphertext_blob = ciphertext_blob_base64.and_then(|c| STANDARD.decode(c).ok());
        Self { key_id: key_id.map(str::to_string), plaintext, ciphertext_blob }
    }
}

impl fmt::Debug for KmsResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KmsResponse")
            .field("key_id", &self.key_id)
            .field("plaintext", &self.plaintext.as_ref().map(|p| p.len()))
            .field("ciphertext_blob", &self.ciphertext_blob.as_ref().map(Vec::len))
            .finish_non_exhaustive()
    }
}

/// A refused or failed AWS KMS call: the exception name (`__type`, such as
/// `DisabledException`, without the `com.amazonaws.kms#` prefix) and its message, or
/// `NetworkError` and what the transport said.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KmsCallError {
    /// The AWS exception name, or `NetworkError` / `InvalidResponse`.
    pub code: String,
    /// The service's message.
    pub message: String,
}

impl fmt::Display for KmsCallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.message.is_empty() {
            f.write_str(&self.code)
        } else {
            write!(f, "{}: {}", self.code, self.message)
        }
    }
}

/// The I/O of the AWS KMS keyrings: one KMS call (signed, sent, answered).
pub trait KmsClient {
    /// Sends `request` (`TrentService.{operation}` with the body [`KmsRequest::to_json`]) and
    /// returns the answer's members, or the service's refusal.
    fn call(&self, request: &KmsRequest<'_>) -> Result<KmsResponse, KmsCallError>;
}

/// An encryption context as a JSON object (keys in the map's order, sorted).
fn json_context(context: &EncryptionContext) -> String {
    let pairs: Vec<String> =
        context.iter().map(|(k, v)| format!("{}:{}", json_string(k), json_string(v))).collect();
    format!("{{{}}}", pairs.join(","))
}

/// Strings as a JSON array.
fn json_strings(items: &[String]) -> String {
    let items: Vec<String> = items.iter().map(|s| json_string(s)).collect();
    format!("[{}]", items.join(","))
}

/// `s` as a JSON string literal.
pub(super) fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if u32::from(c) < 0x20 => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
