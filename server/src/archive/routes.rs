//! Archive routes under `/v0/archive`, each audited through the key server's audit log.

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use futures_util::StreamExt;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStoreExt, PutPayload, WriteMultipart};
use serde_json::{Value, json};

use super::{Archive, MAX_PART};
use crate::domain::audit::{self, Record};
use crate::domain::keys::{now_ms, rfc3339};
use crate::domain::{ADMIN_PRINCIPAL, Caller, DomainError};
use crate::handlers::Path;
use crate::store::{ObjectRow, StoreError};

type Result<T> = std::result::Result<T, DomainError>;

/// Largest encrypted metadata record.
const MAX_META: usize = 64 * 1024;
/// Upload parts in flight at once: bounds the memory of a streamed upload.
const PARTS_IN_FLIGHT: usize = 2;
/// Object row states.
const UPLOADING: &str = "uploading";
const COMPLETE: &str = "complete";

/// Routes under `/v0/archive`, with the archive's own state.
pub(crate) fn routes<S: Clone + Send + Sync + 'static>(archive: Archive) -> Router<S> {
    Router::new()
        .route("/objects", get(list))
        .route("/objects/{id}", put(put_object).get(get_object).delete(delete_object))
        .route("/objects/{id}/meta", put(put_meta).get(get_meta))
        .route("/objects/{id}/upload", post(start_upload).delete(abort_upload))
        .route("/objects/{id}/upload/complete", post(complete_upload))
        .route(
            "/objects/{id}/upload/{part}",
            put(put_part).layer(axum::extract::DefaultBodyLimit::max(MAX_PART)),
        )
        .with_state(archive)
}

fn checked_id(id: &str) -> Result<()> {
    let ok = !id.is_empty()
        && id.len() <= 64
        && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    if ok {
        Ok(())
    } else {
        Err(DomainError::invalid("object IDs are 1-64 letters, digits and dashes"))
    }
}

/// A buffered request body, or why there is none (over the size limit, interrupted) as a
/// refusal that is audited and answered in JSON, which axum's own rejection is not.
fn buffered(body: std::result::Result<Bytes, BytesRejection>) -> Result<Bytes> {
    body.map_err(DomainError::from)
}

fn object(id: &str, part: &str) -> ObjectPath {
    ObjectPath::from(format!("objects/{id}/{part}"))
}

fn staged(id: &str, part: i64) -> ObjectPath {
    ObjectPath::from(format!("uploads/{id}/{part:08}"))
}

fn store_error(e: object_store::Error) -> DomainError {
    match e {
        object_store::Error::NotFound { .. } => DomainError::NotFound("no such object".into()),
        other => DomainError::Unavailable(format!("archive storage: {other}")),
    }
}

fn too_large(max: u64) -> DomainError {
    DomainError::TooLarge(format!("objects are limited to {max} bytes"))
}

fn taken(e: StoreError, id: &str) -> DomainError {
    match e {
        StoreError::Conflict(_) => {
            DomainError::InvalidState(format!("object {id} exists or is being uploaded"))
        }
        other => other.into(),
    }
}

/// A complete object's row.
async fn complete(archive: &Archive, id: &str) -> Result<ObjectRow> {
    checked_id(id)?;
    match archive.db.object(id).await? {
        Some(row) if row.state == COMPLETE => Ok(row),
        _ => Err(DomainError::NotFound("no such object".into())),
    }
}

/// The caller's open upload of `id`.
async fn session(archive: &Archive, caller: &Caller, id: &str) -> Result<ObjectRow> {
    checked_id(id)?;
    let row = archive.db.object(id).await?;
    let row = row
        .filter(|r| r.state == UPLOADING && r.expires_at > now_ms())
        .ok_or_else(|| no_upload(id))?;
    if row.owner != caller.principal {
        return Err(DomainError::AccessDenied("the upload belongs to another principal".into()));
    }
    Ok(row)
}

/// Whether `row` is the claim `claimed` was read from (same owner, same start): an ID whose
/// upload expired may since have been claimed by another principal.
fn same_claim(row: &ObjectRow, claimed: &ObjectRow) -> bool {
    row.owner == claimed.owner && row.created_at == claimed.created_at
}

