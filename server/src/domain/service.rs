//! The key server's operations. Each one authorises the caller, acts through the store and
//! leaves exactly one audit record: a change and its record commit in one transaction; a
//! read, an unwrap or a refusal goes through the group-committed [`AuditLog`]. Nothing here
//! holds a database transaction across RSA work or key generation.

mod credentials;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use cipherdrop::{DataKey, EncryptionContext, Header, Limits};
use futures_util::future::BoxFuture;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::audit::{self, AuditLog, ChainedRecord, Record, SignedDigest};
use super::error::DomainError;
use super::keys::{
    self, DISABLED, ENABLED, EXTERNAL, KEY_NAMESPACE, KeyMetadata, PENDING_DELETION,
    PENDING_IMPORT, live, now_ms,
};
use super::material;
use super::oidc;
use super::policy::{Decision, Policy, Request as PolicyRequest, default_policy};
use super::recipient::Recipient;
use super::root::RootKey;
use super::secrets::{self, CryptoPool, KeyCache};
use super::{ADMIN_PRINCIPAL, Caller, Location};
use crate::store::{AliasRow, KeyRow, KeyVersion, Store, TokenRow, WriteTx};

mod envelope;
mod grants;
mod import;
mod multi_region;
mod rotation;
mod signing;

use rotation::{AUTOMATIC, MAX_ON_DEMAND_ROTATIONS, ON_DEMAND};

pub(crate) use envelope::{Ciphertext, DataKeyLength, Sealed, Target};
pub(crate) use grants::{Constraints, Grant, GrantRef, NewGrant};
pub(crate) use import::{Import, MaterialAnswer};
pub(crate) use multi_region::NewReplica;
pub(crate) use rotation::RotationEntry;

type Result<T> = std::result::Result<T, DomainError>;

/// Meta row holding a value sealed under the root key: a root key that cannot open it
/// belongs to another database.
const ROOT_KEY_CHECK: &str = "root-key-check";
/// Meta row set by the start that issued the admin token (once per database).
const ADMIN_TOKEN_ISSUED: &str = "admin-token-issued";

/// A key to create.
#[derive(Debug)]
pub(crate) struct NewKey {
    /// Key spec (`RSA_3072` by default).
    pub(crate) key_spec: String,
    /// Key usage (`ENCRYPT_DECRYPT`).
    pub(crate) key_usage: String,
    /// Description.
    pub(crate) description: String,
    /// Tags.
    pub(crate) tags: BTreeMap<String, String>,
    /// Policy document; the default policy when absent.
    pub(crate) policy: Option<serde_json::Value>,
    /// Alias to create with the key, in the same transaction.
    pub(crate) alias: Option<String>,
    /// `AWS_KMS` (material made here) or `EXTERNAL` (imported later).
    pub(crate) origin: String,
    /// A multi-Region primary key (`mrk-` ID) that may have replicas in other regions.
    pub(crate) multi_region: bool,
}

/// A data key an unwrap recovered.
pub(crate) struct Unwrapped {
    /// The key that wrapped it.
    pub(crate) key_id: String,
    /// Its version.
    pub(crate) version: i64,
    /// The data key, as answered.
    pub(crate) secret: Answer,
}

/// A secret as answered: a JWE to the caller's key, or (only where the server allows it) the
/// bytes themselves, zeroized on drop.
pub(crate) enum Answer {
    Sealed(String),
    Clear(Zeroizing<Vec<u8>>),
}

impl std::fmt::Debug for Answer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Sealed(_) => f.write_str("Sealed(..)"),
            Self::Clear(_) => f.write_str("Clear(..)"),
        }
    }
}

/// Which EDK of a header to unwrap.
#[derive(Debug)]
pub(crate) enum EdkSelector {
    /// Position in the header.
    Index(usize),
    /// Key name (provider information).
    Name(String),
}

/// A change run inside a write transaction; it may name the key concerned for the record.
type Change<'a, T> = BoxFuture<'a, Result<T>>;

/// The key server: store, root key, audit log and crypto pool.
#[derive(Debug)]
pub(crate) struct KeyServer {
    store: Arc<dyn Store>,
    root: Arc<RootKey>,
    audit: AuditLog,
    crypto: CryptoPool,
    opened: Arc<KeyCache>,
    /// Opened access-key secrets (SigV4), checked against the stored row on every use.
    secrets: credentials::SecretCache,
    signer: DigestSigner,
    digests: DigestOptions,
    /// The newest seq a digest covers, as this process last saw it.
    covered: std::sync::atomic::AtomicI64,
    /// Since when this process has seen records no digest covers.
    uncovered_since: std::sync::Mutex<Option<std::time::Instant>>,
    /// The last shredding left something; the next sweep tries again.
    shred_pending: std::sync::atomic::AtomicBool,
    /// Whether data keys may be answered in the clear (`--allow-plaintext-data-keys`).
    plaintext_answers: bool,
    /// Trusted OpenID Connect issuers, if any.
    oidc: Option<oidc::Oidc>,
    /// Account ID and home region.
    location: Location,
}

/// What a bearer token proved.
#[derive(Debug)]
pub(crate) enum Authentication {
    /// A principal: through a static token (its ID) or a verified sign-in.
    Known { principal: String, token_id: Option<String>, identity: Option<Arc<oidc::Identity>> },
    /// Nobody; for a refused sign-in token, why (for the audit record).
    Unknown(Option<String>),
}

/// What a root-key rotation re-sealed.
#[derive(Debug, Default, serde::Serialize)]
pub struct Resealed {
    /// Key versions re-sealed now.
    pub versions: usize,
    /// Key versions sealed under the current root key already.
    pub already: usize,
    /// Key versions or access keys that changed or went during the rotation (deleted keys).
    pub changed: usize,
    /// Access keys whose secrets were re-sealed now.
    pub access_keys: usize,
    /// Server-wide sealed values re-sealed now (audit-signing key, root-key check).
    pub server_values: usize,
    /// Whether the database files were shredded afterwards.
    pub shredded: bool,
    /// If not, what was left undone (the sweeper tries again).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shred_left: Option<String>,
}

/// When and where signed digests of the audit chain are made.
#[derive(Clone, Debug)]
pub(crate) struct DigestOptions {
    /// A digest once this many records are not yet covered...
    pub(crate) every_records: i64,
    /// ...or once uncovered records are this old (and at shutdown).
    pub(crate) every: std::time::Duration,
    /// Append-only directory outside the database: `records/N.jsonl` (the records digest N
    /// covers) and `digests/N.json`.
    pub(crate) dir: Option<std::path::PathBuf>,
}

/// The server's audit-signing key: ECDSA P-256, made at the first start, kept sealed under
/// the root key in the database (so every replica signs with it).
struct DigestSigner {
    key: aws_lc_rs::signature::EcdsaKeyPair,
    public: Vec<u8>,
}

impl std::fmt::Debug for DigestSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DigestSigner(..)")
    }
}

/// Meta row of the sealed audit-signing key.
const AUDIT_SIGNING_KEY: &str = "audit-signing-key";

impl KeyServer {
    /// Starts the audit writer and checks that `root` is this database's root key (setting
    /// the check value on a new database).
    pub(crate) async fn open(
        store: Arc<dyn Store>,
        root: RootKey,
        digests: DigestOptions,
    ) -> Result<Self> {
        let check = meta_once(store.as_ref(), ROOT_KEY_CHECK, || {
            root.seal(ROOT_KEY_CHECK, ROOT_KEY_CHECK.as_bytes())
        })
        .await?;
        if root.open_sealed(ROOT_KEY_CHECK, &check).is_err() {
            return Err(DomainError::Misconfigured(
                "the root key does not open this database's keys: every replica needs the \
                 same root key (--root-key, --root-key-file or CIPHERDROP_ROOT_KEY)"
                    .into(),
            ));
        }
        let signer = signer(store.as_ref(), &root).await?;
        let audit = AuditLog::start(store.clone());
        let crypto = CryptoPool::for_cores();
        let root = Arc::new(root);
        Ok(Self {
            store,
            root,
            audit,
            crypto,
            opened: Arc::default(),
            secrets: credentials::SecretCache::default(),
            signer,
            digests,
            covered: std::sync::atomic::AtomicI64::new(0),
            uncovered_since: std::sync::Mutex::new(None),
            shred_pending: std::sync::atomic::AtomicBool::new(false),
            plaintext_answers: false,
            oidc: None,
            location: Location::default(),
        })
    }

