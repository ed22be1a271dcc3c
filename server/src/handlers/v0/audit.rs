//! Reading the audit log (admin only).

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use serde::Deserialize;
use serde_json::{Value, json};

use super::audited;
use crate::domain::audit;
use crate::error::AppError;
use crate::handlers::require_admin;
use crate::state::{AppState, Caller};

/// Most records one page returns.
const PAGE: i64 = 1000;

#[derive(Debug, Deserialize)]
pub(crate) struct Page {
    #[serde(default)]
    after: i64,
    limit: Option<i64>,
}

pub(crate) async fn list(
    State(state): State<AppState>,
    caller: Caller,
    page: Result<Query<Page>, QueryRejection>,
) -> Result<Json<Value>, AppError> {
    let admin = require_admin(&caller);
    audited(&state, &caller, "ListAudit", move |tx, _| {
        Box::pin(async move {
            admin?;
            let Query(page) = page.map_err(|e| AppError::invalid(e.body_text()))?;
            let limit = page.limit.unwrap_or(PAGE).clamp(1, PAGE);
            let records = audit::list(tx, page.after, limit).await?;
            Ok(Json(json!({ "records": records })))
        })
    })
    .await
}
