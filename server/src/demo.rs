//! `cipherdrop demo`: first-run set-up of the archive demo, and its development sign-in.
//!
//! Creates, once: an RSA-3072 key with alias `alias/archive` whose policy lets any principal
//! unwrap only messages whose encryption context `owner` equals that principal; an offline
//! escrow key pair (`escrow-private.pem`, `escrow-public.pem`) for recovery without the server;
//! and the signing key of a small OpenID Connect issuer of its own (`demo-oidc-key.der`).
//! `demo.json` holds what the page needs; it holds no token.
//!
//! The page signs in as `alice` or `bob` at the issuer's token endpoint and gets a
//! short-lived ID token, which the key server verifies as it verifies any issuer's: through
//! the discovery document and JWKS the issuer publishes (the demo trusts it with
//! `--oidc-issuer`), the same code path a production deployment runs.

use std::path::Path;

use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, EncodingKey};
use serde_json::{Value, json};

use crate::domain::secrets::{self, write_secret};
use crate::domain::{ADMIN_PRINCIPAL, Caller, DomainError, KeyServer, NewKey};

/// The audience of the demo issuer's ID tokens.
pub const AUDIENCE: &str = "cipherdrop-demo";
/// How long a demo ID token is valid, in seconds.
pub const TOKEN_LIFETIME: u64 = 300;
/// Key ID of the demo issuer's signing key.
const SIGNING_KID: &str = "demo-1";

/// The demo issuer's URL for a server listening on `listen`.
pub fn issuer_url(listen: &str) -> String {
    format!("http://{listen}/demo/oidc")
}

/// The demo's development OpenID Connect issuer: an ES256 key kept in the data directory.
#[derive(Clone)]
pub(crate) struct DevIssuer {
    issuer: String,
    key: std::sync::Arc<EncodingKey>,
    public: Jwk,
}

impl std::fmt::Debug for DevIssuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DevIssuer").field("issuer", &self.issuer).finish_non_exhaustive()
    }
}

impl DevIssuer {
    /// The issuer at `issuer`, its key read from (or first made in) `dir`.
    pub(crate) fn open(dir: &Path, issuer: String) -> Result<Self, DomainError> {
        use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair};
        let path = dir.join("demo-oidc-key.der");
        if !path.exists() {
            let rng = aws_lc_rs::rand::SystemRandom::new();
            let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
                .map_err(|_| DomainError::internal("demo issuer key generation failed"))?;
            write_secret(&path, pkcs8.as_ref())?;
        }
        let pkcs8 = secrets::read_secret(&path)?;
        let key = EncodingKey::from_ec_der(&pkcs8);
        let mut public = Jwk::from_encoding_key(&key, Algorithm::ES256)
            .map_err(|e| DomainError::internal(format!("demo issuer key: {e}")))?;
        public.common.key_id = Some(SIGNING_KID.into());
        Ok(Self { issuer, key: std::sync::Arc::new(key), public })
    }

    /// The discovery document (OpenID Connect Discovery 1.0, the members a verifier needs).
    pub(crate) fn discovery(&self) -> Value {
        json!({
            "issuer": self.issuer,
            "jwks_uri": format!("{}/jwks", self.issuer),
            "token_endpoint": format!("{}/token", self.issuer),
            "id_token_signing_alg_values_supported": ["ES256"],
            "subject_types_supported": ["public"],
            "response_types_supported": ["id_token"],
        })
    }

    /// The public key set.
    pub(crate) fn jwks(&self) -> Value {
        json!(JwkSet { keys: vec![self.public.clone()] })
    }

    /// A short-lived ID token for demo principal `user` (an error for anyone else).
    pub(crate) fn sign_in(&self, user: &str) -> Result<Value, DomainError> {
        if !PRINCIPALS.contains(&user) {
            return Err(DomainError::invalid(format!("sign in as one of {PRINCIPALS:?}")));
        }
        let now = jsonwebtoken::get_current_timestamp();
        let claims = json!({
            "iss": self.issuer, "aud": AUDIENCE, "sub": user, "name": user,
            "iat": now, "nbf": now, "exp": now + TOKEN_LIFETIME,
        });
        let mut header = jsonwebtoken::Header::new(Algorithm::ES256);
        header.kid = Some(SIGNING_KID.into());
        let token = jsonwebtoken::encode(&header, &claims, &self.key)
            .map_err(|e| DomainError::internal(format!("demo sign-in: {e}")))?;
        Ok(json!({ "id_token": token, "token_type": "Bearer", "expires_in": TOKEN_LIFETIME }))
    }
}