    /// Sets the account ID and home region.
    pub(crate) fn locate(&mut self, location: Location) {
        self.location = location;
    }

    /// The account ID in ARNs.
    pub(crate) fn account(&self) -> &str {
        &self.location.account
    }

    /// The ARN of `alias/NAME` in the caller's region.
    pub(crate) fn alias_arn_of(&self, caller: &Caller, alias: &str) -> String {
        keys::alias_arn(self.region_of(caller), self.account(), alias)
    }

    /// The region a request is addressed to.
    pub(crate) fn region_of<'a>(&'a self, caller: &'a Caller) -> &'a str {
        caller.region.as_deref().unwrap_or(&self.location.region)
    }

    /// A key reference as the store reads it (a key ID or `alias/NAME`): ARNs of this
    /// account and the caller's region are reduced to those; any other ARN names nothing here.
    pub(crate) fn key_ref(&self, caller: &Caller, key_ref: &str) -> Result<String> {
        keys::local_ref(self.region_of(caller), &self.location.account, key_ref)
    }

    /// Allows answering data keys in the clear to callers that send no recipient key.
    pub(crate) fn allow_plaintext_answers(&mut self, allowed: bool) {
        self.plaintext_answers = allowed;
    }

    /// Records no signed digest covers yet (the digest lag): the chain's head in the
    /// database against the newest digest this process has seen.
    pub(crate) async fn digest_lag(&self) -> Result<i64> {
        let head = self.store.chain_head().await?;
        Ok(head.seq - self.covered.load(std::sync::atomic::Ordering::Relaxed))
    }

    /// The audit-signing public key: (uncompressed P-256 point, SPKI DER).
    pub(crate) fn audit_public_key(&self) -> Result<(Vec<u8>, Vec<u8>)> {
        use aws_lc_rs::encoding::{AsDer, PublicKeyX509Der};
        use aws_lc_rs::signature::KeyPair as _;
        let spki: PublicKeyX509Der<'static> = self
            .signer
            .key
            .public_key()
            .as_der()
            .map_err(|_| DomainError::internal("audit public key unencodable"))?;
        Ok((self.signer.public.clone(), spki.as_ref().to_vec()))
    }

    /// Signed digests after number `after` (admin only), as stored.
    pub(crate) async fn digests(&self, caller: &Caller, after: i64) -> Result<Vec<String>> {
        let outcome = match require_admin(caller) {
            Ok(()) => self.store.digests(after).await.map_err(DomainError::from),
            Err(e) => Err(e),
        };
        let outcome = outcome.map(|all| all.into_iter().map(|(_, _, d)| d).collect());
        self.audit.outcome(caller, "ListAuditDigests", None, None, outcome).await
    }

    /// Signs a digest of the chain's head if records are uncovered and `due` says so (given
    /// how many and since when, the newest digest's time), under the chain's lock; then
    /// writes it, and the records it covers, to the audit directory. Returns its number.
    pub(crate) async fn sign_digest(&self, force: bool) -> Result<Option<i64>> {
        use base64::Engine as _;
        // A cheap look first: no write transaction (and no chain lock) unless a digest may be
        // due. Another replica may have signed since; the locked check below decides.
        let head = self.store.chain_head().await?;
        let known = self.covered.load(std::sync::atomic::Ordering::Relaxed);
        let waiting = self.uncovered_since.lock().ok().and_then(|t| *t);
        let maybe_due = head.seq > known
            && (force
                || head.seq - known >= self.digests.every_records
                || waiting.is_none_or(|t| t.elapsed() >= self.digests.every));
        if head.seq > known
            && let Ok(mut t) = self.uncovered_since.lock()
        {
            t.get_or_insert_with(std::time::Instant::now);
        }
        if !maybe_due {
            return Ok(None);
        }
        let mut tx = self.store.write().await?;
        let latest = tx.latest_digest().await?;
        let (n, covered, previous, last_time) = match &latest {
            Some((n, seq, doc)) => {
                let d: SignedDigest = serde_json::from_str(doc)
                    .map_err(|e| DomainError::internal(format!("stored digest: {e}")))?;
                (*n, *seq, SignedDigest::document_hash(doc), Some(d.time))
            }
            None => (0, 0, audit::GENESIS.to_string(), None),
        };
        let head_now = tx.head().clone();
        let uncovered = head_now.seq - covered;
        let every_ms = i64::try_from(self.digests.every.as_millis()).unwrap_or(i64::MAX);
        let old = last_time
            .as_deref()
            .and_then(keys::parse_rfc3339_ms)
            .is_none_or(|signed| now_ms().saturating_sub(signed) >= every_ms);
        let due = uncovered > 0 && (force || uncovered >= self.digests.every_records || old);
        if !due {
            self.covered.store(covered, std::sync::atomic::Ordering::Relaxed);
            return Ok(None);
        }
        let mut digest = SignedDigest {
            format: audit::DIGEST_FORMAT.into(),
            digest: n + 1,
            seq: head_now.seq,
            hash: head_now.hash.clone(),
            time: keys::rfc3339(now_ms()),
            previous_digest_hash: previous,
            signature: String::new(),
        };
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let signature = self
            .signer
            .key
            .sign(&rng, &digest.signed_bytes())
            .map_err(|_| DomainError::internal("signing the audit digest failed"))?;
        digest.signature = base64::engine::general_purpose::STANDARD.encode(signature.as_ref());
        let document =
            serde_json::to_string(&digest).map_err(|e| DomainError::internal(e.to_string()))?;
        tx.insert_digest(digest.digest, digest.seq, &document).await?;
        tx.commit().await?;
        self.covered.store(digest.seq, std::sync::atomic::Ordering::Relaxed);
        if let Ok(mut t) = self.uncovered_since.lock() {
            *t = None;
        }
        if let Some(dir) = &self.digests.dir {
            self.export_digest(dir, covered, &digest, &document).await?;
        }
        Ok(Some(digest.digest))
    }

    /// Writes digest N and the records it covers to the append-only audit directory.
    async fn export_digest(
        &self,
        dir: &Path,
        after: i64,
        digest: &SignedDigest,
        document: &str,
    ) -> Result<()> {
        let mut lines = String::new();
        let mut from = after;
        while from < digest.seq {
            let page = self.store.audit_page(from, 1000).await?;
            let Some(last) = page.last() else { break };
            from = last.seq;
            for row in page.iter().filter(|r| r.seq <= digest.seq) {
                let line = serde_json::json!({
                    "record": serde_json::from_str::<serde_json::Value>(&row.record).unwrap_or_default(),
                    "prevHash": row.prev_hash, "hash": row.hash,
                });
                lines.push_str(&line.to_string());
                lines.push('\n');
            }
        }
        let name = format!("{:08}", digest.digest);
        for (sub, file, text) in [
            ("records", format!("{name}.jsonl"), lines.as_str()),
            ("digests", format!("{name}.json"), document),
        ] {
            let folder = dir.join(sub);
            std::fs::create_dir_all(&folder)
                .map_err(|e| DomainError::internal(format!("{}: {e}", folder.display())))?;
            secrets::write_secret(&folder.join(file), text.as_bytes())?;
        }
        Ok(())
    }

    /// The group-committed audit log, for other services (the archive) to record through.
    pub(crate) fn audit_log(&self) -> &AuditLog {
        &self.audit
    }

    /// A database round trip.
    pub(crate) async fn ping(&self) -> Result<()> {
        Ok(self.store.ping().await?)
    }

