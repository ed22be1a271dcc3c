//! The SQL store: sqlx's `Any` driver over SQLite or PostgreSQL, chosen by the URL.
//!
//! Every statement below runs unchanged on both: `$N` placeholders (SQLite reads them as
//! positional), `INSERT … ON CONFLICT`, `UPDATE … RETURNING`. Only the migrations
//! (`migrations/sqlite`, `migrations/postgres`) and the per-connection set-up differ.

use std::time::Duration;

use async_trait::async_trait;
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{Any, AnyPool, Executor, Row, Transaction};

use super::{
    AccessKeyRow, AliasRow, AuditRow, ChainHead, GrantRow, ImportParameters, KeyRow, KeyVersion,
    MaterialRow, MetaRow, ObjectRow, ReplicaRow, Result, Snapshot, Store, StoreError, TokenRow,
    WriteTx,
};

/// Column lists, in the order the row decoders below read them, for statements that
/// name every column (`concat!` keeps each statement a static string).
macro_rules! key_columns {
    () => {
        "key_id, description, key_spec, key_usage, state, deletion_date, created_at, \
         current_version, tags, policy, region, origin, rotation_period_days, next_rotation, \
         valid_to, expiration_model, multi_region"
    };
}
macro_rules! version_columns {
    () => {
        "key_id, version, public_der, private_sealed, created_at, rotation_type"
    };
}
macro_rules! material_columns {
    () => {
        "key_id, version, fingerprint, description, expiration_model, valid_to, rotated_at"
    };
}
macro_rules! token_columns {
    () => {
        "token_hash, principal, created_at, token_id, expires_at, revoked_at"
    };
}
macro_rules! access_key_columns {
    () => {
        "access_key_id, principal, secret_sealed, created_at, revoked_at"
    };
}
macro_rules! grant_columns {
    () => {
        "grant_id, key_id, name, grantee, retiring, issuer, operations, constraints, \
         grant_token, created_at, region"
    };
}
macro_rules! object_columns {
    () => {
        "object_id, owner, state, size, next_part, created_at, expires_at, has_meta"
    };
}

/// Which database an URL names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Backend {
    Sqlite,
    Postgres,
}

/// The store over a connection pool.
#[derive(Debug)]
pub(crate) struct SqlStore {
    pool: AnyPool,
    backend: Backend,
}

/// How long a request waits for a connection before it is told the database is unavailable.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);

impl SqlStore {
    /// Connects, sets each connection up and runs the migrations.
    pub(crate) async fn open(url: &str) -> Result<Self> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Backend::Postgres
        } else {
            return Err(StoreError::Backend(
                "the database URL must start with sqlite:// or postgres://".into(),
            ));
        };
        let options = AnyPoolOptions::new()
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .test_before_acquire(true)
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        // FULL: an acknowledged change (and its audit record) survives a
                        // crash. The busy timeout covers a writer of another connection.
                        // secure_delete: deleted rows are overwritten with zeros, not left in
                        // free pages (a deleted key's sealed material must be gone).
                        conn.execute(
                            "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; \
                             PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 10000; \
                             PRAGMA secure_delete = ON;",
                        )
                        .await?;
                    }
                    Ok(())
                })
            });
        let options = match backend {
            // SQLite has one writer at a time; more readers than cores buy nothing.
            Backend::Sqlite => options.max_connections(8),
            Backend::Postgres => options.max_connections(16),
        };
        let pool = options.connect(url).await.map_err(classify)?;
        let migrated = match backend {
            Backend::Sqlite => sqlx::migrate!("./migrations/sqlite").run(&pool).await,
            Backend::Postgres => sqlx::migrate!("./migrations/postgres").run(&pool).await,
        };
        migrated.map_err(|e| StoreError::Backend(format!("migrations: {e}")))?;
        Ok(Self { pool, backend })
    }
}

/// Sorts sqlx errors into what a caller can act on: transient unavailability (retry, 503),
/// a taken key, or anything else.
fn classify(e: sqlx::Error) -> StoreError {
    let text = e.to_string();
    match &e {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::BeginFailed => StoreError::Unavailable(text),
        sqlx::Error::Database(db) => {
            let code = db.code().map(|c| c.to_string()).unwrap_or_default();
            // PostgreSQL: class 08 (connection), 57P0x (shutting down, cannot connect now),
            // 53xxx (out of resources), 40001/40P01 (serialisation, deadlock). SQLite: 5
            // (BUSY) and 6 (LOCKED) with their extended codes.
            let transient = code.starts_with("08")
                || code.starts_with("57P")
                || code.starts_with("53")
                || code == "40001"
                || code == "40P01"
                || code.parse::<i32>().is_ok_and(|c| matches!(c & 0xff, 5 | 6));
            if transient {
                StoreError::Unavailable(text)
            } else if db.is_unique_violation() {
                StoreError::Conflict(text)
            } else {
                StoreError::Backend(text)
            }
        }
        sqlx::Error::ColumnDecode { .. } | sqlx::Error::Decode(_) => StoreError::Corrupt(text),
        _ => StoreError::Backend(text),
    }
}

fn get<'r, T: sqlx::Decode<'r, Any> + sqlx::Type<Any>>(row: &'r AnyRow, name: &str) -> Result<T> {
    row.try_get(name).map_err(|e| StoreError::Corrupt(format!("{name}: {e}")))
}

fn key_row(r: &AnyRow) -> Result<KeyRow> {
    Ok(KeyRow {
        key_id: get(r, "key_id")?,
        description: get(r, "description")?,
        key_spec: get(r, "key_spec")?,
        key_usage: get(r, "key_usage")?,
        state: get(r, "state")?,
        deletion_date: get(r, "deletion_date")?,
        created_at: get(r, "created_at")?,
        current_version: get(r, "current_version")?,
        tags: get(r, "tags")?,
        policy: get(r, "policy")?,
        region: get(r, "region")?,
        origin: get(r, "origin")?,
        rotation_period_days: get(r, "rotation_period_days")?,
        next_rotation: get(r, "next_rotation")?,
        valid_to: get(r, "valid_to")?,
        expiration_model: get(r, "expiration_model")?,
        multi_region: get::<i64>(r, "multi_region")? != 0,
        primary_region: None,
    })
    .map(|mut k| {
        // A primary's own row; a replica's (REPLICA_COLUMNS) names its primary's region.
        k.primary_region = match r.try_get::<String, _>("primary_region") {
            Ok(primary) => Some(primary),
            Err(_) => k.multi_region.then(|| k.region.clone()),
        };
        k
    })
}

fn version_row(r: &AnyRow) -> Result<KeyVersion> {
    Ok(KeyVersion {
        key_id: get(r, "key_id")?,
        version: get(r, "version")?,
        public_der: get(r, "public_der")?,
        private_sealed: get(r, "private_sealed")?,
        created_at: get(r, "created_at")?,
        rotation_type: get(r, "rotation_type")?,
    })
}

