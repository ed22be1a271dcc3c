//! The audit log: one record per request, hash-chained so that editing, reordering or
//! removing a record (other than the newest) breaks the chain.
//!
//! `hash = hex(SHA-256(prev_hash || "\n" || record))`, where `record` is the record's
//! canonical JSON exactly as stored, and the first record's `prev_hash` is 64 zeros.

use cipherdrop::EncryptionContext;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sqlx::SqliteConnection;

use crate::error::AppError;

/// `prev_hash` of the first record.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// One audited request. Field order is the canonical JSON order.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Record {
    /// Position in the chain, from 1.
    pub seq: i64,
    /// RFC 3339 time of the request.
    pub time: String,
    /// The request's `x-request-id`.
    pub request_id: String,
    /// Who asked (`-` when unauthenticated).
    pub principal: String,
    /// The action, such as `Unwrap` or `CreateKey`.
    pub action: String,
    /// Key concerned, if any.
    pub key_id: Option<String>,
    /// Verified encryption context (Unwrap) — never plaintext or keys.
    pub context: Option<EncryptionContext>,
    /// `Allowed`, `Denied`, `Error`, or `Alarm` (use of a key pending deletion).
    pub result: String,
    /// Error code or short note.
    pub detail: String,
}

/// A stored record with its chain links, as the API returns it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ChainedRecord {
    /// The record.
    #[serde(flatten)]
    pub record: Record,
    /// Hash of the previous record.
    pub prev_hash: String,
    /// Hash of this record.
    pub hash: String,
}

/// The chain hash of `record_json` after `prev_hash`.
pub fn chain_hash(prev_hash: &str, record_json: &str) -> String {
    let mut h = Sha256::new();
    h.update(prev_hash.as_bytes());
    h.update(b"\n");
    h.update(record_json.as_bytes());
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// Appends `record` (its `seq` is assigned here) inside the caller's transaction.
pub(crate) async fn append(
    conn: &mut SqliteConnection,
    mut record: Record,
) -> Result<(), AppError> {
    let last: Option<(i64, String)> =
        sqlx::query_as("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1")
            .fetch_optional(&mut *conn)
            .await?;
    let (seq, prev) = last.unwrap_or((0, GENESIS.to_string()));
    record.seq = seq + 1;
    let json = serde_json::to_string(&record).map_err(|e| AppError::internal(e.to_string()))?;
    let hash = chain_hash(&prev, &json);
    sqlx::query("INSERT INTO audit (seq, record, prev_hash, hash) VALUES (?, ?, ?, ?)")
        .bind(record.seq)
        .bind(&json)
        .bind(&prev)
        .bind(&hash)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Records with `seq > after`, at most `limit`, as stored.
pub(crate) async fn list(
    conn: &mut SqliteConnection,
    after: i64,
    limit: i64,
) -> Result<Vec<ChainedRecord>, AppError> {
    let rows: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT record, prev_hash, hash FROM audit WHERE seq > ? ORDER BY seq LIMIT ?",
    )
    .bind(after)
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?;
    rows.into_iter()
        .map(|(json, prev_hash, hash)| {
            let record = serde_json::from_str(&json)
                .map_err(|e| AppError::internal(format!("audit record unreadable: {e}")))?;
            Ok(ChainedRecord { record, prev_hash, hash })
        })
        .collect()
}

/// Checks a chain from its start: links, hashes and sequence numbers. Returns the number of
/// records, or the first broken `seq` with the reason.
pub fn verify(records: &[ChainedRecord]) -> Result<usize, (i64, &'static str)> {
    let mut prev = GENESIS.to_string();
    for (i, r) in records.iter().enumerate() {
        let seq = r.record.seq;
        if seq != i as i64 + 1 {
            return Err((seq, "sequence number out of order (record removed or inserted)"));
        }
        if r.prev_hash != prev {
            return Err((seq, "previous hash does not match"));
        }
        let json =
            serde_json::to_string(&r.record).map_err(|_| (seq, "record does not serialize"))?;
        if chain_hash(&prev, &json) != r.hash {
            return Err((seq, "record hash does not match its content"));
        }
        prev = r.hash.clone();
    }
    Ok(records.len())
}
