//! The AWS KMS RSA keyring of the Material Providers Library (MPL), `AwsKmsRsaKeyring`
//! (`framework/aws-kms/aws-kms-rsa-keyring.md`, and the MPL 1.11 implementation where the
//! specification's preview text differs from it).
//!
//! An EDK of this keyring has provider ID `aws-kms-rsa`, the key's ARN as provider
//! information, and as ciphertext the RSA-OAEP encryption, with the KMS key's public key, of
//! "the Encryption Context Digest concatenated with the plaintext data key": SHA-384 of the
//! serialized encryption context, then the data key. Wrapping needs only the public key;
//! unwrapping calls AWS KMS `Decrypt` with the configured ARN and encryption algorithm.
//!
//! The rules live in [`KmsRsaRules`], with no I/O and no RSA: the native
//! [`AwsKmsRsaKeyring`] adds RSA (aws-lc-rs) and a caller's [`KmsClient`] (the HTTP call),
//! and the npm package adds WebCrypto RSA-OAEP and `fetch` around the same rules.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use sha2::{Digest, Sha384};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use super::kms::{
    CIPHERTEXT_BLOB_LEN, KmsArn, KmsEncryptionAlgorithm, KmsKeyError, KmsRequest, KmsResponse,
    check_key_arn, json_string, key_arn_region,
};
use crate::context::{EncryptionContext, PUBLIC_KEY_ENTRY, serialize};
use crate::crypto::DataKey;
use crate::error::{DecryptError, EncryptError};
use crate::format::{EncryptedDataKey, Header};
/// EDK provider ID of the AWS KMS RSA keyring (the MPL's `Constants.RSA_PROVIDER_ID`).
pub const KMS_RSA_PROVIDER_ID: &str = "aws-kms-rsa";

/// Length of the encryption context digest that prefixes the data key (SHA-384).
pub const CONTEXT_DIGEST_LEN: usize = 48;

/// The rules of the AWS KMS RSA keyring for one key ARN and encryption algorithm, without
/// RSA and without I/O.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KmsRsaRules {
    key_arn: String,
    algorithm: KmsEncryptionAlgorithm,
}

impl KmsRsaRules {
    /// Rules for `key_arn`, which MUST be a KMS key ARN (not an alias, not a bare key ID:
    /// "Kms Key ID must be a KMS Key ARN", "Alias cannot be used for Decrypt"), ASCII and at
    /// most 2048 characters.
    pub fn new(key_arn: &str, algorithm: KmsEncryptionAlgorithm) -> Result<Self, KmsKeyError> {
        check_key_arn(key_arn)?;
        Ok(Self { key_arn: key_arn.into(), algorithm })
    }

    /// The configured key ARN.
    pub fn key_arn(&self) -> &str {
        &self.key_arn
    }

    /// The region the key ARN names (a KMS client for this key signs for it).
    pub fn region(&self) -> &str {
        key_arn_region(&self.key_arn)
    }

    /// The configured encryption algorithm.
    pub fn encryption_algorithm(&self) -> KmsEncryptionAlgorithm {
        self.algorithm
    }

    /// The body of a KMS `GetPublicKey` request for this key (`{"KeyId": ARN}`).
    pub fn public_key_request_json(&self) -> String {
        format!("{{\"KeyId\":{}}}", json_string(&self.key_arn))
    }

    /// Checks a `GetPublicKey` answer's description of the key: its `KeyUsage` (when given)
    /// is `ENCRYPT_DECRYPT` and its `EncryptionAlgorithms` (when given) include the
    /// configured one, so that a signing key or a mismatched algorithm fails before any
    /// message is written that could never be decrypted.
    pub fn check_public_key_description(
        &self,
        key_usage: Option<&str>,
        encryption_algorithms: Option<&[&str]>,
    ) -> Result<(), KmsKeyError> {
        if let Some(usage) = key_usage.filter(|u| *u != "ENCRYPT_DECRYPT") {
            return Err(KmsKeyError::InvalidPublicKey(format!(
                "{} has KeyUsage {usage}, not ENCRYPT_DECRYPT",
                self.key_arn
            )));
        }
        if let Some(algs) = encryption_algorithms
            && !algs.contains(&self.algorithm.as_str())
        {
            return Err(KmsKeyError::InvalidPublicKey(format!(
                "{} does not support {} (it supports {})",
                self.key_arn,
                self.algorithm,
                algs.join(", ")
            )));
        }
        Ok(())
    }

