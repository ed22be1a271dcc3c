//! Bearer tokens for principals.

use axum::Json;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::domain::{Caller, DomainError};
use crate::handlers::json_body;
use crate::state::AppState;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateToken {
    principal: String,
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
    let token = state.keys.create_token(&caller, &req.principal).await?;
    Ok(Json(json!({ "principal": req.principal, "token": token })))
}