fn material_row(r: &AnyRow) -> Result<MaterialRow> {
    Ok(MaterialRow {
        key_id: get(r, "key_id")?,
        version: get(r, "version")?,
        fingerprint: get(r, "fingerprint")?,
        description: get(r, "description")?,
        expiration_model: get(r, "expiration_model")?,
        valid_to: get(r, "valid_to")?,
        rotated_at: get(r, "rotated_at")?,
    })
}

fn alias_row(r: &AnyRow) -> Result<AliasRow> {
    Ok(AliasRow {
        region: get(r, "region")?,
        alias_name: get(r, "alias_name")?,
        key_id: get(r, "key_id")?,
        created_at: get(r, "created_at")?,
        updated_at: get(r, "updated_at")?,
    })
}

fn token_row(r: &AnyRow) -> Result<TokenRow> {
    Ok(TokenRow {
        token_hash: get(r, "token_hash")?,
        principal: get(r, "principal")?,
        created_at: get(r, "created_at")?,
        token_id: get(r, "token_id")?,
        expires_at: get(r, "expires_at")?,
        revoked_at: get(r, "revoked_at")?,
    })
}

fn access_key_row(r: &AnyRow) -> Result<AccessKeyRow> {
    Ok(AccessKeyRow {
        access_key_id: get(r, "access_key_id")?,
        principal: get(r, "principal")?,
        secret_sealed: get(r, "secret_sealed")?,
        created_at: get(r, "created_at")?,
        revoked_at: get(r, "revoked_at")?,
    })
}

fn grant_row(r: &AnyRow) -> Result<GrantRow> {
    Ok(GrantRow {
        grant_id: get(r, "grant_id")?,
        key_id: get(r, "key_id")?,
        name: get(r, "name")?,
        grantee: get(r, "grantee")?,
        retiring: get(r, "retiring")?,
        issuer: get(r, "issuer")?,
        operations: get(r, "operations")?,
        constraints: get(r, "constraints")?,
        grant_token: get(r, "grant_token")?,
        created_at: get(r, "created_at")?,
        region: get(r, "region")?,
    })
}

async fn fetch_grants<'c, E: Executor<'c, Database = Any>>(
    e: E,
    key_id: Option<&str>,
) -> Result<Vec<GrantRow>> {
    let all = match key_id {
        Some(key_id) => {
            sqlx::query(concat!(
                "SELECT ",
                grant_columns!(),
                " FROM grants WHERE key_id = $1 ORDER BY created_at, grant_id"
            ))
            .bind(key_id.to_string())
            .fetch_all(e)
            .await
        }
        None => {
            sqlx::query(concat!(
                "SELECT ",
                grant_columns!(),
                " FROM grants ORDER BY created_at, grant_id"
            ))
            .fetch_all(e)
            .await
        }
    };
    rows(all.map_err(classify)?, grant_row)
}

async fn insert_grant<'c, E: Executor<'c, Database = Any>>(e: E, g: &GrantRow) -> Result<()> {
    sqlx::query(concat!(
        "INSERT INTO grants (",
        grant_columns!(),
        ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
    ))
    .bind(g.grant_id.clone())
    .bind(g.key_id.clone())
    .bind(g.name.clone())
    .bind(g.grantee.clone())
    .bind(g.retiring.clone())
    .bind(g.issuer.clone())
    .bind(g.operations.clone())
    .bind(g.constraints.clone())
    .bind(g.grant_token.clone())
    .bind(g.created_at)
    .bind(g.region.clone())
    .execute(e)
    .await
    .map_err(classify)?;
    Ok(())
}

fn audit_row(r: &AnyRow) -> Result<AuditRow> {
    Ok(AuditRow {
        seq: get(r, "seq")?,
        record: get(r, "record")?,
        prev_hash: get(r, "prev_hash")?,
        hash: get(r, "hash")?,
    })
}

fn meta_row(r: &AnyRow) -> Result<MetaRow> {
    Ok(MetaRow { name: get(r, "name")?, value: get(r, "value")? })
}

fn object_row(r: &AnyRow) -> Result<ObjectRow> {
    Ok(ObjectRow {
        object_id: get(r, "object_id")?,
        owner: get(r, "owner")?,
        state: get(r, "state")?,
        size: get(r, "size")?,
        next_part: get(r, "next_part")?,
        created_at: get(r, "created_at")?,
        expires_at: get(r, "expires_at")?,
        has_meta: get::<i64>(r, "has_meta")? != 0,
    })
}

fn rows<T>(rows: Vec<AnyRow>, f: fn(&AnyRow) -> Result<T>) -> Result<Vec<T>> {
    rows.iter().map(f).collect()
}

async fn all(tx: &mut Transaction<'static, Any>, sql: &'static str) -> Result<Vec<AnyRow>> {
    sqlx::query(sql).fetch_all(&mut **tx).await.map_err(classify)
}

/// A replica's row over its primary's: what is regional from `replica_keys`, the rest (the
/// material's spec, versions, rotation) from `keys`.
macro_rules! replica_columns {
    () => {
        "k.key_id, r.description, k.key_spec, k.key_usage, r.state, r.deletion_date, \
         r.created_at, k.current_version, r.tags, r.policy, r.region, k.origin, \
         k.rotation_period_days, k.next_rotation, k.valid_to, k.expiration_model, \
         k.multi_region, k.region AS primary_region \
         FROM replica_keys r JOIN keys k ON k.key_id = r.key_id"
    };
}

/// A key of `region` by ID or alias, on a connection of the pool or a transaction's: the
/// alias names a key ID, which is a primary (or single-Region) key's row there, or a
/// multi-Region key's replica.
async fn fetch_key(
    c: &mut sqlx::AnyConnection,
    region: &str,
    key_ref: &str,
) -> Result<Option<KeyRow>> {
    let key_id = match key_ref.strip_prefix("alias/") {
        Some(_) => {
            let row =
                sqlx::query("SELECT key_id FROM aliases WHERE alias_name = $1 AND region = $2")
                    .bind(key_ref.to_string())
                    .bind(region.to_string())
                    .fetch_optional(&mut *c)
                    .await
                    .map_err(classify)?;
            match row {
                Some(r) => get::<String>(&r, "key_id")?,
                None => return Ok(None),
            }
        }
        None => key_ref.to_string(),
    };
    let own = sqlx::query(concat!(
        "SELECT ",
        key_columns!(),
        " FROM keys WHERE key_id = $1 AND region = $2"
    ))
    .bind(key_id.clone())
    .bind(region.to_string())
    .fetch_optional(&mut *c)
    .await
    .map_err(classify)?;
    if let Some(r) = own {
        return key_row(&r).map(Some);
    }
    let replica = sqlx::query(concat!(
        "SELECT ",
        replica_columns!(),
        " WHERE r.key_id = $1 AND r.region = $2"
    ))
    .bind(key_id)
    .bind(region.to_string())
    .fetch_optional(&mut *c)
    .await
    .map_err(classify)?;
    replica.as_ref().map(key_row).transpose()
}

fn replica_row(r: &AnyRow) -> Result<ReplicaRow> {
    Ok(ReplicaRow {
        key_id: get(r, "key_id")?,
        region: get(r, "region")?,
        description: get(r, "description")?,
        state: get(r, "state")?,
        deletion_date: get(r, "deletion_date")?,
        created_at: get(r, "created_at")?,
        tags: get(r, "tags")?,
        policy: get(r, "policy")?,
    })
}

