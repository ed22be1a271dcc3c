//! `cipherdrop backup` and `cipherdrop restore`: the whole key-server database in one file,
//! read at one point in time while servers keep serving.
//!
//! The file is JSON (`"format": "cipherdrop-backup"`, version 1) holding keys with their
//! versions still sealed under the root key, aliases, policies, token hashes, access keys
//! (their secrets sealed too), server-wide values, the audit chain and the archive's object
//! rows (who owns which object ID; the objects themselves stay in their store). A restore
//! needs the same root key; it loads into an empty database of either backend and appends a
//! `Restore` record to the chain.

use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};

use crate::domain::audit::{self, Record};
use crate::domain::{Caller, DomainError, secrets};
use crate::settings::DataSettings;
use crate::store::{
    self, AccessKeyRow, AliasRow, AuditRow, GrantRow, KeyRow, KeyVersion, MaterialRow, MetaRow,
    ObjectRow, ReplicaRow, Snapshot, TokenRow,
};

/// A database URL as it may be shown: without a password.
fn shown(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => url.to_string(),
    }
}

const FORMAT: &str = "cipherdrop-backup";
const VERSION: u32 = 1;

/// The file. Key, version, alias, token, access-key and object rows are the store's own (binary
/// columns in base64); meta and audit rows are tuples.
#[derive(Serialize, Deserialize)]
struct File {
    format: String,
    version: u32,
    created: String,
    meta: Vec<(String, String)>,
    keys: Vec<KeyEntry>,
    versions: Vec<KeyVersion>,
    /// Imported materials (in backups made before keys had several: each key's one
    /// fingerprint, in its row).
    #[serde(default)]
    materials: Vec<MaterialRow>,
    aliases: Vec<AliasEntry>,
    tokens: Vec<TokenRow>,
    /// Access keys, their secrets still sealed under the root key.
    #[serde(default)]
    access_keys: Vec<AccessKeyRow>,
    /// Grants.
    #[serde(default)]
    grants: Vec<GrantRow>,
    /// Replicas of multi-Region keys.
    #[serde(default)]
    replicas: Vec<ReplicaRow>,
    audit: Vec<(i64, String, String, String)>,
    /// Archive object rows (owners of object IDs).
    #[serde(default)]
    objects: Vec<ObjectRow>,
    /// Signed digests of the audit chain (number, seq covered, document), so that a restored
    /// chain is checked against what was signed before the backup (`audit verify`).
    #[serde(default)]
    digests: Vec<(i64, i64, String)>,
}

/// A key as backups write it: its row, and in backups made before keys had several imported
/// materials, the fingerprint of its one.
#[derive(Serialize, Deserialize)]
struct KeyEntry {
    #[serde(flatten)]
    row: KeyRow,
    #[serde(default, skip_serializing)]
    material_fingerprint: Option<String>,
}

/// An older backup's key with imported material: that material as its version 1.
fn first_material(entry: &KeyEntry) -> Option<MaterialRow> {
    entry.material_fingerprint.as_ref().map(|fingerprint| MaterialRow {
        key_id: entry.row.key_id.clone(),
        version: 1,
        fingerprint: fingerprint.clone(),
        description: String::new(),
        expiration_model: entry.row.expiration_model.clone(),
        valid_to: entry.row.valid_to,
        rotated_at: None,
    })
}

/// An alias as backups write it: a row, or (in backups made before aliases had a region and
/// a creation date) a tuple of name, key ID and update time.
#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum AliasEntry {
    Row(AliasRow),
    Unregioned(String, String, i64),
}

impl From<AliasEntry> for AliasRow {
    fn from(entry: AliasEntry) -> Self {
        match entry {
            AliasEntry::Row(row) => row,
            AliasEntry::Unregioned(alias_name, key_id, updated_at) => AliasRow {
                region: "us-east-1".into(),
                alias_name,
                key_id,
                created_at: updated_at,
                updated_at,
            },
        }
    }
}

