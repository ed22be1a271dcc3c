//! `cipherdrop demo`: first-run set-up of the archive demo.
//!
//! Creates, once: an RSA-3072 key with alias `alias/archive` whose policy lets any principal
//! unwrap only messages whose encryption context `owner` equals that principal; tokens for the
//! demo principals `alice` and `bob`; and an offline escrow key pair (`escrow-private.pem`,
//! `escrow-public.pem`) for recovery without the server. `demo.json` holds what the page needs.

use std::path::Path;

use serde_json::{Value, json};

use crate::domain::audit;
use crate::domain::keys::{self, ENABLED, KeyRow, now_ms};
use crate::domain::policy::Policy;
use crate::domain::secrets;
use crate::error::AppError;
use crate::state::{AppState, Caller};

/// Alias of the demo key.
pub const ARCHIVE_ALIAS: &str = "alias/archive";
/// The demo's principals.
pub const PRINCIPALS: [&str; 2] = ["alice", "bob"];
/// Raw RSA key namespace and name of the escrow key.
pub const ESCROW_NAMESPACE: &str = "cipherdrop-escrow";
/// See [`ESCROW_NAMESPACE`].
pub const ESCROW_NAME: &str = "demo-escrow";

/// The demo key's policy.
fn policy() -> Result<Policy, AppError> {
    Policy::from_json(json!({
        "Version": "2026-11-23",
        "Statement": [
            {"Sid": "AdminFullAccess", "Effect": "Allow", "Principal": crate::ADMIN_PRINCIPAL, "Action": "*"},
            {"Sid": "UsersUseThePublicKey", "Effect": "Allow", "Principal": PRINCIPALS,
             "Action": ["GetPublicKey", "DescribeKey"]},
            {"Sid": "OwnersUnwrapTheirOwn", "Effect": "Allow", "Principal": "*", "Action": "Unwrap",
             "Condition": {"StringEquals": {"EncryptionContext:owner": "${principal}"}}}
        ]
    }))
}

/// Runs the first-run set-up unless `DIR/demo.json` exists; returns its content.
pub(crate) async fn bootstrap(state: &AppState, dir: &Path) -> Result<Value, AppError> {
    let config_path = dir.join("demo.json");
    if let Ok(text) = std::fs::read_to_string(&config_path) {
        return serde_json::from_str(&text)
            .map_err(|e| AppError::internal(format!("demo.json: {e}")));
    }
    let system = Caller { principal: "system".into(), request_id: "demo-setup".into() };

    let (pkcs8, spki) = tokio::task::spawn_blocking(|| secrets::generate("RSA_3072"))
        .await
        .map_err(|e| AppError::internal(e.to_string()))??;
    let key = KeyRow {
        key_id: keys::new_key_id()?,
        description: "cipherdrop archive demo".into(),
        key_spec: "RSA_3072".into(),
        key_usage: "ENCRYPT_DECRYPT".into(),
        state: ENABLED.into(),
        deletion_date: None,
        created_at: now_ms(),
        current_version: 1,
        tags: "{}".into(),
        policy: serde_json::to_string(&policy()?).map_err(|e| AppError::internal(e.to_string()))?,
    };
    let sealed = state.root.seal(&keys::key_name(&key.key_id, 1), &pkcs8)?;
    // In a block: the writer lock must be released before the tokens are created.
    {
        let mut w = state.begin().await?;
        keys::insert(&mut w.tx, &key).await?;
        keys::insert_version(&mut w.tx, &key.key_id, 1, &spki, &sealed).await?;
        sqlx::query("INSERT INTO aliases (alias_name, key_id, updated_at) VALUES (?, ?, ?)")
            .bind(ARCHIVE_ALIAS)
            .bind(&key.key_id)
            .bind(now_ms())
            .execute(&mut *w.tx)
            .await?;
        for action in ["CreateKey", "CreateAlias"] {
            let record = state.record(&system, action, Some(&key.key_id), None, &Ok(()));
            audit::append(&mut w.tx, record).await?;
        }
        w.tx.commit().await?;
    }

    let mut tokens = serde_json::Map::new();
    for principal in PRINCIPALS {
        tokens.insert(principal.into(), json!(state.create_token(principal, Some(&system)).await?));
    }

    let (escrow_pkcs8, escrow_spki) = tokio::task::spawn_blocking(|| secrets::generate("RSA_3072"))
        .await
        .map_err(|e| AppError::internal(e.to_string()))??;
    crate::state::write_secret(
        &dir.join("escrow-private.pem"),
        secrets::pem("PRIVATE KEY", &escrow_pkcs8).as_bytes(),
    )?;
    let escrow_public = secrets::pem("PUBLIC KEY", &escrow_spki);
    std::fs::write(dir.join("escrow-public.pem"), &escrow_public)
        .map_err(|e| AppError::internal(format!("escrow-public.pem: {e}")))?;

    let config = json!({
        "keyId": key.key_id,
        "keyAlias": ARCHIVE_ALIAS,
        "principals": tokens,
        "escrow": {"keyNamespace": ESCROW_NAMESPACE, "keyName": ESCROW_NAME, "publicKeyPem": escrow_public},
    });
    let text =
        serde_json::to_string_pretty(&config).map_err(|e| AppError::internal(e.to_string()))?;
    crate::state::write_secret(&config_path, text.as_bytes())?;
    Ok(config)
}
