//! Imported key material (AWS KMS keys of Origin EXTERNAL): GetParametersForImport hands out
//! a fresh RSA wrapping key (valid 24 hours, its private half sealed under the root key),
//! ImportKeyMaterial opens the wrapped material with it and makes it the key's version 1 or,
//! for a symmetric key, new material pending rotation (RotateKeyOnDemand makes it current);
//! DeleteImportedKeyMaterial and expiry take one material away again (the key is then
//! PendingImport until it comes back). Each material has its own expiry, and a re-import must
//! bring material the key holds or held (its fingerprint), which comes back as its version.

use zeroize::Zeroizing;

use super::{Caller, DomainError, KeyServer, Result, seal_version};
use crate::domain::audit::Record;
use crate::domain::keys::{
    DISABLED, ENABLED, EXTERNAL, KeyMetadata, PENDING_DELETION, PENDING_IMPORT, SYMMETRIC_DEFAULT,
    live, now_ms,
};
use crate::domain::material::{self, MaterialOf, WRAPPING_ALGORITHMS};
use crate::domain::secrets;
use crate::store::{ImportParameters, KeyRow, MaterialRow, WriteTx};

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

/// Import types.
pub(crate) const NEW_KEY_MATERIAL: &str = "NEW_KEY_MATERIAL";
pub(crate) const EXISTING_KEY_MATERIAL: &str = "EXISTING_KEY_MATERIAL";

/// The longest KeyMaterialDescription (AWS KMS: 256 characters).
const MAX_DESCRIPTION: usize = 256;

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
    /// `NEW_KEY_MATERIAL` or `EXISTING_KEY_MATERIAL` (default: new for a key that never had
    /// material, existing after).
    pub(crate) import_type: Option<&'a str>,
    /// With `EXISTING_KEY_MATERIAL`: the material it must be.
    pub(crate) material_id: Option<&'a str>,
    /// KeyMaterialDescription (kept from the last import when absent).
    pub(crate) description: Option<&'a str>,
}

/// What ImportKeyMaterial and DeleteImportedKeyMaterial answer.
#[derive(Debug)]
pub(crate) struct MaterialAnswer {
    /// The key's ARN.
    pub(crate) key_arn: String,
    /// The material's KeyMaterialId (none when a key that never had material lost none).
    pub(crate) material_id: Option<String>,
}

/// One imported material as ListKeyRotations shows it.
#[derive(Debug)]
pub(crate) struct MaterialState {
    /// Its row.
    pub(crate) row: MaterialRow,
    /// KeyMaterialId.
    pub(crate) id: String,
    /// `CURRENT`, `NON_CURRENT` or `PENDING_ROTATION`.
    pub(crate) state: &'static str,
}

/// KeyMaterialState of material version `version` of a key whose current one is `current`.
pub(crate) fn material_state(version: i64, current: i64) -> &'static str {
    match version.cmp(&current) {
        std::cmp::Ordering::Equal => "CURRENT",
        std::cmp::Ordering::Less => "NON_CURRENT",
        std::cmp::Ordering::Greater => "PENDING_ROTATION",
    }
}

/// The KeyMaterialId of an imported material.
pub(crate) fn imported_id(m: &MaterialRow) -> String {
    material::material_id(&m.key_id, MaterialOf::Imported(&m.fingerprint))
}

