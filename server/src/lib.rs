//! The cipherdrop key server: holds RSA private keys, never file data, and unwraps a message's
//! data key only when the caller's identity, the key's state and policy, and the message's
//! verified encryption context allow it. Every call is audited in a hash chain.
//!
//! Layers: [`router`] → handlers (`/v0`) and the archive → [`domain`] → `store` (SQLite or
//! PostgreSQL). The binary only parses arguments; [`Service`] runs the server, plain HTTP or
//! TLS on the listener it is given (`transport`).
#![forbid(unsafe_code)]

mod archive;
mod backup;
pub mod client;
pub mod demo;
pub mod domain;
mod handlers;
pub mod kms_client;
mod router;
mod settings;
mod state;
mod store;
mod transport;

use std::future::Future;
use std::path::Path;
use std::sync::Arc;

use axum::serve::ListenerExt as _;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

pub use backup::{backup, restore};
pub use domain::{ADMIN_PRINCIPAL, DomainError};
pub use settings::{DataSettings, Settings};

use crate::domain::KeyServer;
use crate::domain::root::{RootKey, RootKeySpec};
use crate::domain::secrets;

/// A key server ready to serve: database open and migrated, root key checked, admin token
/// issued on a new database, demo and archive set up.
pub struct Service {
    settings: Settings,
    state: state::AppState,
    keys: Arc<KeyServer>,
    archive: Option<archive::Archive>,
    demo: Option<(serde_json::Value, demo::DevIssuer)>,
    tls: Option<transport::Tls>,
}

impl std::fmt::Debug for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Service").finish_non_exhaustive()
    }
}

impl Service {
    /// Opens (or initialises) the database and everything the server needs; nothing is
    /// served yet, so a start that cannot work fails here.
    pub async fn open(mut settings: Settings) -> Result<Self, DomainError> {
        transport::check_plain_http(&settings)?;
        let tls = transport::tls(&settings)?;
        // The demo trusts its own development issuer, at the address it listens on.
        let issuer = settings.demo.then(|| demo::issuer_url(&settings.listen));
        if let Some(issuer) = &issuer {
            settings.oidc_issuers.push(issuer.clone());
            settings.oidc_audiences.push(demo::AUDIENCE.into());
        }
        let digests = domain::DigestOptions {
            every_records: settings.audit_digest_records.max(1),
            every: std::time::Duration::from_secs(settings.audit_digest_interval.max(1)),
            dir: settings.audit_dir.clone(),
        };
        let oidc = settings.oidc()?.map(domain::oidc::Oidc::new).transpose()?;
        let location = domain::Location::new(&settings.account_id, &settings.region)?;
        let (store, keys) =
            open(&settings.data, digests, settings.allow_plaintext_data_keys, oidc, location)
                .await?;
        keys.bootstrap_admin(&settings.data.data_dir).await?;
        let demo = match issuer {
            Some(issuer) => Some((
                demo::bootstrap(&keys, &settings.data.data_dir).await?,
                demo::DevIssuer::open(&settings.data.data_dir, issuer)?,
            )),
            None => None,
        };
        let auth = handlers::Auth::new(keys.clone(), settings.rate_limit);
        let archive = match settings.archive_url() {
            Some(url) => {
                let limits = archive::Limits {
                    max_object: settings.max_object_size,
                    max_open_uploads: i64::from(settings.max_open_uploads),
                    upload_ttl_ms: i64::try_from(settings.upload_ttl.saturating_mul(1000))
                        .unwrap_or(i64::MAX),
                };
                let log = keys.audit_log().clone();
                Some(archive::Archive::open(&url, store, log, auth.clone(), limits)?)
            }
            None => None,
        };
        let state = state::AppState::new(keys.clone(), auth);
        Ok(Self { settings, state, keys, archive, demo, tls })
    }