    /// Records a request refused before it reached an operation (no token, a bad body).
    pub(crate) async fn refuse<T>(
        &self,
        caller: &Caller,
        action: &str,
        error: DomainError,
    ) -> Result<T> {
        self.audit.outcome(caller, action, None, None, Err(error)).await
    }

    /// Like [`KeyServer::refuse`], with a note in the record's detail.
    pub(crate) async fn refuse_noted<T>(
        &self,
        caller: &Caller,
        action: &str,
        error: DomainError,
        note: String,
    ) -> Result<T> {
        let outcome = Err(error);
        self.audit.append(Record::of(caller, action, None, None, &outcome).noted(&note)).await?;
        outcome
    }

    /// Runs `act` in a write transaction and commits it with its record. On failure nothing
    /// changes and the refusal alone is recorded; if no record can be written, the request
    /// fails.
    async fn change<T: Send>(
        &self,
        caller: &Caller,
        action: &str,
        act: impl for<'a> FnOnce(&'a mut dyn WriteTx, &'a mut Option<String>) -> Change<'a, T>,
    ) -> Result<T> {
        self.change_noted(caller, action, None, act).await
    }

    /// [`KeyServer::change`] whose record, allowed or refused, also carries `note`.
    async fn change_noted<T: Send>(
        &self,
        caller: &Caller,
        action: &str,
        note: Option<String>,
        act: impl for<'a> FnOnce(&'a mut dyn WriteTx, &'a mut Option<String>) -> Change<'a, T>,
    ) -> Result<T> {
        let noted = |record: Record| match &note {
            Some(note) => record.noted(note),
            None => record,
        };
        let mut key_id = None;
        let outcome = match self.store.write().await {
            Ok(mut tx) => match act(tx.as_mut(), &mut key_id).await {
                Ok(value) => {
                    let record = noted(Record::allowed(caller, action, key_id.as_deref()));
                    match self.commit_recorded(tx, record).await {
                        Ok(()) => return Ok(value),
                        Err(e) => Err(e),
                    }
                }
                Err(e) => Err(e),
            },
            Err(e) => Err(e.into()),
        };
        self.audit
            .append(noted(Record::of(caller, action, key_id.as_deref(), None, &outcome)))
            .await?;
        outcome
    }

    /// Commits `tx` with `record` appended to the chain, then counts the record in the
    /// metrics.
    async fn commit_recorded(&self, mut tx: Box<dyn WriteTx>, record: Record) -> Result<()> {
        audit::append_in(tx.as_mut(), [record.clone()]).await?;
        tx.commit().await?;
        self.audit.stats().note([&record]);
        Ok(())
    }

    /// Resolves a key ID, alias or ARN of the caller's region outside a transaction.
    async fn resolve(&self, caller: &Caller, key_ref: &str) -> Result<KeyRow> {
        let local = self.key_ref(caller, key_ref)?;
        found(self.store.key(self.region_of(caller), &local).await?, key_ref)
    }

    // --- Tokens -----------------------------------------------------------------------------

    /// Who a bearer token proves: a JWT of a trusted OpenID Connect issuer, or a static token
    /// that is known, unexpired and not revoked.
    pub(crate) async fn authenticate(&self, token: &str) -> Result<Authentication> {
        if let Some(oidc) = &self.oidc
            && oidc::looks_like_jwt(token)
        {
            return Ok(match oidc.verify(token).await {
                Ok(identity) if valid_signed_in_principal(&identity.principal) => {
                    Authentication::Known {
                        principal: identity.principal.clone(),
                        token_id: None,
                        identity: Some(Arc::new(identity)),
                    }
                }
                Ok(identity) => Authentication::Unknown(Some(format!(
                    "oidc: principal {:?} is reserved",
                    identity.principal
                ))),
                Err(oidc::Refused(why)) => Authentication::Unknown(Some(format!("oidc: {why}"))),
            });
        }
        Ok(match self.store.token_principal(&token_hash(token), now_ms()).await? {
            Some((principal, token_id)) => {
                Authentication::Known { principal, token_id: Some(token_id), identity: None }
            }
            None => Authentication::Unknown(None),
        })
    }

    /// Trusts the OpenID Connect issuers of `oidc` for sign-in.
    pub(crate) fn trust_oidc(&mut self, oidc: oidc::Oidc) {
        self.oidc = Some(oidc);
    }

    /// A new bearer token for `principal` (admin only), stored hashed, valid for `ttl`
    /// seconds if given: (token, its ID, expiry).
    pub(crate) async fn create_token(
        &self,
        caller: &Caller,
        principal: &str,
        ttl: Option<i64>,
    ) -> Result<(String, TokenRow)> {
        let checked = require_admin(caller).and_then(|()| valid_principal(principal)).and_then(
            |()| match ttl {
                Some(t) if !(1..=MAX_TOKEN_TTL).contains(&t) => {
                    Err(DomainError::invalid(format!("ttlSeconds must be 1 to {MAX_TOKEN_TTL}")))
                }
                _ => Ok(()),
            },
        );
        if let Err(e) = checked {
            return self.refuse(caller, "CreateToken", e).await;
        }
        let token = new_token()?;
        let mut row = token_row(&token, principal)?;
        row.expires_at = ttl.map(|t| row.created_at + t * 1000);
        let detail = format!("principal={principal} tokenId={}", row.token_id);
        let created = row.clone();
        self.change_noted(caller, "CreateToken", Some(detail), |tx, _| {
            Box::pin(async move {
                tx.insert_token(&row).await?;
                Ok(())
            })
        })
        .await?;
        Ok((token, created))
    }

    /// Every token's ID, principal, dates and state (admin only); never a token or a hash.
    pub(crate) async fn list_tokens(&self, caller: &Caller) -> Result<Vec<TokenRow>> {
        let outcome = match require_admin(caller) {
            Ok(()) => self.store.tokens().await.map_err(DomainError::from),
            Err(e) => Err(e),
        };
        let outcome = outcome.map(|rows| {
            rows.into_iter().map(|t| TokenRow { token_hash: Vec::new(), ..t }).collect()
        });
        self.audit.outcome(caller, "ListTokens", None, None, outcome).await
    }

    /// Revokes a token by ID (admin only): refused at its next request, through any replica.
    pub(crate) async fn revoke_token(&self, caller: &Caller, token_id: &str) -> Result<()> {
        if let Err(e) = require_admin(caller) {
            return self.refuse(caller, "RevokeToken", e).await;
        }
        let id = token_id.to_string();
        let note = Some(format!("tokenId={token_id}"));
        self.change_noted(caller, "RevokeToken", note, |tx, _| {
            Box::pin(async move {
                if !tx.revoke_token(&id, now_ms()).await? {
                    return Err(DomainError::NotFound(format!("no live token {id}")));
                }
                Ok(())
            })
        })
        .await
    }

    /// On a database's first start, writes a token for the admin principal to
    /// `DIR/admin-token` (only its hash is stored). Later starts, and other replicas, issue
    /// none: losing the file does not mint a second admin token.
    pub(crate) async fn bootstrap_admin(&self, dir: &Path) -> Result<()> {
        let token = new_token()?;
        let mut tx = self.store.write().await?;
        if !tx.insert_meta_once(ADMIN_TOKEN_ISSUED, now_ms().to_string().as_bytes()).await? {
            return Ok(());
        }
        let row = token_row(&token, ADMIN_PRINCIPAL)?;
        tx.insert_token(&row).await?;
        let record = Record::allowed(&Caller::system("-"), "CreateToken", None)
            .noted(&format!("principal={ADMIN_PRINCIPAL} tokenId={}", row.token_id));
        audit::append_in(tx.as_mut(), [record]).await?;
        // The file first: a token that was committed but never written would lock the
        // operator out.
        let path = dir.join("admin-token");
        secrets::write_secret_replacing(&path, token.as_bytes())?;
        if let Err(e) = tx.commit().await {
            let _ = std::fs::remove_file(&path);
            return Err(e.into());
        }
        Ok(())
    }

    // --- Keys -------------------------------------------------------------------------------

