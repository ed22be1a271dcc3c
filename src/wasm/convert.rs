//! Conversions between JS values and core types.

use js_sys::{Array, Object, Reflect, Uint8Array};
use wasm_bindgen::{JsCast, JsValue};

use zeroize::Zeroize;

use crate::{Attempt, DataKey, EncryptedDataKey, EncryptionContext, Header, KeyDerivation};

/// A `TypeError` for a JS value of the wrong shape.
pub(crate) fn type_error(message: &str) -> JsValue {
    js_sys::TypeError::new(message).into()
}

/// Reads an encryption context from `undefined`, `null` or an object of string values.
pub(crate) fn context_from_js(value: &JsValue) -> Result<EncryptionContext, JsValue> {
    let mut context = EncryptionContext::new();
    if value.is_undefined() || value.is_null() {
        return Ok(context);
    }
    if !value.is_object() {
        return Err(type_error("an encryption context must be an object of strings"));
    }
    for entry in Object::entries(value.unchecked_ref()).iter() {
        let pair: Array = entry.unchecked_into();
        let (key, value) = (pair.get(0), pair.get(1));
        let (Some(key), Some(value)) = (key.as_string(), value.as_string()) else {
            return Err(type_error("encryption context values must be strings"));
        };
        context.insert(key, value);
    }
    Ok(context)
}

/// An object with the context's pairs as own properties (`__proto__` included, as data).
pub(crate) fn context_to_js(context: &EncryptionContext) -> JsValue {
    let entries: Array =
        context.iter().map(|(k, v)| Array::of2(&k.as_str().into(), &v.as_str().into())).collect();
    // `Object.fromEntries` of an array of pairs cannot throw.
    Object::from_entries(&entries).map(JsValue::from).unwrap_or(JsValue::UNDEFINED)
}

pub(crate) fn set(target: &Object, key: &str, value: &JsValue) {
    // A data property on a fresh plain object: cannot fail.
    let _ = Reflect::set(target, &key.into(), value);
}

/// `{ providerId, providerInfo }`, plus `ciphertext` when `with_ciphertext`.
pub(crate) fn edk_to_js(edk: &EncryptedDataKey, with_ciphertext: bool) -> JsValue {
    let obj = Object::new();
    set(&obj, "providerId", &edk.provider_id.as_str().into());
    set(&obj, "providerInfo", &String::from_utf8_lossy(&edk.provider_info).as_ref().into());
    if with_ciphertext {
        set(&obj, "ciphertext", &Uint8Array::from(edk.ciphertext.as_slice()).into());
    }
    obj.into()
}

/// The header fields the package reports as `messageHeader`.
pub(crate) fn header_to_js(header: &Header) -> JsValue {
    let obj = Object::new();
    set(&obj, "encryptionContext", &context_to_js(header.encryption_context()));
    set(&obj, "suiteId", &header.suite().id().into());
    set(&obj, "frameLength", &header.frame_length().into());
    let edks: Array =
        header.encrypted_data_keys().iter().map(|edk| edk_to_js(edk, false)).collect();
    set(&obj, "encryptedDataKeys", &edks.into());
    obj.into()
}

/// A JS keyring's `unwrap` result as an attempt: `null` or `undefined` is not its EDK; a
/// Uint8Array is copied into a data key and zero-filled, as is the copy in this module.
pub(crate) fn attempt_from_js_key(key: &JsValue) -> Result<Attempt<JsValue>, JsValue> {
    if key.is_null() || key.is_undefined() {
        return Ok(Attempt::NotMine);
    }
    let bytes: &Uint8Array =
        key.dyn_ref().ok_or_else(|| type_error("unwrap() must return a Uint8Array or null"))?;
    let mut copy = bytes.to_vec();
    bytes.fill(0, 0, bytes.length());
    let data_key = DataKey::from_slice(&copy);
    copy.zeroize();
    Ok(Attempt::Key(data_key))
}

