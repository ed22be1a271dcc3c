//! Key names, IDs, states (AWS KMS names) and the documents DescribeKey and GetPublicKey
//! return.

use std::collections::BTreeMap;

use super::error::DomainError;
use super::policy::Policy;
use crate::store::KeyRow;
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde::Serialize;

/// EDK provider ID (raw RSA keyring key namespace) of every server key.
pub const KEY_NAMESPACE: &str = "cipherdrop";

/// Allowed deletion windows, in days (AWS KMS: 7 to 30, default 30).
pub(crate) const DELETION_WINDOW_DAYS: std::ops::RangeInclusive<i64> = 7..=30;

/// The key spec of AES-256-GCM keys (AWS KMS's default).
pub(crate) const SYMMETRIC_DEFAULT: &str = "SYMMETRIC_DEFAULT";

/// Whether `region` has the form of an AWS region name (`us-east-1`, `eu-central-2`).
pub(crate) fn valid_region(region: &str) -> bool {
    (4..=32).contains(&region.len())
        && region.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !region.starts_with('-')
        && !region.ends_with('-')
}

/// `arn:aws:kms:REGION:ACCOUNT:key/ID`.
pub(crate) fn key_arn(region: &str, account: &str, key_id: &str) -> String {
    format!("arn:aws:kms:{region}:{account}:key/{key_id}")
}

/// `arn:aws:kms:REGION:ACCOUNT:alias/NAME` of `alias/NAME`.
pub(crate) fn alias_arn(region: &str, account: &str, alias: &str) -> String {
    format!("arn:aws:kms:{region}:{account}:{alias}")
}

/// A key reference as the store reads it: a key ID or `alias/NAME` as is; a key or alias ARN
/// of `account` in `region` reduced to one of those. An ARN of another region or account
/// names no key here (AWS: NotFoundException).
pub(crate) fn local_ref(region: &str, account: &str, key_ref: &str) -> Result<String, DomainError> {
    let Some(rest) = key_ref.strip_prefix("arn:") else { return Ok(key_ref.to_string()) };
    let parts: Vec<&str> = rest.splitn(5, ':').collect();
    match parts.as_slice() {
        ["aws", "kms", r, a, resource]
            if resource.starts_with("key/") || resource.starts_with("alias/") =>
        {
            if *r != region || *a != account {
                return Err(DomainError::NotFound(format!(
                    "{key_ref} is not a key of account {account} in {region}"
                )));
            }
            Ok(resource.strip_prefix("key/").unwrap_or(resource).to_string())
        }
        _ => Err(DomainError::NotFound(format!("invalid key ARN {key_ref:?}"))),
    }
}

/// Key states (AWS KMS names).
pub(crate) const ENABLED: &str = "Enabled";
pub(crate) const DISABLED: &str = "Disabled";
pub(crate) const PENDING_DELETION: &str = "PendingDeletion";
/// A key for imported material that has none (not yet, deleted, or expired).
pub(crate) const PENDING_IMPORT: &str = "PendingImport";

/// The origin of keys whose material is imported.
pub(crate) const EXTERNAL: &str = "EXTERNAL";

/// What DescribeKey returns.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct KeyMetadata {
    pub(crate) key_id: String,
    pub(crate) arn: String,
    pub(crate) description: String,
    pub(crate) key_spec: String,
    pub(crate) key_usage: String,
    pub(crate) key_state: String,
    pub(crate) origin: String,
    pub(crate) creation_date: String,
    pub(crate) deletion_date: Option<String>,
    pub(crate) current_version: i64,
    pub(crate) tags: BTreeMap<String, String>,
    pub(crate) encryption_algorithms: &'static [&'static str],
    /// For the AWS KMS API's own shape (other algorithms, epoch seconds, account), not in
    /// `/v0`'s.
    #[serde(skip)]
    pub(crate) signing_algorithms: &'static [&'static str],
    #[serde(skip)]
    pub(crate) mac_algorithms: &'static [&'static str],
    #[serde(skip)]
    pub(crate) key_agreement_algorithms: &'static [&'static str],
    #[serde(skip)]
    pub(crate) account: String,
    #[serde(skip)]
    pub(crate) created_ms: i64,
    #[serde(skip)]
    pub(crate) deletion_ms: Option<i64>,
    /// Imported material: how and when it expires.
    #[serde(skip)]
    pub(crate) expiration_model: Option<String>,
    #[serde(skip)]
    pub(crate) valid_to_ms: Option<i64>,
    /// Its region, and for a multi-Region key its primary's.
    #[serde(skip)]
    pub(crate) region: String,
    #[serde(skip)]
    pub(crate) primary_region: Option<String>,
}

