//! Aliases: `alias/NAME` names for keys, usable wherever a key ID is.

use axum::Json;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::domain::{Caller, DomainError};
use crate::handlers::{Path, json_body};
use crate::state::AppState;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct AliasBody {
    alias_name: Option<String>,
    target_key_id: String,
}

async fn set(
    state: &AppState,
    caller: &Caller,
    name: Option<String>,
    body: Result<Json<AliasBody>, JsonRejection>,
) -> Result<Json<Value>, DomainError> {
    let create = name.is_none();
    let body = match json_body(body) {
        Ok(b) => b,
        Err(e) => {
            let action = if create { "CreateAlias" } else { "UpdateAlias" };
            return state.keys.refuse(caller, action, e).await;
        }
    };
    let name = name.unwrap_or_else(|| body.alias_name.unwrap_or_default());
    let row = state.keys.set_alias(caller, name, body.target_key_id, create).await?;
    Ok(Json(json!({ "aliasName": row.alias_name, "targetKeyId": row.key_id })))
}

pub(crate) async fn create(
    State(state): State<AppState>,
    caller: Caller,
    body: Result<Json<AliasBody>, JsonRejection>,
) -> Result<Json<Value>, DomainError> {
    set(&state, &caller, None, body).await
}

pub(crate) async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path(alias): Path<String>,
    body: Result<Json<AliasBody>, JsonRejection>,
) -> Result<Json<Value>, DomainError> {
    set(&state, &caller, Some(full_name(&alias)), body).await
}

pub(crate) async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path(alias): Path<String>,
) -> Result<Json<Value>, DomainError> {
    let name = state.keys.delete_alias(&caller, full_name(&alias)).await?;
    Ok(Json(json!({ "aliasName": name })))
}

pub(crate) async fn list(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Value>, DomainError> {
    let aliases: Vec<_> = state
        .keys
        .list_aliases(&caller)
        .await?
        .into_iter()
        .map(|a| json!({ "aliasName": a.alias_name, "targetKeyId": a.key_id }))
        .collect();
    Ok(Json(json!({ "aliases": aliases })))
}

/// The route captures the path after `/aliases/`; accept it with or without `alias/`.
fn full_name(captured: &str) -> String {
    if captured.starts_with("alias/") { captured.into() } else { format!("alias/{captured}") }
}