/// Alias of the demo key.
pub const ARCHIVE_ALIAS: &str = "alias/archive";
/// The demo's principals.
pub const PRINCIPALS: [&str; 2] = ["alice", "bob"];
/// Raw RSA key namespace and name of the escrow key.
pub const ESCROW_NAMESPACE: &str = "cipherdrop-escrow";
/// See [`ESCROW_NAMESPACE`].
pub const ESCROW_NAME: &str = "demo-escrow";

/// The demo key's policy.
fn policy() -> Value {
    json!({
        "Version": "2026-11-23",
        "Statement": [
            {"Sid": "AdminFullAccess", "Effect": "Allow", "Principal": ADMIN_PRINCIPAL, "Action": "*"},
            {"Sid": "UsersUseThePublicKey", "Effect": "Allow", "Principal": PRINCIPALS,
             "Action": ["GetPublicKey", "DescribeKey"]},
            {"Sid": "OwnersUnwrapTheirOwn", "Effect": "Allow", "Principal": "*", "Action": "Unwrap",
             "Condition": {"StringEquals": {"EncryptionContext:owner": "${principal}"}}}
        ]
    })
}

/// Runs the first-run set-up unless `DIR/demo.json` exists; returns its content. The admin
/// acts through the key server's own operations, so every step is audited as usual.
pub(crate) async fn bootstrap(keys: &KeyServer, dir: &Path) -> Result<Value, DomainError> {
    let config_path = dir.join("demo.json");
    if let Ok(text) = std::fs::read_to_string(&config_path) {
        let mut config: Value = serde_json::from_str(&text)
            .map_err(|e| DomainError::internal(format!("demo.json: {e}")))?;
        // Data directories from before the sign-in held tokens here: names only now.
        config["principals"] = json!(PRINCIPALS);
        config["signIn"] = json!("/demo/oidc/token");
        return Ok(config);
    }
    let admin = Caller::named(ADMIN_PRINCIPAL, "demo-setup");
    let key = keys
        .create_key(
            &admin,
            NewKey {
                key_spec: "RSA_3072".into(),
                key_usage: "ENCRYPT_DECRYPT".into(),
                description: "cipherdrop archive demo".into(),
                tags: Default::default(),
                policy: Some(policy()),
                alias: Some(ARCHIVE_ALIAS.into()),
                origin: "AWS_KMS".into(),
                multi_region: false,
            },
        )
        .await?;

    let (escrow_pkcs8, escrow_spki) =
        tokio::task::spawn_blocking(|| crate::domain::material::generate("RSA_3072"))
            .await
            .map_err(|e| DomainError::internal(e.to_string()))??;
    write_secret(
        &dir.join("escrow-private.pem"),
        secrets::pem("PRIVATE KEY", &escrow_pkcs8).as_bytes(),
    )?;
    let escrow_public = secrets::pem("PUBLIC KEY", &escrow_spki);
    std::fs::write(dir.join("escrow-public.pem"), &escrow_public)
        .map_err(|e| DomainError::internal(format!("escrow-public.pem: {e}")))?;

    let config = json!({
        "keyId": key.key_id(),
        "keyAlias": ARCHIVE_ALIAS,
        "principals": PRINCIPALS,
        "signIn": "/demo/oidc/token",
        "escrow": {"keyNamespace": ESCROW_NAMESPACE, "keyName": ESCROW_NAME, "publicKeyPem": escrow_public},
    });
    let text =
        serde_json::to_string_pretty(&config).map_err(|e| DomainError::internal(e.to_string()))?;
    write_secret(&config_path, text.as_bytes())?;
    Ok(config)
}