    /// OnEncrypt's checks and RSA input: refuses signed suites ("AwsKmsRsaKeyring cannot be
    /// used with an Algorithm Suite with asymmetric signing"), and returns the plaintext to
    /// encrypt with RSA-OAEP: SHA-384 of the serialized encryption context, then the data key.
    ///
    /// `context` is the message's whole context, as the encryptor hands it to keyrings: a
    /// signed suite's holds `aws-crypto-public-key`, which no unsigned message may carry, so
    /// the context tells the suite.
    pub fn wrap_plaintext(
        &self,
        data_key: &DataKey,
        context: &EncryptionContext,
    ) -> Result<Zeroizing<Vec<u8>>, EncryptError> {
        if context.contains_key(PUBLIC_KEY_ENTRY) {
            return Err(EncryptError::Keyring(signed_suite_refused()));
        }
        let digest = context_digest(context)
            .ok_or_else(|| EncryptError::Keyring("encryption context is too large".into()))?;
        let mut plaintext = Zeroizing::new(Vec::with_capacity(CONTEXT_DIGEST_LEN + data_key.len()));
        plaintext.extend_from_slice(&digest);
        plaintext.extend_from_slice(data_key.dangerous_as_bytes());
        Ok(plaintext)
    }

    /// The EDK of a wrapped data key: provider ID `aws-kms-rsa`, provider information the
    /// key ARN, and `ciphertext` (the RSA-OAEP output).
    pub fn encrypted_data_key(&self, ciphertext: Vec<u8>) -> EncryptedDataKey {
        EncryptedDataKey {
            provider_id: KMS_RSA_PROVIDER_ID.into(),
            provider_info: self.key_arn.as_bytes().to_vec(),
            ciphertext,
        }
    }

    /// OnDecrypt's filter and request for one EDK of `header`: `None` when the EDK is not
    /// this keyring's (another provider ID, or an ARN that does not match the configured one
    /// by "AWS KMS MRK Match for Decrypt"); an error ([`DecryptError::Keyring`]) for a signed
    /// suite, a provider information that is not a KMS ARN, or a ciphertext KMS cannot take;
    /// otherwise the `Decrypt` request to make.
    pub fn decrypt_request<'a>(
        &'a self,
        edk: &'a EncryptedDataKey,
        header: &Header,
    ) -> Option<Result<KmsRequest<'a>, DecryptError>> {
        if edk.provider_id != KMS_RSA_PROVIDER_ID {
            return None;
        }
        if header.suite().is_signed() {
            return Some(Err(DecryptError::Keyring(signed_suite_refused())));
        }
        let Ok(info) = core::str::from_utf8(&edk.provider_info) else {
            let msg = "invalid AWS KMS encoding, provider info is not UTF-8";
            return Some(Err(DecryptError::Keyring(msg.into())));
        };
        let Some(theirs) = KmsArn::parse(info) else {
            let msg = format!("EDK provider info {info:?} is not an AWS KMS ARN");
            return Some(Err(DecryptError::Keyring(msg)));
        };
        let ours = KmsArn::parse(&self.key_arn).expect("checked by KmsRsaRules::new");
        if !ours.mrk_match(&theirs) {
            return None;
        }
        if !CIPHERTEXT_BLOB_LEN.contains(&edk.ciphertext.len()) {
            return Some(Err(DecryptError::Keyring("ciphertext length invalid".into())));
        }
        Some(Ok(KmsRequest::Decrypt {
            key_id: &self.key_arn,
            ciphertext_blob: &edk.ciphertext,
            encryption_algorithm: Some(self.algorithm),
            encryption_context: None,
            grant_tokens: &[],
        }))
    }

    /// Checks a `Decrypt` answer and returns the data key: its `KeyId` MUST equal the
    /// configured ARN and it MUST hold a plaintext ("Invalid response from KMS Decrypt":
    /// [`DecryptError::Keyring`]); the plaintext MUST be the header context's digest followed
    /// by a key of the suite's length (else the opaque [`DecryptError::UnwrapFailed`]).
    pub fn data_key(
        &self,
        response: &KmsResponse,
        header: &Header,
    ) -> Result<DataKey, DecryptError> {
        let plaintext = match (&response.key_id, &response.plaintext) {
            (Some(id), Some(p)) if *id == self.key_arn => p,
            _ => return Err(DecryptError::Keyring("invalid response from KMS Decrypt".into())),
        };
        let digest =
            context_digest(header.encryption_context()).ok_or(DecryptError::UnwrapFailed)?;
        if plaintext.len() != CONTEXT_DIGEST_LEN + header.suite().key_len() {
            return Err(DecryptError::UnwrapFailed);
        }
        let (theirs, key) = plaintext.split_at(CONTEXT_DIGEST_LEN);
        if !bool::from(theirs.ct_eq(&digest[..])) {
            return Err(DecryptError::UnwrapFailed);
        }
        Ok(DataKey::from_slice(key))
    }
}

