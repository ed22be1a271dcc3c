//! Storage: every table the key server and the archive keep, behind traits, so that the
//! domain never sees SQL. One implementation, [`sql::SqlStore`], serves both backends
//! (SQLite, the embedded default, and PostgreSQL for replicas): the statements are written
//! once in the dialect both accept, and only the migrations and the connection set-up differ.
//!
//! Concurrency contract: [`Store::write`] opens a transaction that first locks the audit
//! chain's head row. Every change goes through such a transaction, so changes (and the audit
//! records that go with them) are serialised by the database itself, across processes, and a
//! reader never needs a lock.

mod sql;

use std::fmt;

use async_trait::async_trait;

pub(crate) use sql::SqlStore;

/// Why a store call failed.
#[derive(Debug)]
pub enum StoreError {
    /// The database cannot be reached now (connection lost, pool exhausted, server shutting
    /// down or busy); the request may be retried.
    Unavailable(String),
    /// A row with this key already exists.
    Conflict(String),
    /// A stored value does not read back (a corrupt or foreign row).
    Corrupt(String),
    /// Any other database failure (a permission withdrawn, a constraint, a bug).
    Backend(String),
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unavailable(m) => write!(f, "database unavailable: {m}"),
            Self::Conflict(m) => write!(f, "already exists: {m}"),
            Self::Corrupt(m) => write!(f, "stored value unreadable: {m}"),
            Self::Backend(m) => write!(f, "database: {m}"),
        }
    }
}

impl std::error::Error for StoreError {}

/// Binary columns as base64 text where rows are serialized (backups).
mod base64_bytes {
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&STANDARD.encode(bytes))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(d)?;
        STANDARD.decode(text).map_err(|_| serde::de::Error::custom("a binary field is not base64"))
    }
}

/// Store results.
pub type Result<T> = std::result::Result<T, StoreError>;

/// A key, as stored.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct KeyRow {
    /// Key ID (UUID form).
    pub key_id: String,
    /// Free-form description.
    pub description: String,
    /// `RSA_2048`, `RSA_3072` or `RSA_4096`.
    pub key_spec: String,
    /// `ENCRYPT_DECRYPT`.
    pub key_usage: String,
    /// `Enabled`, `Disabled` or `PendingDeletion`.
    pub state: String,
    /// Milliseconds since the epoch when a pending deletion takes effect.
    pub deletion_date: Option<i64>,
    /// Milliseconds since the epoch.
    pub created_at: i64,
    /// The version new messages are wrapped to.
    pub current_version: i64,
    /// Tags, as a JSON object.
    pub tags: String,
    /// Key policy, as JSON.
    pub policy: String,
    /// The region it lives in (a key is found only there).
    #[serde(default = "default_region")]
    pub region: String,
    /// Where its material came from: `AWS_KMS` (made here).
    #[serde(default = "default_origin")]
    pub origin: String,
    /// Automatic rotation's period in days, when it is on.
    #[serde(default)]
    pub rotation_period_days: Option<i64>,
    /// When automatic rotation is next due (milliseconds since the epoch), when it is on.
    #[serde(default)]
    pub next_rotation: Option<i64>,
    /// Imported material: the earliest expiry of the key's own (not pending) materials
    /// (milliseconds since the epoch), if one expires; `None` while one of them is missing.
    #[serde(default)]
    pub valid_to: Option<i64>,
    /// Imported material: `KEY_MATERIAL_EXPIRES` (one of its own materials expires) or
    /// `KEY_MATERIAL_DOES_NOT_EXPIRE`; `None` while one of them is missing.
    #[serde(default)]
    pub expiration_model: Option<String>,
    /// Whether it is a multi-Region key (`mrk-` ID).
    #[serde(default)]
    pub multi_region: bool,
    /// For a multi-Region key: the primary key's region (its own, for the primary). Not a
    /// column: a replica is its `replica_keys` row over its primary's `keys` row.
    #[serde(skip)]
    pub primary_region: Option<String>,
}

impl KeyRow {
    /// Whether it is a replica of a multi-Region key (its row is in `replica_keys`).
    pub fn is_replica(&self) -> bool {
        self.primary_region.as_deref().is_some_and(|p| p != self.region)
    }
}

/// A replica of a multi-Region key: what is its own in its region.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ReplicaRow {
    /// Key ID (the primary's).
    pub key_id: String,
    /// Its region.
    pub region: String,
    /// Description.
    pub description: String,
    /// State.
    pub state: String,
    /// When a pending deletion takes effect.
    pub deletion_date: Option<i64>,
    /// Milliseconds since the epoch.
    pub created_at: i64,
    /// Tags, as a JSON object.
    pub tags: String,
    /// Key policy, as JSON.
    pub policy: String,
}

