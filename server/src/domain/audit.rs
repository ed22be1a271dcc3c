//! The audit log: one record per request, hash-chained so that editing, reordering or
//! removing a record (other than the newest) breaks the chain.
//!
//! `hash = hex(SHA-256(prev_hash || "\n" || record))`, where `record` is the record's
//! canonical JSON exactly as stored, and the first record's `prev_hash` is 64 zeros.

use cipherdrop::EncryptionContext;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::{mpsc, oneshot};

use super::Caller;
use super::error::DomainError;
use super::keys::{now_ms, rfc3339};
use crate::store::{AuditRow, Store, StoreError, WriteTx};

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
    /// ID of the token the caller presented, never the token (absent in records written
    /// before token IDs existed, so that their hashes still verify).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_id: Option<String>,
    /// For a caller signed in through OpenID Connect: its token's issuer (`iss`)...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    /// ...and subject (`sub`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// The region an AWS KMS API request was addressed to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// What an AWS KMS API request asked, without plaintexts, ciphertexts or tokens
    /// (CloudTrail's `requestParameters`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_parameters: Option<serde_json::Value>,
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
    sha256_hex(&[prev_hash.as_bytes(), b"\n", record_json.as_bytes()])
}

/// Lowercase hex SHA-256 of `parts` in order.
fn sha256_hex(parts: &[&[u8]]) -> String {
    let mut h = Sha256::new();
    for part in parts {
        h.update(part);
    }
    super::secrets::hex(&h.finalize())
}

impl Record {
    /// This record with `note` after its detail (the error code, if any).
    pub(crate) fn noted(mut self, note: &str) -> Self {
        self.detail = match self.detail.is_empty() {
            true => note.to_string(),
            false => format!("{} {note}", self.detail),
        };
        self
    }

    /// The record of an allowed request.
    pub(crate) fn allowed(caller: &Caller, action: &str, key_id: Option<&str>) -> Self {
        Self::of(caller, action, key_id, None, &Ok::<(), DomainError>(()))
    }

    /// The record of a request by `caller` with `outcome`; `seq` is assigned on append.
    pub(crate) fn of<T>(
        caller: &Caller,
        action: &str,
        key_id: Option<&str>,
        context: Option<&EncryptionContext>,
        outcome: &Result<T, DomainError>,
    ) -> Self {
        let (result, detail) = match outcome {
            Ok(_) => ("Allowed", String::new()),
            Err(e) => (e.audit_result(), e.code().to_string()),
        };
        Self {
            seq: 0,
            time: rfc3339(now_ms()),
            request_id: caller.request_id.clone(),
            principal: caller.principal.clone(),
            action: action.into(),
            key_id: key_id.map(String::from),
            context: context.cloned(),
            result: result.into(),
            detail,
            token_id: caller.token_id.clone(),
            issuer: caller.identity.as_ref().map(|i| i.issuer.clone()),
            subject: caller.identity.as_ref().map(|i| i.subject.clone()),
            region: caller.region.clone(),
            request_parameters: caller.parameters.as_deref().cloned(),
        }
    }
}

/// Appends `records` in order inside `tx`, linking each to the chain's head.
pub(crate) async fn append_in(
    tx: &mut dyn WriteTx,
    records: impl IntoIterator<Item = Record>,
) -> Result<(), DomainError> {
    let head = tx.head().clone();
    let (mut seq, mut prev) = (head.seq, head.hash);
    let mut rows = Vec::new();
    for mut record in records {
        seq += 1;
        record.seq = seq;
        let json =
            serde_json::to_string(&record).map_err(|e| DomainError::internal(e.to_string()))?;
        let hash = chain_hash(&prev, &json);
        rows.push(AuditRow { seq, record: json, prev_hash: prev, hash: hash.clone() });
        prev = hash;
    }
    tx.append_audit(&rows).await.map_err(audit_failed)
}

/// A store failure while appending: the request must not take effect.
fn audit_failed(e: StoreError) -> DomainError {
    match e {
        StoreError::Unavailable(m) => DomainError::Unavailable(m),
        other => DomainError::AuditFailed(other.to_string()),
    }
}

/// Records with `seq > after`, at most `limit`, as stored.
pub(crate) async fn list(
    store: &dyn Store,
    after: i64,
    limit: i64,
) -> Result<Vec<ChainedRecord>, DomainError> {
    store
        .audit_page(after, limit)
        .await?
        .into_iter()
        .map(|row| {
            let record = serde_json::from_str(&row.record)
                .map_err(|e| DomainError::internal(format!("audit record unreadable: {e}")))?;
            Ok(ChainedRecord { record, prev_hash: row.prev_hash, hash: row.hash })
        })
        .collect()
}

/// Most records one group commit appends.
const MAX_BATCH: usize = 512;