async fn insert_replica<'c, E: Executor<'c, Database = Any>>(e: E, r: &ReplicaRow) -> Result<()> {
    sqlx::query(
        "INSERT INTO replica_keys (key_id, region, description, state, deletion_date, \
         created_at, tags, policy) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(r.key_id.clone())
    .bind(r.region.clone())
    .bind(r.description.clone())
    .bind(r.state.clone())
    .bind(r.deletion_date)
    .bind(r.created_at)
    .bind(r.tags.clone())
    .bind(r.policy.clone())
    .execute(e)
    .await
    .map_err(classify)?;
    Ok(())
}

async fn fetch_object<'c, E: Executor<'c, Database = Any>>(
    e: E,
    object_id: &str,
) -> Result<Option<ObjectRow>> {
    let row =
        sqlx::query(concat!("SELECT ", object_columns!(), " FROM objects WHERE object_id = $1"))
            .bind(object_id.to_string())
            .fetch_optional(e)
            .await
            .map_err(classify)?;
    row.as_ref().map(object_row).transpose()
}

async fn insert_key<'c, E: Executor<'c, Database = Any>>(e: E, key: &KeyRow) -> Result<()> {
    sqlx::query(concat!(
        "INSERT INTO keys (",
        key_columns!(),
        ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)"
    ))
    .bind(key.key_id.clone())
    .bind(key.description.clone())
    .bind(key.key_spec.clone())
    .bind(key.key_usage.clone())
    .bind(key.state.clone())
    .bind(key.deletion_date)
    .bind(key.created_at)
    .bind(key.current_version)
    .bind(key.tags.clone())
    .bind(key.policy.clone())
    .bind(key.region.clone())
    .bind(key.origin.clone())
    .bind(key.rotation_period_days)
    .bind(key.next_rotation)
    .bind(key.valid_to)
    .bind(key.expiration_model.clone())
    .bind(i64::from(key.multi_region))
    .execute(e)
    .await
    .map_err(classify)?;
    Ok(())
}

async fn insert_version<'c, E: Executor<'c, Database = Any>>(e: E, v: &KeyVersion) -> Result<()> {
    sqlx::query(concat!(
        "INSERT INTO key_versions (",
        version_columns!(),
        ") VALUES ($1, $2, $3, $4, $5, $6)"
    ))
    .bind(v.key_id.clone())
    .bind(v.version)
    .bind(v.public_der.clone())
    .bind(v.private_sealed.clone())
    .bind(v.created_at)
    .bind(v.rotation_type.clone())
    .execute(e)
    .await
    .map_err(classify)?;
    Ok(())
}

async fn put_material<'c, E: Executor<'c, Database = Any>>(e: E, m: &MaterialRow) -> Result<()> {
    sqlx::query(concat!(
        "INSERT INTO key_materials (",
        material_columns!(),
        ") VALUES ($1, $2, $3, $4, $5, $6, $7) \
         ON CONFLICT (key_id, version) DO UPDATE SET fingerprint = excluded.fingerprint, \
         description = excluded.description, expiration_model = excluded.expiration_model, \
         valid_to = excluded.valid_to, rotated_at = excluded.rotated_at"
    ))
    .bind(m.key_id.clone())
    .bind(m.version)
    .bind(m.fingerprint.clone())
    .bind(m.description.clone())
    .bind(m.expiration_model.clone())
    .bind(m.valid_to)
    .bind(m.rotated_at)
    .execute(e)
    .await
    .map_err(classify)?;
    Ok(())
}

async fn fetch_materials<'c, E: Executor<'c, Database = Any>>(
    e: E,
    key_id: &str,
) -> Result<Vec<MaterialRow>> {
    let all = sqlx::query(concat!(
        "SELECT ",
        material_columns!(),
        " FROM key_materials WHERE key_id = $1 ORDER BY version"
    ))
    .bind(key_id.to_string())
    .fetch_all(e)
    .await
    .map_err(classify)?;
    rows(all, material_row)
}

async fn put_alias<'c, E: Executor<'c, Database = Any>>(e: E, a: &AliasRow) -> Result<()> {
    sqlx::query(
        "INSERT INTO aliases (region, alias_name, key_id, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (region, alias_name) DO UPDATE SET key_id = excluded.key_id, \
         updated_at = excluded.updated_at",
    )
    .bind(a.region.clone())
    .bind(a.alias_name.clone())
    .bind(a.key_id.clone())
    .bind(a.created_at)
    .bind(a.updated_at)
    .execute(e)
    .await
    .map_err(classify)?;
    Ok(())
}

async fn insert_token<'c, E: Executor<'c, Database = Any>>(e: E, t: &TokenRow) -> Result<()> {
    sqlx::query(concat!(
        "INSERT INTO tokens (",
        token_columns!(),
        ") VALUES ($1, $2, $3, $4, $5, $6)"
    ))
    .bind(t.token_hash.clone())
    .bind(t.principal.clone())
    .bind(t.created_at)
    .bind(t.token_id.clone())
    .bind(t.expires_at)
    .bind(t.revoked_at)
    .execute(e)
    .await
    .map_err(classify)?;
    Ok(())
}

async fn insert_access_key<'c, E: Executor<'c, Database = Any>>(
    e: E,
    k: &AccessKeyRow,
) -> Result<()> {
    sqlx::query(concat!(
        "INSERT INTO access_keys (",
        access_key_columns!(),
        ") VALUES ($1, $2, $3, $4, $5)"
    ))
    .bind(k.access_key_id.clone())
    .bind(k.principal.clone())
    .bind(k.secret_sealed.clone())
    .bind(k.created_at)
    .bind(k.revoked_at)
    .execute(e)
    .await
    .map_err(classify)?;
    Ok(())
}

async fn insert_audit<'c, E: Executor<'c, Database = Any>>(e: E, rows: &[AuditRow]) -> Result<()> {
    // One statement for a whole group commit: a round trip per record would cost more than
    // the records. Chunks keep within every backend's limit on bound parameters.
    let placeholders: Vec<String> = (0..rows.len())
        .map(|i| format!("(${}, ${}, ${}, ${})", 4 * i + 1, 4 * i + 2, 4 * i + 3, 4 * i + 4))
        .collect();
    let sql = format!(
        "INSERT INTO audit (seq, record, prev_hash, hash) VALUES {}",
        placeholders.join(", ")
    );
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
    for r in rows {
        query =
            query.bind(r.seq).bind(r.record.clone()).bind(r.prev_hash.clone()).bind(r.hash.clone());
    }
    query.execute(e).await.map_err(classify)?;
    Ok(())
}

/// Audit rows per INSERT statement (4 parameters each; SQLite allows 32766).
const AUDIT_ROWS_PER_INSERT: usize = 256;

async fn set_head<'c, E: Executor<'c, Database = Any>>(e: E, head: &ChainHead) -> Result<()> {
    sqlx::query("UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1")
        .bind(head.seq)
        .bind(head.hash.clone())
        .execute(e)
        .await
        .map_err(classify)?;
    Ok(())
}