/// A wrapping key GetParametersForImport handed out.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ImportParameters {
    /// The import token (names it to ImportKeyMaterial).
    pub import_token: String,
    /// The key it is for.
    pub key_id: String,
    /// `RSAES_OAEP_SHA_1`, `RSAES_OAEP_SHA_256`, `RSA_AES_KEY_WRAP_SHA_1` or `_SHA_256`.
    pub wrapping_algorithm: String,
    /// `RSA_2048`, `RSA_3072` or `RSA_4096`.
    pub wrapping_key_spec: String,
    /// The wrapping key's PKCS#8, sealed under the root key.
    #[serde(with = "base64_bytes")]
    pub private_sealed: Vec<u8>,
    /// Until when it may be used (milliseconds since the epoch).
    pub valid_to: i64,
    /// Milliseconds since the epoch.
    pub created_at: i64,
}

/// Region of rows written before keys had one (backups of older servers).
fn default_region() -> String {
    "us-east-1".into()
}

fn default_origin() -> String {
    "AWS_KMS".into()
}

/// One version of a key's material.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct KeyVersion {
    /// Key ID.
    pub key_id: String,
    /// Version, from 1.
    pub version: i64,
    /// SPKI DER.
    #[serde(with = "base64_bytes")]
    pub public_der: Vec<u8>,
    /// PKCS#8 DER sealed under the root key.
    #[serde(with = "base64_bytes")]
    pub private_sealed: Vec<u8>,
    /// Milliseconds since the epoch.
    pub created_at: i64,
    /// How a version after the first came: `AUTOMATIC` or `ON_DEMAND` (`None`: the first, or
    /// an on-demand rotation from before rotation types were kept).
    #[serde(default)]
    pub rotation_type: Option<String>,
}

/// One imported material of a key of Origin EXTERNAL, held now or before (its sealed copy is
/// the key's version `version` while it is imported).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MaterialRow {
    /// Key ID.
    pub key_id: String,
    /// The key version it is.
    pub version: i64,
    /// What recognises it when it is imported again (no secret: a digest).
    pub fingerprint: String,
    /// KeyMaterialDescription.
    pub description: String,
    /// `KEY_MATERIAL_EXPIRES` or `KEY_MATERIAL_DOES_NOT_EXPIRE`; `None`: not imported now.
    pub expiration_model: Option<String>,
    /// When it expires (milliseconds since the epoch), if it does.
    pub valid_to: Option<i64>,
    /// When a rotation made it current (`None`: the first, or pending rotation).
    pub rotated_at: Option<i64>,
}

/// An alias row.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AliasRow {
    /// The region it lives in (the same name may name another key in another region).
    #[serde(default = "default_region")]
    pub region: String,
    /// `alias/NAME`.
    pub alias_name: String,
    /// Key ID.
    pub key_id: String,
    /// Milliseconds since the epoch.
    pub created_at: i64,
    /// Milliseconds since the epoch.
    pub updated_at: i64,
}

/// A bearer token row: only the token's hash is kept.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TokenRow {
    /// SHA-256 of the token.
    #[serde(with = "base64_bytes")]
    pub token_hash: Vec<u8>,
    /// Its principal.
    pub principal: String,
    /// Milliseconds since the epoch.
    pub created_at: i64,
    /// The name the token goes by (audit records, revocation), never secret.
    pub token_id: String,
    /// When it stops working (milliseconds since the epoch), if ever.
    pub expires_at: Option<i64>,
    /// When it was revoked.
    pub revoked_at: Option<i64>,
}

/// An access key for AWS Signature Version 4. The secret is sealed under the root key (label
/// `access-key/ID`): verifying a signature needs the secret itself, not a hash of it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AccessKeyRow {
    /// Access key ID (`AKIA…`), never secret: audit records name it.
    pub access_key_id: String,
    /// Its principal.
    pub principal: String,
    /// The secret access key sealed under the root key.
    #[serde(with = "base64_bytes")]
    pub secret_sealed: Vec<u8>,
    /// Milliseconds since the epoch.
    pub created_at: i64,
    /// When it was revoked.
    pub revoked_at: Option<i64>,
}

