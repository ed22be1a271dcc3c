//! Version 0 of the API (see `openapi.json`).

pub(crate) mod aliases;
pub(crate) mod audit;
pub(crate) mod keys;
pub(crate) mod tokens;
pub(crate) mod unwrap;

use futures_util::future::BoxFuture;
use sqlx::{Sqlite, Transaction};

use crate::domain::audit as audit_log;
use crate::error::AppError;
use crate::state::{AppState, Caller};

pub(crate) type Tx = Transaction<'static, Sqlite>;

/// Runs a change and its audit record in one transaction. On failure the change is rolled
/// back and the refusal alone is recorded; if no record can be written, the request fails.
pub(crate) async fn audited<T>(
    state: &AppState,
    caller: &Caller,
    action: &str,
    act: impl for<'a> FnOnce(&'a mut Tx, &'a mut Option<String>) -> BoxFuture<'a, Result<T, AppError>>,
) -> Result<T, AppError> {
    let w = state.begin().await?;
    let (guard, mut tx) = (w.guard, w.tx);
    let mut key_id = None;
    let outcome = act(&mut tx, &mut key_id).await;
    if outcome.is_err() {
        tx.rollback().await?;
        tx = state.pool.begin().await?;
    }
    let record = state.record(caller, action, key_id.as_deref(), None, &outcome);
    audit_log::append(&mut tx, record).await?;
    tx.commit().await?;
    drop(guard);
    outcome
}
