//! Key policy semantics end to end: the real `cipherdrop serve`, messages made with the CLI,
//! unwraps through the CLI and the HTTP API (README "Key policy semantics").
#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use cipherdrop::{Header, Limits};
use cipherdrop_server::client::{Error, Method};
use common::{Server, failure, success};
use serde_json::{Value, json};

/// The admin may do everything: every test policy starts with it.
fn admin_statement() -> Value {
    json!({ "Sid": "Admin", "Effect": "Allow", "Principal": "admin", "Action": "*" })
}

/// Decrypts `ct` through the server (POST /v0/unwrap) with `token`.
fn decrypt(server: &Server, token: &str, ct: &Path) -> std::process::Output {
    server.cli(Some(token), &["decrypt", "-i", ct.to_str().unwrap(), "--server-key", "any"])
}

/// Asserts that `token` may open `ct` through the server.
fn opens(server: &Server, token: &str, ct: &Path, name: &str) {
    assert_eq!(success(&decrypt(server, token, ct)), format!("plaintext of {name}").as_bytes());
}

/// Asserts that the server refuses `token` the data key of `ct` (403 AccessDenied).
fn refused(server: &Server, token: &str, ct: &Path) {
    let line = failure(&decrypt(server, token, ct));
    assert!(line.contains("AccessDenied"), "{}: {line}", ct.display());
}

/// The base64 RSA ciphertext of the message's first EDK (the server key's).
fn edk_blob(ct: &Path) -> String {
    let bytes = std::fs::read(ct).unwrap();
    let (header, _) = Header::parse(&bytes, &Limits::default()).unwrap();
    STANDARD.encode(&header.encrypted_data_keys()[0].ciphertext)
}

/// The compatibility Decrypt (POST /v0/keys/{id}/decrypt) of `blob` with `token`.
fn raw_decrypt(server: &Server, token: &str, key: &str, blob: &str) -> Result<Value, Error> {
    let path = format!("/v0/keys/{key}/decrypt");
    server.client(Some(token)).call(Method::Post, &path, Some(&json!({ "ciphertextBlob": blob })))
}

/// Sends `body` as is (raw JSON text) with the admin token; returns (status, JSON answer).
fn send_raw(server: &Server, method: &str, path: &str, body: &str) -> (u16, Value) {
    let agent: ureq::Agent =
        ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let url = format!("{}{path}", server.addr);
    let auth = format!("Bearer {}", server.admin);
    let request = match method {
        "PUT" => agent.put(&url),
        "POST" => agent.post(&url),
        other => panic!("method {other}"),
    };
    let mut response = request
        .header("Authorization", &auth)
        .header("Content-Type", "application/json")
        .send(body)
        .unwrap();
    let status = response.status().as_u16();
    (status, response.body_mut().read_json().unwrap())
}

/// The refusals of `action` the audit log holds, as their details.
fn refusals(server: &Server, action: &str) -> Vec<String> {
    let records = server.admin().audit_all().unwrap();
    records
        .into_iter()
        .filter(|r| r.record.action == action && r.record.result != "Allowed")
        .map(|r| r.record.detail)
        .collect()
}

/// (a) A Deny `StringNotEquals EncryptionContext:dept = eng` refuses a message that has no
/// `dept` at all (AWS: a negated operator is true for a missing key), as well as one with
/// another dept; a message with `dept=eng` still opens. (Before, a missing key made every
/// Deny condition false, so a message without `dept` slipped past the Deny.)
#[test]
fn deny_not_equals_refuses_a_message_without_the_key() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(&tmp.path().join("data"));
    let key = server.create_key();
    let bob = server.token("bob");
    let policy = json!({ "Statement": [
        admin_statement(),
        { "Effect": "Allow", "Principal": "bob", "Action": "Unwrap" },
        { "Sid": "EngOnly", "Effect": "Deny", "Principal": "*", "Action": "Unwrap",
          "Condition": { "StringNotEquals": { "EncryptionContext:dept": "eng" } } },
    ]});
    server.admin().put_policy(&key, policy).unwrap();
    let eng = server.encrypt_file(tmp.path(), "eng", &key, &["dept=eng", "owner=bob"]);
    let ops = server.encrypt_file(tmp.path(), "ops", &key, &["dept=ops", "owner=bob"]);
    let none = server.encrypt_file(tmp.path(), "none", &key, &["owner=bob"]);
    let empty = server.encrypt_file(tmp.path(), "empty", &key, &[]);
    opens(&server, &bob, &eng, "eng");
    refused(&server, &bob, &ops);
    refused(&server, &bob, &none);
    refused(&server, &bob, &empty);
    // The refusals are audited as Denied, with the verified context.
    let records = server.admin().audit_all().unwrap();
    let denied: Vec<_> = records
        .iter()
        .filter(|r| r.record.action == "Unwrap" && r.record.result == "Denied")
        .collect();
    assert_eq!(denied.len(), 3);
    assert!(denied.iter().all(|r| {
        r.record.context.as_ref().is_some_and(|c| c.get("dept").is_none_or(|d| d != "eng"))
    }));
}