    /// Creates a key in the caller's region (admin only: with no IAM here, CreateKey is the
    /// admin's): its first version is generated before any transaction.
    pub(crate) async fn create_key(&self, caller: &Caller, req: NewKey) -> Result<KeyMetadata> {
        let checked = require_admin(caller).and_then(|()| {
            let policy = match req.policy.clone() {
                Some(p) => Policy::from_json(p)?,
                None => default_policy(),
            };
            material::check(&req.key_spec, &req.key_usage)?;
            if req.description.chars().count() > MAX_DESCRIPTION {
                return Err(DomainError::invalid(format!(
                    "Description is at most {MAX_DESCRIPTION} characters"
                )));
            }
            check_tags(&req.tags, req.tags.len())?;
            if let Some(alias) = &req.alias {
                valid_alias(alias)?;
            }
            serde_json::to_string(&policy).map_err(|e| DomainError::internal(e.to_string()))
        });
        let policy = match checked {
            Ok(p) => p,
            Err(e) => return self.refuse(caller, "CreateKey", e).await,
        };
        // A key for imported material has none until ImportKeyMaterial.
        let external = req.origin == EXTERNAL;
        let generated = if external {
            None
        } else {
            let spec = req.key_spec.clone();
            Some(self.crypto.run(move || material::generate(&spec)).await?)
        };
        if external && req.multi_region {
            let e = DomainError::Unsupported(
                "multi-Region keys with imported material are not supported".into(),
            );
            return self.refuse(caller, "CreateKey", e).await;
        }
        let region = self.region_of(caller).to_string();
        let key = KeyRow {
            key_id: if req.multi_region { keys::new_mrk_id()? } else { keys::new_key_id()? },
            description: req.description,
            key_spec: req.key_spec,
            key_usage: req.key_usage,
            state: if external { PENDING_IMPORT } else { ENABLED }.into(),
            deletion_date: None,
            created_at: now_ms(),
            current_version: 1,
            tags: serde_json::to_string(&req.tags)
                .map_err(|e| DomainError::internal(e.to_string()))?,
            policy,
            region: region.clone(),
            origin: req.origin,
            rotation_period_days: None,
            next_rotation: None,
            valid_to: None,
            expiration_model: None,
            multi_region: req.multi_region,
            primary_region: req.multi_region.then_some(region),
        };
        let version = match generated {
            Some((secret, public)) => {
                Some(seal_version(&self.root, &key.key_id, 1, &secret, public)?)
            }
            None => None,
        };
        let alias = req.alias;
        let created = self
            .change(caller, "CreateKey", |tx, key_id| {
                Box::pin(async move {
                    *key_id = Some(key.key_id.clone());
                    tx.insert_key(&key).await?;
                    if let Some(version) = &version {
                        tx.insert_version(version).await?;
                    }
                    if let Some(alias) = alias {
                        if tx.alias(&key.region, &alias).await?.is_some() {
                            return Err(DomainError::AlreadyExists(format!(
                                "{alias} already exists"
                            )));
                        }
                        let row = AliasRow {
                            region: key.region.clone(),
                            alias_name: alias,
                            key_id: key.key_id.clone(),
                            created_at: now_ms(),
                            updated_at: now_ms(),
                        };
                        tx.put_alias(&row).await?;
                    }
                    Ok(key)
                })
            })
            .await?;
        Ok(created.metadata(self.account()))
    }

    /// The keys `caller` may describe.
    pub(crate) async fn list_keys(&self, caller: &Caller) -> Result<Vec<KeyMetadata>> {
        let outcome = async {
            let now = now_ms();
            let all = self.store.keys().await?;
            let region = self.region_of(caller);
            Ok(all
                .iter()
                .filter(|k| k.region == region && live(k, now))
                .filter(|k| authorize(self.account(), caller, k, "DescribeKey").is_ok())
                .map(|k| k.metadata(self.account()))
                .collect())
        }
        .await;
        self.audit.outcome(caller, "ListKeys", None, None, outcome).await
    }

    /// A read of one key, authorised for `action`, audited.
    async fn read_key<T>(
        &self,
        caller: &Caller,
        key_ref: &str,
        action: &str,
        read: impl AsyncFnOnce(KeyRow) -> Result<T>,
    ) -> Result<T> {
        let mut key_id = None;
        let outcome = async {
            let key = self.resolve(caller, key_ref).await?;
            key_id = Some(key.key_id.clone());
            if !admin_override(caller, action) {
                self.allowed(caller, &key, action, None).await?;
            }
            read(key).await
        }
        .await;
        self.audit.outcome(caller, action, key_id.as_deref(), None, outcome).await
    }

    /// DescribeKey.
    pub(crate) async fn describe(&self, caller: &Caller, key_ref: &str) -> Result<KeyMetadata> {
        self.read_key(caller, key_ref, "DescribeKey", async |key| Ok(key.metadata(self.account())))
            .await
    }

    /// GetPublicKey of the current version.
    pub(crate) async fn public_key(
        &self,
        caller: &Caller,
        key_ref: &str,
    ) -> Result<serde_json::Value> {
        self.read_key(caller, key_ref, "GetPublicKey", async |key| {
            key.require_enabled()?;
            rsa_only(&key)?;
            let version = self.version(&key, key.current_version).await?;
            keys::public_key_document(&key, key.current_version, &version.public_der)
        })
        .await
    }

    /// GetPublicKey of any asymmetric key (the AWS KMS API's): its metadata and SPKI DER.
    pub(crate) async fn public_key_der(
        &self,
        caller: &Caller,
        key_ref: &str,
    ) -> Result<(KeyMetadata, Vec<u8>)> {
        self.read_key(caller, key_ref, "GetPublicKey", async |key| {
            key.require_enabled()?;
            let version = self.version(&key, key.current_version).await?;
            if version.public_der.is_empty() {
                return Err(DomainError::Unsupported(format!(
                    "key {} ({}) has no public key",
                    key.key_id, key.key_spec
                )));
            }
            Ok((key.metadata(self.account()), version.public_der))
        })
        .await
    }

    /// GetKeyPolicy.
    pub(crate) async fn get_policy(
        &self,
        caller: &Caller,
        key_ref: &str,
    ) -> Result<(String, Policy)> {
        self.read_key(caller, key_ref, "GetKeyPolicy", async |key| {
            Ok((key.key_id.clone(), key.policy()?))
        })
        .await
    }

    async fn version(&self, key: &KeyRow, version: i64) -> Result<KeyVersion> {
        self.store.key_version(&key.key_id, version).await?.ok_or_else(|| {
            DomainError::NotFound(format!("key {} has no version {version}", key.key_id))
        })
    }

