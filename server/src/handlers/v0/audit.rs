//! Reading the audit log (admin only).

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::domain::{Caller, DomainError};
use crate::state::AppState;

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
) -> Result<Json<Value>, DomainError> {
    let Query(page) = match page {
        Ok(p) => p,
        Err(e) => {
            let e = DomainError::invalid(e.body_text());
            return state.keys.refuse(&caller, "ListAudit", e).await;
        }
    };
    let limit = page.limit.unwrap_or(PAGE).clamp(1, PAGE);
    let records = state.keys.audit_page(&caller, page.after, limit).await?;
    Ok(Json(json!({ "records": records })))
}