    /// `https` with `--tls-cert`, else `http`: what clients put in front of the address.
    pub fn scheme(&self) -> &'static str {
        if self.tls.is_some() { "https" } else { "http" }
    }

    /// Serves on `listener` (HTTPS with `--tls-cert`) until `shutdown` completes; in-flight
    /// requests finish first.
    pub async fn serve(
        self,
        listener: tokio::net::TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), DomainError> {
        let mut sweepers = vec![
            tokio::spawn(sweep_expired_keys(self.keys.clone())),
            tokio::spawn(sign_digests(self.keys.clone())),
        ];
        if let Some(a) = &self.archive {
            sweepers.push(tokio::spawn(a.clone().sweep_expired_uploads()));
        }
        let addr = listener.local_addr().map_err(|e| DomainError::internal(e.to_string()))?;
        if let Some(metrics) = &self.settings.metrics_listen {
            let bound = tokio::net::TcpListener::bind(metrics).await.map_err(|e| {
                DomainError::Misconfigured(format!("--metrics-listen {metrics}: {e}"))
            })?;
            tracing::info!(addr = %metrics, "metrics listening");
            let app = router::metrics_router(self.state.clone());
            sweepers.push(tokio::spawn(async move {
                if let Err(e) = axum::serve(bound, app).await {
                    tracing::error!(error = %e, "metrics listener failed");
                }
            }));
        }
        let app = router::router(self.state, self.archive, addr, &self.settings, self.demo);
        tracing::info!(%addr, "cipherdrop key server listening");
        let app = app.into_make_service_with_connect_info::<std::net::SocketAddr>();
        let served = match self.tls {
            Some(tls) => {
                let listener =
                    tls.listen(listener).map_err(|e| DomainError::internal(e.to_string()))?;
                // axum gives `ConnectInfo` the peer address for a TcpListener, or for any
                // listener under `tap_io`; coherence rules forbid implementing it for ours.
                let listener = listener.tap_io(|_| {});
                axum::serve(listener, app).with_graceful_shutdown(shutdown).await
            }
            None => axum::serve(listener, app).with_graceful_shutdown(shutdown).await,
        };
        for s in sweepers {
            s.abort();
        }
        // The last records are covered before the process goes.
        if let Err(e) = self.keys.sign_digest(true).await {
            tracing::error!(error = %e, "no audit digest at shutdown");
        }
        served.map_err(|e| DomainError::internal(e.to_string()))
    }
}

/// The store and the key service over it, the root key checked against the database.
async fn open(
    data: &DataSettings,
    digests: domain::DigestOptions,
    plaintext_answers: bool,
    oidc: Option<domain::oidc::Oidc>,
    location: domain::Location,
) -> Result<(Arc<dyn store::Store>, Arc<KeyServer>), DomainError> {
    let dir = &data.data_dir;
    private_dir(dir)?;
    let url = data.database_url();
    let sqlite_file = sqlite_path(&url);
    if let Some(file) = &sqlite_file {
        private_file(file, true)?;
    }
    let store = store::open(&url).await?;
    if let Some(file) = &sqlite_file {
        // SQLite makes its -wal and -shm files beside the database: owner only, as it is.
        for suffix in ["-wal", "-shm"] {
            let mut name = file.clone().into_os_string();
            name.push(suffix);
            private_file(Path::new(&name), false)?;
        }
    }
    tracing::info!(backend = store.backend(), "database open");
    let root = root_key(data)?;
    let mut keys = KeyServer::open(store.clone(), root, digests).await?;
    keys.allow_plaintext_answers(plaintext_answers);
    keys.locate(location);
    if let Some(oidc) = oidc {
        keys.trust_oidc(oidc);
    }
    let keys = Arc::new(keys);
    Ok((store, keys))
}

/// Signs audit digests when due (checked every second: two small reads), the first at start.
async fn sign_digests(keys: Arc<KeyServer>) {
    let mut first = true;
    loop {
        if let Err(e) = keys.sign_digest(std::mem::take(&mut first)).await {
            tracing::error!(error = %e, "signing an audit digest failed");
        }
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    }
}

/// Deletes keys whose deletion window ended and rotates keys whose automatic rotation is
/// due, at start and then every minute.
async fn sweep_expired_keys(keys: Arc<KeyServer>) {
    let mut first = true;
    loop {
        if let Err(e) = keys.sweep_expired_keys(std::mem::take(&mut first)).await {
            tracing::error!(error = %e, "deleting expired keys failed");
        }
        match keys.expire_imported_material().await {
            Ok(0) => {}
            Ok(n) => tracing::info!(keys = n, "imported key material expired"),
            Err(e) => tracing::error!(error = %e, "expiring imported key material failed"),
        }
        match keys.rotate_due_keys().await {
            Ok(0) => {}
            Ok(n) => tracing::info!(keys = n, "keys rotated on schedule"),
            Err(e) => tracing::error!(error = %e, "scheduled key rotation failed"),
        }
        tokio::time::sleep(std::time::Duration::from_secs(60)).await;
    }
}