/// Checks what ImportKeyMaterial says besides the material: (expiry, import type).
fn checked_terms<'a>(import: &Import<'a>) -> Result<(Option<i64>, Option<&'a str>)> {
    let expires = match (import.expiration_model.unwrap_or(EXPIRES), import.valid_to) {
        (EXPIRES, Some(t)) if t > now_ms() => Some(t),
        (EXPIRES, Some(_)) => return Err(DomainError::invalid("ValidTo must be in the future")),
        (EXPIRES, None) => {
            return Err(DomainError::invalid("ValidTo is required with KEY_MATERIAL_EXPIRES"));
        }
        (DOES_NOT_EXPIRE, None) => None,
        (DOES_NOT_EXPIRE, Some(_)) => {
            return Err(DomainError::invalid("ValidTo goes only with KEY_MATERIAL_EXPIRES"));
        }
        (other, _) => {
            return Err(DomainError::invalid(format!("invalid ExpirationModel {other:?}")));
        }
    };
    match import.import_type {
        None | Some(NEW_KEY_MATERIAL | EXISTING_KEY_MATERIAL) => {}
        Some(other) => return Err(DomainError::invalid(format!("invalid ImportType {other:?}"))),
    }
    if let Some(id) = import.material_id {
        if import.import_type == Some(NEW_KEY_MATERIAL) {
            return Err(DomainError::invalid(
                "KeyMaterialId names material imported before: not with NEW_KEY_MATERIAL",
            ));
        }
        check_material_id(id)?;
    }
    if let Some(d) = import.description {
        // AWS's pattern: ^[a-zA-Z0-9:/_\s.-]+$ (\s: ASCII white space).
        let allowed = |c: char| c.is_ascii_alphanumeric() || " \t\n\r\x0B\x0C:/_.-".contains(c);
        if d.is_empty() || d.chars().count() > MAX_DESCRIPTION || !d.chars().all(allowed) {
            return Err(DomainError::invalid(
                "KeyMaterialDescription must be 1 to 256 of a-z A-Z 0-9 : / _ . - and spaces",
            ));
        }
    }
    Ok((expires, import.import_type))
}

