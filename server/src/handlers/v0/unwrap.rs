//! Unwrap bound to a verified header, and plain RSA Decrypt for compatibility.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::domain::{Caller, DomainError, EdkSelector};
use crate::handlers::json_body;
use crate::state::AppState;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct UnwrapRequest {
    header: String,
    /// Position of the EDK in the header...
    edk_index: Option<usize>,
    /// ...or its key name (provider information), for clients that do not track positions.
    key_name: Option<String>,
}

fn parse_unwrap(req: UnwrapRequest) -> Result<(Vec<u8>, EdkSelector), DomainError> {
    let header =
        STANDARD.decode(&req.header).map_err(|_| DomainError::invalid("header is not base64"))?;
    let selector = match (req.edk_index, req.key_name) {
        (Some(i), None) => EdkSelector::Index(i),
        (None, Some(name)) => EdkSelector::Name(name),
        _ => return Err(DomainError::invalid("give exactly one of edkIndex and keyName")),
    };
    Ok((header, selector))
}

pub(crate) async fn unwrap(
    State(state): State<AppState>,
    caller: Caller,
    body: Result<Json<UnwrapRequest>, JsonRejection>,
) -> Result<Json<Value>, DomainError> {
    let (header, selector) = match json_body(body).and_then(parse_unwrap) {
        Ok(parsed) => parsed,
        Err(e) => return state.keys.refuse(&caller, "Unwrap", e).await,
    };
    let unwrapped = state.keys.unwrap(&caller, &header, selector).await?;
    Ok(Json(json!({
        "keyId": unwrapped.key_id,
        "keyVersion": unwrapped.version,
        "dataKey": STANDARD.encode(unwrapped.data_key.dangerous_as_bytes()),
    })))
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

fn parse_decrypt(req: DecryptRequest) -> Result<(Vec<u8>, bool, Option<i64>), DomainError> {
    let sha1 = match req.encryption_algorithm.as_deref() {
        None | Some("RSAES_OAEP_SHA_256") => false,
        Some("RSAES_OAEP_SHA_1") => true,
        Some(other) => return Err(DomainError::invalid(format!("unsupported algorithm {other}"))),
    };
    let ciphertext = STANDARD
        .decode(&req.ciphertext_blob)
        .map_err(|_| DomainError::invalid("ciphertextBlob is not base64"))?;
    Ok((ciphertext, sha1, req.key_version))
}

pub(crate) async fn decrypt(
    State(state): State<AppState>,
    caller: Caller,
    Path(key_ref): Path<String>,
    body: Result<Json<DecryptRequest>, JsonRejection>,
) -> Result<Json<Value>, DomainError> {
    let (ciphertext, sha1, version) = match json_body(body).and_then(parse_decrypt) {
        Ok(parsed) => parsed,
        Err(e) => return state.keys.refuse(&caller, "Decrypt", e).await,
    };
    let (key_id, version, plaintext) =
        state.keys.decrypt(&caller, &key_ref, ciphertext, sha1, version).await?;
    Ok(Json(
        json!({ "keyId": key_id, "keyVersion": version, "plaintext": STANDARD.encode(&*plaintext) }),
    ))
}
