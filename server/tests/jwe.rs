//! End to end: no data key in the clear on the wire (issue "Identity and transport", part 4).
//! `/v0/unwrap` and the raw decrypt route answer a JWE (compact, ECDH-ES + A256GCM) to the
//! caller's ephemeral P-256 key; an independent JOSE implementation (Python `jwcrypto`)
//! opens ours, and ours opens its.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;

use aws_lc_rs::agreement::{ECDH_P256, PrivateKey, UnparsedPublicKey, agree};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use cipherdrop::{Header, Limits, jwe};
use cipherdrop_server::client::EphemeralKey;
use common::{Server, message_header, run_python, success};
use serde_json::{Value, json};

/// A P-256 key pair made by jwcrypto: (public JWK, private JWK).
const JWCRYPTO_KEYS: &str = r#"
import json
from jwcrypto import jwk
for _ in range(2):
    k = jwk.JWK.generate(kty='EC', crv='P-256')
    print(json.dumps({'public': k.export_public(as_dict=True), 'private': k.export_private(as_dict=True)}))
"#;

/// Opens the compact JWE argv[1] with the private JWK argv[2]; prints the plaintext (hex)
/// and the protected header, or `REFUSED: why`.
const JWCRYPTO_OPEN: &str = r#"
import json, sys
from jwcrypto import jwk, jwe
key = jwk.JWK(**json.loads(sys.argv[2]))
t = jwe.JWE()
try:
    t.deserialize(sys.argv[1], key=key)
    print(json.dumps({'plaintext': t.payload.hex(), 'header': t.jose_header}))
except Exception as e:
    print(json.dumps({'refused': type(e).__name__}))
"#;

/// jwcrypto seals argv[1] (hex) to a new key with kid argv[2]; prints the JWE and the key.
const JWCRYPTO_SEAL: &str = r#"
import json, sys
from jwcrypto import jwk, jwe
k = jwk.JWK.generate(kty='EC', crv='P-256')
header = {'alg': 'ECDH-ES', 'enc': 'A256GCM', 'kid': sys.argv[2]}
t = jwe.JWE(bytes.fromhex(sys.argv[1]), json.dumps(header))
t.add_recipient(k)
print(json.dumps({'jwe': t.serialize(compact=True), 'private': k.export_private(as_dict=True)}))
"#;

