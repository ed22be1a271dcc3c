//! The AWS KMS keyrings' rules for JS: [`KmsRsaRules`] and [`KmsSymmetricRules`] over the
//! core's. The JS glue (`pkg-template/lib/kms.js`) does the RSA-OAEP encryption (WebCrypto)
//! and the KMS calls (`fetch`, SigV4 or a bearer token); every decision about EDKs, requests
//! and answers is made here. These bindings are the `cipherdrop_kms` module's, apart from the
//! message core's: an encryption's suite, context and data key come in as JS values (from the
//! main module's `PendingEncryptor`), a generated data key goes out as a JS array.

use alloc::string::String;
use alloc::vec::Vec;

use js_sys::{Object, Uint8Array};
use wasm_bindgen::prelude::*;
use zeroize::Zeroize;

use super::convert::{context_from_js, edk_to_js, key_to_js, set};
use super::error::{decrypt_error, encrypt_error, js_error};
use crate::{
    AlgorithmSuite, DataKey, EncryptError, EncryptedDataKey, Header, KMS_PROVIDER_ID,
    KMS_RSA_PROVIDER_ID, KmsEncryptionAlgorithm, KmsKeyError, KmsResponse, Limits,
};

/// The rules of one AWS KMS RSA keyring (key ARN and encryption algorithm).
#[wasm_bindgen]
#[derive(Debug)]
pub struct KmsRsaRules {
    inner: crate::KmsRsaRules,
}

#[wasm_bindgen]
impl KmsRsaRules {
    /// Rules for `key_arn` (a KMS key ARN) and `encryption_algorithm` (`RSAES_OAEP_SHA_256`
    /// or `RSAES_OAEP_SHA_1`). Throws a `"key"` error: `INVALID_KEY_ARN` or
    /// `UNSUPPORTED_ENCRYPTION_ALGORITHM`.
    #[wasm_bindgen(constructor)]
    pub fn new(key_arn: &str, encryption_algorithm: &str) -> Result<KmsRsaRules, JsValue> {
        let algorithm: KmsEncryptionAlgorithm =
            encryption_algorithm.parse().map_err(|e| key_error(&e))?;
        crate::KmsRsaRules::new(key_arn, algorithm)
            .map(|inner| Self { inner })
            .map_err(|e| key_error(&e))
    }

    /// The key ARN (the EDKs' provider information).
    #[wasm_bindgen(getter, js_name = keyArn)]
    pub fn key_arn(&self) -> String {
        self.inner.key_arn().into()
    }

    /// The EDK provider ID, `aws-kms-rsa`.
    #[wasm_bindgen(getter, js_name = providerId)]
    pub fn provider_id(&self) -> String {
        KMS_RSA_PROVIDER_ID.into()
    }

    /// The region the ARN names (the SigV4 credential scope's).
    #[wasm_bindgen(getter)]
    pub fn region(&self) -> String {
        self.inner.region().into()
    }

    /// The KMS encryption algorithm.
    #[wasm_bindgen(getter, js_name = encryptionAlgorithm)]
    pub fn encryption_algorithm(&self) -> String {
        self.inner.encryption_algorithm().as_str().into()
    }

    /// The OAEP hash in WebCrypto spelling (`SHA-1` or `SHA-256`).
    #[wasm_bindgen(getter, js_name = oaepHash)]
    pub fn oaep_hash(&self) -> String {
        self.inner.encryption_algorithm().oaep_hash_name().into()
    }

    /// The JSON body of `TrentService.GetPublicKey` for this key.
    #[wasm_bindgen(js_name = publicKeyRequest)]
    pub fn public_key_request(&self) -> String {
        self.inner.public_key_request_json()
    }

    /// Checks a GetPublicKey answer's `KeyUsage` and `EncryptionAlgorithms` (either may be
    /// `undefined`); throws a `"key"` error `INVALID_PUBLIC_KEY`.
    #[wasm_bindgen(js_name = checkPublicKeyDescription)]
    pub fn check_public_key_description(
        &self,
        key_usage: Option<String>,
        encryption_algorithms: Option<Vec<String>>,
    ) -> Result<(), JsValue> {
        let algs: Option<Vec<&str>> =
            encryption_algorithms.as_ref().map(|a| a.iter().map(String::as_str).collect());
        self.inner
            .check_public_key_description(key_usage.as_deref(), algs.as_deref())
            .map_err(|e| key_error(&e))
    }

    /// The RSA-OAEP plaintext for a message's data key (`data_key`, which this zero-fills:
    /// pass a copy) of suite `suite_id` whose header will hold `context`: the context digest,
    /// then the key. Throws an `"encrypt"` error `KEYRING` for a signed suite. The caller
    /// MUST zero-fill the result.
    #[wasm_bindgen(js_name = wrapPlaintext)]
    pub fn wrap_plaintext(
        &self,
        suite_id: u16,
        context: JsValue,
        data_key: &mut [u8],
    ) -> Result<Uint8Array, JsValue> {
        let data_key = take_data_key(data_key);
        // The suite only decides whether the keyring refuses (signed suites).
        suite_of(suite_id)?;
        let plaintext = self
            .inner
            .wrap_plaintext(&data_key, &context_from_js(&context)?)
            .map_err(|e| encrypt_error(&e))?;
        Ok(key_to_js(&plaintext))
    }