/// `claimed` as it is now, if it is still an open upload: not completed, not past its TTL,
/// not replaced. An upload that outlived its TTL must not complete, count a part or remove
/// anything, since the ID may belong to someone else by now.
fn still_open(row: &ObjectRow, claimed: &ObjectRow) -> Result<()> {
    if row.state == UPLOADING && same_claim(row, claimed) && row.expires_at > now_ms() {
        Ok(())
    } else {
        Err(no_upload(&claimed.object_id))
    }
}

fn no_upload(id: &str) -> DomainError {
    DomainError::NotFound(format!("no upload of {id} in progress"))
}

/// Checks that `claimed` is still open just before its data is written to `objects/ID/data`,
/// so that an expired upload does not replace the object of whoever claimed the ID next.
async fn ensure_open(archive: &Archive, claimed: &ObjectRow) -> Result<()> {
    match archive.db.object(&claimed.object_id).await? {
        Some(row) => still_open(&row, claimed),
        None => Err(no_upload(&claimed.object_id)),
    }
}

/// Claims `id` for the caller, within the caller's quota of open uploads.
async fn claim(archive: &Archive, caller: &Caller, id: &str) -> Result<ObjectRow> {
    checked_id(id)?;
    let now = now_ms();
    let row = ObjectRow {
        object_id: id.into(),
        owner: caller.principal.clone(),
        state: UPLOADING.into(),
        size: 0,
        next_part: 0,
        created_at: now,
        expires_at: now + archive.limits.upload_ttl_ms,
        has_meta: false,
    };
    let mut tx = archive.db.write().await?;
    if tx.open_uploads(&caller.principal, now).await? >= archive.limits.max_open_uploads {
        return Err(DomainError::LimitExceeded(format!(
            "{} has {} unfinished uploads; complete or abort one first",
            caller.principal, archive.limits.max_open_uploads
        )));
    }
    // An upload whose TTL ended is gone already, whether or not the sweeper has run.
    let abandoned = tx.object(id).await?.filter(|r| r.state == UPLOADING && r.expires_at <= now);
    if abandoned.is_some() {
        tx.delete_object(id).await?;
    }
    tx.claim_object(&row).await.map_err(|e| taken(e, id))?;
    tx.commit().await?;
    if let Some(old) = abandoned {
        remove_storage(archive, id, old.next_part).await?;
    }
    Ok(row)
}

/// Applies `change` to the row of `id` if it is still as `expect` says, in one transaction.
async fn update(
    archive: &Archive,
    id: &str,
    expect: impl FnOnce(&ObjectRow) -> Result<()> + Send,
    change: impl FnOnce(&mut ObjectRow) + Send,
) -> Result<ObjectRow> {
    let mut tx = archive.db.write().await?;
    let mut row =
        tx.object(id).await?.ok_or_else(|| DomainError::NotFound(format!("no object {id}")))?;
    expect(&row)?;
    change(&mut row);
    tx.update_object(&row).await?;
    tx.commit().await?;
    Ok(row)
}

/// Drops the row of `claimed` and whatever storage that unfinished or deleted object left;
/// nothing if the ID has been claimed anew since (an expired upload's ID is anyone's).
async fn forget(archive: &Archive, claimed: &ObjectRow, staged_parts: i64) -> Result<()> {
    let id = &claimed.object_id;
    let mut tx = archive.db.write().await?;
    let Some(current) = tx.object(id).await?.filter(|r| same_claim(r, claimed)) else {
        return Ok(());
    };
    tx.delete_object(id).await?;
    tx.commit().await?;
    // The parts counted as of the delete: a part may have been counted since `claimed` was
    // read (and one still being stored removes itself when it finds the row gone).
    remove_storage(archive, id, staged_parts.max(current.next_part)).await
}

async fn remove_storage(archive: &Archive, id: &str, staged_parts: i64) -> Result<()> {
    // Every staged part there is, not only those counted: a part whose request was cut off
    // (the client went away) may have been stored without being counted.
    let mut stragglers = Vec::new();
    let mut listing = archive.objects.list(Some(&ObjectPath::from(format!("uploads/{id}"))));
    while let Some(meta) = listing.next().await {
        stragglers.push(meta.map_err(store_error)?.location);
    }
    drop(listing);
    let paths = (0..staged_parts)
        .map(|n| staged(id, n))
        .chain(stragglers)
        .chain([object(id, "data"), object(id, "meta")]);
    for path in paths {
        match archive.objects.delete(&path).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
            Err(e) => return Err(store_error(e)),
        }
    }
    Ok(())
}

