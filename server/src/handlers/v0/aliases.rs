//! Aliases: `alias/NAME` names for keys, usable wherever a key ID is.

use axum::Json;
use axum::extract::{Path, State};
use serde::Deserialize;
use serde_json::{Value, json};

use super::audited;
use crate::domain::keys::{self, now_ms};
use crate::error::AppError;
use crate::handlers::{json_body, require_admin};
use crate::state::{AppState, Caller};
use axum::extract::rejection::JsonRejection;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct AliasBody {
    alias_name: Option<String>,
    target_key_id: String,
}

fn valid_name(name: &str) -> Result<(), AppError> {
    let rest = name.strip_prefix("alias/").unwrap_or_default();
    let ok = !rest.is_empty()
        && rest.len() <= 250
        && !rest.starts_with("aws/")
        && rest.chars().all(|c| c.is_ascii_alphanumeric() || "/_-".contains(c));
    if ok { Ok(()) } else { Err(AppError::invalid(format!("invalid alias name {name:?}"))) }
}

/// Creates (`create`) or retargets an alias, admin only.
async fn set(
    state: &AppState,
    caller: &Caller,
    action: &'static str,
    name: String,
    target: String,
    create: bool,
) -> Result<Json<Value>, AppError> {
    let admin = require_admin(caller);
    audited(state, caller, action, move |tx, key_id| {
        Box::pin(async move {
            admin?;
            valid_name(&name)?;
            if target.starts_with("alias/") {
                return Err(AppError::invalid("targetKeyId must be a key ID"));
            }
            let key = keys::resolve(tx, &target).await?;
            *key_id = Some(key.key_id.clone());
            let exists: Option<(String,)> =
                sqlx::query_as("SELECT key_id FROM aliases WHERE alias_name = ?")
                    .bind(&name)
                    .fetch_optional(&mut **tx)
                    .await?;
            match (create, exists) {
                (true, Some(_)) => return Err(AppError::invalid(format!("{name} already exists"))),
                (false, None) => return Err(AppError::NotFound(format!("{name} not found"))),
                _ => {}
            }
            sqlx::query(
                "INSERT OR REPLACE INTO aliases (alias_name, key_id, updated_at) VALUES (?, ?, ?)",
            )
            .bind(&name)
            .bind(&key.key_id)
            .bind(now_ms())
            .execute(&mut **tx)
            .await?;
            Ok(Json(json!({ "aliasName": name, "targetKeyId": key.key_id })))
        })
    })
    .await
}

pub(crate) async fn create(
    State(state): State<AppState>,
    caller: Caller,
    body: Result<Json<AliasBody>, JsonRejection>,
) -> Result<Json<Value>, AppError> {
    let body = match json_body(body) {
        Ok(b) => b,
        Err(e) => return state.audit(&caller, "CreateAlias", None, None, Err(e)).await,
    };
    let name = body.alias_name.unwrap_or_default();
    set(&state, &caller, "CreateAlias", name, body.target_key_id, true).await
}

pub(crate) async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path(alias): Path<String>,
    body: Result<Json<AliasBody>, JsonRejection>,
) -> Result<Json<Value>, AppError> {
    let body = match json_body(body) {
        Ok(b) => b,
        Err(e) => return state.audit(&caller, "UpdateAlias", None, None, Err(e)).await,
    };
    set(&state, &caller, "UpdateAlias", full_name(&alias), body.target_key_id, false).await
}

pub(crate) async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path(alias): Path<String>,
) -> Result<Json<Value>, AppError> {
    let (admin, name) = (require_admin(&caller), full_name(&alias));
    audited(&state, &caller, "DeleteAlias", move |tx, _| {
        Box::pin(async move {
            admin?;
            let done = sqlx::query("DELETE FROM aliases WHERE alias_name = ?")
                .bind(&name)
                .execute(&mut **tx)
                .await?;
            if done.rows_affected() == 0 {
                return Err(AppError::NotFound(format!("{name} not found")));
            }
            Ok(Json(json!({ "aliasName": name })))
        })
    })
    .await
}

pub(crate) async fn list(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Value>, AppError> {
    audited(&state, &caller, "ListAliases", |tx, _| {
        Box::pin(async move {
            let rows: Vec<(String, String)> =
                sqlx::query_as("SELECT alias_name, key_id FROM aliases ORDER BY alias_name")
                    .fetch_all(&mut **tx)
                    .await?;
            let aliases: Vec<_> = rows
                .into_iter()
                .map(|(n, k)| json!({ "aliasName": n, "targetKeyId": k }))
                .collect();
            Ok(Json(json!({ "aliases": aliases })))
        })
    })
    .await
}

/// The route captures the path after `/aliases/`; accept it with or without `alias/`.
fn full_name(captured: &str) -> String {
    if captured.starts_with("alias/") { captured.into() } else { format!("alias/{captured}") }
}
