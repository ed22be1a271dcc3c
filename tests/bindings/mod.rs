//! Tests of the wasm bindings (`src/wasm/`), shared by `tests/web.rs` (Chromium) and
//! `tests/node.rs` (Node): they call the exported types as the package's JS glue does, with
//! WebCrypto RSA-OAEP for the wrap and the unwrap, and check the `kind`/`code` of every error they throw.

use cipherdrop::wasm::{
    Decryptor, Encryptor, FirstAnswer, PendingEncryptor, message_is_signed, signature_hash,
};
use js_sys::{Object, Reflect, Uint8Array};
use wasm_bindgen::prelude::*;
use wasm_bindgen_test::wasm_bindgen_test;

const PUBLIC_PEM: &str = include_str!("../data/rsa-2048.pub.pem");
const PRIVATE_PEM: &str = include_str!("../data/rsa-2048.pem");

#[wasm_bindgen(inline_js = "
export async function rsaWrap(spki, dataKey, hash) {
    const key = await crypto.subtle.importKey('spki', spki, { name: 'RSA-OAEP', hash }, false, ['encrypt']);
    const ciphertext = new Uint8Array(await crypto.subtle.encrypt({ name: 'RSA-OAEP' }, key, dataKey));
    return [{ providerId: 'acme', providerInfo: 'archive-2026', ciphertext }];
}
export async function rsaUnwrap(pkcs8, ciphertext, hash) {
    const key = await crypto.subtle.importKey('pkcs8', pkcs8, { name: 'RSA-OAEP', hash }, false, ['decrypt']);
    return new Uint8Array(await crypto.subtle.decrypt({ name: 'RSA-OAEP' }, key, ciphertext));
}
export function isTypeError(e) { return e instanceof TypeError; }
export function keyringError(code, message) { return Object.assign(new Error(message), { code }); }
")]
extern "C" {
    #[wasm_bindgen(js_name = rsaWrap, catch)]
    async fn rsa_wrap(spki: &[u8], data_key: &[u8], hash: &str) -> Result<JsValue, JsValue>;
    #[wasm_bindgen(js_name = rsaUnwrap, catch)]
    async fn rsa_unwrap(pkcs8: &[u8], ciphertext: &[u8], hash: &str) -> Result<JsValue, JsValue>;
    #[wasm_bindgen(js_name = isTypeError)]
    fn is_type_error(e: &JsValue) -> bool;
    /// An error as a JS keyring throws it: an `Error` with a `code`.
    #[wasm_bindgen(js_name = keyringError)]
    fn keyring_error(code: &str, message: &str) -> JsValue;
}

fn der(pem: &str) -> Vec<u8> {
    pem_rfc7468::decode_vec(pem.as_bytes()).expect("test key is PEM").1
}

fn get(obj: &JsValue, key: &str) -> JsValue {
    Reflect::get(obj, &key.into()).expect("readable property")
}

/// `(kind, code)` of an error thrown by the bindings.
fn code(err: JsValue) -> (String, String) {
    let s = |k| get(&err, k).as_string().unwrap_or_else(|| panic!("error without {k}: {err:?}"));
    (s("kind"), s("code"))
}

fn context(pairs: &[(&str, &str)]) -> JsValue {
    let obj = Object::new();
    for (k, v) in pairs {
        Reflect::set(&obj, &(*k).into(), &(*v).into()).expect("settable");
    }
    obj.into()
}

/// An encryptor whose data key WebCrypto wrapped with the test key, as the JS glue does.
async fn encryptor(
    suite: Option<u16>,
    frame: Option<f64>,
    ctx: JsValue,
) -> Result<Encryptor, JsValue> {
    let mut pending = PendingEncryptor::new(suite, frame, ctx)?;
    let data_key = pending.data_key()?.to_vec();
    let edks = rsa_wrap(&der(PUBLIC_PEM), &data_key, "SHA-256").await.expect("WebCrypto wraps");
    pending.with_encrypted_data_keys(edks)
}

async fn encrypt(suite: u16, frame: f64, plaintext: &[u8], ctx: &JsValue) -> Vec<u8> {
    let mut enc = encryptor(Some(suite), Some(frame), ctx.clone()).await.expect("encryptor");
    let mut out = Vec::new();
    for chunk in plaintext.chunks(7) {
        out.extend(enc.update(chunk).expect("update").to_vec());
    }
    out.extend(enc.finish().expect("finish").to_vec());
    out
}

