//! The AWS KMS keyring for symmetric KMS keys (`framework/aws-kms/aws-kms-keyring.md`, version
//! 0.3.0), the keyring the official SDKs call "AWS KMS keyring".
//!
//! An EDK of this keyring has provider ID `aws-kms`, the KMS key ARN as provider information
//! and KMS's ciphertext blob as ciphertext. OnEncrypt without a data key (the generator) calls
//! `GenerateDataKey`; with one, `Encrypt`; OnDecrypt calls `Decrypt`. Every call carries the
//! message's encryption context (KMS binds the blob to it) and the keyring's grant tokens.
//!
//! The rules (requests, answer checks, EDK selection) live in [`KmsSymmetricRules`], without
//! I/O: the native [`AwsKmsKeyring`] adds a caller's [`KmsClient`], and the npm package
//! `fetch` around the same rules.

use alloc::boxed::Box;
use alloc::format;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use core::fmt;

use super::Keyring;
use super::kms::{
    CIPHERTEXT_BLOB_LEN, KmsClient, KmsKeyError, KmsRequest, KmsResponse, check_key_arn,
    is_key_arn, key_arn_region,
};
use crate::context::EncryptionContext;
use crate::crypto::DataKey;
use crate::error::{DecryptError, EncryptError};
use crate::format::{EncryptedDataKey, Header};
use crate::suite::AlgorithmSuite;

/// EDK provider ID of the AWS KMS keyring ("the key provider id is \"aws-kms\"").
pub const KMS_PROVIDER_ID: &str = "aws-kms";

/// The rules of the AWS KMS keyring for one symmetric KMS key and its grant tokens, without
/// I/O.
#[derive(Clone, PartialEq, Eq)]
pub struct KmsSymmetricRules {
    key_arn: String,
    grant_tokens: Vec<String>,
}

impl KmsSymmetricRules {
    /// Rules for `key_arn`, which MUST be a KMS key ARN (ASCII, at most 2048 characters). The
    /// specification accepts any key identifier to encrypt, but an EDK matches on decrypt
    /// only a configured identifier equal to its provider information, which KMS always
    /// writes as the key ARN: so, as the RSA keyring, this one takes key ARNs only.
    pub fn new(key_arn: &str, grant_tokens: Vec<String>) -> Result<Self, KmsKeyError> {
        check_key_arn(key_arn)?;
        Ok(Self { key_arn: key_arn.into(), grant_tokens })
    }

    /// The configured key ARN.
    pub fn key_arn(&self) -> &str {
        &self.key_arn
    }

    /// The region the key ARN names (a KMS client for this key signs for it).
    pub fn region(&self) -> &str {
        key_arn_region(&self.key_arn)
    }

    /// The grant tokens every request carries.
    pub fn grant_tokens(&self) -> &[String] {
        &self.grant_tokens
    }