/// The audit log's writer: records of concurrent requests are appended in one transaction
/// (whatever arrived while the previous commit was in flight), and each request learns when
/// its own record is durable. The chain's order is the database's: replicas each have a
/// writer, and their transactions take turns on the chain head.
#[derive(Clone, Debug)]
pub(crate) struct AuditLog {
    queue: mpsc::Sender<Pending>,
    stats: Arc<AuditStats>,
}

/// Counters of the audit writer, for `/metrics`.
#[derive(Debug, Default)]
pub(crate) struct AuditStats {
    /// Records made durable.
    pub(crate) records: AtomicU64,
    /// Group commits that succeeded.
    pub(crate) batches: AtomicU64,
    /// Group commits that failed (their requests were refused).
    pub(crate) failed_batches: AtomicU64,
    /// Time spent in group commits, in microseconds (with `batches`: the store's latency).
    pub(crate) commit_micros: AtomicU64,
    /// Durable records by (action, key, result): cryptographic operations, denials and
    /// alarms, with labels bounded by the actions the server knows and the keys it holds.
    pub(crate) operations:
        std::sync::Mutex<std::collections::BTreeMap<(String, String, String), u64>>,
}

/// Actions counted by name in `/metrics`; any other (an unauthenticated request's method and
/// path, chosen by the client) counts as `other`.
const COUNTED_ACTIONS: &[&str] = &[
    "Unwrap",
    "Decrypt",
    "CreateKey",
    "RotateKey",
    "DescribeKey",
    "GetPublicKey",
    "ListKeys",
    "EnableKey",
    "DisableKey",
    "ScheduleKeyDeletion",
    "CancelKeyDeletion",
    "DeleteKey",
    "GetKeyPolicy",
    "PutKeyPolicy",
    "CreateAlias",
    "UpdateAlias",
    "DeleteAlias",
    "ListAliases",
    "CreateToken",
    "ListTokens",
    "RevokeToken",
    "ListAudit",
    "ListAuditDigests",
    "GetMetrics",
    "ListObjects",
    "PutObject",
    "PutObjectMeta",
    "GetObject",
    "GetObjectMeta",
    "DeleteObject",
    "StartUpload",
    "UploadPart",
    "CompleteUpload",
    "AbortUpload",
    "AbandonUpload",
    "Restore",
];

impl AuditStats {
    /// Counts records that are now durable.
    pub(crate) fn note<'a>(&self, records: impl IntoIterator<Item = &'a Record>) {
        let Ok(mut ops) = self.operations.lock() else { return };
        for r in records {
            let action = match COUNTED_ACTIONS.contains(&r.action.as_str()) {
                true => r.action.clone(),
                false => "other".to_string(),
            };
            let key = r.key_id.clone().unwrap_or_else(|| "-".into());
            if r.result == "Alarm" {
                tracing::warn!(key = %key, principal = %r.principal, action = %r.action, request_id = %r.request_id, "ALARM: use of a key pending deletion");
            }
            *ops.entry((action, key, r.result.clone())).or_default() += 1;
        }
    }
}

struct Pending {
    record: Record,
    done: oneshot::Sender<Result<(), String>>,
}

impl AuditLog {
    /// Starts the writer task on the current runtime.
    pub(crate) fn start(store: Arc<dyn Store>) -> Self {
        let (queue, rx) = mpsc::channel(4 * MAX_BATCH);
        let stats = Arc::new(AuditStats::default());
        tokio::spawn(write_batches(store, rx, stats.clone()));
        Self { queue, stats }
    }

    /// The writer's counters.
    pub(crate) fn stats(&self) -> &AuditStats {
        &self.stats
    }

    /// Appends `record` and waits until it is durable. Fails closed: the caller must not act
    /// (or answer as if it had) unless this returns `Ok`.
    pub(crate) async fn append(&self, record: Record) -> Result<(), DomainError> {
        let (done, wait) = oneshot::channel();
        let stopped = || DomainError::AuditFailed("the audit writer stopped".into());
        self.queue.send(Pending { record, done }).await.map_err(|_| stopped())?;
        match wait.await.map_err(|_| stopped())? {
            Ok(()) => Ok(()),
            Err(e) => Err(DomainError::AuditFailed(e)),
        }
    }

    /// Records a request that changed nothing (reads, refusals, unwraps) and passes its
    /// outcome on, unless the record cannot be written.
    pub(crate) async fn outcome<T>(
        &self,
        caller: &Caller,
        action: &str,
        key_id: Option<&str>,
        context: Option<&EncryptionContext>,
        outcome: Result<T, DomainError>,
    ) -> Result<T, DomainError> {
        self.append(Record::of(caller, action, key_id, context, &outcome)).await?;
        outcome
    }
}

