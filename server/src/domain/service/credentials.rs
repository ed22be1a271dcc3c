//! Access keys for AWS Signature Version 4 (the KMS JSON API): an ID, never secret, and a
//! secret access key, which the server needs in the clear to recompute signatures, so it is
//! kept sealed under the root key (label `access-key/ID`), not hashed like a bearer token.
//! Managed like tokens: admin only, every change audited with the ID, never the secret.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use sha2::{Digest as _, Sha256};
use zeroize::Zeroizing;

use super::{KeyServer, Resealed, Result, require_admin, valid_principal};
use crate::domain::audit::{self, Record};
use crate::domain::error::DomainError;
use crate::domain::keys::now_ms;
use crate::domain::{Caller, secrets};
use crate::store::{AccessKeyRow, StoreError};

/// Prefix of generated access key IDs, as AWS gives long-term IAM user keys.
const GENERATED_PREFIX: &str = "AKIA";
/// RFC 4648 base32 alphabet, which AWS's access key IDs are written in.
const BASE32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
/// Lengths a fixed ID or secret may have (AWS: access key IDs are 16 to 128 characters).
const FIXED_LENGTH: std::ops::RangeInclusive<usize> = 16..=128;

/// The label a secret is sealed under: a sealed secret cannot be moved to another ID's row.
fn label(access_key_id: &str) -> String {
    format!("access-key/{access_key_id}")
}

/// `AKIA` and 16 base32 characters, like AWS's (each byte's low 5 bits: 32 divides 256, so
/// every character is uniform).
fn new_access_key_id() -> Result<String> {
    let random: [u8; 16] = secrets::random()?;
    let tail: String = random.iter().map(|b| char::from(BASE32[usize::from(b & 31)])).collect();
    Ok(format!("{GENERATED_PREFIX}{tail}"))
}

/// 40 characters of `[A-Za-z0-9+/]`, like AWS's: standard base64 of 30 random bytes (no
/// padding, as 30 is a multiple of 3).
fn new_secret() -> Result<Zeroizing<String>> {
    let random = Zeroizing::new(secrets::random::<30>()?);
    Ok(Zeroizing::new(STANDARD.encode(random.as_slice())))
}

/// A fixed ID (local tools with set test credentials): uppercase letters and digits, AWS's
/// `\w+` without lowercase, so that two IDs never differ by case alone.
fn valid_access_key_id(id: &str) -> Result<()> {
    let ok = FIXED_LENGTH.contains(&id.len())
        && id.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit());
    if ok {
        Ok(())
    } else {
        Err(DomainError::invalid("accessKeyId must be 16-128 uppercase letters and digits"))
    }
}

/// A fixed secret: printable ASCII without spaces (what a signer can put in a config file);
/// the message never repeats it.
fn valid_secret(secret: &str) -> Result<()> {
    if FIXED_LENGTH.contains(&secret.len()) && secret.chars().all(|c| c.is_ascii_graphic()) {
        Ok(())
    } else {
        Err(DomainError::invalid(
            "secretAccessKey must be 16-128 printable ASCII characters without spaces",
        ))
    }
}

/// Opened secrets, so that a signed request does not open the sealed secret each time (with
/// a PKCS#11 root key that is a round trip to the token). Like [`secrets::KeyCache`], it
/// holds material, never state: every use reads the live row first, and an entry serves
/// only the exact sealed bytes that row holds now, so a revocation or a new secret takes
/// effect at the next request on every replica.
#[derive(Debug, Default)]
pub(crate) struct SecretCache {
    entries: std::sync::Mutex<HashMap<String, CachedSecret>>,
}

struct CachedSecret {
    sealed_digest: [u8; 32],
    secret: Zeroizing<Vec<u8>>,
    used: Instant,
}

impl std::fmt::Debug for CachedSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CachedSecret").finish_non_exhaustive()
    }
}

/// Most secrets kept open.
const SECRET_CACHE_SIZE: usize = 256;
/// How long an unused open secret is kept.
const SECRET_CACHE_IDLE: Duration = Duration::from_secs(300);

impl SecretCache {
    fn find(&self, id: &str, digest: &[u8; 32]) -> Option<Zeroizing<Vec<u8>>> {
        let mut entries = self.entries.lock().ok()?;
        let entry = entries.get_mut(id).filter(|e| &e.sealed_digest == digest)?;
        entry.used = Instant::now();
        Some(entry.secret.clone())
    }

    fn keep(&self, id: &str, sealed_digest: [u8; 32], secret: &Zeroizing<Vec<u8>>) {
        let Ok(mut entries) = self.entries.lock() else { return };
        let now = Instant::now();
        entries.retain(|_, e| now.duration_since(e.used) < SECRET_CACHE_IDLE);
        if entries.len() >= SECRET_CACHE_SIZE
            && let Some(oldest) = entries.iter().min_by_key(|(_, e)| e.used).map(|(k, _)| k.clone())
        {
            entries.remove(&oldest);
        }
        entries
            .insert(id.into(), CachedSecret { sealed_digest, secret: secret.clone(), used: now });
    }

    fn forget(&self, id: &str) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.remove(id);
        }
    }
}