/// A grant on a key.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct GrantRow {
    /// Grant ID.
    pub grant_id: String,
    /// The key it is on.
    pub key_id: String,
    /// Its name (may be empty; names are not unique).
    pub name: String,
    /// Grantee principal ARN.
    pub grantee: String,
    /// Retiring principal ARN, if any.
    pub retiring: Option<String>,
    /// The principal ARN that created it.
    pub issuer: String,
    /// Operations, as a JSON array of names.
    pub operations: String,
    /// Constraints, as the JSON object AWS writes (`EncryptionContextEquals`/`Subset`).
    pub constraints: Option<String>,
    /// The grant token given out when it was made (names it to RetireGrant).
    pub grant_token: String,
    /// The region of the key it is on (a multi-Region key's replicas have their own).
    #[serde(default = "default_region")]
    pub region: String,
    /// Milliseconds since the epoch.
    pub created_at: i64,
}

/// An audit row: the record's canonical JSON and its chain links.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditRow {
    /// Position in the chain, from 1.
    pub seq: i64,
    /// Canonical JSON of the record.
    pub record: String,
    /// Hash of the previous record.
    pub prev_hash: String,
    /// Hash of this record.
    pub hash: String,
}

/// The audit chain's newest link (seq 0 and the genesis hash when empty).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChainHead {
    /// Sequence number of the newest record.
    pub seq: i64,
    /// Its hash.
    pub hash: String,
}

/// A server-wide setting kept in the database (for example the root-key check value).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MetaRow {
    /// Name.
    pub name: String,
    /// Value.
    pub value: Vec<u8>,
}

/// An archive object: claimed by its uploader, then complete.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ObjectRow {
    /// Object ID.
    pub object_id: String,
    /// The uploading principal.
    pub owner: String,
    /// `uploading` or `complete`.
    pub state: String,
    /// Bytes received so far (uploading) or in all (complete).
    pub size: i64,
    /// Parts received (upload sessions).
    pub next_part: i64,
    /// Milliseconds since the epoch.
    pub created_at: i64,
    /// When an unfinished upload is abandoned (milliseconds since the epoch).
    pub expires_at: i64,
    /// Whether the encrypted metadata record was written.
    pub has_meta: bool,
}

/// Everything a backup holds, read at one point in time.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// Server-wide settings.
    pub meta: Vec<MetaRow>,
    /// Keys.
    pub keys: Vec<KeyRow>,
    /// Key versions (sealed).
    pub versions: Vec<KeyVersion>,
    /// Imported materials.
    pub materials: Vec<MaterialRow>,
    /// Aliases.
    pub aliases: Vec<AliasRow>,
    /// Token hashes.
    pub tokens: Vec<TokenRow>,
    /// Access keys (secrets sealed).
    pub access_keys: Vec<AccessKeyRow>,
    /// Grants.
    pub grants: Vec<GrantRow>,
    /// Replicas of multi-Region keys.
    pub replicas: Vec<ReplicaRow>,
    /// The audit chain.
    pub audit: Vec<AuditRow>,
    /// Archive objects (who owns which ID).
    pub objects: Vec<ObjectRow>,
    /// Signed digests of the audit chain: (number, seq covered, document).
    pub digests: Vec<(i64, i64, String)>,
}

