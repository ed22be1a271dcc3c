//! End to end: browser users signed in through OpenID Connect (issue "Identity and
//! transport", part 2). A test issuer in this process (its own keys, discovery document and
//! JWKS on loopback) mints tokens; a real `cipherdrop serve` trusts it, verifies every token
//! and evaluates `Jwt:` claim conditions in key policies.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use cipherdrop_server::client::Client;
use common::{Server, message_header, success};
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, EncodingKey, encode};
use serde_json::{Value, json};

const AUDIENCE: &str = "cipherdrop-app";

/// A signing key of the test issuer.
struct SigningKey {
    kid: String,
    alg: Algorithm,
    key: EncodingKey,
    public: Jwk,
}

impl SigningKey {
    fn ec(kid: &str) -> Self {
        use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair};
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        Self::new(kid, Algorithm::ES256, EncodingKey::from_ec_der(pkcs8.as_ref()))
    }

    fn ed(kid: &str) -> Self {
        use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair as _};
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
        let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap();
        // The JWK by hand (RFC 8037): jsonwebtoken reads only PKCS#8 v1 Ed25519 keys.
        let public = serde_json::from_value(json!({
            "kty": "OKP", "crv": "Ed25519", "kid": kid,
            "x": URL_SAFE_NO_PAD.encode(pair.public_key().as_ref()),
        }))
        .unwrap();
        let key = EncodingKey::from_ed_der(pkcs8.as_ref());
        Self { kid: kid.into(), alg: Algorithm::EdDSA, key, public }
    }

    fn rsa(kid: &str) -> Self {
        let pem =
            std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/data/rsa-2048.pem"))
                .unwrap();
        Self::new(kid, Algorithm::RS256, EncodingKey::from_rsa_pem(&pem).unwrap())
    }

    fn new(kid: &str, alg: Algorithm, key: EncodingKey) -> Self {
        let mut public = Jwk::from_encoding_key(&key, alg).unwrap();
        public.common.key_id = Some(kid.into());
        Self { kid: kid.into(), alg, key, public }
    }

    fn sign(&self, claims: &Value) -> String {
        let mut header = jsonwebtoken::Header::new(self.alg);
        header.kid = Some(self.kid.clone());
        encode(&header, claims, &self.key).unwrap()
    }
}

/// An OpenID Connect issuer on loopback: discovery and JWKS, counting JWKS fetches.
struct Issuer {
    url: String,
    published: Arc<Mutex<Vec<Jwk>>>,
    fetches: Arc<AtomicUsize>,
}