/// (b) An explicit Deny of Unwrap and Decrypt for `owner=alice` also stops the same
/// principal getting alice's data key through the compatibility Decrypt route (POST
/// /v0/keys/{id}/decrypt of the EDK's RSA ciphertext): that route has no verified context,
/// so the conditional Deny applies (fail closed). Before, the Deny's condition was false
/// without a context and bob's unconditional Allow of Decrypt gave him the key.
#[test]
fn deny_on_context_also_stops_raw_decrypt() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(&tmp.path().join("data"));
    let key = server.create_key();
    let bob = server.token("bob");
    let policy = json!({ "Statement": [
        admin_statement(),
        { "Effect": "Allow", "Principal": "bob", "Action": ["Unwrap", "Decrypt"] },
        { "Sid": "NotAlices", "Effect": "Deny", "Principal": "*", "Action": ["Unwrap", "Decrypt"],
          "Condition": { "StringEquals": { "EncryptionContext:owner": "alice" } } },
    ]});
    server.admin().put_policy(&key, policy).unwrap();
    let alices = server.encrypt_file(tmp.path(), "alices", &key, &["owner=alice"]);
    let bobs = server.encrypt_file(tmp.path(), "bobs", &key, &["owner=bob"]);
    refused(&server, &bob, &alices);
    opens(&server, &bob, &bobs, "bobs");

    let err = raw_decrypt(&server, &bob, &key, &edk_blob(&alices)).unwrap_err();
    assert_eq!((err.status(), err.code()), (Some(403), Some("AccessDenied")), "{err}");
    // The raw route cannot tell whose key an EDK holds: it is closed to bob altogether.
    let err = raw_decrypt(&server, &bob, &key, &edk_blob(&bobs)).unwrap_err();
    assert_eq!((err.status(), err.code()), (Some(403), Some("AccessDenied")), "{err}");
    assert_eq!(refusals(&server, "Decrypt"), ["AccessDenied", "AccessDenied"]);
    // The Deny names every principal ("*"), the admin included.
    let err = raw_decrypt(&server, &server.admin, &key, &edk_blob(&alices)).unwrap_err();
    assert_eq!(err.code(), Some("AccessDenied"), "{err}");
}

/// (c) An Allow with an EncryptionContext condition never allows an action evaluated
/// without a verified context (Decrypt, DescribeKey), even with conditions that hold for a
/// missing key (`ForAllValues:`, `Null: true`, `StringNotEqualsIfExists`); the same Allows do
/// grant Unwrap of a message whose verified context satisfies them, and not of one whose
/// context does not. (Before, these operators were refused as unknown.)
#[test]
fn context_conditions_never_allow_without_a_verified_context() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(&tmp.path().join("data"));
    let key = server.create_key();
    let bob = server.token("bob");
    let actions = json!(["Unwrap", "Decrypt", "DescribeKey"]);
    let policy = json!({ "Statement": [
        admin_statement(),
        { "Effect": "Allow", "Principal": "bob", "Action": actions,
          "Condition": { "ForAllValues:StringEquals": { "EncryptionContext:owner": "bob" },
                         "Null": { "EncryptionContext:secret": "true" } } },
        { "Effect": "Allow", "Principal": "bob", "Action": actions,
          "Condition": { "StringNotEqualsIfExists": { "EncryptionContext:owner": "mallory" },
                         "StringEquals": { "EncryptionContext:tier": "gold" } } },
    ]});
    server.admin().put_policy(&key, policy).unwrap();
    let bobs = server.encrypt_file(tmp.path(), "bobs", &key, &["owner=bob"]);
    let gold = server.encrypt_file(tmp.path(), "gold", &key, &["tier=gold"]);
    let secret = server.encrypt_file(tmp.path(), "secret", &key, &["owner=bob", "secret=1"]);
    let mallorys =
        server.encrypt_file(tmp.path(), "mallorys", &key, &["owner=mallory", "tier=gold"]);
    opens(&server, &bob, &bobs, "bobs");
    opens(&server, &bob, &gold, "gold");
    refused(&server, &bob, &secret);
    refused(&server, &bob, &mallorys);

    let err = raw_decrypt(&server, &bob, &key, &edk_blob(&bobs)).unwrap_err();
    assert_eq!((err.status(), err.code()), (Some(403), Some("AccessDenied")), "{err}");
    let err = server.client(Some(&bob)).describe_key(&key).unwrap_err();
    assert_eq!((err.status(), err.code()), (Some(403), Some("AccessDenied")), "{err}");
    let listed = server.client(Some(&bob)).list_keys().unwrap();
    assert_eq!(listed["keys"], json!([]), "ListKeys shows only keys bob may describe");
}