fn jwcrypto_keys() -> Vec<Value> {
    let out = String::from_utf8(run_python(JWCRYPTO_KEYS, &[])).unwrap();
    out.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

fn jwcrypto_open(compact: &str, private: &Value) -> Value {
    let out = run_python(JWCRYPTO_OPEN, &[compact, &private.to_string()]);
    serde_json::from_slice(&out).unwrap()
}

/// A message for `key` through `server`; returns its header bytes and its EDK's key name.
fn message(server: &Server, key: &str, dir: &Path) -> (Vec<u8>, String) {
    let ct = server.encrypt_file(dir, "sealed", key, &[]);
    // The CLI's own decrypt goes through the JWE answer too.
    let out = server
        .cli(Some(&server.admin), &["decrypt", "-i", ct.to_str().unwrap(), "--server-key", "any"]);
    assert_eq!(success(&out), b"plaintext of sealed");
    let header = message_header(&ct);
    let (parsed, _) = Header::parse(&header, &Limits::default()).unwrap();
    let name = String::from_utf8(parsed.encrypted_data_keys()[0].provider_info.clone()).unwrap();
    (header, name)
}

fn post(server: &Server, path: &str, body: &Value, rid: &str) -> (u16, Value) {
    let response = ureq::post(&format!("{}{path}", server.addr))
        .header("authorization", &format!("Bearer {}", server.admin))
        .header("x-request-id", rid)
        .config()
        .http_status_as_error(false)
        .build()
        .send_json(body)
        .unwrap();
    let status = response.status().as_u16();
    let text = response.into_body().read_to_string().unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

#[test]
fn the_data_key_comes_back_as_a_jwe_that_jwcrypto_opens() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(&tmp.path().join("data"));
    let key = server.create_key();
    let (header, name) = message(&server, &key, tmp.path());
    let keys = jwcrypto_keys();
    let (mine, other) = (&keys[0], &keys[1]);

    let body =
        json!({ "header": STANDARD.encode(&header), "edkIndex": 0, "recipient": mine["public"] });
    let (status, answer) = post(&server, "/v0/unwrap", &body, "jwe-unwrap-1");
    assert_eq!(status, 200, "{answer}");
    assert!(answer.get("dataKey").is_none(), "no data key in the clear: {answer}");
    let compact = answer["wrappedDataKey"].as_str().unwrap();
    assert_eq!(compact.split('.').nth(1), Some(""), "direct agreement: no encrypted key");

    let opened = jwcrypto_open(compact, &mine["private"]);
    let head = &opened["header"];
    assert_eq!((head["alg"].as_str(), head["enc"].as_str()), (Some("ECDH-ES"), Some("A256GCM")));
    assert_eq!(head["kid"], name.as_str(), "names the key version");
    assert_eq!(head["x-request-id"], "jwe-unwrap-1", "names the request");
    assert_eq!(head["epk"]["crv"], "P-256");
    let data_key = hex_decode(opened["plaintext"].as_str().unwrap());
    assert_eq!(data_key.len(), 32);
    // The same key our own client opens from its own answer.
    let ours = server.admin().unwrap(&header, 0).unwrap();
    assert_eq!(ours.data_key.dangerous_as_bytes(), &data_key[..]);
    // Another key cannot open it.
    assert!(jwcrypto_open(compact, &other["private"]).get("refused").is_some());
    // A fresh ephemeral key per answer: two answers share nothing.
    let (_, again) = post(&server, "/v0/unwrap", &body, "jwe-unwrap-2");
    let again = again["wrappedDataKey"].as_str().unwrap();
    assert_ne!(again.split('.').next(), compact.split('.').next());

    // The raw decrypt route answers the same way.
    let blob = STANDARD.encode(
        &Header::parse(&header, &Limits::default()).unwrap().0.encrypted_data_keys()[0].ciphertext,
    );
    let body = json!({ "ciphertextBlob": blob, "recipient": mine["public"] });
    let (status, answer) = post(&server, &format!("/v0/keys/{key}/decrypt"), &body, "jwe-decrypt");
    assert_eq!(status, 200, "{answer}");
    assert!(answer.get("plaintext").is_none(), "{answer}");
    let opened = jwcrypto_open(answer["wrappedPlaintext"].as_str().unwrap(), &mine["private"]);
    assert_eq!(hex_decode(opened["plaintext"].as_str().unwrap()), data_key);
}

#[test]
fn our_opener_opens_what_jwcrypto_seals_and_refuses_what_it_must() {
    let secret = [0x42u8; 32];
    let hex: String = secret.iter().map(|b| format!("{b:02x}")).collect();
    let out = run_python(JWCRYPTO_SEAL, &[&hex, "k/v7"]);
    let made: Value = serde_json::from_slice(&out).unwrap();
    let compact = made["jwe"].as_str().unwrap();
    let d = URL_SAFE_NO_PAD.decode(made["private"]["d"].as_str().unwrap()).unwrap();
    let header: Value = serde_json::from_slice(&jwe::protected_header(compact).unwrap()).unwrap();
    let epk = &header["epk"];
    let mut point = vec![4u8];
    for c in ["x", "y"] {
        point.extend(URL_SAFE_NO_PAD.decode(epk[c].as_str().unwrap()).unwrap());
    }
    let private = PrivateKey::from_private_key(&ECDH_P256, &d).unwrap();
    let z = agree(&private, UnparsedPublicKey::new(&ECDH_P256, &point), (), |z| Ok(z.to_vec()))
        .unwrap();
    let fields = jwe::Protected {
        alg: header["alg"].as_str().unwrap(),
        enc: header["enc"].as_str().unwrap(),
        crv: epk["crv"].as_str().unwrap(),
        kid: header["kid"].as_str().unwrap(),
    };
    assert_eq!(&jwe::open(compact, &fields, "k/v7", &z).unwrap()[..], &secret);
    assert_eq!(jwe::open(compact, &fields, "k/v8", &z), Err(jwe::JweError::WrongKey));
    assert_eq!(jwe::open(compact, &fields, "k/v7", &[0; 32]), Err(jwe::JweError::Failed));
}

#[test]
fn the_clear_form_and_bad_recipients_are_refused_and_recorded() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(&tmp.path().join("data"));
    let key = server.create_key();
    let (header, _) = message(&server, &key, tmp.path());
    let b64 = STANDARD.encode(&header);
    let public = EphemeralKey::new().unwrap().jwk();
    let mut with_d = public.clone();
    with_d["d"] = json!(URL_SAFE_NO_PAD.encode([1u8; 32]));
    let mut off_curve = public.clone();
    off_curve["y"] = json!(URL_SAFE_NO_PAD.encode([7u8; 32]));
    let mut p384 = public.clone();
    p384["crv"] = json!("P-384");
    let mut short = public.clone();
    short["x"] = json!(URL_SAFE_NO_PAD.encode([7u8; 31]));
    let cases = [
        ("no-recipient", json!({ "header": b64, "edkIndex": 0 }), "recipient is required"),
        ("with-d", json!({ "header": b64, "edkIndex": 0, "recipient": with_d }), "private key"),
        (
            "off-curve",
            json!({ "header": b64, "edkIndex": 0, "recipient": off_curve }),
            "not a point",
        ),
        ("p384", json!({ "header": b64, "edkIndex": 0, "recipient": p384 }), "P-256"),
        ("short", json!({ "header": b64, "edkIndex": 0, "recipient": short }), "32-byte"),
        ("not-a-jwk", json!({ "header": b64, "edkIndex": 0, "recipient": "AAAA" }), ""),
    ];
    for (rid, body, why) in &cases {
        let (status, answer) = post(&server, "/v0/unwrap", body, rid);
        assert_eq!(status, 400, "{rid}: {answer}");
        assert_eq!(answer["error"], "InvalidRequest", "{rid}: {answer}");
        assert!(answer["message"].as_str().unwrap().contains(why), "{rid}: {answer}");
        assert!(answer.get("dataKey").is_none() && answer.get("wrappedDataKey").is_none());
    }
    let blob = STANDARD.encode(
        &Header::parse(&header, &Limits::default()).unwrap().0.encrypted_data_keys()[0].ciphertext,
    );
    let (status, answer) = post(
        &server,
        &format!("/v0/keys/{key}/decrypt"),
        &json!({ "ciphertextBlob": blob }),
        "decrypt-clear",
    );
    assert_eq!(status, 400, "{answer}");
    assert!(answer["message"].as_str().unwrap().contains("recipient is required"), "{answer}");
    // Every refusal is in the audit trail.
    let records = server.admin().audit_all().unwrap();
    for rid in cases.iter().map(|c| c.0).chain(["decrypt-clear"]) {
        let record =
            records.iter().find(|r| r.record.request_id == rid).unwrap_or_else(|| panic!("{rid}"));
        assert_eq!(
            (record.record.result.as_str(), record.record.detail.as_str()),
            ("Error", "InvalidRequest"),
            "{rid}"
        );
    }
    drop(server);

    // An operator who allows it gets the clear form (and the JWE form still works).
    let server = Server::start_with(&tmp.path().join("data"), &["--allow-plaintext-data-keys"]);
    let (status, answer) = post(&server, "/v0/unwrap", &cases[0].1, "clear-allowed");
    assert_eq!(status, 200, "{answer}");
    let clear = STANDARD.decode(answer["dataKey"].as_str().unwrap()).unwrap();
    let sealed = server.admin().unwrap(&header, 0).unwrap();
    assert_eq!(sealed.data_key.dangerous_as_bytes(), &clear[..]);
}

fn hex_decode(text: &str) -> Vec<u8> {
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap()).collect()
}
