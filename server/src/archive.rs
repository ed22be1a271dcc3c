//! The archive store the demo uploads to: ciphertext objects and their encrypted metadata
//! records, never plaintext or data keys. Backed by `object_store` (a local directory by
//! default; S3-compatible storage is a change of the store built in [`Archive::local`]).
//!
//! Layout: `objects/ID/data` (the message), `objects/ID/meta` (a small encrypted record with
//! the file name and size), `objects/ID/owner` (the uploading principal).
//!
//! Uploads stream either as one request body (`PUT /objects/ID`, for clients that can stream
//! a request) or as an upload session of ordered parts (`POST /objects/ID/upload`, `PUT
//! /objects/ID/upload/N`, `POST /objects/ID/upload/complete`): browsers cannot stream a
//! request body over HTTP/1.1, and parts keep both sides' memory bounded.

use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use futures_util::StreamExt;
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload, WriteMultipart};
use serde_json::{Value, json};

use crate::error::AppError;
use crate::state::{AppState, Caller};

/// Largest encrypted metadata record.
const MAX_META: usize = 64 * 1024;
/// Upload parts in flight at once: bounds the memory of a streamed upload.
const PARTS_IN_FLIGHT: usize = 2;

/// Largest part of an upload session.
pub(crate) const MAX_PART: usize = 32 << 20;

/// The object store and its limits.
#[derive(Clone, Debug)]
pub(crate) struct Archive {
    store: Arc<dyn ObjectStore>,
    max_object: u64,
    sessions: Arc<
        tokio::sync::Mutex<std::collections::HashMap<String, Arc<tokio::sync::Mutex<Session>>>>,
    >,
}

/// An upload in progress: parts arrive in order and stream into the store.
struct Session {
    owner: String,
    writer: Option<WriteMultipart>,
    next_part: u64,
    size: u64,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("owner", &self.owner)
            .field("size", &self.size)
            .finish_non_exhaustive()
    }
}

impl Archive {
    /// A store in `dir` (created if missing).
    pub(crate) fn local(dir: &std::path::Path, max_object: u64) -> Result<Self, AppError> {
        std::fs::create_dir_all(dir)
            .map_err(|e| AppError::internal(format!("{}: {e}", dir.display())))?;
        let store =
            LocalFileSystem::new_with_prefix(dir).map_err(|e| AppError::internal(e.to_string()))?;
        Ok(Self { store: Arc::new(store), max_object, sessions: Arc::default() })
    }
}

/// Routes under `/v0/archive`.
pub(crate) fn routes() -> axum::Router<AppState> {
    axum::Router::new()
        .route("/objects", get(list))
        .route("/objects/{id}", put(put_object).get(get_object).delete(delete_object))
        .route("/objects/{id}/meta", put(put_meta).get(get_meta))
        .route("/objects/{id}/upload", post(start_upload).delete(abort_upload))
        .route("/objects/{id}/upload/complete", post(complete_upload))
        .route(
            "/objects/{id}/upload/{part}",
            put(put_part).layer(axum::extract::DefaultBodyLimit::max(MAX_PART)),
        )
}

fn archive(state: &AppState) -> Result<&Archive, AppError> {
    state.archive.as_ref().ok_or_else(|| AppError::NotFound("no archive store".into()))
}

fn object(id: &str, part: &str) -> Result<ObjectPath, AppError> {
    let ok = !id.is_empty()
        && id.len() <= 64
        && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    if !ok {
        return Err(AppError::invalid("object IDs are 1-64 letters, digits and dashes"));
    }
    Ok(ObjectPath::from(format!("objects/{id}/{part}")))
}

fn store_error(e: object_store::Error) -> AppError {
    match e {
        object_store::Error::NotFound { .. } => AppError::NotFound("no such object".into()),
        other => AppError::internal(other.to_string()),
    }
}

async fn list(State(state): State<AppState>, caller: Caller) -> Result<Json<Value>, AppError> {
    let outcome = async {
        let archive = archive(&state)?;
        let mut objects = std::collections::BTreeMap::<String, Value>::new();
        let mut listing = archive.store.list(Some(&ObjectPath::from("objects")));
        while let Some(meta) = listing.next().await {
            let meta = meta.map_err(store_error)?;
            let parts: Vec<_> = meta.location.parts().collect();
            let [_, id, part] = parts.as_slice() else { continue };
            let entry = objects
                .entry(id.as_ref().to_string())
                .or_insert_with(|| json!({ "id": id.as_ref() }));
            match part.as_ref() {
                "data" => {
                    entry["size"] = json!(meta.size);
                    entry["uploaded"] = json!(meta.last_modified.to_rfc3339());
                }
                "meta" => entry["hasMeta"] = json!(true),
                "owner" => {
                    let owner = archive.store.get(&meta.location).await.map_err(store_error)?;
                    let owner = owner.bytes().await.map_err(store_error)?;
                    entry["owner"] = json!(String::from_utf8_lossy(&owner));
                }
                _ => {}
            }
        }
        let complete: Vec<Value> =
            objects.into_values().filter(|o| o.get("size").is_some()).collect();
        Ok(Json(json!({ "objects": complete })))
    }
    .await;
    state.audit(&caller, "ListObjects", None, None, outcome).await
}