impl Issuer {
    fn start(keys: &[&SigningKey]) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://127.0.0.1:{}/issuer", listener.local_addr().unwrap().port());
        let published =
            Arc::new(Mutex::new(keys.iter().map(|k| k.public.clone()).collect::<Vec<_>>()));
        let fetches = Arc::new(AtomicUsize::new(0));
        let (base, set, count) = (url.clone(), published.clone(), fetches.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut line = String::new();
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                if reader.read_line(&mut line).is_err() {
                    continue;
                }
                loop {
                    let mut header = String::new();
                    if reader.read_line(&mut header).unwrap_or(0) == 0 || header == "\r\n" {
                        break;
                    }
                }
                let path = line.split_whitespace().nth(1).unwrap_or("").to_string();
                let body = if path == "/issuer/.well-known/openid-configuration" {
                    json!({ "issuer": base, "jwks_uri": format!("{base}/jwks") }).to_string()
                } else if path == "/issuer/jwks" {
                    count.fetch_add(1, Ordering::SeqCst);
                    serde_json::to_string(&JwkSet { keys: set.lock().unwrap().clone() }).unwrap()
                } else {
                    String::new()
                };
                let status = if body.is_empty() { "404 Not Found" } else { "200 OK" };
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        Self { url, published, fetches }
    }
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

/// Claims of a token for `email` in `groups`, valid for ten minutes.
fn claims(issuer: &str, email: &str, groups: &[&str]) -> Value {
    json!({
        "iss": issuer, "aud": AUDIENCE, "sub": format!("sub-{email}"), "email": email,
        "groups": groups, "iat": now(), "exp": now() + 600,
    })
}

fn status(client: &Client, key: &str) -> u16 {
    match client.describe_key(key) {
        Ok(_) => 200,
        Err(e) => e.status().unwrap_or(0),
    }
}

/// A message for `key` with context `dept=DEPT`; returns its header.
fn message(server: &Server, key: &str, dept: &str, dir: &Path) -> Vec<u8> {
    message_header(&server.encrypt_file(dir, dept, key, &[&format!("dept={dept}")]))
}

/// Members of group finance may unwrap messages whose context says dept=finance.
fn finance_policy() -> Value {
    json!({ "Statement": [
        { "Effect": "Allow", "Principal": "admin", "Action": "*" },
        { "Effect": "Allow", "Principal": "*", "Action": ["DescribeKey", "GetPublicKey", "Unwrap"],
          "Condition": { "ForAnyValue:StringEquals": { "Jwt:groups": "finance" } } },
        { "Effect": "Deny", "Principal": "*", "Action": "Unwrap",
          "Condition": { "StringNotEquals": { "EncryptionContext:dept": "finance" } } },
    ] })
}

/// A server trusting `issuer` (principal: the `email` claim; keys refetched at most every
/// 2 s) and a key under [`finance_policy`].
fn finance_server(tmp: &Path, issuer: &Issuer) -> (Server, String) {
    let args = [
        "--oidc-issuer",
        &issuer.url,
        "--oidc-audience",
        AUDIENCE,
        "--oidc-principal-claim",
        "email",
        "--oidc-jwks-refresh",
        "2",
    ];
    let server = Server::start_with(&tmp.join("data"), &args);
    let key = server.create_key();
    let policy = tmp.join("policy.json");
    std::fs::write(&policy, finance_policy().to_string()).unwrap();
    success(&server.cli(Some(&server.admin), &["policy", "put", &key, policy.to_str().unwrap()]));
    (server, key)
}

#[test]
fn signed_in_users_are_principals_and_their_claims_are_condition_keys() {
    let tmp = tempfile::tempdir().unwrap();
    let (ec, rsa, ed) = (SigningKey::ec("ec-1"), SigningKey::rsa("rsa-1"), SigningKey::ed("ed-1"));
    let issuer = Issuer::start(&[&ec, &rsa, &ed]);
    let (server, key) = finance_server(tmp.path(), &issuer);
    let finance = message(&server, &key, "finance", tmp.path());
    let hr = message(&server, &key, "hr", tmp.path());

    let as_user = |token: String| Client::new(&server.addr, Some(token)).unwrap();
    let alice = as_user(ec.sign(&claims(&issuer.url, "alice@example.com", &["finance", "staff"])));
    let bob = as_user(ec.sign(&claims(&issuer.url, "bob@example.com", &["staff"])));
    assert_eq!(alice.unwrap(&finance, 0).unwrap().key_id, key, "finance member, finance message");
    let refused = alice.unwrap(&hr, 0).unwrap_err();
    assert_eq!(refused.status(), Some(403), "the context condition still applies: {refused}");
    assert_eq!(bob.unwrap(&finance, 0).unwrap_err().status(), Some(403), "bob is not in finance");
    assert_eq!(status(&bob, &key), 403);
    // Every accepted algorithm signs in.
    for signer in [&rsa, &ed] {
        let token = signer.sign(&claims(&issuer.url, "alice@example.com", &["finance"]));
        assert_eq!(status(&as_user(token), &key), 200, "{:?}", signer.alg);
    }
    // A signed-in user is never the admin, nor a reserved name.
    for name in ["admin", "Admin", "system", "-"] {
        let token = ec.sign(&claims(&issuer.url, name, &["finance"]));
        assert_eq!(as_user(token).list_tokens().unwrap_err().status(), Some(401), "{name}");
    }
    // Records name the principal, the issuer and the subject.
    let records = server.admin().audit_all().unwrap();
    let unwrap = records
        .iter()
        .find(|r| r.record.action == "Unwrap" && r.record.result == "Allowed")
        .unwrap();
    assert_eq!(unwrap.record.principal, "alice@example.com");
    assert_eq!(unwrap.record.issuer.as_deref(), Some(issuer.url.as_str()));
    assert_eq!(unwrap.record.subject.as_deref(), Some("sub-alice@example.com"));
    assert_eq!(unwrap.record.token_id, None);
}

#[test]
fn every_bad_token_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let ec = SigningKey::ec("ec-1");
    let rsa = SigningKey::rsa("rsa-1");
    let issuer = Issuer::start(&[&ec, &rsa]);
    let stranger_key = SigningKey::ec("ec-1");
    let stranger = Issuer::start(&[&stranger_key]);
    let (server, key) = finance_server(tmp.path(), &issuer);
    let good = claims(&issuer.url, "alice@example.com", &["finance"]);
    let try_token =
        |token: &str| status(&Client::new(&server.addr, Some(token.to_string())).unwrap(), &key);
    assert_eq!(try_token(&ec.sign(&good)), 200);

