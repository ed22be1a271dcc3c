//! Keys: create, list, describe, public key, state changes, rotation, policy.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Path, State};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Tx, audited};
use crate::domain::keys::{self, DISABLED, ENABLED, KeyRow, PENDING_DELETION, now_ms};
use crate::domain::policy::{Policy, default_policy};
use crate::domain::secrets;
use crate::error::AppError;
use crate::handlers::{json_body, require_admin};
use crate::state::{AppState, Caller};
use axum::extract::rejection::JsonRejection;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct CreateKey {
    #[serde(default = "default_spec")]
    key_spec: String,
    #[serde(default = "default_usage")]
    key_usage: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    tags: BTreeMap<String, String>,
    policy: Option<Value>,
}

fn default_spec() -> String {
    "RSA_3072".into()
}

fn default_usage() -> String {
    "ENCRYPT_DECRYPT".into()
}

/// Whether `caller` may do `action` on `key`. The admin may always read and replace key
/// policies, so that no policy can lock a key out of management.
pub(crate) fn authorize(caller: &Caller, key: &KeyRow, action: &str) -> Result<(), AppError> {
    let admin_override = caller.principal == crate::ADMIN_PRINCIPAL
        && matches!(action, "GetKeyPolicy" | "PutKeyPolicy");
    if admin_override || key.policy()?.allows(&caller.principal, action, None) {
        Ok(())
    } else {
        Err(AppError::AccessDenied(format!(
            "{} may not {action} key {}",
            caller.principal, key.key_id
        )))
    }
}

/// Resolves, authorises and runs a key-scoped action, audited.
async fn key_action<T: Send + 'static>(
    state: &AppState,
    caller: &Caller,
    key_ref: &str,
    action: &'static str,
    act: impl for<'a> FnOnce(
        &'a mut Tx,
        KeyRow,
    ) -> futures_util::future::BoxFuture<'a, Result<T, AppError>>
    + Send
    + 'static,
) -> Result<T, AppError> {
    let (key_ref, who) = (key_ref.to_string(), caller.clone());
    audited(state, caller, action, |tx, key_id| {
        Box::pin(async move {
            let key = keys::resolve(tx, &key_ref).await?;
            *key_id = Some(key.key_id.clone());
            authorize(&who, &key, action)?;
            act(tx, key).await
        })
    })
    .await
}

pub(crate) async fn create(
    State(state): State<AppState>,
    caller: Caller,
    body: Result<Json<CreateKey>, JsonRejection>,
) -> Result<Json<Value>, AppError> {
    let req = match require_admin(&caller).and_then(|()| json_body(body)) {
        Ok(req) => req,
        Err(e) => return state.audit(&caller, "CreateKey", None, None, Err(e)).await,
    };
    if req.key_usage != "ENCRYPT_DECRYPT" {
        let e = AppError::invalid("keyUsage must be ENCRYPT_DECRYPT");
        return state.audit(&caller, "CreateKey", None, None, Err(e)).await;
    }
    let policy = match req.policy.map(Policy::from_json).transpose() {
        Ok(p) => p.unwrap_or_else(default_policy),
        Err(e) => return state.audit(&caller, "CreateKey", None, None, Err(e)).await,
    };
    // Key generation takes up to seconds: before the writer lock, off the async threads.
    let spec = req.key_spec.clone();
    let generated = tokio::task::spawn_blocking(move || secrets::generate(&spec))
        .await
        .map_err(|e| AppError::internal(e.to_string()))?;
    let (pkcs8, spki) = match generated {
        Ok(pair) => pair,
        Err(e) => return state.audit(&caller, "CreateKey", None, None, Err(e)).await,
    };
    let key = KeyRow {
        key_id: keys::new_key_id()?,
        description: req.description,
        key_spec: req.key_spec,
        key_usage: req.key_usage,
        state: ENABLED.into(),
        deletion_date: None,
        created_at: now_ms(),
        current_version: 1,
        tags: serde_json::to_string(&req.tags).map_err(|e| AppError::internal(e.to_string()))?,
        policy: serde_json::to_string(&policy).map_err(|e| AppError::internal(e.to_string()))?,
    };
    let sealed = state.root.seal(&keys::key_name(&key.key_id, 1), &pkcs8)?;
    audited(&state, &caller, "CreateKey", |tx, key_id| {
        Box::pin(async move {
            *key_id = Some(key.key_id.clone());
            keys::insert(tx, &key).await?;
            keys::insert_version(tx, &key.key_id, 1, &spki, &sealed).await?;
            Ok(Json(json!(key.metadata())))
        })
    })
    .await
}