async fn list(State(archive): State<Archive>, caller: Caller) -> Result<Json<Value>> {
    let outcome = async {
        let objects: Vec<Value> = archive
            .db
            .complete_objects()
            .await?
            .into_iter()
            .map(|o| {
                json!({ "id": o.object_id, "size": o.size, "uploaded": rfc3339(o.created_at),
                        "owner": o.owner, "hasMeta": o.has_meta })
            })
            .collect();
        Ok(Json(json!({ "objects": objects })))
    }
    .await;
    archive.audit.outcome(&caller, "ListObjects", None, None, outcome).await
}

/// Streams the request body into `objects/ID/data`, refusing more than the size limit.
async fn put_object(
    State(archive): State<Archive>,
    caller: Caller,
    Path(id): Path<String>,
    body: Body,
) -> Result<Json<Value>> {
    let outcome = async {
        let claimed = claim(&archive, &caller, &id).await?;
        let streamed = stream_into(&archive, &claimed, body).await;
        let size = match streamed {
            Ok(size) => size,
            Err(e) => {
                let _ = forget(&archive, &claimed, 0).await;
                return Err(e);
            }
        };
        let done = update(
            &archive,
            &id,
            |r| still_open(r, &claimed),
            |r| {
                r.state = COMPLETE.into();
                r.size = size;
            },
        );
        done.await?;
        Ok(Json(json!({ "id": id, "size": size })))
    }
    .await;
    archive.audit.outcome(&caller, "PutObject", None, None, outcome).await
}

async fn stream_into(archive: &Archive, claimed: &ObjectRow, body: Body) -> Result<i64> {
    let id = &claimed.object_id;
    let upload = archive.objects.put_multipart(&object(id, "data")).await.map_err(store_error)?;
    let mut writer = WriteMultipart::new(upload);
    let mut size = 0u64;
    let mut chunks = body.into_data_stream();
    while let Some(chunk) = chunks.next().await {
        let chunk = match chunk {
            Ok(c) => c,
            Err(e) => {
                let _ = writer.abort().await;
                return Err(DomainError::invalid(format!("upload interrupted: {e}")));
            }
        };
        size += chunk.len() as u64;
        if size > archive.limits.max_object {
            let _ = writer.abort().await;
            return Err(too_large(archive.limits.max_object));
        }
        writer.wait_for_capacity(PARTS_IN_FLIGHT).await.map_err(store_error)?;
        writer.put(chunk);
    }
    if let Err(e) = ensure_open(archive, claimed).await {
        let _ = writer.abort().await;
        return Err(e);
    }
    writer.finish().await.map_err(store_error)?;
    i64::try_from(size).map_err(|_| too_large(archive.limits.max_object))
}

async fn put_meta(
    State(archive): State<Archive>,
    caller: Caller,
    Path(id): Path<String>,
    body: std::result::Result<Bytes, BytesRejection>,
) -> Result<Json<Value>> {
    let outcome = async {
        checked_id(&id)?;
        let body = buffered(body)?;
        if body.len() > MAX_META {
            return Err(DomainError::TooLarge(format!(
                "metadata records are limited to {MAX_META} bytes"
            )));
        }
        // Only the uploader, once, after the upload completed: otherwise anyone could swap the
        // record (and so the name shown) of someone else's object. The row is claimed first,
        // so two writers cannot both pass.
        let principal = caller.principal.clone();
        let claimed = update(
            &archive,
            &id,
            |r| {
                if r.state != COMPLETE {
                    Err(DomainError::InvalidState(format!(
                        "object {} is not uploaded",
                        r.object_id
                    )))
                } else if r.owner != principal {
                    Err(DomainError::AccessDenied(format!(
                        "only the uploader may describe {}",
                        r.object_id
                    )))
                } else if r.has_meta {
                    Err(DomainError::InvalidState(format!(
                        "object {} already has a record",
                        r.object_id
                    )))
                } else {
                    Ok(())
                }
            },
            |r| r.has_meta = true,
        );
        let not_uploaded = || DomainError::InvalidState(format!("object {id} is not uploaded"));
        match claimed.await {
            Err(DomainError::NotFound(_)) => return Err(not_uploaded()),
            other => other?,
        };
        if let Err(e) = archive.objects.put(&object(&id, "meta"), PutPayload::from(body)).await {
            let _ = update(&archive, &id, |_| Ok(()), |r| r.has_meta = false).await;
            return Err(store_error(e));
        }
        Ok(Json(json!({ "id": id })))
    }
    .await;
    archive.audit.outcome(&caller, "PutObjectMeta", None, None, outcome).await
}