    /// A key-scoped change: resolved and authorised inside the transaction, so that it acts on
    /// the key's state as of the change.
    async fn key_change<T: Send + 'static>(
        &self,
        caller: &Caller,
        key_ref: &str,
        action: &'static str,
        act: impl for<'a> FnOnce(&'a mut dyn WriteTx, KeyRow) -> Change<'a, T> + Send + 'static,
    ) -> Result<T> {
        let local = match self.key_ref(caller, key_ref) {
            Ok(local) => local,
            Err(e) => return self.refuse(caller, action, e).await,
        };
        let (key_ref, who) = (key_ref.to_string(), caller.clone());
        let region = self.region_of(caller).to_string();
        let account = self.account().to_string();
        self.change(caller, action, |tx, key_id| {
            Box::pin(async move {
                let key = found(tx.key(&region, &local).await?, &key_ref)?;
                *key_id = Some(key.key_id.clone());
                authorize(&account, &who, &key, action)?;
                act(tx, key).await
            })
        })
        .await
    }

    /// EnableKey, DisableKey, ScheduleKeyDeletion (`days`) and CancelKeyDeletion.
    pub(crate) async fn transition(
        &self,
        caller: &Caller,
        key_ref: &str,
        action: &'static str,
        days: Option<i64>,
    ) -> Result<KeyMetadata> {
        let (from, to): (&[&str], &str) = match action {
            "EnableKey" => (&[ENABLED, DISABLED], ENABLED),
            "DisableKey" => (&[ENABLED, DISABLED], DISABLED),
            "ScheduleKeyDeletion" => (&[ENABLED, DISABLED, PENDING_IMPORT], PENDING_DELETION),
            "CancelKeyDeletion" => (&[PENDING_DELETION], DISABLED),
            _ => return Err(DomainError::internal(format!("no transition {action}"))),
        };
        let deletion_date = match action {
            "ScheduleKeyDeletion" => {
                let days = days.unwrap_or(30);
                if !keys::DELETION_WINDOW_DAYS.contains(&days) {
                    let e = DomainError::invalid("pendingWindowInDays must be 7 to 30");
                    return self.refuse(caller, action, e).await;
                }
                Some(now_ms() + days * 24 * 3600 * 1000)
            }
            _ => None,
        };
        let key = self
            .key_change(caller, key_ref, action, move |tx, mut key| {
                Box::pin(async move {
                    key.require_state(from)?;
                    let primary = key.primary_region.as_deref() == Some(key.region.as_str());
                    if to == PENDING_DELETION
                        && primary
                        && !tx.replica_regions(&key.key_id).await?.is_empty()
                    {
                        return Err(DomainError::InvalidState(format!(
                            "key {} is a multi-Region primary with replicas: delete them first",
                            key.key_id
                        )));
                    }
                    // A key for imported material that has none goes back to waiting for it.
                    let waiting = key.origin == EXTERNAL && key.expiration_model.is_none();
                    key.state = if to == DISABLED && waiting { PENDING_IMPORT } else { to }.into();
                    key.deletion_date = deletion_date;
                    tx.update_key(&key).await?;
                    Ok(key)
                })
            })
            .await?;
        if action == "EnableKey" {
            self.rotate_if_overdue(&key).await;
        }
        Ok(key.metadata(self.account()))
    }

    /// RotateKey: the new version is generated first, outside any transaction; the key is
    /// then checked again as of the change.
    pub(crate) async fn rotate(&self, caller: &Caller, key_ref: &str) -> Result<KeyMetadata> {
        self.rotate_as(caller, key_ref, "RotateKey", false).await
    }

    /// A rotation by `caller` as `action`; `aws_rules`: AWS's RotateKeyOnDemand, for
    /// symmetric keys only and at most [`MAX_ON_DEMAND_ROTATIONS`] times (the `/v0` rotate
    /// also rotates RSA keys, with no limit).
    async fn rotate_as(
        &self,
        caller: &Caller,
        key_ref: &str,
        action: &'static str,
        aws_rules: bool,
    ) -> Result<KeyMetadata> {
        let precheck = async {
            let key = self.resolve(caller, key_ref).await?;
            authorize(self.account(), caller, &key, action)?;
            key.require_enabled()?;
            if key.is_replica() {
                return Err(DomainError::Unsupported(format!(
                    "key {} is a replica: rotate its primary",
                    key.key_id
                )));
            }
            if aws_rules {
                if !key.is_symmetric() {
                    return Err(DomainError::Unsupported(format!(
                        "key {} is {}: only symmetric keys rotate",
                        key.key_id, key.key_spec
                    )));
                }
                let on_demand = self
                    .store
                    .versions_of(&key.key_id)
                    .await?
                    .iter()
                    .filter(|v| v.version > 1 && v.version <= key.current_version)
                    .filter(|v| v.rotation_type.as_deref() != Some(AUTOMATIC))
                    .count();
                if on_demand >= MAX_ON_DEMAND_ROTATIONS {
                    return Err(DomainError::LimitExceeded(format!(
                        "key {} was rotated on demand {MAX_ON_DEMAND_ROTATIONS} times, the most \
                         a key may be",
                        key.key_id
                    )));
                }
            }
            Ok(key)
        }
        .await;
        let key = match precheck {
            Ok(key) => key,
            Err(e) => return self.refuse(caller, action, e).await,
        };
        // Imported material rotates to material imported for it; other keys to new material
        // made here.
        let made = if key.origin == EXTERNAL {
            None
        } else {
            let spec = key.key_spec.clone();
            Some(self.crypto.run(move || material::generate(&spec)).await?)
        };
        let root = self.root.clone();
        let key_id = key.key_id.clone();
        let (who, key_ref) = (caller.clone(), key_ref.to_string());
        let region = key.region.clone();
        let account = self.account().to_string();
        self.change(caller, action, |tx, seen| {
            Box::pin(async move {
                let mut key = found(tx.key(&region, &key_id).await?, &key_ref)?;
                *seen = Some(key.key_id.clone());
                authorize(&account, &who, &key, action)?;
                key.require_enabled()?;
                match made {
                    None => import::rotate_to_pending(tx, &mut key).await?,
                    Some((pkcs8, spki)) => {
                        let next = key.current_version + 1;
                        let mut version = seal_version(&root, &key.key_id, next, &pkcs8, spki)?;
                        version.rotation_type = Some(ON_DEMAND.into());
                        tx.insert_version(&version).await?;
                        key.current_version = next;
                    }
                }
                tx.update_key(&key).await?;
                Ok(key.metadata(&account))
            })
        })
        .await
    }

    /// PutKeyPolicy.
    pub(crate) async fn put_policy(
        &self,
        caller: &Caller,
        key_ref: &str,
        document: serde_json::Value,
    ) -> Result<(String, Policy)> {
        let policy = match Policy::from_json(document) {
            Ok(p) => p,
            Err(e) => return self.refuse(caller, "PutKeyPolicy", e).await,
        };
        self.key_change(caller, key_ref, "PutKeyPolicy", move |tx, mut key| {
            Box::pin(async move {
                key.policy = serde_json::to_string(&policy)
                    .map_err(|e| DomainError::internal(e.to_string()))?;
                tx.update_key(&key).await?;
                Ok((key.key_id, policy))
            })
        })
        .await
    }

    /// TagResource (`Some` tags to add or replace) or UntagResource (`None`, `remove` the
    /// keys): AWS's tag rules apply to the tags the key would hold.
    pub(crate) async fn retag(
        &self,
        caller: &Caller,
        key_ref: &str,
        add: BTreeMap<String, String>,
        remove: Vec<String>,
    ) -> Result<()> {
        let action = if remove.is_empty() { "TagResource" } else { "UntagResource" };
        self.key_change(caller, key_ref, action, move |tx, mut key| {
            Box::pin(async move {
                key.require_not_pending_deletion()?;
                let mut tags = key.tag_map();
                for k in &remove {
                    tags.remove(k);
                }
                let total = tags.len() + add.keys().filter(|k| !tags.contains_key(*k)).count();
                check_tags(&add, total)?;
                tags.extend(add);
                key.tags = serde_json::to_string(&tags)
                    .map_err(|e| DomainError::internal(e.to_string()))?;
                Ok(tx.update_key(&key).await?)
            })
        })
        .await
    }

    /// ListResourceTags.
    pub(crate) async fn tags(
        &self,
        caller: &Caller,
        key_ref: &str,
    ) -> Result<BTreeMap<String, String>> {
        self.read_key(caller, key_ref, "ListResourceTags", async |key| Ok(key.tag_map())).await
    }

    /// UpdateKeyDescription.
    pub(crate) async fn describe_as(
        &self,
        caller: &Caller,
        key_ref: &str,
        description: String,
    ) -> Result<()> {
        if description.chars().count() > MAX_DESCRIPTION {
            let e = DomainError::invalid(format!(
                "Description is at most {MAX_DESCRIPTION} characters"
            ));
            return self.refuse(caller, "UpdateKeyDescription", e).await;
        }
        self.key_change(caller, key_ref, "UpdateKeyDescription", move |tx, mut key| {
            Box::pin(async move {
                key.require_not_pending_deletion()?;
                key.description = description;
                Ok(tx.update_key(&key).await?)
            })
        })
        .await
    }

    // --- Unwrap and Decrypt -----------------------------------------------------------------

    /// Unwraps one EDK of a message header: RSA-decrypts it, verifies commitment and header
    /// tag with the recovered key, and only then evaluates the policy against the verified
    /// encryption context.
    pub(crate) async fn unwrap(
        &self,
        caller: &Caller,
        header: &[u8],
        edk: EdkSelector,
        recipient: Option<Recipient>,
    ) -> Result<Unwrapped> {
        let mut key_id = None;
        let mut context = None;
        let outcome = match self.answer_form(recipient.as_ref()) {
            Ok(()) => self.unwrap_inner(caller, header, edk, &mut key_id, &mut context).await,
            Err(e) => Err(e),
        };
        let outcome = outcome.and_then(|(key_id, version, data_key)| {
            let secret =
                self.answer(caller, recipient, &key_id, version, data_key.dangerous_as_bytes())?;
            Ok(Unwrapped { key_id, version, secret })
        });
        self.audit.outcome(caller, "Unwrap", key_id.as_deref(), context.as_ref(), outcome).await
    }

    async fn unwrap_inner(
        &self,
        caller: &Caller,
        bytes: &[u8],
        selector: EdkSelector,
        key_id: &mut Option<String>,
        context: &mut Option<EncryptionContext>,
    ) -> Result<(String, i64, DataKey)> {
        let (header, len) = Header::parse(bytes, &Limits::default())
            .map_err(|e| DomainError::invalid(format!("header: {e}")))?;
        if len != bytes.len() {
            return Err(DomainError::invalid("bytes follow the header"));
        }
        let edks = header.encrypted_data_keys();
        let edk = match &selector {
            EdkSelector::Index(i) => edks.get(*i),
            EdkSelector::Name(name) => edks
                .iter()
                .find(|e| e.provider_id == KEY_NAMESPACE && e.provider_info == name.as_bytes()),
        }
        .ok_or_else(|| DomainError::invalid("no such encrypted data key in the header"))?;
        let name = std::str::from_utf8(&edk.provider_info).ok().and_then(keys::parse_key_name);
        let (id, version) = match (edk.provider_id.as_str(), name) {
            (KEY_NAMESPACE, Some(name)) => name,
            _ => return Err(DomainError::invalid("the EDK is not one of this server's keys")),
        };
        let (key, sealed) = match self.store.key_with_version(id, version).await? {
            Some((key, v)) if live(&key, now_ms()) && key.region == self.region_of(caller) => {
                (key, v.map(|v| v.private_sealed))
            }
            _ => return Err(DomainError::NotFound(format!("key {id} not found"))),
        };
        *key_id = Some(key.key_id.clone());
        // Permission before state, as in AWS KMS: a caller with no right to the key learns
        // nothing of its state, and cannot raise pending-deletion alarms.
        if decide(self.account(), caller, &key, "Unwrap", None, None, true)? != Decision::Allow {
            return Err(denied(caller, &key));
        }
        key.require_enabled()?;
        rsa_only(&key)?;
        let sealed = sealed.ok_or_else(|| {
            DomainError::NotFound(format!("key {} has no version {version}", key.key_id))
        })?;
        let ciphertext = edk.ciphertext.clone();
        let plaintext =
            self.private_decrypt(&key.key_id, version, sealed, false, ciphertext).await?;
        let data_key = DataKey::from_slice(&plaintext);
        header.verify(&data_key).map_err(|_| DomainError::InvalidCiphertext)?;
        *context = Some(header.encryption_context().clone());
        let context = Some(header.encryption_context());
        if decide(self.account(), caller, &key, "Unwrap", context, None, false)? != Decision::Allow
        {
            return Err(denied(caller, &key));
        }
        Ok((key.key_id, version, data_key))
    }

    /// Refuses a request for a secret in the clear, unless the server allows that.
    fn answer_form(&self, recipient: Option<&Recipient>) -> Result<()> {
        match (recipient, self.plaintext_answers) {
            (Some(_), _) | (None, true) => Ok(()),
            (None, false) => Err(DomainError::invalid(
                "recipient is required: data keys are answered only as a JWE to the caller's \
                 ephemeral P-256 key (the server was not started with \
                 --allow-plaintext-data-keys)",
            )),
        }
    }

    /// `secret` of key version `version` as the caller asked for it.
    fn answer(
        &self,
        caller: &Caller,
        recipient: Option<Recipient>,
        key_id: &str,
        version: i64,
        secret: &[u8],
    ) -> Result<Answer> {
        match recipient {
            Some(r) => {
                let kid = keys::key_name(key_id, version);
                Ok(Answer::Sealed(r.seal(&kid, &caller.request_id, secret)?))
            }
            None => Ok(Answer::Clear(Zeroizing::new(secret.to_vec()))),
        }
    }

    /// Opens a sealed version (or finds it open) and RSA-decrypts, on the crypto pool.
    async fn private_decrypt(
        &self,
        key_id: &str,
        version: i64,
        sealed: Vec<u8>,
        sha1: bool,
        ciphertext: Vec<u8>,
    ) -> Result<Zeroizing<Vec<u8>>> {
        let (root, cache, key_id) = (self.root.clone(), self.opened.clone(), key_id.to_string());
        self.crypto
            .run(move || {
                let name = keys::key_name(&key_id, version);
                let key = cache.open(&root, &name, &key_id, version, &sealed)?;
                secrets::decrypt(&key, sha1, &ciphertext)
            })
            .await
    }

    /// Plain RSA-OAEP Decrypt, for compatibility: (key ID, version, plaintext).
    pub(crate) async fn decrypt(
        &self,
        caller: &Caller,
        key_ref: &str,
        ciphertext: Vec<u8>,
        sha1: bool,
        version: Option<i64>,
        recipient: Option<Recipient>,
    ) -> Result<Unwrapped> {
        self.read_key(caller, key_ref, "Decrypt", async |key| {
            self.answer_form(recipient.as_ref())?;
            key.require_enabled()?;
            rsa_only(&key)?;
            let version = version.unwrap_or(key.current_version);
            let sealed = self.version(&key, version).await?.private_sealed;
            let plaintext =
                self.private_decrypt(&key.key_id, version, sealed, sha1, ciphertext).await?;
            let secret = self.answer(caller, recipient, &key.key_id, version, &plaintext)?;
            Ok(Unwrapped { key_id: key.key_id, version, secret })
        })
        .await
    }

    // --- Aliases ----------------------------------------------------------------------------

    /// Every alias.
    pub(crate) async fn list_aliases(&self, caller: &Caller) -> Result<Vec<AliasRow>> {
        let region = self.region_of(caller);
        let outcome = self
            .store
            .aliases()
            .await
            .map_err(DomainError::from)
            .map(|all| all.into_iter().filter(|a| a.region == region).collect());
        self.audit.outcome(caller, "ListAliases", None, None, outcome).await
    }

    /// CreateAlias (`create`) or UpdateAlias, admin only.
    pub(crate) async fn set_alias(
        &self,
        caller: &Caller,
        name: String,
        target: String,
        create: bool,
    ) -> Result<AliasRow> {
        let action = if create { "CreateAlias" } else { "UpdateAlias" };
        let checked = require_admin(caller).and_then(|()| valid_alias(&name)).and_then(|()| {
            if target.starts_with("alias/") {
                Err(DomainError::invalid("targetKeyId must be a key ID"))
            } else {
                Ok(())
            }
        });
        if let Err(e) = checked {
            return self.refuse(caller, action, e).await;
        }
        let region = self.region_of(caller).to_string();
        let target = match self.key_ref(caller, &target) {
            Ok(local) => local,
            Err(e) => return self.refuse(caller, action, e).await,
        };
        self.change(caller, action, |tx, key_id| {
            Box::pin(async move {
                let key = found(tx.key(&region, &target).await?, &target)?;
                *key_id = Some(key.key_id.clone());
                let existing = tx.alias(&region, &name).await?;
                match (create, &existing) {
                    (true, Some(_)) => {
                        return Err(DomainError::AlreadyExists(format!("{name} already exists")));
                    }
                    (false, None) => {
                        return Err(DomainError::NotFound(format!("{name} not found")));
                    }
                    _ => {}
                }
                let now = now_ms();
                let created_at = existing.map_or(now, |a| a.created_at);
                let row = AliasRow {
                    region,
                    alias_name: name,
                    key_id: key.key_id,
                    created_at,
                    updated_at: now,
                };
                tx.put_alias(&row).await?;
                Ok(row)
            })
        })
        .await
    }

    /// DeleteAlias, admin only.
    pub(crate) async fn delete_alias(&self, caller: &Caller, name: String) -> Result<String> {
        if let Err(e) = require_admin(caller) {
            return self.refuse(caller, "DeleteAlias", e).await;
        }
        let region = self.region_of(caller).to_string();
        self.change(caller, "DeleteAlias", |tx, _| {
            Box::pin(async move {
                if !tx.delete_alias(&region, &name).await? {
                    return Err(DomainError::NotFound(format!("{name} not found")));
                }
                Ok(name)
            })
        })
        .await
    }

    // --- Audit and housekeeping -------------------------------------------------------------

    /// One page of the audit log (admin only).
    pub(crate) async fn audit_page(
        &self,
        caller: &Caller,
        after: i64,
        limit: i64,
    ) -> Result<Vec<ChainedRecord>> {
        let outcome = match require_admin(caller) {
            Ok(()) => audit::list(self.store.as_ref(), after, limit).await,
            Err(e) => Err(e),
        };
        self.audit.outcome(caller, "ListAudit", None, None, outcome).await
    }

    /// Re-seals everything sealed under the previous root key under the current one, while
    /// servers keep serving (they hold both keys meanwhile): every key version and access
    /// key, each in its own transaction with a record, then the audit-signing key, and last the root-key check
    /// value, which names the root key the database belongs to; so a rotation cut short
    /// leaves a database both keys still open, and running it again finishes it. Then the
    /// database files are shredded: the old sealed copies must not outlive the rotation.
    pub(crate) async fn reseal_under_root(&self, caller: &Caller) -> Result<Resealed> {
        let mut done = Resealed::default();
        for version in self.store.versions().await? {
            let label = keys::key_name(&version.key_id, version.version);
            let Some(new) = self.resealed(&label, &version.private_sealed).await? else {
                done.already += 1;
                continue;
            };
            let mut tx = self.store.write().await?;
            if tx
                .reseal_version(&version.key_id, version.version, &version.private_sealed, &new)
                .await?
            {
                let record = Record::allowed(caller, "RotateRootKey", Some(&version.key_id))
                    .noted(&format!("version {}", version.version));
                audit::append_in(tx.as_mut(), [record]).await?;
                done.versions += 1;
            } else {
                done.changed += 1;
            }
            tx.commit().await?;
        }
        self.reseal_access_keys(caller, &mut done).await?;
        for name in [AUDIT_SIGNING_KEY, ROOT_KEY_CHECK] {
            let sealed = self.store.meta(name).await?.ok_or_else(|| {
                DomainError::internal(format!("server-wide value {name} is missing"))
            })?;
            let Some(new) = self.resealed(name, &sealed).await? else { continue };
            let mut tx = self.store.write().await?;
            if !tx.replace_meta(name, &sealed, &new).await? {
                return Err(DomainError::InvalidState(format!(
                    "{name} changed during the rotation; run it again"
                )));
            }
            let record = Record::allowed(caller, "RotateRootKey", None).noted(name);
            audit::append_in(tx.as_mut(), [record]).await?;
            tx.commit().await?;
            done.server_values += 1;
        }
        done.shred_left = self.store.shred_deleted().await?;
        done.shredded = done.shred_left.is_none();
        Ok(done)
    }

    /// `sealed` under the current root key, or `None` if it is already (on the crypto pool: a
    /// token's calls block).
    async fn resealed(&self, label: &str, sealed: &[u8]) -> Result<Option<Vec<u8>>> {
        let (root, label, sealed) = (self.root.clone(), label.to_string(), sealed.to_vec());
        self.crypto.run(move || root.reseal(&label, &sealed)).await
    }

    /// Deletes keys whose deletion window ended, each with a record, in one transaction (a
    /// second replica sweeping at once finds nothing left).
    ///
    /// With `shred_anyway` the database files are shredded even when nothing expired now (at
    /// start: a process that died between a deletion and its shredding leaves none undone).
    pub(crate) async fn sweep_expired_keys(&self, shred_anyway: bool) -> Result<usize> {
        let system = Caller::system("-");
        let mut tx = self.store.write().await?;
        let expired = tx.expired_keys(now_ms()).await?;
        for (key_id, region, replica) in &expired {
            // A replica goes alone: its material is the primary's, which stays.
            if *replica {
                tx.delete_replica(key_id, region).await?;
            } else {
                tx.delete_key(key_id).await?;
            }
        }
        let records = expired.iter().map(|(id, region, replica)| {
            let record = Record::allowed(&system, "DeleteKey", Some(id));
            if *replica { record.noted(&format!("replica in {region}")) } else { record }
        });
        audit::append_in(tx.as_mut(), records).await?;
        tx.commit().await?;
        for (key_id, _, replica) in &expired {
            if !replica {
                self.opened.forget(key_id);
            }
        }
        let pending = self.shred_pending.load(std::sync::atomic::Ordering::Relaxed);
        if shred_anyway || pending || !expired.is_empty() {
            self.shred().await;
        }
        Ok(expired.len())
    }

    /// Crypto-shredding after key material was deleted: the rows are gone; now no copy of
    /// the sealed material may stay in the database's files either. What could not be done
    /// is tried again at the next sweep.
    async fn shred(&self) {
        let mut done = false;
        for attempt in 0..3 {
            if attempt > 0 {
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            }
            match self.store.shred_deleted().await {
                Ok(None) => {
                    tracing::info!("deleted key material shredded");
                    done = true;
                    break;
                }
                Ok(Some(left)) => {
                    tracing::warn!(left = %left, attempt, "shredding left deleted key material in the database files");
                }
                Err(e) => {
                    tracing::error!(error = %e, attempt, "shredding deleted key material failed")
                }
            }
        }
        self.shred_pending.store(!done, std::sync::atomic::Ordering::Relaxed);
    }
}