/// A KeyMaterialId is 64 lowercase hex digits.
fn check_material_id(id: &str) -> Result<()> {
    if id.len() == 64 && id.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
        Ok(())
    } else {
        Err(DomainError::invalid("KeyMaterialId must be 64 lowercase hex digits"))
    }
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

    /// ImportKeyMaterial. New material becomes the key's first version, or (a symmetric key
    /// that has material) its next, pending rotation until RotateKeyOnDemand; material the
    /// key holds or held comes back as the version it was, with the expiry now given.
    pub(crate) async fn import_key_material(
        &self,
        caller: &Caller,
        key_ref: &str,
        import: Import<'_>,
    ) -> Result<MaterialAnswer> {
        let opened = async {
            let (expires, import_type) = checked_terms(&import)?;
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
            Ok((expires, import_type.map(str::to_string), secret, public))
        }
        .await;
        let (expires, import_type, secret, public) = match opened {
            Ok(found) => found,
            Err(e) => return self.refuse(caller, "ImportKeyMaterial", e).await,
        };
        let fingerprint = material::fingerprint(&secret, &public);
        let root = self.root.clone();
        let account = self.account().to_string();
        let wanted_id = import.material_id.map(str::to_string);
        let description = import.description.map(str::to_string);
        let model = if expires.is_some() { EXPIRES } else { DOES_NOT_EXPIRE };
        self.key_change(caller, key_ref, "ImportKeyMaterial", move |tx, mut key| {
            Box::pin(async move {
                external(&key)?;
                key.require_not_pending_deletion()?;
                let mut materials = tx.materials_of(&key.key_id).await?;
                let known = materials.iter().position(|m| m.fingerprint == fingerprint);
                let first = materials.is_empty();
                let new = match import_type.as_deref() {
                    Some(t) => t == NEW_KEY_MATERIAL,
                    None => first,
                };
                let index = if new {
                    if wanted_id.is_some() {
                        return Err(DomainError::invalid(format!(
                            "key {} has no material yet: it takes new material, which no \
                             KeyMaterialId names",
                            key.key_id
                        )));
                    }
                    if known.is_some() {
                        return Err(DomainError::IncorrectKeyMaterial(format!(
                            "key {} holds this material already: import it as \
                             EXISTING_KEY_MATERIAL",
                            key.key_id
                        )));
                    }
                    let version = if first { 1 } else { next_material_version(&key, &materials)? };
                    materials.push(MaterialRow {
                        key_id: key.key_id.clone(),
                        version,
                        fingerprint,
                        description: String::new(),
                        expiration_model: None,
                        valid_to: None,
                        rotated_at: None,
                    });
                    materials.len() - 1
                } else {
                    let Some(index) = known else {
                        return Err(DomainError::IncorrectKeyMaterial(if first {
                            format!(
                                "key {} has no material yet: import it as NEW_KEY_MATERIAL",
                                key.key_id
                            )
                        } else {
                            format!("this is not material key {} holds", key.key_id)
                        }));
                    };
                    if wanted_id.as_deref().is_some_and(|w| w != imported_id(&materials[index])) {
                        return Err(DomainError::IncorrectKeyMaterial(format!(
                            "the material is not the KeyMaterialId of key {} named",
                            key.key_id
                        )));
                    }
                    index
                };
                let m = &mut materials[index];
                if m.expiration_model.is_none() {
                    let version = seal_version(&root, &key.key_id, m.version, &secret, public)?;
                    tx.insert_version(&version).await?;
                }
                m.expiration_model = Some(model.into());
                m.valid_to = expires;
                if let Some(d) = description {
                    m.description = d;
                }
                tx.put_material(m).await?;
                let material_id = imported_id(m);
                settle(&mut key, &materials);
                tx.update_key(&key).await?;
                Ok(MaterialAnswer { key_arn: key.arn(&account), material_id: Some(material_id) })
            })
        })
        .await
    }

    /// DeleteImportedKeyMaterial of the material `material_id` names (default: the current
    /// one). Material pending rotation is forgotten; any other leaves the key PendingImport
    /// until it is imported again. The sealed copy is deleted and shredded from the database
    /// files.
    pub(crate) async fn delete_imported_material(
        &self,
        caller: &Caller,
        key_ref: &str,
        material_id: Option<&str>,
    ) -> Result<MaterialAnswer> {
        if let Some(Err(e)) = material_id.map(check_material_id) {
            return self.refuse(caller, "DeleteImportedKeyMaterial", e).await;
        }
        let wanted = material_id.map(str::to_string);
        let account = self.account().to_string();
        let (key_id, answer) = self
            .key_change(caller, key_ref, "DeleteImportedKeyMaterial", move |tx, mut key| {
                Box::pin(async move {
                    external(&key)?;
                    key.require_state(&[ENABLED, DISABLED, PENDING_IMPORT])?;
                    let mut materials = tx.materials_of(&key.key_id).await?;
                    let target = match &wanted {
                        Some(id) => Some(
                            materials.iter().find(|m| imported_id(m) == *id).ok_or_else(|| {
                                DomainError::NotFound(format!(
                                    "key {} has no key material {id}",
                                    key.key_id
                                ))
                            })?,
                        ),
                        None => materials.iter().find(|m| m.version == key.current_version),
                    };
                    let answer =
                        |id| MaterialAnswer { key_arn: key.arn(&account), material_id: id };
                    // A key that never had material loses none (as before several materials).
                    let Some(target) = target else {
                        return Ok((key.key_id.clone(), answer(None)));
                    };
                    let (version, id) = (target.version, imported_id(target));
                    if target.expiration_model.is_none() {
                        return Err(DomainError::InvalidState(format!(
                            "key material {id} of key {} is not imported",
                            key.key_id
                        )));
                    }
                    let answer = answer(Some(id));
                    take_material(tx, &mut key, &mut materials, version).await?;
                    Ok((key.key_id, answer))
                })
            })
            .await?;
        self.material_gone(&key_id).await;
        Ok(answer)
    }

    /// Takes away each imported material whose ValidTo has passed, each in its own
    /// transaction with a record (system principal); returns how many.
    pub(crate) async fn expire_imported_material(&self) -> Result<usize> {
        let mut expired = 0;
        for (key_id, region, version) in self.store.due_materials(now_ms()).await? {
            let mut tx = self.store.write().await?;
            let Some(mut key) = tx.key(&region, &key_id).await? else { continue };
            let mut materials = tx.materials_of(&key.key_id).await?;
            let due = materials.iter().find(|m| m.version == version).filter(|m| {
                m.expiration_model.is_some() && m.valid_to.is_some_and(|t| t <= now_ms())
            });
            let Some(id) = due.map(imported_id) else { continue };
            if !live(&key, now_ms()) {
                continue;
            }
            take_material(tx.as_mut(), &mut key, &mut materials, version).await?;
            let record = Record::allowed(
                &Caller::system("-"),
                "DeleteImportedKeyMaterial",
                Some(&key.key_id),
            )
            .noted(&format!("the imported key material {id} expired"));
            self.commit_recorded(tx, record).await?;
            self.material_gone(&key.key_id).await;
            expired += 1;
        }
        Ok(expired)
    }

    /// ListKeyRotations of a key for imported material: its materials after the first up to
    /// the current one, or (`all`) every one, the first and one pending rotation too.
    pub(super) async fn imported_rotations(
        &self,
        key: &KeyRow,
        all: bool,
    ) -> Result<Vec<MaterialState>> {
        Ok(self
            .store
            .materials_of(&key.key_id)
            .await?
            .into_iter()
            .filter(|m| all || (m.version > 1 && m.version <= key.current_version))
            .map(|row| MaterialState {
                id: imported_id(&row),
                state: material_state(row.version, key.current_version),
                row,
            })
            .collect())
    }

    /// DescribeKey's CurrentKeyMaterialId: of symmetric keys, which rotate.
    pub(crate) async fn current_material_id(&self, key: &KeyMetadata) -> Result<Option<String>> {
        if key.key_spec != SYMMETRIC_DEFAULT {
            return Ok(None);
        }
        if key.origin != EXTERNAL {
            return Ok(Some(material::material_id(
                &key.key_id,
                MaterialOf::Version(key.current_version),
            )));
        }
        let materials = self.store.materials_of(&key.key_id).await?;
        Ok(materials.iter().find(|m| m.version == key.current_version).map(imported_id))
    }

    /// After material went: no opened copy stays in this process, and none in the
    /// database's files (what could not be shredded now, the sweeper tries again).
    async fn material_gone(&self, key_id: &str) {
        self.opened.forget(key_id);
        self.shred().await;
    }
}