/// Streams the request body into `objects/ID/data`, refusing more than the size limit.
async fn put_object(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Body,
) -> Result<Json<Value>, AppError> {
    let outcome = async {
        let archive = archive(&state)?;
        let path = object(&id, "data")?;
        if archive.store.head(&path).await.is_ok() {
            return Err(AppError::InvalidState(format!("object {id} exists")));
        }
        let upload = archive.store.put_multipart(&path).await.map_err(store_error)?;
        let mut writer = WriteMultipart::new(upload);
        let mut size = 0u64;
        let mut chunks = body.into_data_stream();
        while let Some(chunk) = chunks.next().await {
            let chunk = match chunk {
                Ok(c) => c,
                Err(e) => {
                    let _ = writer.abort().await;
                    return Err(AppError::invalid(format!("upload interrupted: {e}")));
                }
            };
            size += chunk.len() as u64;
            if size > archive.max_object {
                let _ = writer.abort().await;
                return Err(AppError::invalid(format!(
                    "objects are limited to {} bytes",
                    archive.max_object
                )));
            }
            writer.wait_for_capacity(PARTS_IN_FLIGHT).await.map_err(store_error)?;
            writer.put(chunk);
        }
        writer.finish().await.map_err(store_error)?;
        let owner = PutPayload::from(caller.principal.clone().into_bytes());
        archive.store.put(&object(&id, "owner")?, owner).await.map_err(store_error)?;
        Ok(Json(json!({ "id": id, "size": size })))
    }
    .await;
    state.audit(&caller, "PutObject", None, None, outcome).await
}

