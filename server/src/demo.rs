//! `cipherdrop demo`: first-run set-up of the archive demo.
//!
//! Creates, once: an RSA-3072 key with alias `alias/archive` whose policy lets any principal
//! unwrap only messages whose encryption context `owner` equals that principal; tokens for the
//! demo principals `alice` and `bob`; and an offline escrow key pair (`escrow-private.pem`,
//! `escrow-public.pem`) for recovery without the server. `demo.json` holds what the page needs.

use std::path::Path;

use serde_json::{Value, json};

use crate::domain::secrets::{self, write_secret};
use crate::domain::{ADMIN_PRINCIPAL, Caller, DomainError, KeyServer, NewKey};

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
        return serde_json::from_str(&text)
            .map_err(|e| DomainError::internal(format!("demo.json: {e}")));
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
            },
        )
        .await?;

    let mut tokens = serde_json::Map::new();
    for principal in PRINCIPALS {
        let (token, _) = keys.create_token(&admin, principal, None).await?;
        tokens.insert(principal.into(), json!(token));
    }

    let (escrow_pkcs8, escrow_spki) = tokio::task::spawn_blocking(|| secrets::generate("RSA_3072"))
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
        "principals": tokens,
        "escrow": {"keyNamespace": ESCROW_NAMESPACE, "keyName": ESCROW_NAME, "publicKeyPem": escrow_public},
    });
    let text =
        serde_json::to_string_pretty(&config).map_err(|e| DomainError::internal(e.to_string()))?;
    write_secret(&config_path, text.as_bytes())?;
    Ok(config)
}