/// `cipherdrop root rotate`: re-seals the database under `--root-key` (the new key), opening
/// what `--previous-root-key` sealed, while servers holding both keep serving.
pub async fn rotate_root(data: &DataSettings) -> Result<domain::Resealed, DomainError> {
    let named = data.root_key.is_some()
        || data.root_key_file.is_some()
        || std::env::var_os("CIPHERDROP_ROOT_KEY").is_some();
    if !named || data.previous_root_key.is_none() {
        return Err(DomainError::Misconfigured(
            "root rotate: give the new root key (--root-key) and the one it replaces \
             (--previous-root-key), as the servers run during the rotation"
                .into(),
        ));
    }
    let store = store::open(&data.existing_database_url()).await?;
    let digests = domain::DigestOptions {
        every_records: i64::MAX,
        every: std::time::Duration::MAX,
        dir: None,
    };
    let keys = KeyServer::open(store, root_key(data)?, digests).await?;
    keys.reseal_under_root(&domain::Caller::system("root-rotate")).await
}

/// `cipherdrop root init`: makes the root key a PKCS#11 URI names in its token; returns the
/// URI as it may be shown (without the PIN).
pub fn create_root_key(uri: &str) -> Result<String, DomainError> {
    domain::root::create_in_token(&uri.parse()?)
}

/// The root key: `CIPHERDROP_ROOT_KEY` (base64 of 32 bytes), else `--root-key`, else
/// `--root-key-file`, else `DATA_DIR/root-key`, created with mode 0600 on first start; with
/// `--previous-root-key` during a rotation.
pub(crate) fn root_key(data: &DataSettings) -> Result<RootKey, DomainError> {
    let current = if let Ok(b64) = std::env::var("CIPHERDROP_ROOT_KEY") {
        let bytes =
            zeroize::Zeroizing::new(STANDARD.decode(b64.trim()).map_err(|_| {
                DomainError::Misconfigured("CIPHERDROP_ROOT_KEY is not base64".into())
            })?);
        RootKey::new(&bytes)?
    } else {
        let spec = match (&data.root_key, &data.root_key_file) {
            (Some(spec), _) => spec.parse()?,
            (None, Some(path)) => RootKeySpec::File(path.clone()),
            (None, None) => {
                let path = data.data_dir.join("root-key");
                if !path.exists() {
                    secrets::write_secret(&path, &secrets::random::<32>()?)?;
                }
                RootKeySpec::File(path)
            }
        };
        RootKey::open(&spec)?
    };
    match &data.previous_root_key {
        Some(spec) => Ok(current.with_previous(RootKey::open(&spec.parse()?)?)),
        None => Ok(current),
    }
}

/// The data directory, created owner-only (0700); one that other users may enter is made
/// owner-only at start, with a warning: it holds sealed keys, token hashes and contexts.
fn private_dir(dir: &Path) -> Result<(), DomainError> {
    use std::os::unix::fs::{DirBuilderExt as _, PermissionsExt as _};
    let fail = |e: std::io::Error| DomainError::internal(format!("{}: {e}", dir.display()));
    if !dir.exists() {
        std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir).map_err(fail)?;
    }
    let mode = std::fs::metadata(dir).map_err(fail)?.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        tracing::warn!(dir = %dir.display(), mode = format!("{mode:o}"), "data directory was open to other users; made 0700");
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(fail)?;
    }
    Ok(())
}

/// Makes `file` owner-only (0600), creating it empty first when `create` (so that it never
/// exists with wider permissions, not even for a moment).
fn private_file(file: &Path, create: bool) -> Result<(), DomainError> {
    use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
    let fail = |e: std::io::Error| DomainError::internal(format!("{}: {e}", file.display()));
    if create && !file.exists() {
        let made = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(secrets::SECRET_FILE_MODE)
            .open(file);
        match made {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(fail(e)),
        }
    }
    match std::fs::metadata(file) {
        Ok(meta) if meta.permissions().mode() & 0o077 != 0 => {
            let perms = std::fs::Permissions::from_mode(secrets::SECRET_FILE_MODE);
            std::fs::set_permissions(file, perms).map_err(fail)
        }
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(fail(e)),
    }
}

/// The file of a `sqlite://PATH?...` URL.
fn sqlite_path(url: &str) -> Option<std::path::PathBuf> {
    let rest = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or_default();
    (!path.is_empty() && path != ":memory:").then(|| std::path::PathBuf::from(path))
}
