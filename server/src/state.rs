//! Shared server state: database, root key, rate limiter and metrics.

use std::collections::BTreeMap;
use std::num::NonZeroU32;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use sha2::{Digest, Sha256};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{SqlitePool, Transaction};

use crate::domain::audit::{self, Record};
use crate::domain::keys::{self, now_ms, rfc3339};
use crate::domain::secrets::{self, RootKey};
use crate::error::AppError;
use crate::settings::Settings;

/// State shared by every request.
#[derive(Clone, Debug)]
pub(crate) struct AppState(Arc<Inner>);

pub(crate) struct Inner {
    pub(crate) pool: SqlitePool,
    /// Serialises writers so that each audit record links to the one before it.
    pub(crate) write_lock: tokio::sync::Mutex<()>,
    pub(crate) root: RootKey,
    pub(crate) limiter: DefaultKeyedRateLimiter<String>,
    /// The archive store, when enabled.
    pub(crate) archive: Option<crate::archive::Archive>,
    /// Requests by (method, route, status), for /metrics.
    pub(crate) requests: Mutex<BTreeMap<(String, String, u16), u64>>,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState").finish_non_exhaustive()
    }
}

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

/// Who made a request, and its ID, for authorisation and the audit log.
#[derive(Clone, Debug)]
pub struct Caller {
    /// Principal name, `-` when unauthenticated.
    pub principal: String,
    /// The request's `x-request-id`.
    pub request_id: String,
}

/// File mode of the root key and admin token: readable by the owner only.
const SECRET_FILE_MODE: u32 = 0o600;

impl AppState {
    /// Opens the data directory, creating the database, root key and admin token on first
    /// start.
    pub async fn open(settings: &Settings) -> Result<Self, AppError> {
        let dir = &settings.data_dir;
        std::fs::create_dir_all(dir)
            .map_err(|e| AppError::internal(format!("{}: {e}", dir.display())))?;
        let root = RootKey::new(&root_key_bytes(dir)?)?;
        let options = SqliteConnectOptions::new()
            .filename(dir.join("cipherdrop.db"))
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // FULL: an acknowledged change (and its audit record) survives a crash.
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new().max_connections(4).connect_with(options).await?;
        sqlx::migrate!("./migrations")
            .run(&pool)
            .await
            .map_err(|e| AppError::internal(e.to_string()))?;
        let per_second = NonZeroU32::new(settings.rate_limit.max(1)).unwrap_or(NonZeroU32::MIN);
        let burst = per_second.saturating_mul(NonZeroU32::new(2).unwrap_or(NonZeroU32::MIN));
        let state = Self(Arc::new(Inner {
            pool,
            write_lock: tokio::sync::Mutex::new(()),
            root,
            limiter: RateLimiter::keyed(Quota::per_second(per_second).allow_burst(burst)),
            archive: match &settings.archive_dir {
                Some(d) => Some(crate::archive::Archive::local(d, settings.max_object_size)?),
                None => None,
            },
            requests: Mutex::new(BTreeMap::new()),
        }));
        state.create_admin_token(dir).await?;
        Ok(state)
    }

    /// Writes a token for the admin principal to `DIR/admin-token` once; only its hash is
    /// stored.
    async fn create_admin_token(&self, dir: &Path) -> Result<(), AppError> {
        let path = dir.join("admin-token");
        if path.exists() {
            return Ok(());
        }
        let token = self.create_token(crate::ADMIN_PRINCIPAL, None).await?;
        write_secret(&path, token.as_bytes())
    }

    /// A new bearer token for `principal`, stored hashed; audited by the caller's record when
    /// `caller` is given.
    pub(crate) async fn create_token(
        &self,
        principal: &str,
        caller: Option<&Caller>,
    ) -> Result<String, AppError> {
        let token = format!("cdt_{}", URL_SAFE_NO_PAD.encode(secrets::random::<32>()?));
        let mut w = self.begin().await?;
        sqlx::query("INSERT INTO tokens (token_hash, principal, created_at) VALUES (?, ?, ?)")
            .bind(token_hash(&token))
            .bind(principal)
            .bind(now_ms())
            .execute(&mut *w.tx)
            .await?;
        let system = Caller { principal: "system".into(), request_id: "-".into() };
        let caller = caller.unwrap_or(&system);
        let mut record = self.record(caller, "CreateToken", None, None, &Ok(()));
        record.detail = format!("principal={principal}");
        audit::append(&mut w.tx, record).await?;
        w.tx.commit().await?;
        Ok(token)
    }

