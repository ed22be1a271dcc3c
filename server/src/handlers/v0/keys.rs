//! Keys: create, list, describe, public key, state changes, rotation, policy.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::domain::policy::PolicyDocument;
use crate::domain::{Caller, DomainError, NewKey};
use crate::handlers::{KeyRef, json_body};
use crate::state::AppState;

type Answer = Result<Json<Value>, DomainError>;

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
    /// Parsed with duplicate keys refused and the size limit applied.
    policy: Option<PolicyDocument>,
}

fn default_spec() -> String {
    "RSA_3072".into()
}

fn default_usage() -> String {
    "ENCRYPT_DECRYPT".into()
}

pub(crate) async fn create(
    State(state): State<AppState>,
    caller: Caller,
    body: Result<Json<CreateKey>, JsonRejection>,
) -> Answer {
    let req = match json_body(body) {
        Ok(req) => req,
        Err(e) => return state.keys.refuse(&caller, "CreateKey", e).await,
    };
    // `/v0` keys wrap data keys: the signing, MAC and agreement keys are the KMS API's.
    let encryption =
        matches!(req.key_spec.as_str(), "SYMMETRIC_DEFAULT" | "RSA_2048" | "RSA_3072" | "RSA_4096");
    if !encryption || req.key_usage != "ENCRYPT_DECRYPT" {
        let e = DomainError::invalid(
            "keySpec must be SYMMETRIC_DEFAULT, RSA_2048, RSA_3072 or RSA_4096 and keyUsage \
             ENCRYPT_DECRYPT (other keys are made through the AWS KMS API)",
        );
        return state.keys.refuse(&caller, "CreateKey", e).await;
    }
    let new = NewKey {
        key_spec: req.key_spec,
        key_usage: req.key_usage,
        description: req.description,
        tags: req.tags,
        policy: req.policy.map(|p| p.0),
        alias: None,
        origin: "AWS_KMS".into(),
        multi_region: false,
    };
    Ok(Json(json!(state.keys.create_key(&caller, new).await?)))
}

pub(crate) async fn list(State(state): State<AppState>, caller: Caller) -> Answer {
    Ok(Json(json!({ "keys": state.keys.list_keys(&caller).await? })))
}

pub(crate) async fn describe(
    State(state): State<AppState>,
    caller: Caller,
    KeyRef(key_ref): KeyRef,
) -> Answer {
    Ok(Json(json!(state.keys.describe(&caller, &key_ref).await?)))
}

pub(crate) async fn public_key(
    State(state): State<AppState>,
    caller: Caller,
    KeyRef(key_ref): KeyRef,
) -> Answer {
    Ok(Json(state.keys.public_key(&caller, &key_ref).await?))
}

async fn transition(
    state: &AppState,
    caller: &Caller,
    key_ref: &str,
    action: &'static str,
) -> Answer {
    Ok(Json(json!(state.keys.transition(caller, key_ref, action, None).await?)))
}

pub(crate) async fn enable(
    State(state): State<AppState>,
    caller: Caller,
    KeyRef(key_ref): KeyRef,
) -> Answer {
    transition(&state, &caller, &key_ref, "EnableKey").await
}

pub(crate) async fn disable(
    State(state): State<AppState>,
    caller: Caller,
    KeyRef(key_ref): KeyRef,
) -> Answer {
    transition(&state, &caller, &key_ref, "DisableKey").await
}

pub(crate) async fn cancel_deletion(
    State(state): State<AppState>,
    caller: Caller,
    KeyRef(key_ref): KeyRef,
) -> Answer {
    transition(&state, &caller, &key_ref, "CancelKeyDeletion").await
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct ScheduleDeletion {
    #[serde(default, deserialize_with = "crate::handlers::whole")]
    pending_window_in_days: Option<i64>,
}

pub(crate) async fn schedule_deletion(
    State(state): State<AppState>,
    caller: Caller,
    KeyRef(key_ref): KeyRef,
    body: Result<Json<ScheduleDeletion>, JsonRejection>,
) -> Answer {
    // The body is optional: no JSON at all means the default window.
    let days = match body {
        Ok(Json(b)) => b.pending_window_in_days,
        Err(JsonRejection::MissingJsonContentType(_)) => None,
        Err(e) => return state.keys.refuse(&caller, "ScheduleKeyDeletion", e.into()).await,
    };
    let action = "ScheduleKeyDeletion";
    Ok(Json(json!(state.keys.transition(&caller, &key_ref, action, days).await?)))
}

pub(crate) async fn rotate(
    State(state): State<AppState>,
    caller: Caller,
    KeyRef(key_ref): KeyRef,
) -> Answer {
    Ok(Json(json!(state.keys.rotate(&caller, &key_ref).await?)))
}

pub(crate) async fn get_policy(
    State(state): State<AppState>,
    caller: Caller,
    KeyRef(key_ref): KeyRef,
) -> Answer {
    let (key_id, policy) = state.keys.get_policy(&caller, &key_ref).await?;
    Ok(Json(json!({ "keyId": key_id, "policy": policy })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PutPolicy {
    /// Parsed with duplicate keys refused and the size limit applied.
    policy: PolicyDocument,
}

pub(crate) async fn put_policy(
    State(state): State<AppState>,
    caller: Caller,
    KeyRef(key_ref): KeyRef,
    body: Result<Json<PutPolicy>, JsonRejection>,
) -> Answer {
    let document = match json_body(body) {
        Ok(b) => b.policy.0,
        Err(e) => return state.keys.refuse(&caller, "PutKeyPolicy", e).await,
    };
    let (key_id, policy) = state.keys.put_policy(&caller, &key_ref, document).await?;
    Ok(Json(json!({ "keyId": key_id, "policy": policy })))
}
