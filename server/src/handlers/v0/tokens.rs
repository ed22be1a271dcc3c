//! Bearer tokens for principals.

use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::error::AppError;
use crate::handlers::require_admin;
use crate::state::{AppState, Caller};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateToken {
    principal: String,
}

pub(crate) async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Json(req): Json<CreateToken>,
) -> Result<Json<Value>, AppError> {
    let valid = !req.principal.is_empty()
        && req.principal.len() <= 128
        && req.principal.chars().all(|c| c.is_ascii_alphanumeric() || "._@-".contains(c));
    let refused = require_admin(&caller).and_then(|()| {
        if valid { Ok(()) } else { Err(AppError::invalid("invalid principal name")) }
    });
    if let Err(e) = refused {
        return state.audit(&caller, "CreateToken", None, None, Err(e)).await;
    }
    let token = state.create_token(&req.principal, Some(&caller)).await?;
    Ok(Json(json!({ "principal": req.principal, "token": token })))
}