/// The audit-signing key: opened from the database, or made and stored on a new one (the
/// first replica to store it wins; the others open that one).
async fn signer(store: &dyn Store, root: &RootKey) -> Result<DigestSigner> {
    use aws_lc_rs::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, KeyPair as _};
    let sealed = meta_once(store, AUDIT_SIGNING_KEY, || {
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &rng)
            .map_err(|_| DomainError::internal("audit key generation failed"))?;
        root.seal(AUDIT_SIGNING_KEY, pkcs8.as_ref())
    })
    .await?;
    let pkcs8 = root.open_sealed(AUDIT_SIGNING_KEY, &sealed)?;
    let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &pkcs8)
        .map_err(|_| DomainError::internal("stored audit-signing key unreadable"))?;
    let public = key.public_key().as_ref().to_vec();
    Ok(DigestSigner { key, public })
}

/// The server-wide value `name`: as stored, or `make`'s, stored now. When replicas start at
/// once, the first to store wins and every one returns that value.
async fn meta_once(
    store: &dyn Store,
    name: &str,
    make: impl FnOnce() -> Result<Vec<u8>>,
) -> Result<Vec<u8>> {
    if let Some(value) = store.meta(name).await? {
        return Ok(value);
    }
    let value = make()?;
    let mut tx = store.write().await?;
    tx.insert_meta_once(name, &value).await?;
    tx.commit().await?;
    Ok(store.meta(name).await?.unwrap_or(value))
}

