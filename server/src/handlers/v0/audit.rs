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
            return state.keys.refuse(&caller, "ListAudit", e.into()).await;
        }
    };
    let limit = page.limit.unwrap_or(PAGE).clamp(1, PAGE);
    let records = state.keys.audit_page(&caller, page.after, limit).await?;
    Ok(Json(json!({ "records": records })))
}

#[derive(Debug, Deserialize)]
pub(crate) struct DigestPage {
    #[serde(default)]
    after: i64,
}

/// Signed digests of the chain (admin only), oldest first, as stored.
pub(crate) async fn digests(
    State(state): State<AppState>,
    caller: Caller,
    page: Result<Query<DigestPage>, QueryRejection>,
) -> Result<Json<Value>, DomainError> {
    let Query(page) = match page {
        Ok(p) => p,
        Err(e) => {
            return state.keys.refuse(&caller, "ListAuditDigests", e.into()).await;
        }
    };
    let documents = state.keys.digests(&caller, page.after).await?;
    let digests: Vec<Value> =
        documents.iter().filter_map(|d| serde_json::from_str(d).ok()).collect();
    Ok(Json(json!({ "digests": digests, "documents": documents })))
}

/// The audit-signing public key: not secret, so that anyone holding a digest can check it.
pub(crate) async fn public_key(State(state): State<AppState>) -> Result<Json<Value>, DomainError> {
    use base64::Engine as _;
    let (point, spki) = state.keys.audit_public_key()?;
    let b64 = base64::engine::general_purpose::STANDARD;
    Ok(Json(json!({
        "algorithm": "ECDSA_P256_SHA256",
        "publicKey": b64.encode(point),
        "pem": crate::domain::secrets::pem("PUBLIC KEY", &spki),
    })))
}