/// Feeds `message` until the decryptor wants a key; returns the input left over.
fn until_key(dec: &mut Decryptor, message: &[u8]) -> Vec<u8> {
    let out = dec.update(message).expect("header parses");
    assert_eq!(out.length(), 0);
    assert_eq!(dec.state(), "need-data-key");
    message[dec.consumed()..].to_vec()
}

/// The first candidate EDK, unwrapped with WebCrypto: a Uint8Array to report.
async fn unwrap_first(dec: &mut Decryptor) -> Uint8Array {
    let edk = dec.next_candidate().expect("a candidate");
    let ciphertext: Uint8Array = get(&edk, "ciphertext").dyn_into().expect("bytes");
    let key = rsa_unwrap(&der(PRIVATE_PEM), &ciphertext.to_vec(), "SHA-256").await;
    key.expect("WebCrypto unwraps").dyn_into().expect("bytes")
}

fn bytes(b: &[u8]) -> JsValue {
    Uint8Array::from(b).into()
}

async fn decrypt(message: &[u8], expected: JsValue) -> Result<Vec<u8>, JsValue> {
    let mut dec = Decryptor::new(expected, false, false, None)?;
    let rest = until_key(&mut dec, message);
    let key = unwrap_first(&mut dec).await;
    assert!(dec.report_key(key.into())?, "the key verified the header");
    let mut plaintext = dec.update(&rest)?.to_vec();
    assert_eq!(dec.consumed(), rest.len());
    plaintext.extend(dec.update(&[])?.to_vec());
    dec.finish()?;
    Ok(plaintext)
}

#[wasm_bindgen_test]
fn version_is_the_cargo_version() {
    assert_eq!(cipherdrop::wasm::version(), env!("CARGO_PKG_VERSION"));
}

#[wasm_bindgen_test]
async fn suite_facts_for_the_js_glue() {
    assert_eq!(signature_hash(0x0578).as_deref(), Some("SHA-384"));
    assert_eq!(signature_hash(0x0378).as_deref(), Some("SHA-384"));
    assert_eq!(signature_hash(0x0214).as_deref(), Some("SHA-256"));
    assert_eq!(signature_hash(0x0478), None);
    assert_eq!(signature_hash(0x1234), None);
    let signed = encrypt(0x0578, 100.0, b"x", &JsValue::UNDEFINED).await;
    let unsigned = encrypt(0x0478, 100.0, b"x", &JsValue::UNDEFINED).await;
    assert_eq!(message_is_signed(&signed[..4]), Some(true));
    assert_eq!(message_is_signed(&unsigned[..4]), Some(false));
    assert_eq!(message_is_signed(b"junk"), None);
}

#[wasm_bindgen_test]
async fn round_trip_both_suites_with_webcrypto_unwrap() {
    let plaintext: Vec<u8> = (0..1000u32).map(|i| (i % 251) as u8).collect();
    for suite in [0x0578, 0x0478] {
        let ctx = context(&[("purpose", "test"), ("__proto__", "data, not a prototype")]);
        let message = encrypt(suite, 100.0, &plaintext, &ctx).await;
        let got = decrypt(&message, context(&[("purpose", "test")])).await.expect("decrypts");
        assert_eq!(got, plaintext, "suite {suite:#06x}");
    }
}

#[wasm_bindgen_test]
async fn header_fields_and_key_zeroing() {
    let message = encrypt(0x0578, 64.0, b"hello", &context(&[("k", "v")])).await;
    let mut dec = Decryptor::new(JsValue::UNDEFINED, false, false, None).expect("decryptor");
    let rest = until_key(&mut dec, &message);
    let header = dec.header().expect("live");
    assert_eq!(get(&header, "suiteId").as_f64(), Some(f64::from(0x0578u16)));
    assert_eq!(get(&header, "frameLength").as_f64(), Some(64.0));
    let ctx = get(&header, "encryptionContext");
    assert_eq!(get(&ctx, "k").as_string().as_deref(), Some("v"));
    assert!(get(&ctx, "aws-crypto-public-key").is_string());
    let edk = get(&header, "encryptedDataKeys");
    let edk = js_sys::Array::from(&edk).get(0);
    assert_eq!(get(&edk, "providerId").as_string().as_deref(), Some("acme"));
    assert_eq!(get(&edk, "providerInfo").as_string().as_deref(), Some("archive-2026"));
    assert!(get(&edk, "ciphertext").is_undefined(), "messageHeader EDKs carry no ciphertext");
    let bytes = dec.header_bytes().expect("live").expect("parsed");
    assert_eq!(bytes.to_vec(), message[..message.len() - rest.len()]);
    assert_eq!(dec.data_key_length().expect("live"), 32);

    let key = unwrap_first(&mut dec).await;
    assert!(dec.report_key(key.clone().into()).expect("right key"));
    assert!(key.to_vec().iter().all(|&b| b == 0), "the caller's copy of the key is zeroed");
    let out = dec.update(&rest).expect("body");
    assert_eq!(out.to_vec(), b"hello");
    assert_eq!(dec.state(), "done");
    assert!(!dec.provisional());
    dec.finish().expect("verified");
}