    /// OnEncrypt without a data key: "`KeyId` this keyring's KMS key identifier,
    /// `NumberOfBytes` the key derivation input length specified by the algorithm suite,
    /// `EncryptionContext` the encryption context included in the encryption materials,
    /// `GrantTokens` this keyring's grant tokens".
    pub fn generate_data_key_request<'a>(
        &'a self,
        suite: AlgorithmSuite,
        context: &'a EncryptionContext,
    ) -> KmsRequest<'a> {
        KmsRequest::GenerateDataKey {
            key_id: &self.key_arn,
            number_of_bytes: suite.key_len(),
            encryption_context: context,
            grant_tokens: &self.grant_tokens,
        }
    }

    /// Checks a `GenerateDataKey` answer: "OnEncrypt MUST verify that the response
    /// `Plaintext` length matches the specification of the algorithm suite's Key Derivation
    /// Input Length field", and "the response's `KeyId` MUST be a valid AWS KMS key ARN".
    /// Returns the data key and its EDK (provider information the response `KeyId`).
    pub fn generated(
        &self,
        response: &KmsResponse,
        suite: AlgorithmSuite,
    ) -> Result<(DataKey, EncryptedDataKey), EncryptError> {
        let invalid = || EncryptError::Keyring("invalid response from KMS GenerateDataKey".into());
        let plaintext = response.plaintext.as_ref().ok_or_else(invalid)?;
        if plaintext.len() != suite.key_len() {
            return Err(invalid());
        }
        let edk = edk_of(response).ok_or_else(invalid)?;
        Ok((DataKey::from_slice(plaintext), edk))
    }

    /// OnEncrypt with a data key: `Encrypt` with "`KeyId` the configured AWS KMS key
    /// identifier, `PlaintextDataKey` the plaintext data key, `EncryptionContext` the
    /// encryption context, `GrantTokens` this keyring's grant tokens".
    pub fn encrypt_request<'a>(
        &'a self,
        data_key: &'a DataKey,
        context: &'a EncryptionContext,
    ) -> KmsRequest<'a> {
        KmsRequest::Encrypt {
            key_id: &self.key_arn,
            plaintext: data_key,
            encryption_context: context,
            grant_tokens: &self.grant_tokens,
        }
    }

    /// Checks an `Encrypt` answer ("the response's `KeyId` MUST be a valid AWS KMS key ARN")
    /// and returns the EDK.
    pub fn encrypted(&self, response: &KmsResponse) -> Result<EncryptedDataKey, EncryptError> {
        edk_of(response)
            .ok_or_else(|| EncryptError::Keyring("invalid response from KMS Encrypt".into()))
    }

    /// OnDecrypt's filter and request for one EDK of `header`: `None` when the EDK is not
    /// this keyring's (its provider ID is not `aws-kms`, or its provider information is not
    /// the configured ARN); an error ([`DecryptError::Keyring`]) when its provider
    /// information is not a KMS key ARN ("or OnDecrypt MUST fail") or its ciphertext is no
    /// KMS ciphertext blob; otherwise the `Decrypt` request ("`KeyId` the configured AWS KMS
    /// key identifier, `CiphertextBlob` the encrypted data key ciphertext, `EncryptionContext`
    /// the encryption context included in the decryption materials, `GrantTokens`").
    pub fn decrypt_request<'a>(
        &'a self,
        edk: &'a EncryptedDataKey,
        header: &'a Header,
    ) -> Option<Result<KmsRequest<'a>, DecryptError>> {
        if edk.provider_id != KMS_PROVIDER_ID {
            return None;
        }
        let info = core::str::from_utf8(&edk.provider_info).ok();
        let Some(info) = info.filter(|i| is_key_arn(i)) else {
            let msg = format!(
                "EDK provider info {:?} is not an AWS KMS key ARN",
                String::from_utf8_lossy(&edk.provider_info)
            );
            return Some(Err(DecryptError::Keyring(msg)));
        };
        // "The provider info MUST match the configured AWS KMS key identifier."
        if info != self.key_arn {
            return None;
        }
        if !CIPHERTEXT_BLOB_LEN.contains(&edk.ciphertext.len()) {
            return Some(Err(DecryptError::Keyring("ciphertext length invalid".into())));
        }
        Some(Ok(KmsRequest::Decrypt {
            key_id: &self.key_arn,
            ciphertext_blob: &edk.ciphertext,
            encryption_algorithm: None,
            encryption_context: Some(header.encryption_context()),
            grant_tokens: &self.grant_tokens,
        }))
    }

    /// Checks a `Decrypt` answer: "the `KeyId` field in the response MUST equal the
    /// configured AWS KMS key identifier", and "the length of the response's `Plaintext` MUST
    /// equal the key derivation input length specified by the algorithm suite" (else
    /// [`DecryptError::Keyring`]: the error is collected and the next EDK tried).
    pub fn data_key(
        &self,
        response: &KmsResponse,
        header: &Header,
    ) -> Result<DataKey, DecryptError> {
        match (&response.key_id, &response.plaintext) {
            (Some(id), Some(p)) if *id == self.key_arn && p.len() == header.suite().key_len() => {
                Ok(DataKey::from_slice(p))
            }
            _ => Err(DecryptError::Keyring("invalid response from KMS Decrypt".into())),
        }
    }
}

