//! Imported key material (AWS KMS keys of Origin EXTERNAL): GetParametersForImport hands out
//! a fresh RSA wrapping key (valid 24 hours, its private half sealed under the root key),
//! ImportKeyMaterial opens the wrapped material with it and makes it the key's version 1,
//! DeleteImportedKeyMaterial and expiry take it away again (the key is then PendingImport).
//! A key only ever holds one material: a re-import must bring the same (its fingerprint).

use zeroize::Zeroizing;

use super::{Caller, DomainError, KeyServer, Result, seal_version};
use crate::domain::audit::Record;
use crate::domain::keys::{
    DISABLED, ENABLED, EXTERNAL, PENDING_DELETION, PENDING_IMPORT, live, now_ms,
};
use crate::domain::material::{self, WRAPPING_ALGORITHMS};
use crate::domain::secrets;
use crate::store::{ImportParameters, KeyRow};

/// How long import parameters may be used (AWS KMS: 24 hours).
const IMPORT_TOKEN_MS: i64 = 24 * 3600 * 1000;

/// Expiration models.
pub(crate) const EXPIRES: &str = "KEY_MATERIAL_EXPIRES";
pub(crate) const DOES_NOT_EXPIRE: &str = "KEY_MATERIAL_DOES_NOT_EXPIRE";

/// What GetParametersForImport answers.
#[derive(Debug)]
pub(crate) struct ImportOffer {
    /// The key's ARN.
    pub(crate) key_arn: String,
    /// The import token.
    pub(crate) token: String,
    /// The wrapping key's SPKI DER.
    pub(crate) public_key: Vec<u8>,
    /// Until when (milliseconds since the epoch).
    pub(crate) valid_to: i64,
}

/// The material to import and how long it lasts.
#[derive(Debug)]
pub(crate) struct Import<'a> {
    /// The import token of GetParametersForImport.
    pub(crate) token: &'a str,
    /// The material, wrapped with that call's public key.
    pub(crate) encrypted: &'a [u8],
    /// `KEY_MATERIAL_EXPIRES` (the default) or `KEY_MATERIAL_DOES_NOT_EXPIRE`.
    pub(crate) expiration_model: Option<&'a str>,
    /// When it expires (milliseconds since the epoch), with `KEY_MATERIAL_EXPIRES`.
    pub(crate) valid_to: Option<i64>,
}

fn external(key: &KeyRow) -> Result<()> {
    if key.origin == EXTERNAL {
        Ok(())
    } else {
        Err(DomainError::Unsupported(format!(
            "key {} has material made here (Origin {}), not imported",
            key.key_id, key.origin
        )))
    }
}

impl KeyServer {
    /// GetParametersForImport.
    pub(crate) async fn import_parameters(
        &self,
        caller: &Caller,
        key_ref: &str,
        algorithm: &str,
        wrapping_spec: &str,
    ) -> Result<ImportOffer> {
        let checked = if !WRAPPING_ALGORITHMS.contains(&algorithm) {
            Err(DomainError::invalid(format!(
                "WrappingAlgorithm must be one of {WRAPPING_ALGORITHMS:?}, not {algorithm:?}"
            )))
        } else if !["RSA_2048", "RSA_3072", "RSA_4096"].contains(&wrapping_spec) {
            Err(DomainError::invalid("WrappingKeySpec must be RSA_2048, RSA_3072 or RSA_4096"))
        } else {
            Ok(())
        };
        if let Err(e) = checked {
            return self.refuse(caller, "GetParametersForImport", e).await;
        }
        let spec = wrapping_spec.to_string();
        let (pkcs8, spki) = self.crypto.run(move || material::generate(&spec)).await?;
        let token = format!("cdit_{}", secrets::hex(&secrets::random::<32>()?));
        let sealed = self.root.seal(&format!("import/{token}"), &pkcs8)?;
        let (algorithm, wrapping_spec) = (algorithm.to_string(), wrapping_spec.to_string());
        let account = self.account().to_string();
        let offered = (token.clone(), spki);
        self.key_change(caller, key_ref, "GetParametersForImport", move |tx, key| {
            Box::pin(async move {
                external(&key)?;
                key.require_not_pending_deletion()?;
                let now = now_ms();
                let row = ImportParameters {
                    import_token: token,
                    key_id: key.key_id.clone(),
                    wrapping_algorithm: algorithm,
                    wrapping_key_spec: wrapping_spec,
                    private_sealed: sealed,
                    valid_to: now + IMPORT_TOKEN_MS,
                    created_at: now,
                };
                tx.insert_import_parameters(&row).await?;
                Ok(ImportOffer {
                    key_arn: key.arn(&account),
                    token: offered.0,
                    public_key: offered.1,
                    valid_to: row.valid_to,
                })
            })
        })
        .await
    }