pub(crate) async fn list(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Value>, AppError> {
    let who = caller.clone();
    audited(&state, &caller, "ListKeys", |tx, _| {
        Box::pin(async move {
            let keys = keys::list(tx).await?;
            let visible: Vec<_> = keys
                .iter()
                .filter(|k| authorize(&who, k, "DescribeKey").is_ok())
                .map(KeyRow::metadata)
                .collect();
            Ok(Json(json!({ "keys": visible })))
        })
    })
    .await
}

pub(crate) async fn describe(
    State(state): State<AppState>,
    caller: Caller,
    Path(key_ref): Path<String>,
) -> Result<Json<Value>, AppError> {
    key_action(&state, &caller, &key_ref, "DescribeKey", |_, key| {
        Box::pin(async move { Ok(Json(json!(key.metadata()))) })
    })
    .await
}

pub(crate) async fn public_key(
    State(state): State<AppState>,
    caller: Caller,
    Path(key_ref): Path<String>,
) -> Result<Json<Value>, AppError> {
    key_action(&state, &caller, &key_ref, "GetPublicKey", |tx, key| {
        Box::pin(async move {
            key.require_enabled()?;
            let (spki, _) = keys::version(tx, &key.key_id, key.current_version).await?;
            Ok(Json(keys::public_key_document(&key, key.current_version, &spki)?))
        })
    })
    .await
}

/// Moves `key` to `to` if its state is one of `from`.
async fn transition(
    tx: &mut Tx,
    mut key: KeyRow,
    from: &[&str],
    to: &str,
    deletion_date: Option<i64>,
) -> Result<Json<Value>, AppError> {
    if !from.contains(&key.state.as_str()) {
        return Err(AppError::InvalidState(format!("key {} is {}", key.key_id, key.state)));
    }
    key.state = to.into();
    key.deletion_date = deletion_date;
    keys::update(tx, &key).await?;
    Ok(Json(json!(key.metadata())))
}

pub(crate) async fn enable(
    State(state): State<AppState>,
    caller: Caller,
    Path(key_ref): Path<String>,
) -> Result<Json<Value>, AppError> {
    key_action(&state, &caller, &key_ref, "EnableKey", |tx, key| {
        Box::pin(transition(tx, key, &[ENABLED, DISABLED], ENABLED, None))
    })
    .await
}

pub(crate) async fn disable(
    State(state): State<AppState>,
    caller: Caller,
    Path(key_ref): Path<String>,
) -> Result<Json<Value>, AppError> {
    key_action(&state, &caller, &key_ref, "DisableKey", |tx, key| {
        Box::pin(transition(tx, key, &[ENABLED, DISABLED], DISABLED, None))
    })
    .await
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct ScheduleDeletion {
    pending_window_in_days: Option<i64>,
}

pub(crate) async fn schedule_deletion(
    State(state): State<AppState>,
    caller: Caller,
    Path(key_ref): Path<String>,
    body: Result<Json<ScheduleDeletion>, JsonRejection>,
) -> Result<Json<Value>, AppError> {
    // The body is optional: no JSON at all means the default window.
    let days = match body {
        Ok(Json(b)) => b.pending_window_in_days,
        Err(JsonRejection::MissingJsonContentType(_)) => None,
        Err(e) => {
            let e = AppError::invalid(e.body_text());
            return state.audit(&caller, "ScheduleKeyDeletion", None, None, Err(e)).await;
        }
    }
    .unwrap_or(30);
    key_action(&state, &caller, &key_ref, "ScheduleKeyDeletion", move |tx, key| {
        Box::pin(async move {
            if !keys::DELETION_WINDOW_DAYS.contains(&days) {
                return Err(AppError::invalid("pendingWindowInDays must be 7 to 30"));
            }
            let when = now_ms() + days * 24 * 3600 * 1000;
            transition(tx, key, &[ENABLED, DISABLED], PENDING_DELETION, Some(when)).await
        })
    })
    .await
}

pub(crate) async fn cancel_deletion(
    State(state): State<AppState>,
    caller: Caller,
    Path(key_ref): Path<String>,
) -> Result<Json<Value>, AppError> {
    key_action(&state, &caller, &key_ref, "CancelKeyDeletion", |tx, key| {
        Box::pin(transition(tx, key, &[PENDING_DELETION], DISABLED, None))
    })
    .await
}

pub(crate) async fn rotate(
    State(state): State<AppState>,
    caller: Caller,
    Path(key_ref): Path<String>,
) -> Result<Json<Value>, AppError> {
    let root = state.clone();
    key_action(&state, &caller, &key_ref, "RotateKey", move |tx, mut key| {
        Box::pin(async move {
            key.require_enabled()?;
            let spec = key.key_spec.clone();
            let (pkcs8, spki) = tokio::task::spawn_blocking(move || secrets::generate(&spec))
                .await
                .map_err(|e| AppError::internal(e.to_string()))??;
            let version = key.current_version + 1;
            let sealed = root.root.seal(&keys::key_name(&key.key_id, version), &pkcs8)?;
            keys::insert_version(tx, &key.key_id, version, &spki, &sealed).await?;
            key.current_version = version;
            keys::update(tx, &key).await?;
            Ok(Json(json!(key.metadata())))
        })
    })
    .await
}

pub(crate) async fn get_policy(
    State(state): State<AppState>,
    caller: Caller,
    Path(key_ref): Path<String>,
) -> Result<Json<Value>, AppError> {
    key_action(&state, &caller, &key_ref, "GetKeyPolicy", |_, key| {
        Box::pin(async move { Ok(Json(json!({ "keyId": key.key_id, "policy": key.policy()? }))) })
    })
    .await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PutPolicy {
    policy: Value,
}

pub(crate) async fn put_policy(
    State(state): State<AppState>,
    caller: Caller,
    Path(key_ref): Path<String>,
    body: Result<Json<PutPolicy>, JsonRejection>,
) -> Result<Json<Value>, AppError> {
    key_action(&state, &caller, &key_ref, "PutKeyPolicy", move |tx, mut key| {
        Box::pin(async move {
            let policy = Policy::from_json(json_body(body)?.policy)?;
            key.policy =
                serde_json::to_string(&policy).map_err(|e| AppError::internal(e.to_string()))?;
            keys::update(tx, &key).await?;
            Ok(Json(json!({ "keyId": key.key_id, "policy": policy })))
        })
    })
    .await
}