impl KeyServer {
    /// A new access key for `principal` (admin only): generated, or the `fixed` ID and
    /// secret. Returns (ID, secret, row); the secret is stored only sealed under the root key.
    pub(crate) async fn create_credential(
        &self,
        caller: &Caller,
        principal: &str,
        fixed: Option<(String, Zeroizing<String>)>,
    ) -> Result<(String, Zeroizing<String>, AccessKeyRow)> {
        let checked =
            require_admin(caller).and_then(|()| valid_principal(principal)).and_then(|()| {
                match &fixed {
                    Some((id, secret)) => {
                        valid_access_key_id(id).and_then(|()| valid_secret(secret))
                    }
                    None => Ok(()),
                }
            });
        if let Err(e) = checked {
            return self.refuse(caller, "CreateCredential", e).await;
        }
        let (id, secret) = match fixed {
            Some(pair) => pair,
            None => (new_access_key_id()?, new_secret()?),
        };
        let row = AccessKeyRow {
            access_key_id: id.clone(),
            principal: principal.into(),
            secret_sealed: self.root.seal(&label(&id), secret.as_bytes())?,
            created_at: now_ms(),
            revoked_at: None,
        };
        let detail = format!("principal={principal} accessKeyId={id}");
        let stored = row.clone();
        self.change_noted(caller, "CreateCredential", Some(detail), |tx, _| {
            Box::pin(async move {
                tx.insert_access_key(&stored).await.map_err(|e| match e {
                    StoreError::Conflict(_) => DomainError::InvalidState(format!(
                        "access key ID {} already exists",
                        stored.access_key_id
                    )),
                    other => other.into(),
                })
            })
        })
        .await?;
        Ok((id, secret, row))
    }

    /// Every access key's ID, principal and dates (admin only); never a secret, sealed or not.
    pub(crate) async fn list_credentials(&self, caller: &Caller) -> Result<Vec<AccessKeyRow>> {
        let outcome = match require_admin(caller) {
            Ok(()) => self.store.access_keys().await.map_err(DomainError::from),
            Err(e) => Err(e),
        };
        let outcome = outcome.map(|rows| {
            rows.into_iter().map(|k| AccessKeyRow { secret_sealed: Vec::new(), ..k }).collect()
        });
        self.audit.outcome(caller, "ListCredentials", None, None, outcome).await
    }

    /// Revokes an access key (admin only): refused at its next request, through any replica.
    pub(crate) async fn revoke_credential(&self, caller: &Caller, id: &str) -> Result<()> {
        if let Err(e) = require_admin(caller) {
            return self.refuse(caller, "RevokeCredential", e).await;
        }
        let owned = id.to_string();
        let note = Some(format!("accessKeyId={id}"));
        self.change_noted(caller, "RevokeCredential", note, |tx, _| {
            Box::pin(async move {
                if !tx.revoke_access_key(&owned, now_ms()).await? {
                    return Err(DomainError::NotFound(format!("no live access key {owned}")));
                }
                Ok(())
            })
        })
        .await?;
        self.secrets.forget(id);
        Ok(())
    }

    /// The principal and secret of a live access key, for verifying a signature; `None` for
    /// an unknown or revoked one. Read from the database on every call.
    pub(crate) async fn access_key_secret(
        &self,
        id: &str,
    ) -> Result<Option<(String, Zeroizing<Vec<u8>>)>> {
        let Some(row) = self.store.live_access_key(id).await? else {
            self.secrets.forget(id);
            return Ok(None);
        };
        let digest: [u8; 32] = Sha256::digest(&row.secret_sealed).into();
        if let Some(secret) = self.secrets.find(id, &digest) {
            return Ok(Some((row.principal, secret)));
        }
        let (root, name, sealed) = (self.root.clone(), label(id), row.secret_sealed);
        let secret = self.crypto.run(move || root.open_sealed(&name, &sealed)).await?;
        self.secrets.keep(id, digest, &secret);
        Ok(Some((row.principal, secret)))
    }

    /// Re-seals every access key (revoked ones too: no secret may stay under the old root key)
    /// under the current root key, each in its own transaction with a record.
    pub(super) async fn reseal_access_keys(
        &self,
        caller: &Caller,
        done: &mut Resealed,
    ) -> Result<()> {
        for key in self.store.access_keys().await? {
            let name = label(&key.access_key_id);
            let Some(new) = self.resealed(&name, &key.secret_sealed).await? else { continue };
            let mut tx = self.store.write().await?;
            if tx.reseal_access_key(&key.access_key_id, &key.secret_sealed, &new).await? {
                let record = Record::allowed(caller, "RotateRootKey", None)
                    .noted(&format!("accessKeyId={}", key.access_key_id));
                audit::append_in(tx.as_mut(), [record]).await?;
                done.access_keys += 1;
            } else {
                done.changed += 1;
            }
            tx.commit().await?;
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn generated_credentials_look_like_aws() {
        let id = new_access_key_id().unwrap();
        assert_eq!(id.len(), 20, "{id}");
        assert!(id.starts_with("AKIA") && id[4..].bytes().all(|b| BASE32.contains(&b)), "{id}");
        let secret = new_secret().unwrap();
        assert_eq!(secret.len(), 40);
        assert!(secret.chars().all(|c| c.is_ascii_alphanumeric() || "+/".contains(c)));
        assert!(valid_access_key_id(&id).is_ok() && valid_secret(&secret).is_ok());
    }

    #[test]
    fn fixed_credentials_are_checked() {
        assert!(valid_access_key_id("AKIDEXAMPLE").is_err(), "11 characters");
        assert!(valid_access_key_id("AKIAIOSFODNN7EXAMPLE").is_ok());
        assert!(valid_access_key_id("akiaiosfodnn7example").is_err());
        assert!(valid_access_key_id("AKIA_IOSFODNN7EXAMPLE").is_err());
        assert!(valid_access_key_id(&"A".repeat(129)).is_err());
        assert!(valid_secret("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY").is_ok());
        assert!(valid_secret("with a space in it").is_err());
        assert!(valid_secret("short").is_err());
        assert!(valid_secret("tab\tinside-the-secret").is_err());
    }
}