/// An error a JS keyring's `unwrap` threw, by its `code` (the keyring interface of
/// `pkg-template/index.d.ts`): `KEYRING` is a refusal (kept as thrown); `UNWRAP_FAILED` a
/// failed attempt whose message is a note on the keyring's setup; anything else (a network
/// error, a bug in a custom keyring) a failed attempt without a note.
pub(crate) fn attempt_from_js_error(err: JsValue) -> Attempt<JsValue> {
    let field = |key: &str| Reflect::get(&err, &key.into()).ok().and_then(|v| v.as_string());
    match field("code").as_deref() {
        Some("KEYRING") => Attempt::Refused(err),
        Some("UNWRAP_FAILED") => Attempt::Failed(field("message")),
        _ => Attempt::Failed(None),
    }
}

/// Reads EDKs `[{ providerId, providerInfo, ciphertext }]` (test hook of fixed secrets).
pub(crate) fn edks_from_js(value: &JsValue) -> Result<alloc::vec::Vec<EncryptedDataKey>, JsValue> {
    let shape = || type_error("EDKs must be [{ providerId, providerInfo, ciphertext }]");
    let array: &Array = value.dyn_ref().ok_or_else(shape)?;
    array
        .iter()
        .map(|edk| {
            let get = |key: &str| Reflect::get(&edk, &key.into()).map_err(|_| shape());
            let provider_id = get("providerId")?.as_string().ok_or_else(shape)?;
            let provider_info = get("providerInfo")?.as_string().ok_or_else(shape)?.into_bytes();
            let ciphertext: Uint8Array = get("ciphertext")?.dyn_into().map_err(|_| shape())?;
            Ok(EncryptedDataKey { provider_id, provider_info, ciphertext: ciphertext.to_vec() })
        })
        .collect()
}

/// Packs a frame job into `out`, a buffer of the module that JS reads in place (no
/// allocation per frame); returns its address. Byte 0: flags (1: final frame, 2: hold until
/// the signature verified); bytes 1..5 the sequence number, 5..9 the plaintext length, 9..11
/// the AAD length (big-endian); then the 12-byte IV and the AAD. `pkg-template/lib/frames.js`
/// `jobAt` reads it, before the next call into the module.
pub(crate) fn pack_job(job: &crate::FrameJob, out: &mut Vec<u8>) -> Result<usize, JsValue> {
    let len = u32::try_from(job.plaintext_len())
        .map_err(|_| type_error("frames of 4 GiB or more are not supported here"))?;
    let aad_len = u16::try_from(job.aad().len()).map_err(|_| type_error("frame AAD too long"))?;
    out.clear();
    out.push(u8::from(job.is_final()) | (u8::from(job.hold()) << 1));
    out.extend_from_slice(&job.sequence().to_be_bytes());
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&aad_len.to_be_bytes());
    out.extend_from_slice(job.iv());
    out.extend_from_slice(job.aad());
    Ok(out.as_ptr() as usize)
}

/// A key's bytes as a fresh Uint8Array; the wasm copy is zeroized by the caller's drop.
pub(crate) fn key_to_js(key: &[u8]) -> Uint8Array {
    Uint8Array::from(key)
}

/// A key derivation recipe for WebCrypto's HKDF or node:crypto's `hkdfSync`: `{ hash,
/// salt, keyInfo, commitInfo, keyLength }` (`hash` a WebCrypto name, `undefined` when the
/// data key is the content key; `salt` and `commitInfo` `undefined` when there is none).
#[cfg_attr(feature = "builtin-crypto", allow(dead_code))]
pub(crate) fn derivation_to_js(recipe: &KeyDerivation) -> Object {
    let obj = Object::new();
    let bytes = |b: &[u8]| JsValue::from(Uint8Array::from(b));
    set(&obj, "hash", &recipe.hash.map_or(JsValue::UNDEFINED, |h| h.name().into()));
    set(&obj, "salt", &recipe.salt.as_deref().map_or(JsValue::UNDEFINED, bytes));
    set(&obj, "keyInfo", &bytes(&recipe.key_info));
    set(&obj, "commitInfo", &recipe.commit_info.map_or(JsValue::UNDEFINED, bytes));
    set(&obj, "keyLength", &recipe.key_len.into());
    obj
}
