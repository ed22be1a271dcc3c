//! Unwrap bound to a verified header, and plain RSA Decrypt for compatibility.

use axum::Json;
use axum::extract::{Path, State};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use cipherdrop::{DataKey, EncryptionContext, Header, Limits};
use serde::Deserialize;
use serde_json::{Value, json};

use super::keys::authorize;
use crate::domain::keys::{self, KEY_NAMESPACE, KeyRow};
use crate::domain::secrets;
use crate::error::AppError;
use crate::handlers::json_body;
use crate::state::{AppState, Caller};
use axum::extract::rejection::JsonRejection;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct UnwrapRequest {
    header: String,
    /// Position of the EDK in the header...
    edk_index: Option<usize>,
    /// ...or its key name (provider information), for clients that do not track positions.
    key_name: Option<String>,
}

/// What an unwrap learned, for its audit record.
#[derive(Default)]
struct Seen {
    key_id: Option<String>,
    context: Option<EncryptionContext>,
}

pub(crate) async fn unwrap(
    State(state): State<AppState>,
    caller: Caller,
    body: Result<Json<UnwrapRequest>, JsonRejection>,
) -> Result<Json<Value>, AppError> {
    let mut seen = Seen::default();
    let outcome = match json_body(body) {
        Ok(req) => unwrap_inner(&state, &caller, req, &mut seen).await,
        Err(e) => Err(e),
    };
    state.audit(&caller, "Unwrap", seen.key_id.as_deref(), seen.context.as_ref(), outcome).await
}

/// Parse the header, RSA-decrypt the named EDK, verify commitment and header tag with the
/// recovered key, and only then evaluate the policy against the verified context.
async fn unwrap_inner(
    state: &AppState,
    caller: &Caller,
    req: UnwrapRequest,
    seen: &mut Seen,
) -> Result<Json<Value>, AppError> {
    let bytes =
        STANDARD.decode(&req.header).map_err(|_| AppError::invalid("header is not base64"))?;
    let (header, len) = Header::parse(&bytes, &Limits::default())
        .map_err(|e| AppError::invalid(format!("header: {e}")))?;
    if len != bytes.len() {
        return Err(AppError::invalid("bytes follow the header"));
    }
    let edks = header.encrypted_data_keys();
    let edk = match (req.edk_index, &req.key_name) {
        (Some(i), None) => edks.get(i),
        (None, Some(name)) => edks
            .iter()
            .find(|e| e.provider_id == KEY_NAMESPACE && e.provider_info == name.as_bytes()),
        _ => return Err(AppError::invalid("give exactly one of edkIndex and keyName")),
    }
    .ok_or_else(|| AppError::invalid("no such encrypted data key in the header"))?;
    let name = std::str::from_utf8(&edk.provider_info).ok().and_then(keys::parse_key_name);
    let (key_id, version) = match (edk.provider_id.as_str(), name) {
        (KEY_NAMESPACE, Some(name)) => name,
        _ => return Err(AppError::invalid("the EDK is not one of this server's keys")),
    };
    let mut conn = state.pool.acquire().await?;
    let key = keys::resolve(&mut conn, key_id).await?;
    seen.key_id = Some(key.key_id.clone());
    // Permission before state, as in AWS KMS: a caller with no right to the key learns nothing
    // of its state, and cannot raise pending-deletion alarms.
    let policy = key.policy()?;
    if !policy.may_allow(&caller.principal, "Unwrap") {
        return Err(denied(caller, &key));
    }
    key.require_enabled()?;
    let (_, sealed) = keys::version(&mut conn, &key.key_id, version).await?;
    drop(conn);
    let pkcs8 = state.root.open(&keys::key_name(&key.key_id, version), &sealed)?;
    let ciphertext = edk.ciphertext.clone();
    let plaintext =
        tokio::task::spawn_blocking(move || secrets::decrypt(&pkcs8, false, &ciphertext))
            .await
            .map_err(|e| AppError::internal(e.to_string()))??;
    let data_key = DataKey::from_slice(&plaintext);
    header.verify(&data_key).map_err(|_| AppError::InvalidCiphertext)?;
    seen.context = Some(header.encryption_context().clone());
    if !policy.allows(&caller.principal, "Unwrap", Some(header.encryption_context())) {
        return Err(denied(caller, &key));
    }
    Ok(Json(json!({
        "keyId": key.key_id,
        "keyVersion": version,
        "dataKey": STANDARD.encode(data_key.dangerous_as_bytes()),
    })))
}

fn denied(caller: &Caller, key: &KeyRow) -> AppError {
    AppError::AccessDenied(format!("{} may not Unwrap with key {}", caller.principal, key.key_id))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct DecryptRequest {
    ciphertext_blob: String,
    #[serde(default)]
    encryption_algorithm: Option<String>,
    #[serde(default)]
    key_version: Option<i64>,
}

pub(crate) async fn decrypt(
    State(state): State<AppState>,
    caller: Caller,
    Path(key_ref): Path<String>,
    body: Result<Json<DecryptRequest>, JsonRejection>,
) -> Result<Json<Value>, AppError> {
    let mut key_id = None;
    let outcome = match json_body(body) {
        Ok(req) => decrypt_inner(&state, &caller, &key_ref, req, &mut key_id).await,
        Err(e) => Err(e),
    };
    state.audit(&caller, "Decrypt", key_id.as_deref(), None, outcome).await
}

async fn decrypt_inner(
    state: &AppState,
    caller: &Caller,
    key_ref: &str,
    req: DecryptRequest,
    key_id: &mut Option<String>,
) -> Result<Json<Value>, AppError> {
    let sha1 = match req.encryption_algorithm.as_deref() {
        None | Some("RSAES_OAEP_SHA_256") => false,
        Some("RSAES_OAEP_SHA_1") => true,
        Some(other) => return Err(AppError::invalid(format!("unsupported algorithm {other}"))),
    };
    let ciphertext = STANDARD
        .decode(&req.ciphertext_blob)
        .map_err(|_| AppError::invalid("ciphertextBlob is not base64"))?;
    let mut conn = state.pool.acquire().await?;
    let key = keys::resolve(&mut conn, key_ref).await?;
    *key_id = Some(key.key_id.clone());
    authorize(caller, &key, "Decrypt")?;
    key.require_enabled()?;
    let version = req.key_version.unwrap_or(key.current_version);
    let (_, sealed) = keys::version(&mut conn, &key.key_id, version).await?;
    drop(conn);
    let pkcs8 = state.root.open(&keys::key_name(&key.key_id, version), &sealed)?;
    let plaintext =
        tokio::task::spawn_blocking(move || secrets::decrypt(&pkcs8, sha1, &ciphertext))
            .await
            .map_err(|e| AppError::internal(e.to_string()))??;
    Ok(Json(
        json!({ "keyId": key.key_id, "keyVersion": version, "plaintext": STANDARD.encode(&*plaintext) }),
    ))
}