    /// ImportKeyMaterial: the key becomes Enabled with the material as version 1 (a key that
    /// already holds it keeps its state and takes the new expiry).
    pub(crate) async fn import_key_material(
        &self,
        caller: &Caller,
        key_ref: &str,
        import: Import<'_>,
    ) -> Result<()> {
        let opened = async {
            let expires = match (import.expiration_model.unwrap_or(EXPIRES), import.valid_to) {
                (EXPIRES, Some(t)) if t > now_ms() => Some(t),
                (EXPIRES, Some(_)) => {
                    return Err(DomainError::invalid("ValidTo must be in the future"));
                }
                (EXPIRES, None) => {
                    return Err(DomainError::invalid(
                        "ValidTo is required with KEY_MATERIAL_EXPIRES",
                    ));
                }
                (DOES_NOT_EXPIRE, None) => None,
                (DOES_NOT_EXPIRE, Some(_)) => {
                    return Err(DomainError::invalid(
                        "ValidTo goes only with KEY_MATERIAL_EXPIRES",
                    ));
                }
                (other, _) => {
                    return Err(DomainError::invalid(format!("invalid ExpirationModel {other:?}")));
                }
            };
            let key = self.resolve(caller, key_ref).await?;
            let params = self
                .store
                .import_parameters(import.token)
                .await?
                .filter(|p| p.key_id == key.key_id)
                .ok_or(DomainError::InvalidImportToken)?;
            if params.valid_to <= now_ms() {
                return Err(DomainError::ExpiredImportToken);
            }
            let (root, label) = (self.root.clone(), format!("import/{}", params.import_token));
            let (algorithm, encrypted) =
                (params.wrapping_algorithm.clone(), import.encrypted.to_vec());
            let sealed = params.private_sealed.clone();
            let material: Zeroizing<Vec<u8>> = self
                .crypto
                .run(move || {
                    let pkcs8 = root.open_sealed(&label, &sealed)?;
                    material::unwrap_import(&algorithm, &pkcs8, &encrypted)
                })
                .await?;
            let (secret, public) = material::imported(&key.key_spec, &material)?;
            Ok((expires, secret, public))
        }
        .await;
        let (expires, secret, public) = match opened {
            Ok(found) => found,
            Err(e) => return self.refuse(caller, "ImportKeyMaterial", e).await,
        };
        let fingerprint = material::fingerprint(&secret, &public);
        let root = self.root.clone();
        let model = if expires.is_some() { EXPIRES } else { DOES_NOT_EXPIRE };
        self.key_change(caller, key_ref, "ImportKeyMaterial", move |tx, mut key| {
            Box::pin(async move {
                external(&key)?;
                key.require_not_pending_deletion()?;
                if key.material_fingerprint.as_deref().is_some_and(|f| f != fingerprint) {
                    return Err(DomainError::IncorrectKeyMaterial(format!(
                        "key {} holds other material: a key only ever takes one",
                        key.key_id
                    )));
                }
                if key.state == PENDING_IMPORT {
                    let version = seal_version(&root, &key.key_id, 1, &secret, public)?;
                    tx.insert_version(&version).await?;
                    key.state = ENABLED.into();
                    key.current_version = 1;
                }
                key.material_fingerprint = Some(fingerprint);
                key.expiration_model = Some(model.into());
                key.valid_to = expires;
                Ok(tx.update_key(&key).await?)
            })
        })
        .await
    }

    /// DeleteImportedKeyMaterial: the key keeps its ID, policy and fingerprint and becomes
    /// PendingImport; the material's rows are deleted and shredded from the database files.
    pub(crate) async fn delete_imported_material(
        &self,
        caller: &Caller,
        key_ref: &str,
    ) -> Result<()> {
        let key_id = self
            .key_change(caller, key_ref, "DeleteImportedKeyMaterial", move |tx, mut key| {
                Box::pin(async move {
                    external(&key)?;
                    key.require_state(&[ENABLED, DISABLED, PENDING_IMPORT])?;
                    take_material(tx, &mut key).await?;
                    Ok(key.key_id)
                })
            })
            .await?;
        self.material_gone(&key_id).await;
        Ok(())
    }

    /// Takes away imported material whose ValidTo has passed, each key in its own
    /// transaction with a record (system principal); returns how many.
    pub(crate) async fn expire_imported_material(&self) -> Result<usize> {
        let now = now_ms();
        let due: Vec<KeyRow> = self
            .store
            .keys()
            .await?
            .into_iter()
            .filter(|k| {
                live(k, now) && k.origin == EXTERNAL && k.valid_to.is_some_and(|t| t <= now)
            })
            .collect();
        let mut expired = 0;
        for seen in due {
            let mut tx = self.store.write().await?;
            let Some(mut key) = tx.key(&seen.region, &seen.key_id).await? else { continue };
            if key.valid_to.is_none_or(|t| t > now_ms()) {
                continue;
            }
            take_material(tx.as_mut(), &mut key).await?;
            let record = Record::allowed(
                &Caller::system("-"),
                "DeleteImportedKeyMaterial",
                Some(&key.key_id),
            )
            .noted("the imported key material expired");
            self.commit_recorded(tx, record).await?;
            self.material_gone(&key.key_id).await;
            expired += 1;
        }
        Ok(expired)
    }

    /// After material went: no opened copy stays in this process, and none in the
    /// database's files (what could not be shredded now, the sweeper tries again).
    async fn material_gone(&self, key_id: &str) {
        self.opened.forget(key_id);
        self.shred().await;
    }
}

/// Deletes a key's material (its versions) and marks it PendingImport (a key pending
/// deletion stays so).
async fn take_material(tx: &mut dyn crate::store::WriteTx, key: &mut KeyRow) -> Result<()> {
    tx.delete_versions(&key.key_id).await?;
    if key.state != PENDING_DELETION {
        key.state = PENDING_IMPORT.into();
    }
    key.valid_to = None;
    key.expiration_model = None;
    Ok(tx.update_key(key).await?)
}