/// SHA-384 of the context serialized as the header's AAD key-value pairs; `None` if it does
/// not serialize.
fn context_digest(context: &EncryptionContext) -> Option<[u8; CONTEXT_DIGEST_LEN]> {
    Some(Sha384::digest(serialize(context)?).into())
}

fn signed_suite_refused() -> String {
    "the AWS KMS RSA keyring cannot be used with a signed algorithm suite (use 0x0478)".into()
}

#[cfg(not(target_arch = "wasm32"))]
pub use native::AwsKmsRsaKeyring;

#[cfg(not(target_arch = "wasm32"))]
mod native {
    use alloc::boxed::Box;
    use alloc::format;
    use alloc::vec;
    use alloc::vec::Vec;
    use core::fmt;

    use super::KmsRsaRules;
    use crate::context::EncryptionContext;
    use crate::crypto::DataKey;
    use crate::error::{DecryptError, EncryptError};
    use crate::format::{EncryptedDataKey, Header};
    use crate::keyring::kms::{KmsClient, KmsEncryptionAlgorithm, KmsKeyError};
    use crate::keyring::rsa_native::PublicKey;
    use crate::keyring::{Keyring, OaepHash};

    /// The AWS KMS RSA keyring natively: wraps with the KMS key's public key (SPKI DER, as
    /// `GetPublicKey` returns it), unwraps through the caller's [`KmsClient`]. It refuses
    /// signed suites on both sides, as the MPL does.
    pub struct AwsKmsRsaKeyring {
        rules: KmsRsaRules,
        public: Option<PublicKey>,
        client: Option<Box<dyn KmsClient>>,
    }

    impl AwsKmsRsaKeyring {
        /// A keyring for `key_arn`. `public_key` (SPKI DER) is needed to encrypt, `client` to
        /// decrypt; give at least one ("A publicKey or a kmsClient is required").
        pub fn new(
            key_arn: &str,
            algorithm: KmsEncryptionAlgorithm,
            public_key: Option<&[u8]>,
            client: Option<Box<dyn KmsClient>>,
        ) -> Result<Self, KmsKeyError> {
            let rules = KmsRsaRules::new(key_arn, algorithm)?;
            if public_key.is_none() && client.is_none() {
                return Err(KmsKeyError::InvalidPublicKey(
                    "a public key or a KMS client is required".into(),
                ));
            }
            let public = public_key
                .map(|der| {
                    PublicKey::from_spki_der(der).map_err(|_| {
                        KmsKeyError::InvalidPublicKey("not an RSA key of 2048 to 8192 bits".into())
                    })
                })
                .transpose()?;
            Ok(Self { rules, public, client })
        }

        /// The rules (key ARN, encryption algorithm).
        pub fn rules(&self) -> &KmsRsaRules {
            &self.rules
        }
    }