    /// The body of `TrentService.Decrypt` for one EDK of the (serialized) header, or
    /// `undefined` when the EDK is not this keyring's. Throws a `"decrypt"` error `KEYRING`
    /// when the keyring refuses it (a signed suite, provider information that is not an ARN,
    /// a ciphertext KMS cannot take).
    #[wasm_bindgen(js_name = decryptRequest)]
    pub fn decrypt_request(
        &self,
        header_bytes: &[u8],
        provider_id: String,
        provider_info: String,
        ciphertext: Vec<u8>,
    ) -> Result<Option<String>, JsValue> {
        let header = parse_header(header_bytes)?;
        let edk =
            EncryptedDataKey { provider_id, provider_info: provider_info.into_bytes(), ciphertext };
        match self.inner.decrypt_request(&edk, &header) {
            None => Ok(None),
            Some(Ok(request)) => Ok(Some(request.to_json().to_string())),
            Some(Err(e)) => Err(decrypt_error(&e)),
        }
    }

    /// The data key from a Decrypt answer's `KeyId` and `Plaintext` (base64) members, checked
    /// against the configured ARN and the header's encryption context. Throws a `"decrypt"`
    /// error: `KEYRING` (not an answer for this key) or `UNWRAP_FAILED`. The caller MUST
    /// zero-fill the key once used.
    #[wasm_bindgen(js_name = dataKey)]
    pub fn data_key(
        &self,
        header_bytes: &[u8],
        key_id: Option<String>,
        plaintext_base64: Option<String>,
    ) -> Result<Uint8Array, JsValue> {
        let header = parse_header(header_bytes)?;
        let mut plaintext_base64 = plaintext_base64;
        let response = KmsResponse::new(key_id.as_deref(), plaintext_base64.as_deref(), None);
        plaintext_base64.zeroize();
        let key = self.inner.data_key(&response, &header).map_err(|e| decrypt_error(&e))?;
        Ok(key_to_js(key.dangerous_as_bytes()))
    }
}

/// The rules of one AWS KMS keyring for a symmetric key (key ARN and grant tokens).
#[wasm_bindgen]
#[derive(Debug)]
pub struct KmsSymmetricRules {
    inner: crate::KmsSymmetricRules,
}

#[wasm_bindgen]
impl KmsSymmetricRules {
    /// Rules for `key_arn` (a KMS key ARN) whose requests carry `grant_tokens`. Throws a
    /// `"key"` error `INVALID_KEY_ARN`.
    #[wasm_bindgen(constructor)]
    pub fn new(key_arn: &str, grant_tokens: Vec<String>) -> Result<KmsSymmetricRules, JsValue> {
        crate::KmsSymmetricRules::new(key_arn, grant_tokens)
            .map(|inner| Self { inner })
            .map_err(|e| key_error(&e))
    }

    /// The key ARN (the EDKs' provider information).
    #[wasm_bindgen(getter, js_name = keyArn)]
    pub fn key_arn(&self) -> String {
        self.inner.key_arn().into()
    }

    /// The EDK provider ID, `aws-kms`.
    #[wasm_bindgen(getter, js_name = providerId)]
    pub fn provider_id(&self) -> String {
        KMS_PROVIDER_ID.into()
    }

    /// The region the ARN names (the SigV4 credential scope's).
    #[wasm_bindgen(getter)]
    pub fn region(&self) -> String {
        self.inner.region().into()
    }

    /// The JSON body of `TrentService.GenerateDataKey` for a message of suite `suite_id`
    /// whose header will hold `context`.
    #[wasm_bindgen(js_name = generateDataKeyRequest)]
    pub fn generate_data_key_request(
        &self,
        suite_id: u16,
        context: JsValue,
    ) -> Result<String, JsValue> {
        let context = context_from_js(&context)?;
        let request = self.inner.generate_data_key_request(suite_of(suite_id)?, &context);
        Ok(request.to_json().to_string())
    }

    /// Checks a GenerateDataKey answer (`KeyId`, `Plaintext` and `CiphertextBlob`, base64)
    /// for a message of suite `suite_id`: `{ dataKey, edk }`. Throws an `"encrypt"` error
    /// `KEYRING` for an answer that is not a data key of the suite's length under a key ARN.
    /// The caller MUST zero-fill `dataKey` once it is the message's.
    pub fn generated(
        &self,
        suite_id: u16,
        key_id: Option<String>,
        plaintext_base64: Option<String>,
        ciphertext_blob_base64: Option<String>,
    ) -> Result<JsValue, JsValue> {
        let mut plaintext_base64 = plaintext_base64;
        let response = KmsResponse::new(
            key_id.as_deref(),
            plaintext_base64.as_deref(),
            ciphertext_blob_base64.as_deref(),
        );
        plaintext_base64.zeroize();
        let (data_key, edk) =
            self.inner.generated(&response, suite_of(suite_id)?).map_err(|e| encrypt_error(&e))?;
        let out = Object::new();
        set(&out, "dataKey", &key_to_js(data_key.dangerous_as_bytes()).into());
        set(&out, "edk", &edk_to_js(&edk, true));
        Ok(out.into())
    }