/// The version new material takes: the one after the current, which RotateKeyOnDemand makes
/// current. Only symmetric keys rotate, only a usable key takes new material, and one at a
/// time waits (AWS KMS: delete it to import other material in its place).
fn next_material_version(key: &KeyRow, materials: &[MaterialRow]) -> Result<i64> {
    if !key.is_symmetric() {
        return Err(DomainError::Unsupported(format!(
            "key {} is {}: only symmetric keys take new key material",
            key.key_id, key.key_spec
        )));
    }
    key.require_state(&[ENABLED, DISABLED])?;
    if let Some(pending) = materials.iter().find(|m| m.version > key.current_version) {
        return Err(DomainError::InvalidState(format!(
            "key {} has new key material {} pending rotation already: rotate, or delete it \
             first",
            key.key_id,
            imported_id(pending)
        )));
    }
    Ok(key.current_version + 1)
}

/// RotateKeyOnDemand of a key for imported material: the material pending rotation becomes
/// current (the caller stores the key).
pub(super) async fn rotate_to_pending(tx: &mut dyn WriteTx, key: &mut KeyRow) -> Result<()> {
    let mut materials = tx.materials_of(&key.key_id).await?;
    let Some(m) = materials.iter_mut().find(|m| m.version > key.current_version) else {
        return Err(DomainError::InvalidState(format!(
            "key {} has no new key material pending rotation: import it with ImportType \
             NEW_KEY_MATERIAL first",
            key.key_id
        )));
    };
    m.rotated_at = Some(now_ms());
    tx.put_material(m).await?;
    key.current_version = m.version;
    settle(key, &materials);
    Ok(())
}