async fn write_batches(
    store: Arc<dyn Store>,
    mut rx: mpsc::Receiver<Pending>,
    stats: Arc<AuditStats>,
) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let (records, waiters): (Vec<_>, Vec<_>) =
            batch.drain(..).map(|p| (p.record, p.done)).unzip();
        let started = std::time::Instant::now();
        let result = async {
            let mut tx = store.write().await?;
            append_in(tx.as_mut(), records.iter().cloned()).await?;
            tx.commit().await.map_err(audit_failed)
        }
        .await
        .map_err(|e: DomainError| {
            tracing::error!(error = %e, "audit batch not written");
            e.to_string()
        });
        let counter = if result.is_ok() { &stats.batches } else { &stats.failed_batches };
        counter.fetch_add(1, Ordering::Relaxed);
        let micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
        stats.commit_micros.fetch_add(micros, Ordering::Relaxed);
        if result.is_ok() {
            stats.records.fetch_add(waiters.len() as u64, Ordering::Relaxed);
            stats.note(&records);
        }
        for waiter in waiters {
            let _ = waiter.send(result.clone());
        }
    }
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

/// `format` of a signed digest document.
pub const DIGEST_FORMAT: &str = "cipherdrop-audit-digest-1";

/// A signed digest of the chain's head (CloudTrail-style): the chain up to `seq` has hash
/// `hash`, and this is digest number `digest`, after the one whose document hashes to
/// `previous_digest_hash`. The signature (ECDSA P-256, SHA-256, ASN.1 DER) covers the canonical
/// JSON of every other field, in this order.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SignedDigest {
    /// [`DIGEST_FORMAT`].
    pub format: String,
    /// Number of this digest, from 1.
    pub digest: i64,
    /// The newest record it covers.
    pub seq: i64,
    /// That record's chain hash.
    pub hash: String,
    /// RFC 3339 time of signing.
    pub time: String,
    /// SHA-256 (hex) of the previous digest's document as stored; [`GENESIS`] for the first.
    pub previous_digest_hash: String,
    /// Base64 signature; empty while the document is being signed.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub signature: String,
}

impl SignedDigest {
    /// The bytes the signature covers: the document without its signature.
    pub fn signed_bytes(&self) -> Vec<u8> {
        let unsigned = Self { signature: String::new(), ..self.clone() };
        serde_json::to_vec(&unsigned).unwrap_or_default()
    }

    /// SHA-256 (hex) of a stored document, for the next digest's `previousDigestHash`.
    pub fn document_hash(document: &str) -> String {
        sha256_hex(&[document.as_bytes()])
    }
}

/// Checks signed digests against the chain: each digest's signature (with `public_key`, an
/// uncompressed P-256 point), numbering and link to the one before, and that the chain's
/// record at the digest's `seq` exists with the signed hash. A cut tail (records a digest
/// covers are gone) or a rewrite (even with every hash recomputed) fails here. Returns the
/// number of digests, or why they do not verify.
pub fn verify_digests(
    records: &[ChainedRecord],
    documents: &[String],
    public_key: &[u8],
) -> Result<usize, String> {
    use aws_lc_rs::signature::{ECDSA_P256_SHA256_ASN1, UnparsedPublicKey};
    use base64::Engine as _;
    if documents.is_empty() {
        return match records.is_empty() {
            true => Ok(0),
            false => Err("no signed digest covers the chain".into()),
        };
    }
    let key = UnparsedPublicKey::new(&ECDSA_P256_SHA256_ASN1, public_key);
    let mut previous = GENESIS.to_string();
    for (i, document) in documents.iter().enumerate() {
        let d: SignedDigest = serde_json::from_str(document)
            .map_err(|e| format!("digest {}: unreadable: {e}", i + 1))?;
        let n = d.digest;
        if d.format != DIGEST_FORMAT || n != i as i64 + 1 {
            return Err(format!("digest {}: out of order or unknown format", i + 1));
        }
        let signature = base64::engine::general_purpose::STANDARD
            .decode(&d.signature)
            .map_err(|_| format!("digest {n}: signature is not base64"))?;
        key.verify(&d.signed_bytes(), &signature)
            .map_err(|_| format!("digest {n}: the signature does not verify"))?;
        if d.previous_digest_hash != previous {
            return Err(format!("digest {n}: does not follow digest {}", n - 1));
        }
        check_covered(records, &d)?;
        previous = SignedDigest::document_hash(document);
    }
    Ok(documents.len())
}

/// Whether the chain holds the record a (verified) digest signed.
pub fn check_covered(records: &[ChainedRecord], d: &SignedDigest) -> Result<(), String> {
    let last = records.last().map_or(0, |r| r.record.seq);
    let Some(record) = usize::try_from(d.seq - 1).ok().and_then(|i| records.get(i)) else {
        return Err(format!(
            "the chain ends at seq {last} but signed digest {} covers seq {} (records were cut)",
            d.digest, d.seq
        ));
    };
    if d.seq == 0 || record.record.seq != d.seq || record.hash != d.hash {
        return Err(format!(
            "seq {}: the chain differs from signed digest {} (records were rewritten)",
            d.seq, d.digest
        ));
    }
    Ok(())
}