/// (d) A policy with two `"Condition"` members in one statement (a JSON parser keeping the
/// last would make the conditional Allow unconditional) is refused with 400 naming the key,
/// on PutKeyPolicy and on CreateKey; so are duplicates deeper in the document. The policy in
/// force is unchanged, no key is created, and every refusal is audited.
#[test]
fn duplicate_members_are_refused_and_change_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(&tmp.path().join("data"));
    let key = server.create_key();
    let bob = server.token("bob");
    let policy = json!({ "Statement": [
        admin_statement(),
        { "Effect": "Allow", "Principal": "*", "Action": "Unwrap",
          "Condition": { "StringEquals": { "EncryptionContext:owner": "${principal}" } } },
    ]});
    let before = server.admin().put_policy(&key, policy).unwrap();

    let statement = r#"{"Effect": "Allow", "Principal": "bob", "Action": "Unwrap",
        "Condition": {"StringEquals": {"EncryptionContext:owner": "bob"}},
        "Condition": {}}"#;
    let admin = r#"{"Effect": "Allow", "Principal": "admin", "Action": "*"}"#;
    let document = format!(r#"{{"Statement": [{admin}, {statement}]}}"#);
    let deeper = r#"{"Statement": [{"Effect": "Allow", "Principal": "bob", "Action": "Unwrap",
        "Condition": {"StringEquals": {"EncryptionContext:owner": "bob",
                                       "EncryptionContext:owner": "alice"}}}]}"#;
    let path = format!("/v0/keys/{key}/policy");
    for (body, duplicated) in [
        (format!(r#"{{"policy": {document}}}"#), "Condition"),
        (format!(r#"{{"policy": {deeper}}}"#), "EncryptionContext:owner"),
        (format!(r#"{{"policy": {deeper}, "policy": {document}}}"#), "policy"),
    ] {
        let (status, answer) = send_raw(&server, "PUT", &path, &body);
        assert_eq!((status, answer["error"].as_str()), (400, Some("InvalidRequest")), "{answer}");
        let message = answer["message"].as_str().unwrap();
        assert!(message.contains("duplicate") && message.contains(duplicated), "{message}");
    }
    assert_eq!(server.admin().get_policy(&key).unwrap(), before, "the policy is unchanged");
    // Still the owner policy: bob cannot open alice's message.
    let alices = server.encrypt_file(tmp.path(), "alices", &key, &["owner=alice"]);
    refused(&server, &bob, &alices);

    let keys_before = server.admin().list_keys().unwrap()["keys"].as_array().unwrap().len();
    let create = format!(r#"{{"keySpec": "RSA_2048", "policy": {document}}}"#);
    let (status, answer) = send_raw(&server, "POST", "/v0/keys", &create);
    assert_eq!((status, answer["error"].as_str()), (400, Some("InvalidRequest")), "{answer}");
    assert!(answer["message"].as_str().unwrap().contains("\"Condition\""), "{answer}");
    let keys_after = server.admin().list_keys().unwrap()["keys"].as_array().unwrap().len();
    assert_eq!(keys_after, keys_before, "no key was created");

    assert_eq!(refusals(&server, "PutKeyPolicy"), ["InvalidRequest"; 3]);
    assert_eq!(refusals(&server, "CreateKey"), ["InvalidRequest"]);
}

/// (e) StringLike treats `*` and `?` as wildcards only in the policy's pattern: a Deny
/// `class` like `*secret` refuses `class=*xsecret` (the old matcher let the text's `*`
/// consume the pattern's and then missed), as it refuses `class=topsecret`; `class=public`
/// and `class=secretive` still open.
#[test]
fn string_like_deny_matches_literal_wildcards_in_the_context() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(&tmp.path().join("data"));
    let key = server.create_key();
    let bob = server.token("bob");
    let policy = json!({ "Statement": [
        admin_statement(),
        { "Effect": "Allow", "Principal": "bob", "Action": "Unwrap" },
        { "Sid": "NoSecrets", "Effect": "Deny", "Principal": "*", "Action": "Unwrap",
          "Condition": { "StringLike": { "EncryptionContext:class": "*secret" } } },
    ]});
    server.admin().put_policy(&key, policy).unwrap();
    for (name, class, open) in [
        ("starred", "*xsecret", false),
        ("questioned", "?secret", false),
        ("top", "topsecret", false),
        ("bare", "secret", false),
        ("public", "public", true),
        ("secretive", "secretive", true),
    ] {
        let ct = server.encrypt_file(tmp.path(), name, &key, &[&format!("class={class}")]);
        if open {
            opens(&server, &bob, &ct, name);
        } else {
            refused(&server, &bob, &ct);
        }
    }
}

/// (f) A policy over 32 KiB (as compact JSON) is refused with 400 on PutKeyPolicy and
/// CreateKey, and the policy in force is unchanged; one just under the limit is accepted.
#[test]
fn policies_over_32_kib_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(&tmp.path().join("data"));
    let key = server.create_key();
    let with_principals = |n: usize| {
        let principals: Vec<String> = (0..n).map(|i| format!("principal-{i:06}")).collect();
        json!({ "Statement": [
            admin_statement(),
            { "Effect": "Allow", "Principal": principals, "Action": "DescribeKey" },
        ]})
    };
    let big = with_principals(1800);
    let size = serde_json::to_vec(&big).unwrap().len();
    assert!((33 * 1024..34 * 1024).contains(&size), "{size} bytes");
    let before = server.admin().get_policy(&key).unwrap();
    let err = server.admin().put_policy(&key, big.clone()).unwrap_err();
    assert_eq!((err.status(), err.code()), (Some(400), Some("InvalidRequest")), "{err}");
    assert!(err.to_string().contains("32768"), "{err}");
    assert_eq!(server.admin().get_policy(&key).unwrap(), before, "the policy is unchanged");
    let err = server.admin().create_key(Some("RSA_2048"), None, &[], Some(big)).unwrap_err();
    assert_eq!((err.status(), err.code()), (Some(400), Some("InvalidRequest")), "{err}");

    let fits = with_principals(1700);
    assert!(serde_json::to_vec(&fits).unwrap().len() < 32 * 1024);
    let put = server.admin().put_policy(&key, fits).unwrap();
    assert_eq!(put["policy"]["Statement"][1]["Principal"][1699], "principal-001699");
    assert_eq!(refusals(&server, "PutKeyPolicy"), ["InvalidRequest"]);
    assert_eq!(refusals(&server, "CreateKey"), ["InvalidRequest"]);
}

/// `cipherdrop policy put FILE` refuses a file with a duplicated key (it used to parse it
/// into a JSON value, which keeps the last, and send that): one line naming the key.
#[test]
fn the_cli_refuses_duplicate_keys_in_a_policy_file() {
    let tmp = tempfile::tempdir().unwrap();
    let server = common::Server::start(&tmp.path().join("data"));
    let key = server.create_key();
    let file = tmp.path().join("policy.json");
    std::fs::write(
        &file,
        r#"{"Statement": [{"Effect": "Allow", "Principal": "bob", "Action": "Unwrap",
            "Condition": {"StringEquals": {"EncryptionContext:owner": "bob"}},
            "Condition": {}}]}"#,
    )
    .unwrap();
    let before = server.admin_json(&["policy", "get", &key]);
    let line = common::failure(
        &server.cli(Some(&server.admin), &["policy", "put", &key, file.to_str().unwrap()]),
    );
    assert!(line.contains("duplicate") && line.contains("Condition"), "{line}");
    assert_eq!(server.admin_json(&["policy", "get", &key]), before);
}
