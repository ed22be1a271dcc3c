//! Bearer tokens for principals.

use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::error::AppError;
use crate::handlers::{json_body, require_admin};
use crate::state::{AppState, Caller};
use axum::extract::rejection::JsonRejection;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateToken {
    principal: String,
}

pub(crate) async fn create(
    State(state): State<AppState>,
    caller: Caller,
    body: Result<Json<CreateToken>, JsonRejection>,
) -> Result<Json<Value>, AppError> {
    let valid = |p: &str| {
        !p.is_empty()
            && p.len() <= 128
            && p.chars().all(|c| c.is_ascii_alphanumeric() || "._@-".contains(c))
    };
    let checked = require_admin(&caller).and_then(|()| json_body(body)).and_then(|req| {
        if valid(&req.principal) {
            Ok(req)
        } else {
            Err(AppError::invalid("invalid principal name"))
        }
    });
    let req = match checked {
        Ok(req) => req,
        Err(e) => return state.audit(&caller, "CreateToken", None, None, Err(e)).await,
    };
    let token = state.create_token(&req.principal, Some(&caller)).await?;
    Ok(Json(json!({ "principal": req.principal, "token": token })))
}