    let with = |changes: Value| {
        let mut c = good.clone();
        for (k, v) in changes.as_object().unwrap() {
            c[k] = v.clone();
        }
        c
    };
    let b64 = |v: &Value| URL_SAFE_NO_PAD.encode(v.to_string());
    let unsigned =
        format!("{}.{}.", b64(&json!({ "alg": "none", "typ": "JWT", "kid": "ec-1" })), b64(&good));
    // The classic algorithm confusion: an HMAC keyed with the issuer's public key PEM.
    let rsa_pem =
        std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/data/rsa-2048.pub.pem"))
            .unwrap();
    let hs256 = {
        let mut header = jsonwebtoken::Header::new(Algorithm::HS256);
        header.kid = Some("rsa-1".into());
        encode(&header, &good, &EncodingKey::from_secret(&rsa_pem).unwrap()).unwrap()
    };
    let tampered = {
        let token = ec.sign(&good);
        let parts: Vec<&str> = token.split('.').collect();
        let forged =
            b64(&with(json!({ "groups": ["finance", "admins"], "email": "mallory@example.com" })));
        format!("{}.{forged}.{}", parts[0], parts[2])
    };
    let cases: Vec<(&str, String)> = vec![
        ("alg none", unsigned),
        ("HS256 keyed with the public key", hs256),
        ("expired", ec.sign(&with(json!({ "exp": now() - 3600 })))),
        ("not yet valid", ec.sign(&with(json!({ "nbf": now() + 3600 })))),
        ("wrong audience", ec.sign(&with(json!({ "aud": "another-app" })))),
        (
            "untrusted issuer",
            stranger_key.sign(&claims(&stranger.url, "alice@example.com", &["finance"])),
        ),
        ("another issuer's key, our iss", stranger_key.sign(&good)),
        ("tampered payload", tampered),
        (
            "no exp",
            ec.sign(&json!({ "iss": issuer.url, "aud": AUDIENCE, "sub": "x", "email": "a@b" })),
        ),
    ];
    for (what, token) in &cases {
        assert_eq!(try_token(token), 401, "{what}");
    }
    // Within the skew, an expired token still passes (60 s by default).
    assert_eq!(try_token(&ec.sign(&with(json!({ "exp": now() - 10 })))), 200);

    // An unknown kid refetches the key set, at most once per interval.
    std::thread::sleep(Duration::from_secs(2));
    let before = issuer.fetches.load(Ordering::SeqCst);
    let rotated = SigningKey::ec("ec-2");
    for _ in 0..5 {
        assert_eq!(try_token(&rotated.sign(&good)), 401, "not published yet");
    }
    assert_eq!(
        issuer.fetches.load(Ordering::SeqCst),
        before + 1,
        "one fetch for five unknown kids"
    );
    issuer.published.lock().unwrap().push(rotated.public.clone());
    assert_eq!(try_token(&rotated.sign(&good)), 401, "published, but the interval has not passed");
    std::thread::sleep(Duration::from_millis(2100));
    assert_eq!(try_token(&rotated.sign(&good)), 200, "the new key is fetched and trusted");

    // The refusals are recorded with the reason (one record per client address and window).
    let records = server.admin().audit_all().unwrap();
    assert!(
        records.iter().any(|r| r.record.result == "Denied" && r.record.detail.contains("oidc:")),
        "no refusal names its reason"
    );
    assert!(records.iter().all(|r| !r.record.detail.contains("eyJ")), "a token reached the log");
}