#[wasm_bindgen_test]
async fn signed_plaintext_is_provisional_until_the_footer() {
    let plaintext = [7u8; 300];
    for (suite, provisional) in [(0x0578, true), (0x0478, false)] {
        let message = encrypt(suite, 100.0, &plaintext, &JsValue::UNDEFINED).await;
        let mut dec = Decryptor::new(JsValue::UNDEFINED, false, false, None).expect("decryptor");
        let rest = until_key(&mut dec, &message);
        let key = unwrap_first(&mut dec).await;
        assert!(dec.report_key(key.into()).expect("right key"));
        // Everything but the last 20 bytes: frames are released, the footer is not complete.
        let out = dec.update(&rest[..rest.len() - 20]).expect("body");
        assert!(out.length() > 0);
        assert_eq!(dec.provisional(), provisional, "suite {suite:#06x}");
        dec.update(&rest[rest.len() - 20..]).expect("end");
        assert!(!dec.provisional());
        dec.finish().expect("verified");
    }
}

#[wasm_bindgen_test]
async fn tampered_truncated_and_trailing_messages_fail_with_their_codes() {
    let message = encrypt(0x0478, 100.0, &[1u8; 250], &JsValue::UNDEFINED).await;
    let decrypt_err = |m: Vec<u8>| async move {
        code(decrypt(&m, JsValue::UNDEFINED).await.expect_err("must fail"))
    };

    let mut tampered = message.clone();
    let body_byte = tampered.len() - 30;
    tampered[body_byte] ^= 1;
    assert_eq!(decrypt_err(tampered).await, ("decrypt".into(), "BAD_FRAME_TAG".into()));

    let mut trailing = message.clone();
    trailing.push(0);
    assert_eq!(decrypt_err(trailing).await.1, "TRAILING_BYTES");

    let truncated = message[..message.len() - 1].to_vec();
    let err = decrypt(&truncated, JsValue::UNDEFINED).await.expect_err("truncated");
    assert_eq!(get(&err, "code").as_string().as_deref(), Some("TRUNCATED"));
    assert_eq!(get(&err, "section").as_string().as_deref(), Some("body"));

    let signed = encrypt(0x0578, 100.0, &[1u8; 250], &JsValue::UNDEFINED).await;
    let mut bad_signature = signed.clone();
    let last = bad_signature.len() - 1;
    bad_signature[last] ^= 1;
    assert_eq!(decrypt_err(bad_signature).await.1, "BAD_SIGNATURE");

    let mut bad_header = message.clone();
    bad_header[0] = 9;
    let mut dec = Decryptor::new(JsValue::UNDEFINED, false, false, None).expect("decryptor");
    assert_eq!(code(dec.update(&bad_header).expect_err("version 9")).1, "UNSUPPORTED_VERSION");
}

#[wasm_bindgen_test]
async fn decryptor_options_and_key_failures() {
    let message = encrypt(0x0578, 100.0, b"x", &context(&[("tenant", "a")])).await;

    let mut dec = Decryptor::new(context(&[("tenant", "b")]), false, false, None).expect("new");
    let err = dec.update(&message).expect_err("checked with the header, before any unwrap");
    assert_eq!(code(err.clone()).1, "CONTEXT_MISMATCH");
    assert_eq!(get(&err, "key").as_string().as_deref(), Some("tenant"));

    let mut dec = Decryptor::new(JsValue::UNDEFINED, false, true, None).expect("decryptor");
    assert_eq!(code(dec.update(&message).expect_err("signed")).1, "SIGNED_MESSAGE_REFUSED");

    let mut dec = Decryptor::new(JsValue::UNDEFINED, false, false, Some(0)).expect("decryptor");
    let err = dec.update(&message).expect_err("too many EDKs");
    assert_eq!(code(err.clone()).1, "TOO_MANY_ENCRYPTED_DATA_KEYS");
    assert_eq!(get(&err, "max").as_f64(), Some(0.0));

    let mut dec = Decryptor::new(JsValue::UNDEFINED, false, false, None).expect("decryptor");
    until_key(&mut dec, &message);
    dec.next_candidate().expect("the one EDK");
    assert_eq!(
        code(dec.report_key(bytes(&[0x55; 32])).expect_err("wrong key")).1,
        "COMMITMENT_MISMATCH"
    );
    // Errors are sticky.
    assert_eq!(code(dec.update(&[]).expect_err("sticky")).1, "COMMITMENT_MISMATCH");
    let mut dec = Decryptor::new(JsValue::UNDEFINED, false, false, None).expect("decryptor");
    dec.update(&message[..10]).expect("partial header");
    assert_eq!(dec.state(), "need-input");
    let err = dec.finish().expect_err("ends in the header");
    assert_eq!(get(&err, "section").as_string().as_deref(), Some("header"));
    assert_eq!(code(dec.update(&[]).expect_err("spent")).1, "INVALID_STATE");

    let err = Decryptor::new(context(&[]), false, false, None).map(drop);
    assert!(err.is_ok());
    let bad_ctx: JsValue = js_sys::Array::of1(&JsValue::from(1)).into();
    let err = Decryptor::new(context(&[("a", "b")]), false, false, None).map(drop);
    assert!(err.is_ok());
    let err =
        Decryptor::new(bad_ctx, false, false, None).expect_err("context values must be strings");
    assert!(is_type_error(&err));
}