/// A key version with its private key sealed under the root key, bound to its name.
fn seal_version(
    root: &RootKey,
    key_id: &str,
    version: i64,
    pkcs8: &[u8],
    spki: Vec<u8>,
) -> Result<KeyVersion> {
    Ok(KeyVersion {
        key_id: key_id.into(),
        version,
        public_der: spki,
        private_sealed: root.seal(&keys::key_name(key_id, version), pkcs8)?,
        created_at: now_ms(),
        rotation_type: None,
    })
}

/// A resolved key, unless it is missing or its deletion date has passed.
fn found(key: Option<KeyRow>, key_ref: &str) -> Result<KeyRow> {
    key.filter(|k| live(k, now_ms()))
        .ok_or_else(|| DomainError::NotFound(format!("key {key_ref} not found")))
}

/// The policy action an operation is evaluated as: `kms:NAME`, and our own for the `/v0`
/// names that are not KMS operations.
fn policy_action(action: &str) -> String {
    match super::policy::V0_ACTIONS.iter().find(|(bare, _)| *bare == action) {
        Some((_, named)) => (*named).to_string(),
        None => format!("kms:{action}"),
    }
}

/// The IAM ARN policies name `caller` by: the account itself for the admin (with no IAM here,
/// the admin is the account's one IAM-authorised principal), a user of the account otherwise.
fn principal_arn(account: &str, caller: &Caller) -> String {
    if caller.principal == ADMIN_PRINCIPAL {
        format!("arn:aws:iam::{account}:root")
    } else {
        format!("arn:aws:iam::{account}:user/{}", caller.principal)
    }
}