impl fmt::Debug for KmsSymmetricRules {
    /// Grant tokens are bearer credentials of their grants: only their number is shown.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KmsSymmetricRules")
            .field("key_arn", &self.key_arn)
            .field("grant_tokens", &self.grant_tokens.len())
            .finish()
    }
}

/// The EDK of a `GenerateDataKey` or `Encrypt` answer: its `KeyId` (a key ARN) as provider
/// information and its `CiphertextBlob` as ciphertext; `None` if either is missing or wrong.
fn edk_of(response: &KmsResponse) -> Option<EncryptedDataKey> {
    let key_id = response.key_id.as_deref().filter(|id| is_key_arn(id))?;
    let blob =
        response.ciphertext_blob.as_ref().filter(|b| CIPHERTEXT_BLOB_LEN.contains(&b.len()))?;
    Some(EncryptedDataKey {
        provider_id: KMS_PROVIDER_ID.into(),
        provider_info: key_id.as_bytes().to_vec(),
        ciphertext: blob.clone(),
    })
}

/// The AWS KMS keyring natively: the rules of [`KmsSymmetricRules`] over a caller's
/// [`KmsClient`]. As the generator of a message (alone, or first in a
/// [`crate::MultiKeyring`]) it makes the data key with `GenerateDataKey`; otherwise it
/// encrypts the generator's data key with `Encrypt`.
pub struct AwsKmsKeyring {
    rules: KmsSymmetricRules,
    client: Box<dyn KmsClient>,
}

impl AwsKmsKeyring {
    /// A keyring for `key_arn` (a key ARN; see [`KmsSymmetricRules::new`]) whose requests carry
    /// `grant_tokens`, sent through `client`.
    pub fn new(
        key_arn: &str,
        grant_tokens: Vec<String>,
        client: Box<dyn KmsClient>,
    ) -> Result<Self, KmsKeyError> {
        Ok(Self { rules: KmsSymmetricRules::new(key_arn, grant_tokens)?, client })
    }

    /// The rules (key ARN, grant tokens).
    pub fn rules(&self) -> &KmsSymmetricRules {
        &self.rules
    }

    fn call(&self, request: &KmsRequest<'_>) -> Result<KmsResponse, String> {
        self.client.call(request).map_err(|e| format!("AWS KMS {}: {e}", request.operation()))
    }
}

impl Keyring for AwsKmsKeyring {
    fn generate(
        &self,
        suite: AlgorithmSuite,
        context: &EncryptionContext,
    ) -> Option<Result<(DataKey, Vec<EncryptedDataKey>), EncryptError>> {
        let request = self.rules.generate_data_key_request(suite, context);
        Some(
            self.call(&request)
                .map_err(EncryptError::Keyring)
                .and_then(|response| self.rules.generated(&response, suite))
                .map(|(key, edk)| (key, vec![edk])),
        )
    }

    fn wrap(
        &self,
        data_key: &DataKey,
        context: &EncryptionContext,
    ) -> Result<Vec<EncryptedDataKey>, EncryptError> {
        let response = self
            .call(&self.rules.encrypt_request(data_key, context))
            .map_err(EncryptError::Keyring)?;
        Ok(vec![self.rules.encrypted(&response)?])
    }

    fn unwrap(
        &self,
        edk: &EncryptedDataKey,
        header: &Header,
    ) -> Option<Result<DataKey, DecryptError>> {
        let request = match self.rules.decrypt_request(edk, header)? {
            Ok(request) => request,
            Err(err) => return Some(Err(err)),
        };
        Some(match self.call(&request) {
            Ok(response) => self.rules.data_key(&response, header),
            Err(err) => Err(DecryptError::Keyring(err)),
        })
    }
}

