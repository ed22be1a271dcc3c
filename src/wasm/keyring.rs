//! Wrapping keys: the public half of JS keyrings. Wrap runs here, unwrap runs in JS.

use alloc::rc::Rc;

use wasm_bindgen::prelude::*;

use super::error::{encrypt_error, key_error};
use crate::{
    DataKey, DecryptError, EncryptError, EncryptedDataKey, EncryptionContext, Header, Keyring,
    MultiKeyring, OaepHash, RawRsaKeyring,
};

/// One public wrapping key: a wrap-only [`RawRsaKeyring`].
#[wasm_bindgen]
#[derive(Debug)]
pub struct WrappingKey {
    inner: Rc<RawRsaKeyring>,
}

impl From<RawRsaKeyring> for WrappingKey {
    fn from(inner: RawRsaKeyring) -> Self {
        Self { inner: Rc::new(inner) }
    }
}

#[wasm_bindgen]
impl WrappingKey {
    /// An RSA-OAEP wrapping key from an SPKI DER public key. `oaep_hash` is one of `sha1`,
    /// `sha256`, `sha384`, `sha512` (also spelled `SHA-256`).
    #[wasm_bindgen(js_name = rsaOaep)]
    pub fn rsa_oaep(
        key_namespace: &str,
        key_name: &str,
        spki: &[u8],
        oaep_hash: &str,
    ) -> Result<WrappingKey, JsValue> {
        let hash: OaepHash = oaep_hash.parse().map_err(|e| key_error(&e))?;
        RawRsaKeyring::from_public_der(key_namespace, key_name, spki, hash)
            .map(Self::from)
            .map_err(|e| key_error(&e))
    }

    /// The key namespace (EDK provider ID).
    #[wasm_bindgen(getter, js_name = keyNamespace)]
    pub fn key_namespace(&self) -> String {
        self.inner.namespace().into()
    }

    /// The key name (EDK provider information).
    #[wasm_bindgen(getter, js_name = keyName)]
    pub fn key_name(&self) -> String {
        self.inner.name().into()
    }
}

/// Checks an OAEP hash name and returns its WebCrypto spelling (`SHA-1` ... `SHA-512`).
#[wasm_bindgen(js_name = oaepHash)]
pub fn oaep_hash(name: &str) -> Result<String, JsValue> {
    let hash: OaepHash = name.parse().map_err(|e| key_error(&e))?;
    Ok(match hash {
        OaepHash::Sha1 => "SHA-1",
        OaepHash::Sha256 => "SHA-256",
        OaepHash::Sha384 => "SHA-384",
        OaepHash::Sha512 => "SHA-512",
    }
    .into())
}

/// The wrapping keys of one encryption, in EDK order (a multi-keyring's generator first).
#[wasm_bindgen]
#[derive(Debug, Default)]
pub struct WrappingKeys {
    keys: Vec<Rc<RawRsaKeyring>>,
}

#[wasm_bindgen]
impl WrappingKeys {
    /// An empty list.
    #[wasm_bindgen(constructor)]
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a key (shared, not consumed: the JS object stays usable).
    pub fn add(&mut self, key: &WrappingKey) {
        self.keys.push(Rc::clone(&key.inner));
    }

    /// Number of keys.
    #[wasm_bindgen(getter)]
    pub fn length(&self) -> usize {
        self.keys.len()
    }
}

impl WrappingKeys {
    /// The keys as one core keyring: a [`MultiKeyring`] with the first key as generator.
    pub(crate) fn keyring(&self) -> Result<MultiKeyring, JsValue> {
        let mut keys = self.keys.iter().map(|k| Box::new(Shared(Rc::clone(k))) as Box<dyn Keyring>);
        let generator =
            keys.next().ok_or_else(|| encrypt_error(&EncryptError::EncryptedDataKeyCount(0)))?;
        Ok(MultiKeyring::new(generator, keys.collect()))
    }
}

/// A shared keyring as a `Box<dyn Keyring>`: delegates both methods.
struct Shared(Rc<RawRsaKeyring>);

impl Keyring for Shared {
    fn wrap(
        &self,
        data_key: &DataKey,
        context: &EncryptionContext,
    ) -> Result<Vec<EncryptedDataKey>, EncryptError> {
        self.0.wrap(data_key, context)
    }

    fn unwrap(
        &self,
        edk: &EncryptedDataKey,
        header: &Header,
    ) -> Option<Result<DataKey, DecryptError>> {
        self.0.unwrap(edk, header)
    }
}
