//! Bearer tokens for principals.

use axum::Json;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::domain::keys::{now_ms, rfc3339};
use crate::domain::{Caller, DomainError};
use crate::handlers::{Path, json_body};
use crate::state::AppState;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct CreateToken {
    principal: String,
    /// Lifetime in seconds; none: until revoked.
    #[serde(default, deserialize_with = "crate::handlers::whole")]
    ttl_seconds: Option<i64>,
}

pub(crate) async fn create(
    State(state): State<AppState>,
    caller: Caller,
    body: Result<Json<CreateToken>, JsonRejection>,
) -> Result<Json<Value>, DomainError> {
    let req = match json_body(body) {
        Ok(req) => req,
        Err(e) => return state.keys.refuse(&caller, "CreateToken", e).await,
    };
    let (token, row) = state.keys.create_token(&caller, &req.principal, req.ttl_seconds).await?;
    Ok(Json(json!({
        "principal": row.principal, "token": token, "tokenId": row.token_id,
        "createdAt": rfc3339(row.created_at), "expiresAt": row.expires_at.map(rfc3339),
    })))
}

pub(crate) async fn list(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Value>, DomainError> {
    let now = now_ms();
    let tokens: Vec<Value> = state
        .keys
        .list_tokens(&caller)
        .await?
        .into_iter()
        .map(|t| {
            let state = match (t.revoked_at, t.expires_at) {
                (Some(_), _) => "Revoked",
                (None, Some(e)) if e <= now => "Expired",
                _ => "Active",
            };
            json!({
                "tokenId": t.token_id, "principal": t.principal, "state": state,
                "createdAt": rfc3339(t.created_at), "expiresAt": t.expires_at.map(rfc3339),
                "revokedAt": t.revoked_at.map(rfc3339),
            })
        })
        .collect();
    Ok(Json(json!({ "tokens": tokens })))
}

pub(crate) async fn revoke(
    State(state): State<AppState>,
    caller: Caller,
    Path(token_id): Path<String>,
) -> Result<Json<Value>, DomainError> {
    state.keys.revoke_token(&caller, &token_id).await?;
    Ok(Json(json!({ "tokenId": token_id, "state": "Revoked" })))
}