#[async_trait]
impl Store for SqlStore {
    fn backend(&self) -> &'static str {
        match self.backend {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }

    async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await.map_err(classify)?;
        Ok(())
    }

    async fn key(&self, region: &str, key_ref: &str) -> Result<Option<KeyRow>> {
        let mut c = self.pool.acquire().await.map_err(classify)?;
        fetch_key(&mut c, region, key_ref).await
    }

    async fn keys(&self) -> Result<Vec<KeyRow>> {
        let own = sqlx::query(concat!(
            "SELECT ",
            key_columns!(),
            " FROM keys ORDER BY created_at, key_id"
        ))
        .fetch_all(&self.pool)
        .await
        .map_err(classify)?;
        let replicas = sqlx::query(concat!(
            "SELECT ",
            replica_columns!(),
            " ORDER BY r.created_at, r.key_id, r.region"
        ))
        .fetch_all(&self.pool)
        .await
        .map_err(classify)?;
        let mut all = rows(own, key_row)?;
        all.extend(rows(replicas, key_row)?);
        Ok(all)
    }

    async fn key_version(&self, key_id: &str, version: i64) -> Result<Option<KeyVersion>> {
        let row = sqlx::query(concat!(
            "SELECT ",
            version_columns!(),
            " FROM key_versions WHERE key_id = $1 AND version = $2"
        ))
        .bind(key_id.to_string())
        .bind(version)
        .fetch_optional(&self.pool)
        .await
        .map_err(classify)?;
        row.as_ref().map(version_row).transpose()
    }

    async fn versions_of(&self, key_id: &str) -> Result<Vec<KeyVersion>> {
        let all = sqlx::query(concat!(
            "SELECT ",
            version_columns!(),
            " FROM key_versions WHERE key_id = $1 ORDER BY version"
        ))
        .bind(key_id.to_string())
        .fetch_all(&self.pool)
        .await
        .map_err(classify)?;
        rows(all, version_row)
    }

    async fn materials_of(&self, key_id: &str) -> Result<Vec<MaterialRow>> {
        fetch_materials(&self.pool, key_id).await
    }

    async fn due_materials(&self, now: i64) -> Result<Vec<(String, String, i64)>> {
        let all = sqlx::query(
            "SELECT m.key_id, k.region, m.version FROM key_materials m \
             JOIN keys k ON k.key_id = m.key_id \
             WHERE m.expiration_model IS NOT NULL AND m.valid_to <= $1 \
             ORDER BY m.key_id, m.version",
        )
        .bind(now)
        .fetch_all(&self.pool)
        .await
        .map_err(classify)?;
        all.iter().map(|r| Ok((get(r, "key_id")?, get(r, "region")?, get(r, "version")?))).collect()
    }

    async fn replica_regions(&self, key_id: &str) -> Result<Vec<String>> {
        let all = sqlx::query("SELECT region FROM replica_keys WHERE key_id = $1 ORDER BY region")
            .bind(key_id.to_string())
            .fetch_all(&self.pool)
            .await
            .map_err(classify)?;
        all.iter().map(|r| get(r, "region")).collect()
    }

    async fn import_parameters(&self, import_token: &str) -> Result<Option<ImportParameters>> {
        let row = sqlx::query(
            "SELECT import_token, key_id, wrapping_algorithm, wrapping_key_spec, private_sealed, \
             valid_to, created_at FROM import_parameters WHERE import_token = $1",
        )
        .bind(import_token.to_string())
        .fetch_optional(&self.pool)
        .await
        .map_err(classify)?;
        row.map(|r| {
            Ok(ImportParameters {
                import_token: get(&r, "import_token")?,
                key_id: get(&r, "key_id")?,
                wrapping_algorithm: get(&r, "wrapping_algorithm")?,
                wrapping_key_spec: get(&r, "wrapping_key_spec")?,
                private_sealed: get(&r, "private_sealed")?,
                valid_to: get(&r, "valid_to")?,
                created_at: get(&r, "created_at")?,
            })
        })
        .transpose()
    }

    async fn versions(&self) -> Result<Vec<KeyVersion>> {
        let all = sqlx::query(concat!(
            "SELECT ",
            version_columns!(),
            " FROM key_versions ORDER BY key_id, version"
        ))
        .fetch_all(&self.pool)
        .await
        .map_err(classify)?;
        rows(all, version_row)
    }

    async fn key_with_version(
        &self,
        key_id: &str,
        version: i64,
    ) -> Result<Option<(KeyRow, Option<KeyVersion>)>> {
        let row = sqlx::query(
            "SELECT k.key_id, k.description, k.key_spec, k.key_usage, k.state, k.deletion_date, \
             k.created_at, k.current_version, k.tags, k.policy, k.region, k.origin, \
             k.rotation_period_days, k.next_rotation, k.valid_to, k.expiration_model, \
             k.multi_region, v.version AS v_version, v.rotation_type, \
             v.public_der, v.private_sealed, v.created_at AS v_created_at \
             FROM keys k LEFT JOIN key_versions v ON v.key_id = k.key_id AND v.version = $2 \
             WHERE k.key_id = $1",
        )
        .bind(key_id.to_string())
        .bind(version)
        .fetch_optional(&self.pool)
        .await
        .map_err(classify)?;
        let Some(r) = row else { return Ok(None) };
        let key = key_row(&r)?;
        let version = match get::<Option<i64>>(&r, "v_version")? {
            Some(version) => Some(KeyVersion {
                key_id: key.key_id.clone(),
                version,
                public_der: get(&r, "public_der")?,
                private_sealed: get(&r, "private_sealed")?,
                created_at: get(&r, "v_created_at")?,
                rotation_type: get(&r, "rotation_type")?,
            }),
            None => None,
        };
        Ok(Some((key, version)))
    }

    async fn aliases(&self) -> Result<Vec<AliasRow>> {
        let all = sqlx::query(
            "SELECT region, alias_name, key_id, created_at, updated_at FROM aliases \
             ORDER BY region, alias_name",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(classify)?;
        rows(all, alias_row)
    }

    async fn token_principal(
        &self,
        token_hash: &[u8],
        now: i64,
    ) -> Result<Option<(String, String)>> {
        let row = sqlx::query(
            "SELECT principal, token_id FROM tokens WHERE token_hash = $1 \
             AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > $2)",
        )
        .bind(token_hash.to_vec())
        .bind(now)
        .fetch_optional(&self.pool)
        .await
        .map_err(classify)?;
        row.as_ref().map(|r| Ok((get(r, "principal")?, get(r, "token_id")?))).transpose()
    }

    async fn tokens(&self) -> Result<Vec<TokenRow>> {
        let all = sqlx::query(concat!(
            "SELECT ",
            token_columns!(),
            " FROM tokens ORDER BY created_at, token_id"
        ))
        .fetch_all(&self.pool)
        .await
        .map_err(classify)?;
        rows(all, token_row)
    }

    async fn live_access_key(&self, access_key_id: &str) -> Result<Option<AccessKeyRow>> {
        let row = sqlx::query(concat!(
            "SELECT ",
            access_key_columns!(),
            " FROM access_keys WHERE access_key_id = $1 AND revoked_at IS NULL"
        ))
        .bind(access_key_id.to_string())
        .fetch_optional(&self.pool)
        .await
        .map_err(classify)?;
        row.as_ref().map(access_key_row).transpose()
    }

    async fn grants(&self, key_id: Option<&str>) -> Result<Vec<GrantRow>> {
        fetch_grants(&self.pool, key_id).await
    }

    async fn access_keys(&self) -> Result<Vec<AccessKeyRow>> {
        let all = sqlx::query(concat!(
            "SELECT ",
            access_key_columns!(),
            " FROM access_keys ORDER BY created_at, access_key_id"
        ))
        .fetch_all(&self.pool)
        .await
        .map_err(classify)?;
        rows(all, access_key_row)
    }

    async fn audit_page(&self, after: i64, limit: i64) -> Result<Vec<AuditRow>> {
        let page = sqlx::query(
            "SELECT seq, record, prev_hash, hash FROM audit WHERE seq > $1 ORDER BY seq LIMIT $2",
        )
        .bind(after)
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .map_err(classify)?;
        rows(page, audit_row)
    }

    async fn meta(&self, name: &str) -> Result<Option<Vec<u8>>> {
        let row = sqlx::query("SELECT name, value FROM meta WHERE name = $1")
            .bind(name.to_string())
            .fetch_optional(&self.pool)
            .await
            .map_err(classify)?;
        Ok(row.as_ref().map(meta_row).transpose()?.map(|m| m.value))
    }

    async fn object(&self, object_id: &str) -> Result<Option<ObjectRow>> {
        fetch_object(&self.pool, object_id).await
    }

    async fn chain_head(&self) -> Result<ChainHead> {
        let row = sqlx::query("SELECT seq, hash FROM audit_head WHERE id = 1")
            .fetch_one(&self.pool)
            .await
            .map_err(classify)?;
        Ok(ChainHead { seq: get(&row, "seq")?, hash: get(&row, "hash")? })
    }

    async fn digests(&self, after: i64) -> Result<Vec<(i64, i64, String)>> {
        let all = sqlx::query("SELECT n, seq, document FROM audit_digests WHERE n > $1 ORDER BY n")
            .bind(after)
            .fetch_all(&self.pool)
            .await
            .map_err(classify)?;
        all.iter().map(|r| Ok((get(r, "n")?, get(r, "seq")?, get(r, "document")?))).collect()
    }

    async fn complete_objects(&self) -> Result<Vec<ObjectRow>> {
        let all = sqlx::query(concat!(
            "SELECT ",
            object_columns!(),
            " FROM objects WHERE state = 'complete' ORDER BY object_id"
        ))
        .fetch_all(&self.pool)
        .await
        .map_err(classify)?;
        rows(all, object_row)
    }

    async fn snapshot(&self) -> Result<Snapshot> {
        let mut tx = self.pool.begin().await.map_err(classify)?;
        if self.backend == Backend::Postgres {
            // One snapshot for every statement below (SQLite's WAL read transaction is one
            // snapshot already).
            tx.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
                .await
                .map_err(classify)?;
        }
        let meta =
            rows(all(&mut tx, "SELECT name, value FROM meta ORDER BY name").await?, meta_row)?;
        let keys = rows(
            all(
                &mut tx,
                concat!("SELECT ", key_columns!(), " FROM keys ORDER BY created_at, key_id"),
            )
            .await?,
            key_row,
        )?;
        let versions = rows(
            all(
                &mut tx,
                concat!(
                    "SELECT ",
                    version_columns!(),
                    " FROM key_versions ORDER BY key_id, version"
                ),
            )
            .await?,
            version_row,
        )?;
        let materials = rows(
            all(
                &mut tx,
                concat!(
                    "SELECT ",
                    material_columns!(),
                    " FROM key_materials ORDER BY key_id, version"
                ),
            )
            .await?,
            material_row,
        )?;
        let aliases = rows(
            all(
                &mut tx,
                "SELECT region, alias_name, key_id, created_at, updated_at FROM aliases \
             ORDER BY region, alias_name",
            )
            .await?,
            alias_row,
        )?;
        let tokens = rows(
            all(
                &mut tx,
                concat!("SELECT ", token_columns!(), " FROM tokens ORDER BY created_at, token_id"),
            )
            .await?,
            token_row,
        )?;
        let access_keys = rows(
            all(
                &mut tx,
                concat!(
                    "SELECT ",
                    access_key_columns!(),
                    " FROM access_keys ORDER BY created_at, access_key_id"
                ),
            )
            .await?,
            access_key_row,
        )?;
        let grants = fetch_grants(&mut *tx, None).await?;
        let replicas = rows(
            all(
                &mut tx,
                "SELECT key_id, region, description, state, deletion_date, created_at, tags, \
                 policy FROM replica_keys ORDER BY key_id, region",
            )
            .await?,
            replica_row,
        )?;
        let audit = rows(
            all(&mut tx, "SELECT seq, record, prev_hash, hash FROM audit ORDER BY seq").await?,
            audit_row,
        )?;
        let objects = rows(
            all(&mut tx, concat!("SELECT ", object_columns!(), " FROM objects ORDER BY object_id"))
                .await?,
            object_row,
        )?;
        let digests = all(&mut tx, "SELECT n, seq, document FROM audit_digests ORDER BY n")
            .await?
            .iter()
            .map(|r| Ok((get(r, "n")?, get(r, "seq")?, get(r, "document")?)))
            .collect::<Result<_>>()?;
        tx.rollback().await.map_err(classify)?;
        Ok(Snapshot {
            meta,
            keys,
            versions,
            materials,
            aliases,
            tokens,
            access_keys,
            grants,
            replicas,
            audit,
            objects,
            digests,
        })
    }

    async fn restore(&self, s: &Snapshot) -> Result<()> {
        let mut tx = SqlWrite::begin(&self.pool).await?;
        let counts = sqlx::query(
            "SELECT (SELECT COUNT(*) FROM keys) AS keys, (SELECT COUNT(*) FROM tokens) AS tokens, \
             (SELECT COUNT(*) FROM access_keys) AS access_keys, \
             (SELECT COUNT(*) FROM audit) AS audit, (SELECT COUNT(*) FROM objects) AS objects",
        )
        .fetch_one(&mut *tx.tx)
        .await
        .map_err(classify)?;
        for table in ["keys", "tokens", "access_keys", "audit", "objects"] {
            if get::<i64>(&counts, table)? != 0 {
                return Err(StoreError::Conflict(format!(
                    "the database is not empty (table {table} has rows)"
                )));
            }
        }
        sqlx::query("DELETE FROM meta").execute(&mut *tx.tx).await.map_err(classify)?;
        for m in &s.meta {
            tx.insert_meta_once(&m.name, &m.value).await?;
        }
        for k in &s.keys {
            insert_key(&mut *tx.tx, k).await?;
        }
        for v in &s.versions {
            insert_version(&mut *tx.tx, v).await?;
        }
        for m in &s.materials {
            put_material(&mut *tx.tx, m).await?;
        }
        for a in &s.aliases {
            put_alias(&mut *tx.tx, a).await?;
        }
        for t in &s.tokens {
            insert_token(&mut *tx.tx, t).await?;
        }
        for k in &s.access_keys {
            insert_access_key(&mut *tx.tx, k).await?;
        }
        for r in &s.replicas {
            insert_replica(&mut *tx.tx, r).await?;
        }
        for g in &s.grants {
            insert_grant(&mut *tx.tx, g).await?;
        }
        for chunk in s.audit.chunks(AUDIT_ROWS_PER_INSERT) {
            insert_audit(&mut *tx.tx, chunk).await?;
        }
        for o in &s.objects {
            tx.claim_object(o).await?;
        }
        for (n, seq, document) in &s.digests {
            tx.insert_digest(*n, *seq, document).await?;
        }
        if let Some(last) = s.audit.last() {
            tx.head = ChainHead { seq: last.seq, hash: last.hash.clone() };
            set_head(&mut *tx.tx, &tx.head).await?;
        }
        Box::new(tx).commit().await
    }

    async fn shred_deleted(&self) -> Result<Option<String>> {
        match self.backend {
            // The zeroed pages are in the WAL; the frames before them still hold the old
            // content. A TRUNCATE checkpoint writes the zeroed pages into the database file
            // and empties the WAL. It cannot finish while a reader holds an old snapshot:
            // retry a little, then report.
            Backend::Sqlite => {
                for _ in 0..50 {
                    let row = sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
                        .fetch_one(&self.pool)
                        .await
                        .map_err(classify)?;
                    let busy: i64 =
                        row.try_get(0).map_err(|e| StoreError::Corrupt(e.to_string()))?;
                    if busy == 0 {
                        return Ok(None);
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Ok(Some("the WAL checkpoint stayed busy (a long reader)".into()))
            }
            // VACUUM FULL rewrites the key-material tables into new files (the old ones are
            // emptied, then unlinked at the next checkpoint). The WAL still holds the rows'
            // pages: a switch to a new segment and a checkpoint make those segments old, and
            // with `wal_recycle = off` PostgreSQL unlinks rather than reuses them. Needs table
            // ownership, CHECKPOINT (superuser or pg_checkpoint) and pg_switch_wal().
            //
            // VACUUM FULL copies a deleted row that some running transaction may still see
            // ("recently dead") into the new file. So first wait until every transaction that
            // began before this one (and so before the deletion committed) has ended.
            Backend::Postgres => {
                let mut missing = Vec::new();
                if !self.wait_out_older_transactions().await? {
                    missing.push("a transaction older than the deletion kept running".into());
                }
                for statement in [
                    "VACUUM FULL key_versions",
                    "VACUUM FULL keys",
                    "VACUUM FULL access_keys",
                    "SELECT pg_switch_wal()::text",
                    "CHECKPOINT",
                ] {
                    if let Err(e) = sqlx::query(statement).execute(&self.pool).await {
                        missing.push(format!("{statement}: {e}"));
                    }
                }
                Ok((!missing.is_empty()).then(|| missing.join("; ")))
            }
        }
    }

    async fn write(&self) -> Result<Box<dyn WriteTx>> {
        Ok(Box::new(SqlWrite::begin(&self.pool).await?))
    }
}

impl SqlStore {
    /// PostgreSQL: waits (at most 10 s) until no other session of this database holds a
    /// transaction ID or snapshot older than a transaction begun now; false if one stayed.
    async fn wait_out_older_transactions(&self) -> Result<bool> {
        // A 32-bit xid as text: `age()` takes xid, and xid has no ordering operators.
        let row = sqlx::query("SELECT (txid_current() % 4294967296)::text AS x")
            .fetch_one(&self.pool)
            .await
            .map_err(classify)?;
        let me: String = get(&row, "x")?;
        for _ in 0..100 {
            let row = sqlx::query(
                "SELECT count(*) AS n FROM pg_stat_activity \
                 WHERE datname = current_database() AND pid <> pg_backend_pid() \
                 AND (age(backend_xid) >= age($1::xid) OR age(backend_xmin) >= age($1::xid))",
            )
            .bind(&me)
            .fetch_one(&self.pool)
            .await
            .map_err(classify)?;
            if get::<i64>(&row, "n")? == 0 {
                return Ok(true);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Ok(false)
    }
}

/// A write transaction that took the chain head's row first.
struct SqlWrite {
    tx: Transaction<'static, Any>,
    head: ChainHead,
}

impl SqlWrite {
    async fn begin(pool: &AnyPool) -> Result<Self> {
        let mut tx = pool.begin().await.map_err(classify)?;
        // The first statement writes: PostgreSQL locks the row until commit, SQLite takes its
        // one write lock (waiting out another writer rather than failing on a stale snapshot).
        let row = sqlx::query("UPDATE audit_head SET seq = seq WHERE id = 1 RETURNING seq, hash")
            .fetch_one(&mut *tx)
            .await
            .map_err(classify)?;
        let head = ChainHead { seq: get(&row, "seq")?, hash: get(&row, "hash")? };
        Ok(Self { tx, head })
    }
}

#[async_trait]
impl WriteTx for SqlWrite {
    fn head(&self) -> &ChainHead {
        &self.head
    }

    async fn append_audit(&mut self, new: &[AuditRow]) -> Result<()> {
        let Some(last) = new.last() else { return Ok(()) };
        for chunk in new.chunks(AUDIT_ROWS_PER_INSERT) {
            insert_audit(&mut *self.tx, chunk).await?;
        }
        self.head = ChainHead { seq: last.seq, hash: last.hash.clone() };
        set_head(&mut *self.tx, &self.head).await
    }

    async fn key(&mut self, region: &str, key_ref: &str) -> Result<Option<KeyRow>> {
        fetch_key(&mut self.tx, region, key_ref).await
    }

    async fn insert_key(&mut self, key: &KeyRow) -> Result<()> {
        insert_key(&mut *self.tx, key).await
    }

    async fn insert_version(&mut self, version: &KeyVersion) -> Result<()> {
        insert_version(&mut *self.tx, version).await
    }

    async fn update_key(&mut self, key: &KeyRow) -> Result<()> {
        if key.is_replica() {
            sqlx::query(
                "UPDATE replica_keys SET state = $1, deletion_date = $2, policy = $3, \
                 description = $4, tags = $5 WHERE key_id = $6 AND region = $7",
            )
            .bind(key.state.clone())
            .bind(key.deletion_date)
            .bind(key.policy.clone())
            .bind(key.description.clone())
            .bind(key.tags.clone())
            .bind(key.key_id.clone())
            .bind(key.region.clone())
            .execute(&mut *self.tx)
            .await
            .map_err(classify)?;
            return Ok(());
        }
        sqlx::query(
            "UPDATE keys SET state = $1, deletion_date = $2, current_version = $3, policy = $4, \
             description = $5, tags = $6, rotation_period_days = $7, next_rotation = $8, \
             valid_to = $9, expiration_model = $10 WHERE key_id = $11",
        )
        .bind(key.state.clone())
        .bind(key.deletion_date)
        .bind(key.current_version)
        .bind(key.policy.clone())
        .bind(key.description.clone())
        .bind(key.tags.clone())
        .bind(key.rotation_period_days)
        .bind(key.next_rotation)
        .bind(key.valid_to)
        .bind(key.expiration_model.clone())
        .bind(key.key_id.clone())
        .execute(&mut *self.tx)
        .await
        .map_err(classify)?;
        Ok(())
    }

    async fn expired_keys(&mut self, now: i64) -> Result<Vec<(String, String, bool)>> {
        let ids = sqlx::query(
            "SELECT key_id, region, CAST(0 AS BIGINT) AS replica FROM keys \
             WHERE state = 'PendingDeletion' AND deletion_date <= $1 \
             UNION ALL SELECT key_id, region, CAST(1 AS BIGINT) AS replica FROM replica_keys \
             WHERE state = 'PendingDeletion' AND deletion_date <= $1 ORDER BY replica DESC, key_id",
        )
        .bind(now)
        .fetch_all(&mut *self.tx)
        .await
        .map_err(classify)?;
        ids.iter()
            .map(|r| Ok((get(r, "key_id")?, get(r, "region")?, get::<i64>(r, "replica")? != 0)))
            .collect()
    }

    async fn insert_replica(&mut self, replica: &ReplicaRow) -> Result<()> {
        insert_replica(&mut *self.tx, replica).await
    }

    async fn delete_replica(&mut self, key_id: &str, region: &str) -> Result<()> {
        for statement in [
            "DELETE FROM aliases WHERE key_id = $1 AND region = $2",
            "DELETE FROM grants WHERE key_id = $1 AND region = $2",
            "DELETE FROM replica_keys WHERE key_id = $1 AND region = $2",
        ] {
            sqlx::query(statement)
                .bind(key_id.to_string())
                .bind(region.to_string())
                .execute(&mut *self.tx)
                .await
                .map_err(classify)?;
        }
        Ok(())
    }

    async fn replica_regions(&mut self, key_id: &str) -> Result<Vec<String>> {
        let all = sqlx::query("SELECT region FROM replica_keys WHERE key_id = $1 ORDER BY region")
            .bind(key_id.to_string())
            .fetch_all(&mut *self.tx)
            .await
            .map_err(classify)?;
        all.iter().map(|r| get(r, "region")).collect()
    }

    async fn swap_primary(&mut self, key_id: &str, new_region: &str) -> Result<()> {
        let primary = sqlx::query(
            "SELECT key_id, region, description, state, deletion_date, created_at, tags, policy \
             FROM keys WHERE key_id = $1",
        )
        .bind(key_id.to_string())
        .fetch_one(&mut *self.tx)
        .await
        .map_err(classify)?;
        let old = replica_row(&primary)?;
        let replica = sqlx::query(
            "SELECT key_id, region, description, state, deletion_date, created_at, tags, policy \
             FROM replica_keys WHERE key_id = $1 AND region = $2",
        )
        .bind(key_id.to_string())
        .bind(new_region.to_string())
        .fetch_one(&mut *self.tx)
        .await
        .map_err(classify)?;
        let new = replica_row(&replica)?;
        sqlx::query(
            "UPDATE keys SET region = $1, description = $2, state = $3, deletion_date = $4, \
             created_at = $5, tags = $6, policy = $7 WHERE key_id = $8",
        )
        .bind(new.region.clone())
        .bind(new.description.clone())
        .bind(new.state.clone())
        .bind(new.deletion_date)
        .bind(new.created_at)
        .bind(new.tags.clone())
        .bind(new.policy.clone())
        .bind(key_id.to_string())
        .execute(&mut *self.tx)
        .await
        .map_err(classify)?;
        sqlx::query("DELETE FROM replica_keys WHERE key_id = $1 AND region = $2")
            .bind(key_id.to_string())
            .bind(new_region.to_string())
            .execute(&mut *self.tx)
            .await
            .map_err(classify)?;
        insert_replica(&mut *self.tx, &old).await
    }

    async fn delete_key(&mut self, key_id: &str) -> Result<()> {
        for statement in [
            "DELETE FROM aliases WHERE key_id = $1",
            "DELETE FROM grants WHERE key_id = $1",
            "DELETE FROM import_parameters WHERE key_id = $1",
            "DELETE FROM key_materials WHERE key_id = $1",
            "DELETE FROM key_versions WHERE key_id = $1",
            "DELETE FROM keys WHERE key_id = $1",
        ] {
            sqlx::query(statement)
                .bind(key_id.to_string())
                .execute(&mut *self.tx)
                .await
                .map_err(classify)?;
        }
        Ok(())
    }

    async fn alias(&mut self, region: &str, alias_name: &str) -> Result<Option<AliasRow>> {
        let row = sqlx::query(
            "SELECT region, alias_name, key_id, created_at, updated_at FROM aliases \
             WHERE region = $1 AND alias_name = $2",
        )
        .bind(region.to_string())
        .bind(alias_name.to_string())
        .fetch_optional(&mut *self.tx)
        .await
        .map_err(classify)?;
        row.as_ref().map(alias_row).transpose()
    }

    async fn put_alias(&mut self, alias: &AliasRow) -> Result<()> {
        put_alias(&mut *self.tx, alias).await
    }

    async fn delete_alias(&mut self, region: &str, alias_name: &str) -> Result<bool> {
        let done = sqlx::query("DELETE FROM aliases WHERE region = $1 AND alias_name = $2")
            .bind(region.to_string())
            .bind(alias_name.to_string())
            .execute(&mut *self.tx)
            .await
            .map_err(classify)?;
        Ok(done.rows_affected() > 0)
    }

    async fn insert_token(&mut self, token: &TokenRow) -> Result<()> {
        insert_token(&mut *self.tx, token).await
    }

    async fn insert_access_key(&mut self, key: &AccessKeyRow) -> Result<()> {
        insert_access_key(&mut *self.tx, key).await
    }

    async fn materials_of(&mut self, key_id: &str) -> Result<Vec<MaterialRow>> {
        fetch_materials(&mut *self.tx, key_id).await
    }

    async fn put_material(&mut self, m: &MaterialRow) -> Result<()> {
        put_material(&mut *self.tx, m).await
    }

    async fn delete_material(&mut self, key_id: &str, version: i64) -> Result<()> {
        sqlx::query("DELETE FROM key_materials WHERE key_id = $1 AND version = $2")
            .bind(key_id.to_string())
            .bind(version)
            .execute(&mut *self.tx)
            .await
            .map_err(classify)?;
        Ok(())
    }

    async fn delete_version(&mut self, key_id: &str, version: i64) -> Result<()> {
        sqlx::query("DELETE FROM key_versions WHERE key_id = $1 AND version = $2")
            .bind(key_id.to_string())
            .bind(version)
            .execute(&mut *self.tx)
            .await
            .map_err(classify)?;
        Ok(())
    }

    async fn insert_import_parameters(&mut self, p: &ImportParameters) -> Result<()> {
        sqlx::query(
            "INSERT INTO import_parameters (import_token, key_id, wrapping_algorithm, \
             wrapping_key_spec, private_sealed, valid_to, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(p.import_token.clone())
        .bind(p.key_id.clone())
        .bind(p.wrapping_algorithm.clone())
        .bind(p.wrapping_key_spec.clone())
        .bind(p.private_sealed.clone())
        .bind(p.valid_to)
        .bind(p.created_at)
        .execute(&mut *self.tx)
        .await
        .map_err(classify)?;
        Ok(())
    }

    async fn grants(&mut self, key_id: &str) -> Result<Vec<GrantRow>> {
        fetch_grants(&mut *self.tx, Some(key_id)).await
    }

    async fn insert_grant(&mut self, grant: &GrantRow) -> Result<()> {
        insert_grant(&mut *self.tx, grant).await
    }

    async fn delete_grant(&mut self, key_id: &str, grant_id: &str) -> Result<bool> {
        let done = sqlx::query("DELETE FROM grants WHERE key_id = $1 AND grant_id = $2")
            .bind(key_id.to_string())
            .bind(grant_id.to_string())
            .execute(&mut *self.tx)
            .await
            .map_err(classify)?;
        Ok(done.rows_affected() > 0)
    }

    async fn revoke_access_key(&mut self, access_key_id: &str, now: i64) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE access_keys SET revoked_at = $1 WHERE access_key_id = $2 \
             AND revoked_at IS NULL",
        )
        .bind(now)
        .bind(access_key_id.to_string())
        .execute(&mut *self.tx)
        .await
        .map_err(classify)?;
        Ok(done.rows_affected() > 0)
    }

    async fn reseal_access_key(
        &mut self,
        access_key_id: &str,
        old: &[u8],
        new: &[u8],
    ) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE access_keys SET secret_sealed = $1 \
             WHERE access_key_id = $2 AND secret_sealed = $3",
        )
        .bind(new.to_vec())
        .bind(access_key_id.to_string())
        .bind(old.to_vec())
        .execute(&mut *self.tx)
        .await
        .map_err(classify)?;
        Ok(done.rows_affected() == 1)
    }

    async fn latest_digest(&mut self) -> Result<Option<(i64, i64, String)>> {
        let row = sqlx::query("SELECT n, seq, document FROM audit_digests ORDER BY n DESC LIMIT 1")
            .fetch_optional(&mut *self.tx)
            .await
            .map_err(classify)?;
        row.map(|r| Ok((get(&r, "n")?, get(&r, "seq")?, get(&r, "document")?))).transpose()
    }

    async fn insert_digest(&mut self, n: i64, seq: i64, document: &str) -> Result<()> {
        sqlx::query("INSERT INTO audit_digests (n, seq, document) VALUES ($1, $2, $3)")
            .bind(n)
            .bind(seq)
            .bind(document.to_string())
            .execute(&mut *self.tx)
            .await
            .map_err(classify)?;
        Ok(())
    }

    async fn revoke_token(&mut self, token_id: &str, now: i64) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE tokens SET revoked_at = $1 WHERE token_id = $2 AND revoked_at IS NULL",
        )
        .bind(now)
        .bind(token_id.to_string())
        .execute(&mut *self.tx)
        .await
        .map_err(classify)?;
        Ok(done.rows_affected() > 0)
    }

    async fn insert_meta_once(&mut self, name: &str, value: &[u8]) -> Result<bool> {
        let done = sqlx::query(
            "INSERT INTO meta (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
        )
        .bind(name.to_string())
        .bind(value.to_vec())
        .execute(&mut *self.tx)
        .await
        .map_err(classify)?;
        Ok(done.rows_affected() == 1)
    }

    async fn replace_meta(&mut self, name: &str, old: &[u8], new: &[u8]) -> Result<bool> {
        let done = sqlx::query("UPDATE meta SET value = $1 WHERE name = $2 AND value = $3")
            .bind(new.to_vec())
            .bind(name.to_string())
            .bind(old.to_vec())
            .execute(&mut *self.tx)
            .await
            .map_err(classify)?;
        Ok(done.rows_affected() == 1)
    }

    async fn reseal_version(
        &mut self,
        key_id: &str,
        version: i64,
        old: &[u8],
        new: &[u8],
    ) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE key_versions SET private_sealed = $1 \
             WHERE key_id = $2 AND version = $3 AND private_sealed = $4",
        )
        .bind(new.to_vec())
        .bind(key_id.to_string())
        .bind(version)
        .bind(old.to_vec())
        .execute(&mut *self.tx)
        .await
        .map_err(classify)?;
        Ok(done.rows_affected() == 1)
    }

    async fn claim_object(&mut self, o: &ObjectRow) -> Result<()> {
        let done = sqlx::query(concat!(
            "INSERT INTO objects (",
            object_columns!(),
            ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (object_id) DO NOTHING"
        ))
        .bind(o.object_id.clone())
        .bind(o.owner.clone())
        .bind(o.state.clone())
        .bind(o.size)
        .bind(o.next_part)
        .bind(o.created_at)
        .bind(o.expires_at)
        .bind(i64::from(o.has_meta))
        .execute(&mut *self.tx)
        .await
        .map_err(classify)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::Conflict(format!("object {}", o.object_id)));
        }
        Ok(())
    }

    async fn open_uploads(&mut self, owner: &str, now: i64) -> Result<i64> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS n FROM objects WHERE owner = $1 AND state = 'uploading' \
             AND expires_at > $2",
        )
        .bind(owner.to_string())
        .bind(now)
        .fetch_one(&mut *self.tx)
        .await
        .map_err(classify)?;
        get(&row, "n")
    }

    async fn object(&mut self, object_id: &str) -> Result<Option<ObjectRow>> {
        fetch_object(&mut *self.tx, object_id).await
    }

    async fn update_object(&mut self, o: &ObjectRow) -> Result<()> {
        sqlx::query(
            "UPDATE objects SET state = $1, size = $2, next_part = $3, has_meta = $4, \
             expires_at = $5 WHERE object_id = $6",
        )
        .bind(o.state.clone())
        .bind(o.size)
        .bind(o.next_part)
        .bind(i64::from(o.has_meta))
        .bind(o.expires_at)
        .bind(o.object_id.clone())
        .execute(&mut *self.tx)
        .await
        .map_err(classify)?;
        Ok(())
    }

    async fn delete_object(&mut self, object_id: &str) -> Result<()> {
        sqlx::query("DELETE FROM objects WHERE object_id = $1")
            .bind(object_id.to_string())
            .execute(&mut *self.tx)
            .await
            .map_err(classify)?;
        Ok(())
    }

    async fn expired_uploads(&mut self, now: i64) -> Result<Vec<String>> {
        let ids = sqlx::query(
            "SELECT object_id FROM objects WHERE state = 'uploading' AND expires_at <= $1 \
             ORDER BY object_id",
        )
        .bind(now)
        .fetch_all(&mut *self.tx)
        .await
        .map_err(classify)?;
        ids.iter().map(|r| get(r, "object_id")).collect()
    }

    async fn commit(self: Box<Self>) -> Result<()> {
        self.tx.commit().await.map_err(classify)
    }
}