async fn put_meta(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Result<Json<Value>, AppError> {
    let outcome = async {
        let archive = archive(&state)?;
        if body.len() > MAX_META {
            return Err(AppError::invalid(format!(
                "metadata records are limited to {MAX_META} bytes"
            )));
        }
        // Only the uploader, once, after the upload completed: otherwise anyone could swap the
        // record (and so the name shown) of someone else's object.
        let owner = match archive.store.get(&object(&id, "owner")?).await {
            Ok(got) => got.bytes().await.map_err(store_error)?,
            Err(object_store::Error::NotFound { .. }) => {
                return Err(AppError::InvalidState(format!("object {id} is not uploaded")));
            }
            Err(e) => return Err(store_error(e)),
        };
        if owner.as_ref() != caller.principal.as_bytes() {
            return Err(AppError::AccessDenied(format!("only the uploader may describe {id}")));
        }
        let create =
            object_store::PutOptions { mode: object_store::PutMode::Create, ..Default::default() };
        match archive.store.put_opts(&object(&id, "meta")?, PutPayload::from(body), create).await {
            Ok(_) => Ok(Json(json!({ "id": id }))),
            Err(object_store::Error::AlreadyExists { .. }) => {
                Err(AppError::InvalidState(format!("object {id} already has a record")))
            }
            Err(e) => Err(store_error(e)),
        }
    }
    .await;
    state.audit(&caller, "PutObjectMeta", None, None, outcome).await
}

async fn stream(state: &AppState, id: &str, part: &str) -> Result<Response, AppError> {
    let archive = archive(state)?;
    let got = archive.store.get(&object(id, part)?).await.map_err(store_error)?;
    let size = got.meta.size;
    let body = Body::from_stream(got.into_stream());
    Ok((
        [
            (header::CONTENT_TYPE, "application/octet-stream".to_string()),
            (header::CONTENT_LENGTH, size.to_string()),
        ],
        body,
    )
        .into_response())
}

async fn get_object(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    let outcome = stream(&state, &id, "data").await;
    state.audit(&caller, "GetObject", None, None, outcome).await
}

async fn get_meta(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    let outcome = stream(&state, &id, "meta").await;
    state.audit(&caller, "GetObjectMeta", None, None, outcome).await
}

/// Deletes an object; only its uploader or the admin may.
async fn delete_object(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, AppError> {
    let outcome = async {
        let archive = archive(&state)?;
        let owner_path = object(&id, "owner")?;
        let owner = archive
            .store
            .get(&owner_path)
            .await
            .map_err(store_error)?
            .bytes()
            .await
            .map_err(store_error)?;
        if owner.as_ref() != caller.principal.as_bytes()
            && caller.principal != crate::ADMIN_PRINCIPAL
        {
            return Err(AppError::AccessDenied(format!(
                "only the uploader may delete object {id}"
            )));
        }
        for part in ["data", "meta", "owner"] {
            match archive.store.delete(&object(&id, part)?).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(store_error(e)),
            }
        }
        Ok(StatusCode::NO_CONTENT)
    }
    .await;
    state.audit(&caller, "DeleteObject", None, None, outcome).await
}

async fn start_upload(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, AppError> {
    let outcome = async {
        let archive = archive(&state)?;
        let path = object(&id, "data")?;
        let mut sessions = archive.sessions.lock().await;
        if sessions.contains_key(&id) || archive.store.head(&path).await.is_ok() {
            return Err(AppError::InvalidState(format!("object {id} exists or is being uploaded")));
        }
        let upload = archive.store.put_multipart(&path).await.map_err(store_error)?;
        let session = Session {
            owner: caller.principal.clone(),
            writer: Some(WriteMultipart::new(upload)),
            next_part: 0,
            size: 0,
        };
        sessions.insert(id.clone(), Arc::new(tokio::sync::Mutex::new(session)));
        Ok(Json(json!({ "id": id, "maxPart": MAX_PART })))
    }
    .await;
    state.audit(&caller, "StartUpload", None, None, outcome).await
}

/// The caller's session for `id`.
async fn session(
    archive: &Archive,
    caller: &Caller,
    id: &str,
) -> Result<Arc<tokio::sync::Mutex<Session>>, AppError> {
    let session = archive.sessions.lock().await.get(id).cloned();
    let session =
        session.ok_or_else(|| AppError::NotFound(format!("no upload of {id} in progress")))?;
    if session.lock().await.owner != caller.principal {
        return Err(AppError::AccessDenied("the upload belongs to another principal".into()));
    }
    Ok(session)
}

async fn put_part(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, part)): Path<(String, u64)>,
    body: axum::body::Bytes,
) -> Result<Json<Value>, AppError> {
    let outcome = async {
        let archive = archive(&state)?;
        let session = session(archive, &caller, &id).await?;
        let mut s = session.lock().await;
        if part != s.next_part {
            return Err(AppError::invalid(format!("expected part {}", s.next_part)));
        }
        s.size += body.len() as u64;
        if s.size > archive.max_object {
            archive.sessions.lock().await.remove(&id);
            if let Some(w) = s.writer.take() {
                let _ = w.abort().await;
            }
            return Err(AppError::invalid(format!(
                "objects are limited to {} bytes",
                archive.max_object
            )));
        }
        let writer = s.writer.as_mut().ok_or_else(|| AppError::internal("upload has no writer"))?;
        writer.wait_for_capacity(PARTS_IN_FLIGHT).await.map_err(store_error)?;
        writer.put(body);
        s.next_part += 1;
        Ok(Json(json!({ "id": id, "part": part, "size": s.size })))
    }
    .await;
    state.audit(&caller, "UploadPart", None, None, outcome).await
}

async fn complete_upload(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, AppError> {
    let outcome = async {
        let archive = archive(&state)?;
        let session = session(archive, &caller, &id).await?;
        archive.sessions.lock().await.remove(&id);
        let mut s = session.lock().await;
        let writer = s.writer.take().ok_or_else(|| AppError::internal("upload has no writer"))?;
        writer.finish().await.map_err(store_error)?;
        let owner = PutPayload::from(caller.principal.clone().into_bytes());
        archive.store.put(&object(&id, "owner")?, owner).await.map_err(store_error)?;
        Ok(Json(json!({ "id": id, "size": s.size })))
    }
    .await;
    state.audit(&caller, "CompleteUpload", None, None, outcome).await
}

async fn abort_upload(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, AppError> {
    let outcome = async {
        let archive = archive(&state)?;
        let session = session(archive, &caller, &id).await?;
        archive.sessions.lock().await.remove(&id);
        if let Some(w) = session.lock().await.writer.take() {
            w.abort().await.map_err(store_error)?;
        }
        Ok(StatusCode::NO_CONTENT)
    }
    .await;
    state.audit(&caller, "AbortUpload", None, None, outcome).await
}