/// The unwrap rules, as the JS glue drives them: the core names each EDK, the glue reports
/// each keyring answer.
#[wasm_bindgen_test]
async fn unwrap_session_rules_and_verdicts() {
    let message = encrypt(0x0478, 100.0, b"x", &JsValue::UNDEFINED).await;
    let until_candidate = || {
        let mut dec = Decryptor::new(JsValue::UNDEFINED, false, false, None).expect("decryptor");
        until_key(&mut dec, &message);
        let edk = dec.next_candidate().expect("the one EDK");
        assert_eq!(get(&edk, "providerId").as_string().as_deref(), Some("acme"));
        dec
    };

    // A key of the wrong length is a failed attempt, and zero-filled.
    let mut dec = until_candidate();
    let short = Uint8Array::from(&[1u8; 16][..]);
    assert!(!dec.report_key(short.clone().into()).expect("counted, not thrown"));
    assert!(short.to_vec().iter().all(|&b| b == 0), "zero-filled");
    let err = dec.next_candidate().expect_err("no EDK left");
    assert_eq!(code(err.clone()).1, "NO_DECRYPTABLE_KEY");
    assert_eq!(get(&err, "failedAttempts").as_f64(), Some(1.0));

    // A refusal is the verdict, as the keyring threw it.
    let mut dec = until_candidate();
    let refusal = keyring_error("KEYRING", "denied");
    dec.report_error(refusal.clone()).expect("reported");
    let err = dec.next_candidate().expect_err("no EDK left");
    assert!(Object::is(&err, &refusal), "the keyring's own error object");

    // An UNWRAP_FAILED's message is a note; other errors count without one.
    for (thrown, message) in [
        (keyring_error("UNWRAP_FAILED", "RSA-OAEP SHA-1"), "(1 failed attempts): RSA-OAEP SHA-1"),
        (js_sys::TypeError::new("fetch failed").into(), "(1 failed attempts)"),
    ] {
        let mut dec = until_candidate();
        dec.report_error(thrown).expect("reported");
        let err = dec.next_candidate().expect_err("no EDK left");
        assert_eq!(code(err.clone()).1, "NO_DECRYPTABLE_KEY");
        let text = get(&err, "message").as_string().expect("message");
        assert!(text.ends_with(message), "{text}");
    }

    // Not mine, then misuse: an answer with no candidate asked, a key that is not bytes.
    let mut dec = until_candidate();
    assert!(!dec.report_key(JsValue::NULL).expect("not mine"));
    assert_eq!(code(dec.report_key(JsValue::NULL).expect_err("not asked")).1, "INVALID_STATE");
    let mut dec = until_candidate();
    assert!(is_type_error(&dec.report_key(JsValue::from(5)).expect_err("not bytes")));
}

/// Delegated hashing: the core names what the JS hash stage hashes (header, frame heads).
#[wasm_bindgen_test]
async fn delegated_hash_ranges_for_the_js_hash() {
    let message = encrypt(0x0578, 100.0, &[3u8; 250], &JsValue::UNDEFINED).await;
    let mut dec = Decryptor::new_detached(JsValue::UNDEFINED, false, false, None).expect("new");
    assert_eq!(dec.update_detached(&message).expect("header"), 0);
    assert_eq!((dec.state().as_str(), dec.hashed()), ("need-data-key", 0));
    let header = dec.delegate_hash().expect("signed, detached");
    assert_eq!(header.to_vec(), message[..dec.consumed()], "the header comes first");
    let at = dec.consumed();
    let key = unwrap_first(&mut dec).await;
    assert!(dec.report_key(key.into()).expect("right key"));
    assert_ne!(dec.update_detached(&message[at..]).expect("first head"), 0);
    assert_eq!(dec.state(), "frame-body");
    assert!(dec.hashed() > 0 && dec.hashed() == dec.consumed(), "the frame head is covered");
}