impl KeyMetadata {
    /// The key's ID.
    pub(crate) fn key_id(&self) -> &str {
        &self.key_id
    }
}

impl KeyRow {
    /// The key's ARN in `account`.
    pub(crate) fn arn(&self, account: &str) -> String {
        key_arn(&self.region, account, &self.key_id)
    }

    pub(crate) fn metadata(&self, account: &str) -> KeyMetadata {
        let (encryption, signing, mac, agreement) =
            super::material::algorithms(&self.key_spec, &self.key_usage);
        KeyMetadata {
            key_id: self.key_id.clone(),
            arn: self.arn(account),
            description: self.description.clone(),
            key_spec: self.key_spec.clone(),
            key_usage: self.key_usage.clone(),
            key_state: self.state.clone(),
            origin: self.origin.clone(),
            creation_date: rfc3339(self.created_at),
            deletion_date: self.deletion_date.map(rfc3339),
            current_version: self.current_version,
            tags: self.tag_map(),
            encryption_algorithms: encryption,
            signing_algorithms: signing,
            mac_algorithms: mac,
            key_agreement_algorithms: agreement,
            account: account.into(),
            created_ms: self.created_at,
            deletion_ms: self.deletion_date,
            expiration_model: self.expiration_model.clone(),
            valid_to_ms: self.valid_to,
            region: self.region.clone(),
            primary_region: self.primary_region.clone(),
        }
    }

    /// Its tags.
    pub(crate) fn tag_map(&self) -> BTreeMap<String, String> {
        serde_json::from_str(&self.tags).unwrap_or_default()
    }

    /// Its encryption algorithms (none for keys of other usages).
    pub(crate) fn encryption_algorithms(&self) -> &'static [&'static str] {
        super::material::algorithms(&self.key_spec, &self.key_usage).0
    }

    /// Whether its material is an AES-256 key (else an RSA key pair).
    pub(crate) fn is_symmetric(&self) -> bool {
        self.key_spec == SYMMETRIC_DEFAULT
    }

    pub(crate) fn policy(&self) -> Result<Policy, DomainError> {
        let value = serde_json::from_str(&self.policy)
            .map_err(|e| DomainError::internal(format!("stored policy: {e}")))?;
        Policy::from_json(value)
    }

    /// Refuses a change unless the key is in one of the `allowed` states.
    pub(crate) fn require_state(&self, allowed: &[&str]) -> Result<(), DomainError> {
        if allowed.contains(&self.state.as_str()) {
            Ok(())
        } else {
            Err(DomainError::InvalidState(format!("key {} is {}", self.key_id, self.state)))
        }
    }

    /// Refuses a change of a key pending deletion.
    pub(crate) fn require_not_pending_deletion(&self) -> Result<(), DomainError> {
        if self.state == PENDING_DELETION {
            return Err(DomainError::InvalidState(format!(
                "key {} is pending deletion",
                self.key_id
            )));
        }
        Ok(())
    }

    /// Refuses use of the key unless it is Enabled.
    pub(crate) fn require_enabled(&self) -> Result<(), DomainError> {
        match self.state.as_str() {
            ENABLED => Ok(()),
            PENDING_DELETION => Err(DomainError::KeyPendingDeletion(format!(
                "key {} is pending deletion",
                self.key_id
            ))),
            PENDING_IMPORT => Err(DomainError::InvalidState(format!(
                "key {} is pending import: it has no key material",
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
    let hex = super::secrets::hex(&b);
    Ok(format!("{}-{}-{}-{}-{}", &hex[..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..]))
}

/// A new multi-Region key ID: `mrk-` and 32 hex digits, as AWS KMS writes them.
pub(crate) fn new_mrk_id() -> Result<String, DomainError> {
    let b: [u8; 16] = super::secrets::random()?;
    Ok(format!("mrk-{}", super::secrets::hex(&b)))
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
        "encryptionAlgorithms": super::material::algorithms(&key.key_spec, &key.key_usage).0,
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