    /// The principal that owns `token`.
    pub(crate) async fn principal_of(&self, token: &str) -> Result<Option<String>, AppError> {
        let row: Option<(String,)> =
            sqlx::query_as("SELECT principal FROM tokens WHERE token_hash = ?")
                .bind(token_hash(token))
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.map(|(p,)| p))
    }

    /// Starts a write: takes the writer lock and opens a transaction.
    pub(crate) async fn begin(&self) -> Result<Write<'_>, AppError> {
        let guard = self.write_lock.lock().await;
        let tx = self.pool.begin().await?;
        Ok(Write { guard, tx })
    }

    /// The audit record of a request with `outcome`.
    pub(crate) fn record<T>(
        &self,
        caller: &Caller,
        action: &str,
        key_id: Option<&str>,
        context: Option<&cipherdrop::EncryptionContext>,
        outcome: &Result<T, AppError>,
    ) -> Record {
        let (result, detail) = match outcome {
            Ok(_) => ("Allowed", String::new()),
            Err(e @ AppError::KeyPendingDeletion(_)) => ("Alarm", e.code().to_string()),
            Err(
                e @ (AppError::AccessDenied(_)
                | AppError::KeyDisabled(_)
                | AppError::Unauthorized
                | AppError::RateLimited),
            ) => ("Denied", e.code().to_string()),
            Err(e) => ("Error", e.code().to_string()),
        };
        Record {
            seq: 0,
            time: rfc3339(now_ms()),
            request_id: caller.request_id.clone(),
            principal: caller.principal.clone(),
            action: action.into(),
            key_id: key_id.map(String::from),
            context: context.cloned(),
            result: result.into(),
            detail,
        }
    }

    /// Records a request that changed nothing (reads, refusals, unwraps). Fails closed: if
    /// the record cannot be written, neither can the response.
    pub(crate) async fn audit<T>(
        &self,
        caller: &Caller,
        action: &str,
        key_id: Option<&str>,
        context: Option<&cipherdrop::EncryptionContext>,
        outcome: Result<T, AppError>,
    ) -> Result<T, AppError> {
        let record = self.record(caller, action, key_id, context, &outcome);
        let mut w = self.begin().await?;
        audit::append(&mut w.tx, record).await?;
        w.tx.commit().await?;
        outcome
    }

    /// Deletes keys whose deletion window ended, every minute, each with an audit record.
    pub(crate) async fn sweep_expired_keys(self) {
        let system = Caller { principal: "system".into(), request_id: "-".into() };
        loop {
            let swept: Result<(), AppError> = async {
                let mut w = self.begin().await?;
                for key_id in keys::expired(&mut w.tx).await? {
                    keys::delete(&mut w.tx, &key_id).await?;
                    let record = self.record(&system, "DeleteKey", Some(&key_id), None, &Ok(()));
                    audit::append(&mut w.tx, record).await?;
                }
                w.tx.commit().await?;
                Ok(())
            }
            .await;
            if let Err(e) = swept {
                tracing::error!(error = %e, "deleting expired keys failed");
            }
            tokio::time::sleep(std::time::Duration::from_secs(60)).await;
        }
    }
}

/// An open write transaction holding the writer lock.
pub(crate) struct Write<'a> {
    pub(crate) guard: tokio::sync::MutexGuard<'a, ()>,
    pub(crate) tx: Transaction<'static, sqlx::Sqlite>,
}

fn token_hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// The root key: `CIPHERDROP_ROOT_KEY` (base64 of 32 bytes), else `DIR/root-key`, created
/// with mode 0600 on first start.
fn root_key_bytes(dir: &Path) -> Result<zeroize::Zeroizing<Vec<u8>>, AppError> {
    if let Ok(b64) = std::env::var("CIPHERDROP_ROOT_KEY") {
        let bytes = STANDARD
            .decode(b64.trim())
            .map_err(|_| AppError::internal("CIPHERDROP_ROOT_KEY is not base64"))?;
        return Ok(zeroize::Zeroizing::new(bytes));
    }
    let path = dir.join("root-key");
    if !path.exists() {
        write_secret(&path, &secrets::random::<32>()?)?;
    }
    let bytes =
        std::fs::read(&path).map_err(|e| AppError::internal(format!("{}: {e}", path.display())))?;
    Ok(zeroize::Zeroizing::new(bytes))
}

pub(crate) fn write_secret(path: &Path, bytes: &[u8]) -> Result<(), AppError> {
    use std::io::Write as _;
    let fail = |e: std::io::Error| AppError::internal(format!("{}: {e}", path.display()));
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(SECRET_FILE_MODE)
        .open(path)
        .map_err(fail)?;
    file.write_all(bytes).map_err(fail)?;
    file.sync_all().map_err(fail)
}