/// The key policy's decision on `caller` doing `action` with `key`, in `context` where the
/// operation has one (verified, or bound to the ciphertext as authenticated data);
/// `any_context` asks for the most permissive decision any context could give (the check
/// before RSA work on the Unwrap path).
fn decide(
    account: &str,
    caller: &Caller,
    key: &KeyRow,
    action: &str,
    context: Option<&EncryptionContext>,
    grant_operations: Option<&[String]>,
    any_context: bool,
) -> Result<Decision> {
    let policy = key.policy()?;
    let (principal_arn, key_arn, action) =
        (principal_arn(account, caller), key.arn(account), policy_action(action));
    let extra: BTreeMap<&str, Vec<String>> =
        [("kms:keyspec", vec![key.key_spec.clone()]), ("kms:keyorigin", vec![key.origin.clone()])]
            .into_iter()
            .collect();
    let request = PolicyRequest {
        principal: &caller.principal,
        principal_arn: &principal_arn,
        account,
        claims: caller.claims(),
        action: &action,
        key_arn: &key_arn,
        context,
        grant_operations,
        extra: &extra,
    };
    Ok(if any_context { policy.evaluate_any_context(&request) } else { policy.evaluate(&request) })
}

/// Whether `caller` may do `action` on `key`, for operations without an encryption context.
/// The admin may always read and replace key policies, so that no policy can lock a key out
/// of management.
fn authorize(account: &str, caller: &Caller, key: &KeyRow, action: &str) -> Result<()> {
    if admin_override(caller, action) {
        return Ok(());
    }
    authorize_with(account, caller, key, action, None)
}

/// The admin reads and replaces key policies whatever they say.
fn admin_override(caller: &Caller, action: &str) -> bool {
    caller.principal == ADMIN_PRINCIPAL && matches!(action, "GetKeyPolicy" | "PutKeyPolicy")
}

/// [`authorize`] for an operation with an encryption context, which context conditions test.
fn authorize_with(
    account: &str,
    caller: &Caller,
    key: &KeyRow,
    action: &str,
    context: Option<&EncryptionContext>,
) -> Result<()> {
    match decide(account, caller, key, action, context, None, false)? {
        Decision::Allow => Ok(()),
        Decision::ExplicitDeny | Decision::ImplicitDeny => Err(DomainError::AccessDenied(format!(
            "{} may not {action} key {}",
            caller.principal, key.key_id
        ))),
    }
}

/// Refuses RSA-OAEP work with any key but an RSA ENCRYPT_DECRYPT key.
fn rsa_only(key: &KeyRow) -> Result<()> {
    if key.is_symmetric() || key.key_usage != material::ENCRYPT_DECRYPT {
        return Err(DomainError::InvalidKeyUsage(format!(
            "key {} ({} {}) wraps no RSA-OAEP data keys",
            key.key_id, key.key_spec, key.key_usage
        )));
    }
    Ok(())
}

fn denied(caller: &Caller, key: &KeyRow) -> DomainError {
    DomainError::AccessDenied(format!(
        "{} may not Unwrap with key {}",
        caller.principal, key.key_id
    ))
}

/// Refuses callers other than the admin principal.
pub(crate) fn require_admin(caller: &Caller) -> Result<()> {
    if caller.principal == ADMIN_PRINCIPAL {
        Ok(())
    } else {
        Err(DomainError::AccessDenied(format!("only {ADMIN_PRINCIPAL} may do this")))
    }
}

/// Principal names the server writes itself or shows for nobody: no token may carry them.
const RESERVED_PRINCIPALS: [&str; 3] = ["-", super::SYSTEM_PRINCIPAL, "anonymous"];

/// A signed-in principal may be anything its issuer says, except a reserved name or the
/// admin: the admin is only ever the holder of the admin token.
fn valid_signed_in_principal(p: &str) -> bool {
    !RESERVED_PRINCIPALS.contains(&p) && !p.eq_ignore_ascii_case(ADMIN_PRINCIPAL)
}

/// Principal names are lowercase, so that two names can never differ by case alone (`Admin`
/// beside `admin`), and compared exactly as stored.
fn valid_principal(p: &str) -> Result<()> {
    if RESERVED_PRINCIPALS.contains(&p) {
        return Err(DomainError::invalid(format!("principal name {p:?} is reserved")));
    }
    let ok = !p.is_empty()
        && p.len() <= 128
        && p.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._@-".contains(c))
        && p.chars().any(|c| c.is_ascii_alphanumeric());
    if ok {
        Ok(())
    } else {
        Err(DomainError::invalid(
            "principal names are 1-128 lowercase letters, digits and ._@- with a letter or digit",
        ))
    }
}

fn valid_alias(name: &str) -> Result<()> {
    let rest = name.strip_prefix("alias/").unwrap_or_default();
    let ok = !rest.is_empty()
        && rest.len() <= 250
        && !rest.starts_with("aws/")
        && rest.chars().all(|c| c.is_ascii_alphanumeric() || "/_-".contains(c));
    if ok { Ok(()) } else { Err(DomainError::invalid(format!("invalid alias name {name:?}"))) }
}

fn new_token() -> Result<String> {
    Ok(format!("cdt_{}", URL_SAFE_NO_PAD.encode(secrets::random::<32>()?)))
}

fn token_hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

fn token_row(token: &str, principal: &str) -> Result<TokenRow> {
    let id: [u8; 8] = secrets::random()?;
    Ok(TokenRow {
        token_hash: token_hash(token),
        principal: principal.into(),
        created_at: now_ms(),
        token_id: format!("tok_{}", secrets::hex(&id)),
        expires_at: None,
        revoked_at: None,
    })
}

/// Longest key description (AWS KMS: 8192 characters).
const MAX_DESCRIPTION: usize = 8192;
/// Most tags on a key (AWS KMS: 50).
const MAX_TAGS: usize = 50;

/// AWS's tag rules for a key that would hold `total` tags: keys 1-128 characters, values at
/// most 256, none starting with `aws:` (reserved for AWS), at most [`MAX_TAGS`].
fn check_tags(tags: &BTreeMap<String, String>, total: usize) -> Result<()> {
    if total > MAX_TAGS {
        return Err(DomainError::Tag(format!("a key has at most {MAX_TAGS} tags")));
    }
    for (k, v) in tags {
        let len = k.chars().count();
        if !(1..=128).contains(&len) || v.chars().count() > 256 {
            return Err(DomainError::Tag(format!(
                "tag {k:?}: keys are 1-128 characters, values at most 256"
            )));
        }
        if k.to_ascii_lowercase().starts_with("aws:") {
            return Err(DomainError::Tag(format!("tag {k:?}: the aws: prefix is reserved")));
        }
    }
    Ok(())
}

/// Longest token lifetime a caller may ask for: one year.
const MAX_TOKEN_TTL: i64 = 366 * 24 * 3600;
