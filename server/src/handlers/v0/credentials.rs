//! Access keys for AWS Signature Version 4 (the KMS JSON API at `POST /`).

use axum::Json;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use serde::Deserialize;
use serde_json::{Value, json};
use zeroize::Zeroizing;

use crate::domain::keys::rfc3339;
use crate::domain::{Caller, DomainError};
use crate::handlers::{Path, json_body};
use crate::state::AppState;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct CreateCredential {
    principal: String,
    /// A fixed ID, for local tools with set test credentials; given with the secret.
    access_key_id: Option<String>,
    secret_access_key: Option<Zeroizing<String>>,
}

impl std::fmt::Debug for CreateCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreateCredential")
            .field("principal", &self.principal)
            .field("access_key_id", &self.access_key_id)
            .finish_non_exhaustive()
    }
}

pub(crate) async fn create(
    State(state): State<AppState>,
    caller: Caller,
    body: Result<Json<CreateCredential>, JsonRejection>,
) -> Result<Json<Value>, DomainError> {
    let req = match json_body(body) {
        Ok(req) => req,
        Err(e) => return state.keys.refuse(&caller, "CreateCredential", e).await,
    };
    let fixed = match (req.access_key_id, req.secret_access_key) {
        (Some(id), Some(secret)) => Some((id, secret)),
        (None, None) => None,
        _ => {
            let e =
                DomainError::invalid("give accessKeyId and secretAccessKey together, or neither");
            return state.keys.refuse(&caller, "CreateCredential", e).await;
        }
    };
    let (id, secret, row) = state.keys.create_credential(&caller, &req.principal, fixed).await?;
    Ok(Json(json!({
        "accessKeyId": id, "secretAccessKey": secret.as_str(), "principal": row.principal,
        "createdAt": rfc3339(row.created_at),
    })))
}

pub(crate) async fn list(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Value>, DomainError> {
    let credentials: Vec<Value> = state
        .keys
        .list_credentials(&caller)
        .await?
        .into_iter()
        .map(|k| {
            json!({
                "accessKeyId": k.access_key_id, "principal": k.principal,
                "state": if k.revoked_at.is_some() { "Revoked" } else { "Active" },
                "createdAt": rfc3339(k.created_at), "revokedAt": k.revoked_at.map(rfc3339),
            })
        })
        .collect();
    Ok(Json(json!({ "credentials": credentials })))
}

pub(crate) async fn revoke(
    State(state): State<AppState>,
    caller: Caller,
    Path(access_key_id): Path<String>,
) -> Result<Json<Value>, DomainError> {
    state.keys.revoke_credential(&caller, &access_key_id).await?;
    Ok(Json(json!({ "accessKeyId": access_key_id, "state": "Revoked" })))
}
