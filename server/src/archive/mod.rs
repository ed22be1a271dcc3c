//! The archive store the demo uploads to: ciphertext objects and their encrypted metadata
//! records, never plaintext or data keys. Its own service beside the key server: it gets the
//! caller extractor ([`Auth`]) and the audit log, and keeps its rows in the same store.
//!
//! Objects live in an `object_store` (`file:///dir` or `s3://bucket/prefix`):
//! `objects/ID/data` (the message) and `objects/ID/meta` (a small encrypted record with the
//! file name and size). Who owns an ID, and whether it is complete, is a store row: an ID is
//! claimed by exactly one uploader (the row's primary key), so nobody can overwrite another's
//! object, take over its owner or write its record.
//!
//! Uploads stream either as one request body (`PUT /objects/ID`, for clients that can stream
//! a request) or as an upload session of ordered parts (`POST /objects/ID/upload`, `PUT
//! /objects/ID/upload/N`, `POST /objects/ID/upload/complete`): browsers cannot stream a
//! request body over HTTP/1.1, and parts keep both sides' memory bounded. A session is a
//! store row plus staged parts (`uploads/ID/N`), so it survives a restart and any replica
//! can take the next part; it expires after a TTL, and each principal has a quota of open
//! sessions.

mod routes;

use std::sync::Arc;

use axum::extract::FromRef;
use object_store::ObjectStore;
use object_store::local::LocalFileSystem;
use object_store::prefix::PrefixStore;

use crate::domain::DomainError;
use crate::domain::audit::AuditLog;
use crate::handlers::Auth;
use crate::store::Store;

pub(crate) use routes::routes;

/// Largest part of an upload session.
pub(crate) const MAX_PART: usize = 32 << 20;

/// Limits of the archive.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Limits {
    /// Largest object, in bytes.
    pub(crate) max_object: u64,
    /// Open upload sessions (and unfinished single uploads) per principal.
    pub(crate) max_open_uploads: i64,
    /// How long an unfinished upload may stay open, in milliseconds.
    pub(crate) upload_ttl_ms: i64,
}

/// The archive's state.
#[derive(Clone, Debug)]
pub(crate) struct Archive(Arc<Inner>);

#[derive(Debug)]
pub(crate) struct Inner {
    objects: Arc<dyn ObjectStore>,
    db: Arc<dyn Store>,
    audit: AuditLog,
    auth: Auth,
    limits: Limits,
}

impl std::ops::Deref for Archive {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl FromRef<Archive> for Auth {
    fn from_ref(archive: &Archive) -> Self {
        archive.auth.clone()
    }
}

impl Archive {
    /// The archive at `url` (`file:///dir`, created if missing, or `s3://bucket/prefix` with
    /// the usual AWS environment: credentials, `AWS_REGION`, `AWS_ENDPOINT_URL`,
    /// `AWS_ALLOW_HTTP=true` for a local endpoint).
    pub(crate) fn open(
        url: &str,
        db: Arc<dyn Store>,
        audit: AuditLog,
        auth: Auth,
        limits: Limits,
    ) -> Result<Self, DomainError> {
        let objects = object_store_at(url)?;
        Ok(Self(Arc::new(Inner { objects, db, audit, auth, limits })))
    }

    /// Abandons expired uploads every minute: their rows, staged parts and partial objects go.
    pub(crate) async fn sweep_expired_uploads(self) {
        loop {
            if let Err(e) = routes::sweep(&self).await {
                tracing::error!(error = %e, "sweeping expired uploads failed");
            }
            tokio::time::sleep(std::time::Duration::from_secs(60)).await;
        }
    }
}

fn object_store_at(url: &str) -> Result<Arc<dyn ObjectStore>, DomainError> {
    let bad = |e: String| DomainError::internal(format!("archive {url}: {e}"));
    let parsed = url::Url::parse(url).map_err(|e| bad(e.to_string()))?;
    match parsed.scheme() {
        "file" => {
            let dir = parsed.to_file_path().map_err(|()| bad("not a local path".into()))?;
            std::fs::create_dir_all(&dir).map_err(|e| bad(e.to_string()))?;
            let store = LocalFileSystem::new_with_prefix(&dir).map_err(|e| bad(e.to_string()))?;
            Ok(Arc::new(store))
        }
        "s3" => {
            let bucket = object_store::aws::AmazonS3Builder::from_env()
                .with_url(url)
                .build()
                .map_err(|e| bad(e.to_string()))?;
            let prefix = parsed.path().trim_matches('/');
            if prefix.is_empty() {
                Ok(Arc::new(bucket))
            } else {
                Ok(Arc::new(PrefixStore::new(bucket, prefix)))
            }
        }
        other => Err(bad(format!("unsupported scheme {other:?} (file:// or s3://)"))),
    }
}