/// Reads outside a transaction, and the start of every write.
#[async_trait]
pub trait Store: Send + Sync + fmt::Debug {
    /// Which backend (`sqlite` or `postgres`), for logs and metrics.
    fn backend(&self) -> &'static str;
    /// A cheap round trip, for health checks.
    async fn ping(&self) -> Result<()>;
    /// A key of `region` by ID or `alias/NAME`.
    async fn key(&self, region: &str, key_ref: &str) -> Result<Option<KeyRow>>;
    /// Every key, oldest first.
    async fn keys(&self) -> Result<Vec<KeyRow>>;
    /// One version of a key.
    async fn key_version(&self, key_id: &str, version: i64) -> Result<Option<KeyVersion>>;
    /// Every version of every key (for re-sealing under a new root key).
    async fn versions(&self) -> Result<Vec<KeyVersion>>;
    /// Every version of one key, oldest first.
    async fn versions_of(&self, key_id: &str) -> Result<Vec<KeyVersion>>;
    /// The regions of a multi-Region key's replicas.
    async fn replica_regions(&self, key_id: &str) -> Result<Vec<String>>;
    /// The import parameters an import token names.
    async fn import_parameters(&self, import_token: &str) -> Result<Option<ImportParameters>>;
    /// A key's imported materials, by version.
    async fn materials_of(&self, key_id: &str) -> Result<Vec<MaterialRow>>;
    /// Imported materials whose expiry has come by `now`: (key ID, region, version).
    async fn due_materials(&self, now: i64) -> Result<Vec<(String, String, i64)>>;
    /// A key by ID with one of its versions, in one round trip (the unwrap path).
    async fn key_with_version(
        &self,
        key_id: &str,
        version: i64,
    ) -> Result<Option<(KeyRow, Option<KeyVersion>)>>;
    /// Every alias, by name.
    async fn aliases(&self) -> Result<Vec<AliasRow>>;
    /// The principal and token ID of a token hash, if that token is neither expired at `now`
    /// nor revoked.
    async fn token_principal(
        &self,
        token_hash: &[u8],
        now: i64,
    ) -> Result<Option<(String, String)>>;
    /// Every token (hashes included), oldest first.
    async fn tokens(&self) -> Result<Vec<TokenRow>>;
    /// An access key by ID, unless it is revoked.
    async fn live_access_key(&self, access_key_id: &str) -> Result<Option<AccessKeyRow>>;
    /// Every access key (sealed secrets included), oldest first.
    async fn access_keys(&self) -> Result<Vec<AccessKeyRow>>;
    /// The grants on a key, oldest first; every grant with `None`.
    async fn grants(&self, key_id: Option<&str>) -> Result<Vec<GrantRow>>;
    /// Audit rows with `seq > after`, at most `limit`, in order.
    async fn audit_page(&self, after: i64, limit: i64) -> Result<Vec<AuditRow>>;
    /// A server-wide setting.
    async fn meta(&self, name: &str) -> Result<Option<Vec<u8>>>;
    /// The audit chain's head as last committed.
    async fn chain_head(&self) -> Result<ChainHead>;
    /// Signed digests with number `> after`, in order: (number, covered seq, document).
    async fn digests(&self, after: i64) -> Result<Vec<(i64, i64, String)>>;
    /// An archive object's row.
    async fn object(&self, object_id: &str) -> Result<Option<ObjectRow>>;
    /// Complete archive objects, by ID.
    async fn complete_objects(&self) -> Result<Vec<ObjectRow>>;
    /// Everything a backup holds, in one read-only transaction (one point in time).
    async fn snapshot(&self) -> Result<Snapshot>;
    /// Loads a snapshot into an empty database, in one transaction; refuses a database that
    /// holds any key, token, access key or audit record.
    async fn restore(&self, snapshot: &Snapshot) -> Result<()>;
    /// Erases what deleted rows left in the database's files (after a key's deletion): no
    /// copy of the deleted sealed material may stay readable in a file the store owns.
    /// Returns what could not be done, for the log (a missing privilege), if anything.
    async fn shred_deleted(&self) -> Result<Option<String>>;
    /// Opens a write transaction that holds the audit chain's head until it ends.
    async fn write(&self) -> Result<Box<dyn WriteTx>>;
}