/// Brings a key's state and DescribeKey's summary of its expiry in line with its materials:
/// it is usable only while every material of its own (all but one pending rotation) is
/// imported (a key pending deletion stays so).
pub(super) fn settle(key: &mut KeyRow, materials: &[MaterialRow]) {
    let own: Vec<&MaterialRow> =
        materials.iter().filter(|m| m.version <= key.current_version).collect();
    if !own.is_empty() && own.iter().all(|m| m.expiration_model.is_some()) {
        key.valid_to = own.iter().filter_map(|m| m.valid_to).min();
        let model = if key.valid_to.is_some() { EXPIRES } else { DOES_NOT_EXPIRE };
        key.expiration_model = Some(model.into());
        if key.state == PENDING_IMPORT {
            key.state = ENABLED.into();
        }
    } else {
        key.valid_to = None;
        key.expiration_model = None;
        if key.state != PENDING_DELETION {
            key.state = PENDING_IMPORT.into();
        }
    }
}

/// Deletes one material's sealed copy: one pending rotation is forgotten, any other stays
/// known (PENDING_IMPORT) for its return.
async fn take_material(
    tx: &mut dyn WriteTx,
    key: &mut KeyRow,
    materials: &mut Vec<MaterialRow>,
    version: i64,
) -> Result<()> {
    tx.delete_version(&key.key_id, version).await?;
    if version > key.current_version {
        tx.delete_material(&key.key_id, version).await?;
        materials.retain(|m| m.version != version);
    } else if let Some(m) = materials.iter_mut().find(|m| m.version == version) {
        m.expiration_model = None;
        m.valid_to = None;
        tx.put_material(m).await?;
    }
    settle(key, materials);
    Ok(tx.update_key(key).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(state: &str, current_version: i64) -> KeyRow {
        KeyRow {
            key_id: "k".into(),
            description: String::new(),
            key_spec: SYMMETRIC_DEFAULT.into(),
            key_usage: material::ENCRYPT_DECRYPT.into(),
            state: state.into(),
            deletion_date: None,
            created_at: 0,
            current_version,
            tags: "{}".into(),
            policy: "{}".into(),
            region: "us-east-1".into(),
            origin: EXTERNAL.into(),
            rotation_period_days: None,
            next_rotation: None,
            valid_to: None,
            expiration_model: None,
            multi_region: false,
            primary_region: None,
        }
    }

    fn held(version: i64, valid_to: Option<i64>, imported: bool) -> MaterialRow {
        MaterialRow {
            key_id: "k".into(),
            version,
            fingerprint: format!("f{version}"),
            description: String::new(),
            expiration_model: imported
                .then(|| if valid_to.is_some() { EXPIRES } else { DOES_NOT_EXPIRE }.into()),
            valid_to,
            rotated_at: None,
        }
    }

    #[test]
    fn a_key_is_usable_while_all_its_own_materials_are_imported() {
        // Version 3 is pending rotation: its expiry and absence are not the key's.
        let mut k = key(PENDING_IMPORT, 2);
        let all = [held(1, Some(50), true), held(2, None, true), held(3, Some(10), true)];
        settle(&mut k, &all);
        assert_eq!((k.state.as_str(), k.valid_to), (ENABLED, Some(50)));
        assert_eq!(k.expiration_model.as_deref(), Some(EXPIRES));
        settle(&mut k, &[held(1, None, false), held(2, None, true)]);
        assert_eq!(
            (k.state.as_str(), k.valid_to, k.expiration_model),
            (PENDING_IMPORT, None, None)
        );
        let mut disabled = key(DISABLED, 1);
        settle(&mut disabled, &[held(1, None, true)]);
        assert_eq!(disabled.state, DISABLED, "a re-import leaves a disabled key disabled");
        assert_eq!(disabled.expiration_model.as_deref(), Some(DOES_NOT_EXPIRE));
        let mut deleting = key(PENDING_DELETION, 1);
        settle(&mut deleting, &[held(1, None, false)]);
        assert_eq!(deleting.state, PENDING_DELETION);
    }

    #[test]
    fn material_states_follow_the_current_version() {
        assert_eq!(
            [1, 2, 3].map(|v| material_state(v, 2)),
            ["NON_CURRENT", "CURRENT", "PENDING_ROTATION"]
        );
    }
}