async fn stream(archive: &Archive, id: &str, part: &str) -> Result<Response> {
    let row = complete(archive, id).await?;
    if part == "meta" && !row.has_meta {
        return Err(DomainError::NotFound("no such object".into()));
    }
    let got = archive.objects.get(&object(id, part)).await.map_err(store_error)?;
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
    State(archive): State<Archive>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response> {
    let outcome = stream(&archive, &id, "data").await;
    archive.audit.outcome(&caller, "GetObject", None, None, outcome).await
}

async fn get_meta(
    State(archive): State<Archive>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response> {
    let outcome = stream(&archive, &id, "meta").await;
    archive.audit.outcome(&caller, "GetObjectMeta", None, None, outcome).await
}

/// Deletes an object; only its uploader or the admin may.
async fn delete_object(
    State(archive): State<Archive>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode> {
    let outcome = async {
        let row = complete(&archive, &id).await?;
        if row.owner != caller.principal && caller.principal != ADMIN_PRINCIPAL {
            return Err(DomainError::AccessDenied(format!(
                "only the uploader may delete object {id}"
            )));
        }
        forget(&archive, &row, 0).await?;
        Ok(StatusCode::NO_CONTENT)
    }
    .await;
    archive.audit.outcome(&caller, "DeleteObject", None, None, outcome).await
}

async fn start_upload(
    State(archive): State<Archive>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>> {
    let outcome = async {
        claim(&archive, &caller, &id).await?;
        Ok(Json(json!({ "id": id, "maxPart": MAX_PART })))
    }
    .await;
    archive.audit.outcome(&caller, "StartUpload", None, None, outcome).await
}

async fn put_part(
    State(archive): State<Archive>,
    caller: Caller,
    Path((id, part)): Path<(String, String)>,
    body: std::result::Result<Bytes, BytesRejection>,
) -> Result<Json<Value>> {
    let outcome = async {
        // Parsed here, not by the extractor, whose rejection would be plain text, unaudited.
        let part: i64 = part
            .parse()
            .map_err(|_| DomainError::invalid(format!("part {part:?} is not a part number")))?;
        let body = buffered(body)?;
        let row = session(&archive, &caller, &id).await?;
        if part != row.next_part {
            return Err(DomainError::invalid(format!("expected part {}", row.next_part)));
        }
        let len = i64::try_from(body.len()).unwrap_or(i64::MAX);
        if u64::try_from(row.size.saturating_add(len)).unwrap_or(u64::MAX)
            > archive.limits.max_object
        {
            forget(&archive, &row, row.next_part).await?;
            return Err(too_large(archive.limits.max_object));
        }
        // The rest runs to its end even if the client goes away meanwhile (axum drops the
        // request's future): a part stored but neither counted nor removed would be left over.
        let (archive, id) = (archive.clone(), id.clone());
        let stored =
            tokio::spawn(async move { store_part(&archive, row, &id, part, body, len).await });
        stored.await.map_err(|e| DomainError::internal(e.to_string()))?
    }
    .await;
    archive.audit.outcome(&caller, "UploadPart", None, None, outcome).await
}

/// Stores part `part` of the upload `claimed` and counts it, or removes it again.
async fn store_part(
    archive: &Archive,
    claimed: ObjectRow,
    id: &str,
    part: i64,
    body: Bytes,
    len: i64,
) -> Result<Json<Value>> {
    {
        archive
            .objects
            .put(&staged(id, part), PutPayload::from(body))
            .await
            .map_err(store_error)?;
        // Counted only if no other request took this part meanwhile.
        let row = update(
            archive,
            id,
            |r| {
                still_open(r, &claimed)?;
                match r.next_part == part {
                    true => Ok(()),
                    false => Err(DomainError::invalid(format!("expected part {}", r.next_part))),
                }
            },
            |r| {
                r.next_part += 1;
                r.size += len;
            },
        )
        .await;
        let row = match row {
            Ok(row) => row,
            Err(e) => {
                // Aborted, expired or completed while this part was being stored: the abort
                // removed the parts it knew, not this one. Remove it unless the ID is in use
                // again (then part numbers may be someone else's).
                if archive.db.object(id).await.is_ok_and(|r| r.is_none()) {
                    let _ = archive.objects.delete(&staged(id, part)).await;
                }
                return Err(e);
            }
        };
        Ok(Json(json!({ "id": id, "part": part, "size": row.size })))
    }
}

/// Joins the staged parts into `objects/ID/data`, then marks the object complete.
async fn complete_upload(
    State(archive): State<Archive>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>> {
    let outcome = async {
        let row = session(&archive, &caller, &id).await?;
        let upload =
            archive.objects.put_multipart(&object(&id, "data")).await.map_err(store_error)?;
        let mut writer = WriteMultipart::new(upload);
        let mut size = 0i64;
        for n in 0..row.next_part {
            let got = match archive.objects.get(&staged(&id, n)).await {
                Ok(got) => got,
                Err(e) => {
                    let _ = writer.abort().await;
                    return Err(store_error(e));
                }
            };
            let mut chunks = got.into_stream();
            while let Some(chunk) = chunks.next().await {
                let chunk = match chunk {
                    Ok(c) => c,
                    Err(e) => {
                        let _ = writer.abort().await;
                        return Err(store_error(e));
                    }
                };
                size += i64::try_from(chunk.len()).unwrap_or(i64::MAX);
                writer.wait_for_capacity(PARTS_IN_FLIGHT).await.map_err(store_error)?;
                writer.put(chunk);
            }
        }
        if size != row.size {
            let _ = writer.abort().await;
            return Err(DomainError::InvalidState(format!(
                "the parts of {id} changed; upload again"
            )));
        }
        if let Err(e) = ensure_open(&archive, &row).await {
            let _ = writer.abort().await;
            return Err(e);
        }
        writer.finish().await.map_err(store_error)?;
        let parts = row.next_part;
        let done = update(
            &archive,
            &id,
            |r| {
                still_open(r, &row)?;
                match r.next_part == parts {
                    true => Ok(()),
                    false => Err(DomainError::InvalidState(format!("the upload of {id} changed"))),
                }
            },
            |r| r.state = COMPLETE.into(),
        );
        done.await?;
        for n in 0..parts {
            let _ = archive.objects.delete(&staged(&id, n)).await;
        }
        Ok(Json(json!({ "id": id, "size": size })))
    }
    .await;
    archive.audit.outcome(&caller, "CompleteUpload", None, None, outcome).await
}

async fn abort_upload(
    State(archive): State<Archive>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode> {
    let outcome = async {
        let row = session(&archive, &caller, &id).await?;
        forget(&archive, &row, row.next_part).await?;
        Ok(StatusCode::NO_CONTENT)
    }
    .await;
    archive.audit.outcome(&caller, "AbortUpload", None, None, outcome).await
}

/// Abandons uploads whose TTL ended: rows and their records in one transaction, then their
/// storage.
pub(super) async fn sweep(archive: &Archive) -> Result<()> {
    let mut tx = archive.db.write().await?;
    let expired = tx.expired_uploads(now_ms()).await?;
    if expired.is_empty() {
        return Ok(());
    }
    let mut rows = Vec::new();
    for id in &expired {
        if let Some(row) = tx.object(id).await? {
            rows.push(row);
        }
        tx.delete_object(id).await?;
    }
    let system = Caller::system("-");
    let records = rows.iter().map(|r| {
        Record::allowed(&system, "AbandonUpload", None)
            .noted(&format!("object={} owner={}", r.object_id, r.owner))
    });
    audit::append_in(tx.as_mut(), records).await?;
    tx.commit().await?;
    for row in rows {
        remove_storage(archive, &row.object_id, row.next_part).await?;
    }
    Ok(())
}