fn b64(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

fn unb64(text: &str) -> Result<Vec<u8>, DomainError> {
    STANDARD.decode(text).map_err(|_| DomainError::invalid("backup: a binary field is not base64"))
}

/// What a backup wrote or a restore loaded.
#[derive(Debug, Clone, Copy)]
pub struct Counts {
    /// Keys.
    pub keys: usize,
    /// Audit records.
    pub records: usize,
}

/// Writes the database named by `data` to `out` (mode 0600, complete or absent).
pub async fn backup(data: &DataSettings, out: &Path) -> Result<Counts, DomainError> {
    let url = data.existing_database_url();
    let store = store::open(&url).await.map_err(|e| match e {
        store::StoreError::Backend(m) | store::StoreError::Unavailable(m) => {
            DomainError::invalid(format!("no database to back up at {}: {m}", shown(&url)))
        }
        other => other.into(),
    })?;
    let s = store.snapshot().await?;
    let counts = Counts { keys: s.keys.len(), records: s.audit.len() };
    let file = File {
        format: FORMAT.into(),
        version: VERSION,
        created: crate::domain::keys::rfc3339(crate::domain::keys::now_ms()),
        meta: s.meta.into_iter().map(|m| (m.name, b64(&m.value))).collect(),
        keys: s.keys.into_iter().map(|row| KeyEntry { row, material_fingerprint: None }).collect(),
        versions: s.versions,
        materials: s.materials,
        aliases: s.aliases.into_iter().map(AliasEntry::Row).collect(),
        tokens: s.tokens,
        access_keys: s.access_keys,
        grants: s.grants,
        replicas: s.replicas,
        audit: s.audit.into_iter().map(|r| (r.seq, r.record, r.prev_hash, r.hash)).collect(),
        objects: s.objects,
        digests: s.digests,
    };
    let text = serde_json::to_vec(&file).map_err(|e| DomainError::internal(e.to_string()))?;
    secrets::write_secret_replacing(out, &text)?;
    Ok(counts)
}

/// Loads a backup into the empty database named by `data`. The chain is checked before
/// anything is written.
pub async fn restore(data: &DataSettings, input: &Path) -> Result<Counts, DomainError> {
    let text = std::fs::read(input)
        .map_err(|e| DomainError::invalid(format!("{}: {e}", input.display())))?;
    let file: File = serde_json::from_slice(&text)
        .map_err(|e| DomainError::invalid(format!("{}: not a backup: {e}", input.display())))?;
    if file.format != FORMAT || file.version != VERSION {
        return Err(DomainError::invalid(format!(
            "{}: format {} version {} (expected {FORMAT} {VERSION})",
            input.display(),
            file.format,
            file.version
        )));
    }
    let audit_rows: Vec<AuditRow> = file
        .audit
        .into_iter()
        .map(|(seq, record, prev_hash, hash)| AuditRow { seq, record, prev_hash, hash })
        .collect();
    let chained = audit_rows
        .iter()
        .map(|r| {
            let record = serde_json::from_str(&r.record).map_err(|e| {
                DomainError::invalid(format!("backup: audit record {}: {e}", r.seq))
            })?;
            Ok(audit::ChainedRecord {
                record,
                prev_hash: r.prev_hash.clone(),
                hash: r.hash.clone(),
            })
        })
        .collect::<Result<Vec<_>, DomainError>>()?;
    if let Err((seq, why)) = audit::verify(&chained) {
        return Err(DomainError::invalid(format!("backup: audit chain broken at {seq}: {why}")));
    }
    let snapshot = Snapshot {
        meta: file
            .meta
            .into_iter()
            .map(|(name, v)| Ok(MetaRow { name, value: unb64(&v)? }))
            .collect::<Result<_, DomainError>>()?,
        materials: if file.materials.is_empty() {
            file.keys.iter().filter_map(first_material).collect()
        } else {
            file.materials
        },
        keys: file.keys.into_iter().map(|k| k.row).collect(),
        versions: file.versions,
        aliases: file.aliases.into_iter().map(AliasRow::from).collect(),
        tokens: file.tokens,
        access_keys: file.access_keys,
        grants: file.grants,
        replicas: file.replicas,
        audit: audit_rows,
        objects: file.objects,
        digests: file.digests,
    };
    let counts = Counts { keys: snapshot.keys.len(), records: snapshot.audit.len() + 1 };
    std::fs::create_dir_all(&data.data_dir)
        .map_err(|e| DomainError::invalid(format!("{}: {e}", data.data_dir.display())))?;
    let store = store::open(&data.database_url()).await?;
    store.restore(&snapshot).await?;
    let mut tx = store.write().await?;
    let record = Record::allowed(&Caller::system("-"), "Restore", None)
        .noted(&format!("backup of {}", file.created));
    audit::append_in(tx.as_mut(), [record]).await?;
    tx.commit().await?;
    Ok(counts)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn an_older_backups_one_fingerprint_becomes_version_1() {
        let old = serde_json::json!({
            "key_id": "k", "description": "", "key_spec": "SYMMETRIC_DEFAULT",
            "key_usage": "ENCRYPT_DECRYPT", "state": "Enabled", "deletion_date": null,
            "created_at": 1, "current_version": 1, "tags": "{}", "policy": "{}",
            "origin": "EXTERNAL", "valid_to": 99, "expiration_model": "KEY_MATERIAL_EXPIRES",
            "material_fingerprint": "ab",
        });
        let entry: KeyEntry = serde_json::from_value(old).unwrap();
        let m = first_material(&entry).unwrap();
        assert_eq!((m.version, m.fingerprint.as_str(), m.valid_to), (1, "ab", Some(99)));
        assert_eq!(m.expiration_model.as_deref(), Some("KEY_MATERIAL_EXPIRES"));
        let written = serde_json::to_value(KeyEntry { row: entry.row, material_fingerprint: None });
        assert!(written.unwrap().get("material_fingerprint").is_none(), "new backups: materials");
    }
}