#[wasm_bindgen_test]
fn first_answer_is_the_multi_keyring_rule() {
    let first = keyring_error("UNWRAP_FAILED", "first");
    let mut answers = FirstAnswer::new();
    assert!(!answers.key(JsValue::NULL));
    answers.error(first.clone());
    answers.error(keyring_error("KEYRING", "second"));
    assert!(Object::is(&answers.finish().expect_err("the first error"), &first));
    let mut answers = FirstAnswer::new();
    answers.error(first);
    assert!(answers.key(bytes(&[1; 32])), "a key settles the EDK");
    let mut answers = FirstAnswer::new();
    assert!(!answers.key(JsValue::UNDEFINED));
    assert!(answers.finish().expect("no error").is_null());
}

#[wasm_bindgen_test]
async fn encryptor_options_fail_with_their_codes() {
    let enc_err = |suite: Option<u16>, frame: Option<f64>, ctx: JsValue| {
        code(PendingEncryptor::new(suite, frame, ctx).expect_err("must fail"))
    };
    for frame in [0.0, 1.5, -1.0, 2f64.powi(31), 2f64.powi(40), f64::NAN] {
        assert_eq!(
            enc_err(None, Some(frame), JsValue::UNDEFINED),
            ("encrypt".into(), "INVALID_FRAME_LENGTH".into()),
            "frame length {frame}"
        );
    }
    assert_eq!(enc_err(Some(0x0378), None, JsValue::UNDEFINED).1, "UNSUPPORTED_SUITE");
    assert_eq!(enc_err(Some(0x1234), None, JsValue::UNDEFINED).1, "UNSUPPORTED_SUITE");
    let reserved = context(&[("aws-crypto-x", "y")]);
    assert_eq!(enc_err(None, None, reserved).1, "RESERVED_CONTEXT_KEY");
    let err = PendingEncryptor::new(None, None, JsValue::from(5)).expect_err("not an object");
    assert!(is_type_error(&err));
    let mut pending = PendingEncryptor::new(None, None, JsValue::UNDEFINED).expect("defaults");
    let err = pending.with_encrypted_data_keys(js_sys::Array::new().into()).expect_err("no EDKs");
    assert_eq!(code(err).1, "ENCRYPTED_DATA_KEY_COUNT");
    // Spent by the failed call: the data key is gone with it.
    assert_eq!(code(pending.data_key().expect_err("spent")), spent());

    // The signed default suite: the context the header will hold has the public key entry.
    let pending = PendingEncryptor::new(None, None, context(&[("k", "v")])).expect("defaults");
    let ctx = pending.encryption_context().expect("live");
    assert_eq!(get(&ctx, "k").as_string().as_deref(), Some("v"));
    assert!(get(&ctx, "aws-crypto-public-key").as_string().is_some());
    assert_eq!(pending.data_key().expect("live").length(), 32);

    let mut enc = encryptor(None, None, JsValue::UNDEFINED).await.expect("defaults");
    assert_eq!(get(&enc.header().expect("live"), "frameLength").as_f64(), Some(65536.0));
    assert_eq!(get(&enc.header().expect("live"), "suiteId").as_f64(), Some(1400.0));
    enc.finish().expect("empty message");
    assert_eq!(code(enc.update(b"late").expect_err("spent")), spent());
    assert_eq!(code(enc.finish().expect_err("spent")), spent());
}

/// A spent encryptor's misuse is an encrypt error, like every other encryptor misuse.
fn spent() -> (String, String) {
    ("encrypt".into(), "INVALID_STATE".into())
}

#[wasm_bindgen_test]
async fn data_keys_and_message_ids_come_from_getrandom() {
    let a = encrypt(0x0478, 100.0, b"same", &JsValue::UNDEFINED).await;
    let b = encrypt(0x0478, 100.0, b"same", &JsValue::UNDEFINED).await;
    assert_ne!(a, b);
    // Message IDs (bytes 4..36 of a format 2.0 header) differ.
    assert_ne!(a[4..36], b[4..36]);
}