/// A write transaction. Dropping it without [`WriteTx::commit`] rolls it back.
#[async_trait]
pub trait WriteTx: Send {
    /// The chain head as of this transaction (locked: nobody else can append).
    fn head(&self) -> &ChainHead;
    /// Appends chain rows (each linking to the one before) and moves the head to the last.
    async fn append_audit(&mut self, rows: &[AuditRow]) -> Result<()>;
    /// A key of `region` by ID or `alias/NAME`, as of this transaction.
    async fn key(&mut self, region: &str, key_ref: &str) -> Result<Option<KeyRow>>;
    /// Inserts a key.
    async fn insert_key(&mut self, key: &KeyRow) -> Result<()>;
    /// Inserts a key version.
    async fn insert_version(&mut self, version: &KeyVersion) -> Result<()>;
    /// Updates state, deletion date, current version, policy, description, tags and
    /// rotation schedule of a key.
    async fn update_key(&mut self, key: &KeyRow) -> Result<()>;
    /// Keys pending deletion whose date is at or before `now`: (key ID, region, replica?).
    async fn expired_keys(&mut self, now: i64) -> Result<Vec<(String, String, bool)>>;
    /// Inserts a replica of a multi-Region key.
    async fn insert_replica(&mut self, replica: &ReplicaRow) -> Result<()>;
    /// Deletes a replica (its aliases and grants in its region go with it).
    async fn delete_replica(&mut self, key_id: &str, region: &str) -> Result<()>;
    /// The regions of a multi-Region key's replicas.
    async fn replica_regions(&mut self, key_id: &str) -> Result<Vec<String>>;
    /// Makes the replica in `new_region` the primary and the primary a replica there: the
    /// two rows trade their regional parts (state, policy, description, tags, dates).
    async fn swap_primary(&mut self, key_id: &str, new_region: &str) -> Result<()>;
    /// Deletes a key with its versions and aliases.
    async fn delete_key(&mut self, key_id: &str) -> Result<()>;
    /// Stores import parameters.
    async fn insert_import_parameters(&mut self, p: &ImportParameters) -> Result<()>;
    /// A key's imported materials, by version, as of this transaction.
    async fn materials_of(&mut self, key_id: &str) -> Result<Vec<MaterialRow>>;
    /// Inserts or replaces an imported material's row.
    async fn put_material(&mut self, m: &MaterialRow) -> Result<()>;
    /// Forgets an imported material (one pending rotation that goes).
    async fn delete_material(&mut self, key_id: &str, version: i64) -> Result<()>;
    /// Deletes one version's sealed material.
    async fn delete_version(&mut self, key_id: &str, version: i64) -> Result<()>;
    /// An alias's target in `region`.
    async fn alias(&mut self, region: &str, alias_name: &str) -> Result<Option<AliasRow>>;
    /// Creates or retargets an alias.
    async fn put_alias(&mut self, alias: &AliasRow) -> Result<()>;
    /// Deletes an alias of `region`; false when there was none.
    async fn delete_alias(&mut self, region: &str, alias_name: &str) -> Result<bool>;
    /// Inserts a token hash.
    async fn insert_token(&mut self, token: &TokenRow) -> Result<()>;
    /// Revokes a token by ID at `now`; false when there is no such token not yet revoked.
    async fn revoke_token(&mut self, token_id: &str, now: i64) -> Result<bool>;
    /// Inserts an access key; [`StoreError::Conflict`] when its ID is taken (revoked IDs too).
    async fn insert_access_key(&mut self, key: &AccessKeyRow) -> Result<()>;
    /// The grants on a key, as of this transaction.
    async fn grants(&mut self, key_id: &str) -> Result<Vec<GrantRow>>;
    /// Inserts a grant.
    async fn insert_grant(&mut self, grant: &GrantRow) -> Result<()>;
    /// Deletes a grant of `key_id`; false when there was none.
    async fn delete_grant(&mut self, key_id: &str, grant_id: &str) -> Result<bool>;
    /// Revokes an access key at `now`; false when there is no such key not yet revoked.
    async fn revoke_access_key(&mut self, access_key_id: &str, now: i64) -> Result<bool>;
    /// Replaces an access key's sealed secret if it still is `old`; false if it changed.
    async fn reseal_access_key(
        &mut self,
        access_key_id: &str,
        old: &[u8],
        new: &[u8],
    ) -> Result<bool>;
    /// The newest signed digest: (number, covered seq, document).
    async fn latest_digest(&mut self) -> Result<Option<(i64, i64, String)>>;
    /// Stores signed digest `n` covering the chain up to `seq`.
    async fn insert_digest(&mut self, n: i64, seq: i64, document: &str) -> Result<()>;
    /// Sets a server-wide value once; false (and no change) when it is already set.
    async fn insert_meta_once(&mut self, name: &str, value: &[u8]) -> Result<bool>;
    /// Replaces a server-wide value if it still is `old`; false if it is not.
    async fn replace_meta(&mut self, name: &str, old: &[u8], new: &[u8]) -> Result<bool>;
    /// Replaces a version's sealed private key if it still is `old`; false if it changed or
    /// the key went meanwhile.
    async fn reseal_version(
        &mut self,
        key_id: &str,
        version: i64,
        old: &[u8],
        new: &[u8],
    ) -> Result<bool>;
    /// Claims an object ID; [`StoreError::Conflict`] when it is taken.
    async fn claim_object(&mut self, object: &ObjectRow) -> Result<()>;
    /// Open uploads of `owner` that have not expired by `now`.
    async fn open_uploads(&mut self, owner: &str, now: i64) -> Result<i64>;
    /// An object's row, as of this transaction.
    async fn object(&mut self, object_id: &str) -> Result<Option<ObjectRow>>;
    /// Updates an object's state, size, part count and metadata flag.
    async fn update_object(&mut self, object: &ObjectRow) -> Result<()>;
    /// Deletes an object's row.
    async fn delete_object(&mut self, object_id: &str) -> Result<()>;
    /// IDs of unfinished uploads abandoned by `now`.
    async fn expired_uploads(&mut self, now: i64) -> Result<Vec<String>>;
    /// Commits.
    async fn commit(self: Box<Self>) -> Result<()>;
}

/// Opens the store a database URL names (`sqlite://PATH` or `postgres://…`) and brings its
/// schema up to date.
pub(crate) async fn open(url: &str) -> Result<std::sync::Arc<dyn Store>> {
    Ok(std::sync::Arc::new(SqlStore::open(url).await?))
}
