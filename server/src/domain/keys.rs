//! Key names, IDs, states (AWS KMS names) and the documents DescribeKey and GetPublicKey
//! return.

use std::collections::BTreeMap;

use super::error::DomainError;
use super::policy::Policy;
use super::secrets::ENCRYPTION_ALGORITHMS;
use crate::store::KeyRow;
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde::Serialize;

/// EDK provider ID (raw RSA keyring key namespace) of every server key.
pub const KEY_NAMESPACE: &str = "cipherdrop";

/// Allowed deletion windows, in days (AWS KMS: 7 to 30, default 30).
pub(crate) const DELETION_WINDOW_DAYS: std::ops::RangeInclusive<i64> = 7..=30;

/// Key states (AWS KMS names).
pub(crate) const ENABLED: &str = "Enabled";
pub(crate) const DISABLED: &str = "Disabled";
pub(crate) const PENDING_DELETION: &str = "PendingDeletion";

/// What DescribeKey returns.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct KeyMetadata {
    key_id: String,
    description: String,
    key_spec: String,
    key_usage: String,
    key_state: String,
    creation_date: String,
    deletion_date: Option<String>,
    current_version: i64,
    tags: BTreeMap<String, String>,
    encryption_algorithms: [&'static str; 2],
}

impl KeyMetadata {
    /// The key's ID.
    pub(crate) fn key_id(&self) -> &str {
        &self.key_id
    }
}

impl KeyRow {
    pub(crate) fn metadata(&self) -> KeyMetadata {
        KeyMetadata {
            key_id: self.key_id.clone(),
            description: self.description.clone(),
            key_spec: self.key_spec.clone(),
            key_usage: self.key_usage.clone(),
            key_state: self.state.clone(),
            creation_date: rfc3339(self.created_at),
            deletion_date: self.deletion_date.map(rfc3339),
            current_version: self.current_version,
            tags: serde_json::from_str(&self.tags).unwrap_or_default(),
            encryption_algorithms: ENCRYPTION_ALGORITHMS,
        }
    }

    pub(crate) fn policy(&self) -> Result<Policy, DomainError> {
        let value = serde_json::from_str(&self.policy)
            .map_err(|e| DomainError::internal(format!("stored policy: {e}")))?;
        Policy::from_json(value)
    }

    /// Refuses use of the key unless it is Enabled.
    pub(crate) fn require_enabled(&self) -> Result<(), DomainError> {
        match self.state.as_str() {
            ENABLED => Ok(()),
            PENDING_DELETION => Err(DomainError::KeyPendingDeletion(format!(
                "key {} is pending deletion",
                self.key_id
            ))),
            _ => Err(DomainError::KeyDisabled(format!("key {} is disabled", self.key_id))),
        }
    }
}

/// The raw RSA keyring key name of a key version: `KEYID/vN`.
pub fn key_name(key_id: &str, version: i64) -> String {
    format!("{key_id}/v{version}")
}

/// Parses a key name back into key ID and version. Only a key ID is accepted, never an
/// alias: an EDK names the key that wrapped it, not whatever an alias points to today.
pub fn parse_key_name(name: &str) -> Option<(&str, i64)> {
    let (id, v) = name.rsplit_once("/v")?;
    let is_key_id = id.len() == 36 && id.chars().all(|c| c.is_ascii_hexdigit() || c == '-');
    Some((id, v.parse().ok().filter(|v| *v > 0 && is_key_id)?))
}

/// Milliseconds since the Unix epoch.
pub(crate) fn now_ms() -> i64 {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
    now.map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

pub(crate) fn rfc3339(ms: i64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    t.format(&time::format_description::well_known::Rfc3339).unwrap_or_default()
}

/// Milliseconds since the epoch of an RFC 3339 time, as [`rfc3339`] writes them.
pub(crate) fn parse_rfc3339_ms(text: &str) -> Option<i64> {
    let t =
        time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).ok()?;
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok()
}

/// A new key ID in the UUID form AWS KMS uses.
pub(crate) fn new_key_id() -> Result<String, DomainError> {
    let mut b: [u8; 16] = super::secrets::random()?;
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    Ok(format!("{}-{}-{}-{}-{}", &hex[..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..]))
}

/// Whether a key still exists: keys whose deletion date has passed are gone, even before
/// the sweeper removes their rows.
pub(crate) fn live(key: &KeyRow, now: i64) -> bool {
    key.deletion_date.is_none_or(|d| d > now)
}

/// The public key document of GetPublicKey: SPKI DER (base64), PEM and JWK.
pub(crate) fn public_key_document(
    key: &KeyRow,
    version: i64,
    spki: &[u8],
) -> Result<serde_json::Value, DomainError> {
    let b64 = STANDARD.encode(spki);
    let pem = super::secrets::pem("PUBLIC KEY", spki);
    let (n, e) = rsa_components(spki)
        .ok_or_else(|| DomainError::internal("stored public key unreadable"))?;
    Ok(serde_json::json!({
        "keyId": key.key_id,
        "keyVersion": version,
        "keySpec": key.key_spec,
        "keyUsage": key.key_usage,
        "keyNamespace": KEY_NAMESPACE,
        "keyName": key_name(&key.key_id, version),
        "publicKey": b64,
        "pem": pem,
        "jwk": {"kty": "RSA", "n": URL_SAFE_NO_PAD.encode(n), "e": URL_SAFE_NO_PAD.encode(e),
                "alg": "RSA-OAEP-256", "use": "enc", "kid": key_name(&key.key_id, version)},
        "encryptionAlgorithms": ENCRYPTION_ALGORITHMS,
    }))
}

/// Modulus and exponent of an RSA SPKI, for the JWK. Written by hand: two DER INTEGERs inside
/// a BIT STRING do not justify a DER crate here.
fn rsa_components(spki: &[u8]) -> Option<(&[u8], &[u8])> {
    fn tlv(b: &[u8]) -> Option<(u8, &[u8], &[u8])> {
        let (&tag, rest) = b.split_first()?;
        let (&len0, rest) = rest.split_first()?;
        let (len, rest) = match len0 {
            0..=0x7f => (usize::from(len0), rest),
            0x81 => (usize::from(*rest.first()?), &rest[1..]),
            0x82 => {
                (usize::from(u16::from_be_bytes([*rest.first()?, *rest.get(1)?])), rest.get(2..)?)
            }
            _ => return None,
        };
        Some((tag, rest.get(..len)?, rest.get(len..)?))
    }
    let (_, spki, _) = tlv(spki)?; // SubjectPublicKeyInfo SEQUENCE
    let (_, _, rest) = tlv(spki)?; // AlgorithmIdentifier
    let (_, bits, _) = tlv(rest)?; // BIT STRING
    let (_, rsa, _) = tlv(bits.get(1..)?)?; // RSAPublicKey SEQUENCE (after unused-bits byte)
    let (_, n, rest) = tlv(rsa)?;
    let (_, e, _) = tlv(rest)?;
    Some((n.strip_prefix(&[0]).unwrap_or(n), e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_names_name_key_ids_only() {
        let id = "60b846fd-9e49-4b51-8a33-8c8673f8f17a";
        assert_eq!(parse_key_name(&key_name(id, 3)), Some((id, 3)));
        for bad in ["alias/archive/v1", "60b846fd/v1", &format!("{id}/v0"), &format!("{id}/vx"), id]
        {
            assert_eq!(parse_key_name(bad), None, "{bad}");
        }
    }
}