    /// The JSON body of `TrentService.Encrypt` of a message's data key (`data_key`, which
    /// this zero-fills: pass a copy) whose header will hold `context`. It holds the data key:
    /// the caller sends it and drops it.
    #[wasm_bindgen(js_name = encryptRequest)]
    pub fn encrypt_request(
        &self,
        context: JsValue,
        data_key: &mut [u8],
    ) -> Result<String, JsValue> {
        let data_key = take_data_key(data_key);
        let context = context_from_js(&context)?;
        Ok(self.inner.encrypt_request(&data_key, &context).to_json().to_string())
    }

    /// The EDK of an Encrypt answer (`KeyId`, `CiphertextBlob` base64). Throws an `"encrypt"`
    /// error `KEYRING` for an answer without a key ARN or a ciphertext.
    pub fn encrypted(
        &self,
        key_id: Option<String>,
        ciphertext_blob_base64: Option<String>,
    ) -> Result<JsValue, JsValue> {
        let response = KmsResponse::new(key_id.as_deref(), None, ciphertext_blob_base64.as_deref());
        let edk = self.inner.encrypted(&response).map_err(|e| encrypt_error(&e))?;
        Ok(edk_to_js(&edk, true))
    }

    /// The body of `TrentService.Decrypt` for one EDK of the (serialized) header, or
    /// `undefined` when the EDK is not this keyring's. Throws a `"decrypt"` error `KEYRING`
    /// for provider information that is not a key ARN or a ciphertext KMS cannot take.
    #[wasm_bindgen(js_name = decryptRequest)]
    pub fn decrypt_request(
        &self,
        header_bytes: &[u8],
        provider_id: String,
        provider_info: String,
        ciphertext: Vec<u8>,
    ) -> Result<Option<String>, JsValue> {
        let header = parse_header(header_bytes)?;
        let edk =
            EncryptedDataKey { provider_id, provider_info: provider_info.into_bytes(), ciphertext };
        match self.inner.decrypt_request(&edk, &header) {
            None => Ok(None),
            Some(Ok(request)) => Ok(Some(request.to_json().to_string())),
            Some(Err(e)) => Err(decrypt_error(&e)),
        }
    }

    /// The data key from a Decrypt answer's `KeyId` and `Plaintext` (base64): the configured
    /// ARN's, of the header suite's length. Throws a `"decrypt"` error `KEYRING` otherwise.
    /// The caller MUST zero-fill the key once used.
    #[wasm_bindgen(js_name = dataKey)]
    pub fn data_key(
        &self,
        header_bytes: &[u8],
        key_id: Option<String>,
        plaintext_base64: Option<String>,
    ) -> Result<Uint8Array, JsValue> {
        let header = parse_header(header_bytes)?;
        let mut plaintext_base64 = plaintext_base64;
        let response = KmsResponse::new(key_id.as_deref(), plaintext_base64.as_deref(), None);
        plaintext_base64.zeroize();
        let key = self.inner.data_key(&response, &header).map_err(|e| decrypt_error(&e))?;
        Ok(key_to_js(key.dangerous_as_bytes()))
    }
}

/// A data key handed over from the main module's PendingEncryptor (data keys cross between
/// the two modules as JS arrays): copied, then zeroed here and, on return, in the caller's
/// array.
fn take_data_key(bytes: &mut [u8]) -> DataKey {
    let key = DataKey::from_slice(bytes);
    bytes.zeroize();
    key
}

/// The suite of an encryption the main module's PendingEncryptor started.
fn suite_of(id: u16) -> Result<AlgorithmSuite, JsValue> {
    AlgorithmSuite::from_id(id).ok_or_else(|| encrypt_error(&EncryptError::UnsupportedSuite(id)))
}

/// The header the decryptor already parsed (and bounded by its limits), parsed again here.
fn parse_header(bytes: &[u8]) -> Result<Header, JsValue> {
    let limits = Limits {
        max_encrypted_data_keys: usize::from(u16::MAX),
        max_header_len: bytes.len(),
        ..Limits::default()
    };
    match Header::parse(bytes, &limits) {
        Ok((header, _)) => Ok(header),
        Err(e) => Err(decrypt_error(&e)),
    }
}

/// A `"key"` error of the KMS configuration.
fn key_error(err: &KmsKeyError) -> JsValue {
    let code = match err {
        KmsKeyError::InvalidKeyArn(_) => "INVALID_KEY_ARN",
        KmsKeyError::UnsupportedEncryptionAlgorithm(_) => "UNSUPPORTED_ENCRYPTION_ALGORITHM",
        KmsKeyError::InvalidPublicKey(_) => "INVALID_PUBLIC_KEY",
    };
    js_error("key", code, &err.to_string(), &[])
}