    impl Keyring for AwsKmsRsaKeyring {
        fn wrap(
            &self,
            data_key: &DataKey,
            context: &EncryptionContext,
        ) -> Result<Vec<EncryptedDataKey>, EncryptError> {
            let public = self.public.as_ref().ok_or_else(|| {
                EncryptError::Keyring(
                    "an AWS KMS RSA keyring without a public key cannot encrypt".into(),
                )
            })?;
            let plaintext = self.rules.wrap_plaintext(data_key, context)?;
            let hash = match self.rules.encryption_algorithm() {
                KmsEncryptionAlgorithm::RsaesOaepSha1 => OaepHash::Sha1,
                KmsEncryptionAlgorithm::RsaesOaepSha256 => OaepHash::Sha256,
            };
            let ciphertext = public.encrypt(hash, &plaintext)?;
            Ok(vec![self.rules.encrypted_data_key(ciphertext)])
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
            let Some(client) = &self.client else {
                let msg = "an AWS KMS RSA keyring without a KMS client cannot decrypt";
                return Some(Err(DecryptError::Keyring(msg.into())));
            };
            Some(match client.call(&request) {
                Ok(response) => self.rules.data_key(&response, header),
                Err(err) => Err(DecryptError::Keyring(format!("AWS KMS Decrypt: {err}"))),
            })
        }
    }

    impl fmt::Debug for AwsKmsRsaKeyring {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.debug_struct("AwsKmsRsaKeyring")
                .field("rules", &self.rules)
                .field("public_key", &self.public.is_some())
                .field("client", &self.client.is_some())
                .finish_non_exhaustive()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ARN: &str = "arn:aws:kms:us-east-1:000000000000:key/1234abcd-12ab-34cd-56ef-1234567890ab";

    fn rules() -> KmsRsaRules {
        KmsRsaRules::new(ARN, KmsEncryptionAlgorithm::RsaesOaepSha256).expect("valid ARN")
    }

    #[test]
    fn key_arn_rules() {
        let alg = KmsEncryptionAlgorithm::RsaesOaepSha1;
        for bad in [
            "1234abcd-12ab-34cd-56ef-1234567890ab",
            "alias/files",
            "arn:aws:kms:us-east-1:000000000000:alias/files",
            "arn:aws:s3:us-east-1:000000000000:key/x",
            "arn:aws:kms::000000000000:key/x",
            "arn:aws:kms:us-east-1:000000000000:key/",
            "arn:aws:kms:us-east-1:000000000000:key",
            "arn:aws:kms:us-east-1:000000000000:key/x:y",
            "arn:aws:kms:us-east-1:000000000000:key/é",
        ] {
            assert!(KmsRsaRules::new(bad, alg).is_err(), "{bad}");
        }
        assert!(KmsRsaRules::new(ARN, alg).is_ok());
        assert!("RSAES_OAEP_SHA_512".parse::<KmsEncryptionAlgorithm>().is_err());
        assert!("rsaes_oaep_sha_256".parse::<KmsEncryptionAlgorithm>().is_err());
    }

    #[test]
    fn mrk_match_for_decrypt() {
        let a = "arn:aws:kms:us-east-1:111122223333:key/mrk-1234";
        let b = "arn:aws:kms:eu-west-1:111122223333:key/mrk-1234";
        let c = "arn:aws:kms:eu-west-1:111122223333:key/1234";
        let d = "arn:aws:kms:us-east-1:111122223333:key/1234";
        let p = |s| KmsArn::parse(s).expect("ARN");
        assert!(p(a).mrk_match(&p(b)));
        assert!(!p(c).mrk_match(&p(d)));
        assert!(p(d).mrk_match(&p(d)));
    }

    #[test]
    fn request_body() {
        let edk = rules().encrypted_data_key(alloc::vec![1, 2, 3]);
        assert_eq!(edk.provider_id, "aws-kms-rsa");
        assert_eq!(edk.provider_info, ARN.as_bytes());
        let request = KmsRequest::Decrypt {
            key_id: ARN,
            ciphertext_blob: &edk.ciphertext,
            encryption_algorithm: Some(KmsEncryptionAlgorithm::RsaesOaepSha256),
            encryption_context: None,
            grant_tokens: &[],
        };
        assert_eq!(
            *request.to_json(),
            format!(
                "{{\"CiphertextBlob\":\"AQID\",\"EncryptionAlgorithm\":\"RSAES_OAEP_SHA_256\",\
                 \"KeyId\":\"{ARN}\"}}"
            )
        );
        assert_eq!(json_string("a\"b\\\n"), "\"a\\\"b\\\\\\u000a\"");
    }