impl fmt::Debug for AwsKmsKeyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AwsKmsKeyring").field("rules", &self.rules).finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use alloc::string::ToString;
    use core::cell::RefCell;

    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;

    use super::*;
    use crate::keyring::KmsCallError;
    use crate::{DecryptOptions, EncryptOptions, MultiKeyring, decrypt, encrypt};

    const ARN: &str = "arn:aws:kms:us-east-1:000000000000:key/1234abcd-12ab-34cd-56ef-1234567890ab";

    /// Answers as KMS would, with a "blob" that is the key, then the context's JSON (a test
    /// stand-in: real blobs are opaque). Records the operations called.
    struct LocalKms {
        answer_key_id: String,
        calls: RefCell<Vec<String>>,
    }

    impl KmsClient for LocalKms {
        fn call(&self, request: &KmsRequest<'_>) -> Result<KmsResponse, KmsCallError> {
            self.calls.borrow_mut().push(request.to_json().to_string());
            let blob = |key: &[u8], context: &EncryptionContext| {
                let mut blob = key.to_vec();
                blob.extend_from_slice(format!("{context:?}").as_bytes());
                STANDARD.encode(blob)
            };
            let id = Some(self.answer_key_id.as_str());
            match *request {
                KmsRequest::GenerateDataKey { number_of_bytes, encryption_context, .. } => {
                    let key = vec![9; number_of_bytes];
                    let (p, b) = (STANDARD.encode(&key), blob(&key, encryption_context));
                    Ok(KmsResponse::new(id, Some(&p), Some(&b)))
                }
                KmsRequest::Encrypt { plaintext, encryption_context, .. } => {
                    let b = blob(plaintext.dangerous_as_bytes(), encryption_context);
                    Ok(KmsResponse::new(id, None, Some(&b)))
                }
                KmsRequest::Decrypt { ciphertext_blob, encryption_context, .. } => {
                    let context = encryption_context.expect("symmetric Decrypt has a context");
                    let (key, rest) = ciphertext_blob.split_at(32);
                    if rest != format!("{context:?}").as_bytes() {
                        return Err(KmsCallError {
                            code: "InvalidCiphertextException".into(),
                            message: String::new(),
                        });
                    }
                    Ok(KmsResponse::new(id, Some(&STANDARD.encode(key)), None))
                }
            }
        }
    }

    fn keyring(answer_key_id: &str) -> AwsKmsKeyring {
        let kms = LocalKms { answer_key_id: answer_key_id.into(), calls: Vec::new().into() };
        AwsKmsKeyring::new(ARN, vec!["grant-1".into()], Box::new(kms)).expect("keyring")
    }

    fn options() -> EncryptOptions {
        EncryptOptions {
            encryption_context: [("tenant".to_string(), "acme".to_string())].into(),
            ..EncryptOptions::default()
        }
    }

    #[test]
    fn request_bodies() {
        let rules = KmsSymmetricRules::new(ARN, vec!["t".into()]).expect("rules");
        let context: EncryptionContext = [("a".to_string(), "\"b".to_string())].into();
        let suite = AlgorithmSuite::AES_256_GCM_HKDF_SHA512_COMMIT_KEY;
        assert_eq!(
            *rules.generate_data_key_request(suite, &context).to_json(),
            format!(
                "{{\"EncryptionContext\":{{\"a\":\"\\\"b\"}},\"GrantTokens\":[\"t\"],\
                 \"KeyId\":\"{ARN}\",\"NumberOfBytes\":32}}"
            )
        );
        let key = DataKey::from_slice(&[1, 2, 3]);
        let none = KmsSymmetricRules::new(ARN, Vec::new()).expect("rules");
        assert_eq!(
            *none.encrypt_request(&key, &EncryptionContext::new()).to_json(),
            format!("{{\"EncryptionContext\":{{}},\"KeyId\":\"{ARN}\",\"Plaintext\":\"AQID\"}}")
        );
        for bad in ["alias/files", "arn:aws:kms:us-east-1:000000000000:alias/files", "1234"] {
            assert!(KmsSymmetricRules::new(bad, Vec::new()).is_err(), "{bad}");
        }
    }

    #[test]
    fn generator_round_trip() {
        let ring = keyring(ARN);
        let message = encrypt(&ring, b"kms", &options()).expect("encrypt");
        let (plain, header) = decrypt(&ring, &message, DecryptOptions::default()).expect("decrypt");
        assert_eq!(plain, b"kms");
        let edk = &header.encrypted_data_keys()[0];
        assert_eq!(
            (edk.provider_id.as_str(), edk.provider_info.as_slice()),
            ("aws-kms", ARN.as_bytes())
        );
        // The data key is KMS's (GenerateDataKey), not the encryptor's random one.
        assert_eq!(&edk.ciphertext[..32], &[9; 32]);
    }

    #[test]
    fn as_a_child_it_encrypts_the_generators_key() {
        let ring = MultiKeyring::new(Box::new(keyring(ARN)), vec![Box::new(keyring(ARN))]);
        let message = encrypt(&ring, b"kms", &options()).expect("encrypt");
        let (_, header) = decrypt(&keyring(ARN), &message, DecryptOptions::default()).expect("ok");
        let edks = header.encrypted_data_keys();
        assert_eq!(edks.len(), 2);
        assert_eq!(edks[0].ciphertext, edks[1].ciphertext);
    }

    #[test]
    fn answers_are_checked() {
        // GenerateDataKey answering with an alias, not a key ARN.
        let alias = "arn:aws:kms:us-east-1:000000000000:alias/x";
        assert!(matches!(
            encrypt(&keyring(alias), b"x", &options()),
            Err(EncryptError::Keyring(_))
        ));
        // Decrypt answering for another key: refused.
        let message = encrypt(&keyring(ARN), b"x", &options()).expect("encrypt");
        let other = "arn:aws:kms:us-east-1:000000000000:key/other";
        match decrypt(&keyring(other), &message, DecryptOptions::default()) {
            Err(DecryptError::Keyring(msg)) => assert!(msg.contains("invalid response"), "{msg}"),
            other => panic!("{other:?}"),
        }
        let wrong = KmsResponse::new(Some(ARN), Some(&STANDARD.encode([1; 16])), None);
        let (header, _) = Header::parse(&message, &crate::Limits::default()).expect("header");
        assert!(keyring(ARN).rules().data_key(&wrong, &header).is_err());
    }

    #[test]
    fn which_edks_are_candidates() {
        let ring = keyring(ARN);
        let message = encrypt(&ring, b"x", &options()).expect("encrypt");
        let (header, _) = Header::parse(&message, &crate::Limits::default()).expect("header");
        let edk = header.encrypted_data_keys()[0].clone();
        let with_info = |info: &str| EncryptedDataKey {
            provider_info: info.as_bytes().to_vec(),
            ..edk.clone()
        };
        let rules = ring.rules();
        assert!(rules.decrypt_request(&edk, &header).is_some_and(|r| r.is_ok()));
        // Another key ARN (an MRK replica too: this is not the MRK-aware keyring): not ours.
        let other = "arn:aws:kms:us-west-2:000000000000:key/1234abcd-12ab-34cd-56ef-1234567890ab";
        assert!(rules.decrypt_request(&with_info(other), &header).is_none());
        // Provider information that is not a key ARN fails.
        for bad in ["acme", "arn:aws:kms:us-east-1:000000000000:alias/x"] {
            assert!(matches!(
                rules.decrypt_request(&with_info(bad), &header),
                Some(Err(DecryptError::Keyring(_)))
            ));
        }
        let rsa = EncryptedDataKey { provider_id: "aws-kms-rsa".into(), ..edk };
        assert!(rules.decrypt_request(&rsa, &header).is_none());
        // The request carries the header's context and the grant tokens.
        let json = rules
            .decrypt_request(&header.encrypted_data_keys()[0], &header)
            .and_then(Result::ok)
            .expect("request")
            .to_json();
        assert!(json.contains(",\"tenant\":\"acme\"},"), "{}", *json);
        assert!(json.contains("\"GrantTokens\":[\"grant-1\"]"), "{}", *json);
    }
}