    #[test]
    fn wrap_plaintext_is_context_digest_then_key() {
        let key = DataKey::from_slice(&[7; 32]);
        let context: EncryptionContext = [("a".to_string(), "b".to_string())].into();
        let p = rules().wrap_plaintext(&key, &context).expect("unsigned suite");
        // 00 01 | 00 01 'a' | 00 01 'b'
        let digest = Sha384::digest([0, 1, 0, 1, b'a', 0, 1, b'b']);
        assert_eq!(&p[..48], &digest[..]);
        assert_eq!(&p[48..], &[7; 32]);
        // The empty context serializes to nothing: SHA-384 of the empty string.
        let empty = rules().wrap_plaintext(&key, &EncryptionContext::new()).expect("ok");
        assert_eq!(&empty[..48], &Sha384::digest(b"")[..]);
        let mut signed = context.clone();
        signed.insert(PUBLIC_KEY_ENTRY.into(), "Ay...".into());
        assert!(matches!(rules().wrap_plaintext(&key, &signed), Err(EncryptError::Keyring(_))));
    }
}

/// The native keyring end to end, with a [`KmsClient`] that answers as KMS would from a local
/// private key (the KMS side of the interop is tests/kms/run.py, against a real server).
#[cfg(all(test, not(target_arch = "wasm32")))]
mod keyring_tests {
    use alloc::boxed::Box;
    use alloc::string::{String, ToString};
    use alloc::vec::Vec;
    use core::cell::Cell;

    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;

    use super::*;
    use crate::keyring::rsa_native::PrivateKey;
    use crate::keyring::{KmsCallError, KmsClient, OaepHash};
    use crate::{
        AlgorithmSuite, AwsKmsRsaKeyring, DecryptOptions, EncryptOptions, Keyring, decrypt, encrypt,
    };

    const ARN: &str = "arn:aws:kms:eu-west-1:111122223333:key/mrk-0123";
    const PEM: &[u8] = include_bytes!("../../tests/data/rsa-2048.pem");

    /// Decrypts like KMS; `answer_key_id` is the `KeyId` it answers with.
    struct LocalKms {
        private: PrivateKey,
        answer_key_id: String,
        calls: Cell<usize>,
    }

    impl KmsClient for LocalKms {
        fn call(&self, request: &KmsRequest<'_>) -> Result<KmsResponse, KmsCallError> {
            self.calls.set(self.calls.get() + 1);
            let KmsRequest::Decrypt {
                key_id,
                ciphertext_blob,
                encryption_algorithm: Some(alg),
                encryption_context: None,
                ..
            } = *request
            else {
                panic!("the RSA keyring only calls Decrypt, with an algorithm: {request:?}");
            };
            assert_eq!(key_id, ARN);
            let hash = match alg {
                KmsEncryptionAlgorithm::RsaesOaepSha1 => OaepHash::Sha1,
                KmsEncryptionAlgorithm::RsaesOaepSha256 => OaepHash::Sha256,
            };
            let plain = self
                .private
                .decrypt(hash, ciphertext_blob, CONTEXT_DIGEST_LEN + 32)
                .map_err(|_| KmsCallError {
                    code: "InvalidCiphertextException".into(),
                    message: String::new(),
                })?;
            let plain = STANDARD.encode(&*plain);
            Ok(KmsResponse::new(Some(&self.answer_key_id), Some(&plain), None))
        }
    }

    fn private() -> PrivateKey {
        let (_, der) = pem_rfc7468::decode_vec(PEM).expect("PEM");
        PrivateKey::from_pkcs8_der(&der)
            .or_else(|_| PrivateKey::from_pkcs1_der(&der))
            .expect("an RSA key")
    }

    fn spki() -> Vec<u8> {
        let pem = include_bytes!("../../tests/data/rsa-2048.pub.pem");
        pem_rfc7468::decode_vec(pem).expect("PEM").1
    }

    fn keyring(answer_key_id: &str, alg: KmsEncryptionAlgorithm) -> AwsKmsRsaKeyring {
        let kms =
            LocalKms { private: private(), answer_key_id: answer_key_id.into(), calls: 0.into() };
        AwsKmsRsaKeyring::new(ARN, alg, Some(&spki()), Some(Box::new(kms))).expect("keyring")
    }

    fn options(context: &[(&str, &str)]) -> EncryptOptions {
        EncryptOptions {
            suite: AlgorithmSuite::AES_256_GCM_HKDF_SHA512_COMMIT_KEY,
            encryption_context: context
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..EncryptOptions::default()
        }
    }

    #[test]
    fn round_trip_with_both_algorithms() {
        for alg in [KmsEncryptionAlgorithm::RsaesOaepSha1, KmsEncryptionAlgorithm::RsaesOaepSha256]
        {
            let ring = keyring(ARN, alg);
            let message = encrypt(&ring, b"kms rsa", &options(&[("a", "b")])).expect("encrypt");
            let (plain, header) =
                decrypt(&ring, &message, DecryptOptions::default()).expect("decrypt");
            assert_eq!(plain, b"kms rsa");
            let edk = &header.encrypted_data_keys()[0];
            assert_eq!(
                (edk.provider_id.as_str(), edk.provider_info.as_slice()),
                ("aws-kms-rsa", ARN.as_bytes())
            );
        }
    }

    #[test]
    fn answers_are_checked() {
        let alg = KmsEncryptionAlgorithm::RsaesOaepSha256;
        let message = encrypt(&keyring(ARN, alg), b"x", &options(&[])).expect("encrypt");
        // KMS answering for another key: "Invalid response from KMS Decrypt".
        let other = "arn:aws:kms:eu-west-1:111122223333:key/other";
        match decrypt(&keyring(other, alg), &message, DecryptOptions::default()) {
            Err(DecryptError::Keyring(msg)) => assert!(msg.contains("invalid response"), "{msg}"),
            other => panic!("{other:?}"),
        }
        // A signed suite: refused on encrypt.
        let signed =
            EncryptOptions { encryption_context: Default::default(), ..EncryptOptions::default() };
        assert!(matches!(
            encrypt(&keyring(ARN, alg), b"x", &signed),
            Err(EncryptError::Keyring(_))
        ));
    }

    #[test]
    fn a_changed_context_fails_the_digest() {
        let alg = KmsEncryptionAlgorithm::RsaesOaepSha256;
        let ring = keyring(ARN, alg);
        let message = encrypt(&ring, b"x", &options(&[("tenant", "acme")])).expect("encrypt");
        let (header, _) = Header::parse(&message, &crate::Limits::default()).expect("header");
        let mut forged = header.clone();
        forged.context.insert("tenant".into(), "evil".into());
        let edk = &header.encrypted_data_keys()[0];
        assert!(matches!(ring.unwrap(edk, &forged), Some(Err(DecryptError::UnwrapFailed))));
        assert!(ring.unwrap(edk, &header).is_some_and(|r| r.is_ok()));
    }

    #[test]
    fn which_edks_are_candidates() {
        let ring = keyring(ARN, KmsEncryptionAlgorithm::RsaesOaepSha256);
        let message = encrypt(&ring, b"x", &options(&[])).expect("encrypt");
        let (header, _) = Header::parse(&message, &crate::Limits::default()).expect("header");
        let edk = header.encrypted_data_keys()[0].clone();
        let with_info = |info: &str| EncryptedDataKey {
            provider_info: info.as_bytes().to_vec(),
            ..edk.clone()
        };
        let rules = ring.rules();
        // The same multi-Region key in another region matches; another key does not.
        let replica = "arn:aws:kms:us-west-2:111122223333:key/mrk-0123";
        assert!(rules.decrypt_request(&with_info(replica), &header).is_some_and(|r| r.is_ok()));
        assert!(
            rules
                .decrypt_request(
                    &with_info("arn:aws:kms:eu-west-1:111122223333:key/mrk-9"),
                    &header
                )
                .is_none()
        );
        // Provider information that is no KMS ARN is an error, another provider ID not ours.
        assert!(matches!(
            rules.decrypt_request(&with_info("acme"), &header),
            Some(Err(DecryptError::Keyring(_)))
        ));
        let raw = EncryptedDataKey { provider_id: "aws-kms".into(), ..edk.clone() };
        assert!(rules.decrypt_request(&raw, &header).is_none());
        let empty = EncryptedDataKey { ciphertext: Vec::new(), ..edk };
        assert!(matches!(
            rules.decrypt_request(&empty, &header),
            Some(Err(DecryptError::Keyring(_)))
        ));
    }
}
