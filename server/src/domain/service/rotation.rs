//! Key rotation as AWS KMS documents it for symmetric keys: automatic rotation on a period
//! of 90 to 2560 days, run by the server's sweeper (skipped while a key is disabled or
//! pending deletion; an overdue key rotates when it is enabled again), on-demand rotation up
//! to 25 times, and the list of rotations. Old versions stay: what they sealed still opens.
//! Keys for imported material rotate on demand only, to new material imported for it.

use super::import::material_state;
use super::{Caller, DomainError, KeyServer, Result, seal_version};
use crate::domain::audit::Record;
use crate::domain::keys::{DISABLED, ENABLED, EXTERNAL, PENDING_DELETION, live, now_ms};
use crate::domain::material::{self, MaterialOf};
use crate::store::{KeyRow, MaterialRow};

/// Rotation types, as ListKeyRotations names them.
pub(super) const AUTOMATIC: &str = "AUTOMATIC";
pub(super) const ON_DEMAND: &str = "ON_DEMAND";

/// Most on-demand rotations of one key (AWS KMS: 25).
pub(super) const MAX_ON_DEMAND_ROTATIONS: usize = 25;

/// Automatic rotation periods, in days (AWS KMS: 90 to 2560, default 365).
const PERIOD_DAYS: std::ops::RangeInclusive<i64> = 90..=2560;
const DEFAULT_PERIOD_DAYS: i64 = 365;
const DAY_MS: i64 = 24 * 3600 * 1000;

/// What GetKeyRotationStatus answers.
#[derive(Debug)]
pub(crate) struct RotationStatus {
    /// The key's ARN.
    pub(crate) key_arn: String,
    /// Automatic rotation's period, when it is on.
    pub(crate) period_days: Option<i64>,
    /// When it is next due (milliseconds since the epoch).
    pub(crate) next: Option<i64>,
}

/// One key material as ListKeyRotations shows it.
#[derive(Debug)]
pub(crate) struct RotationEntry {
    /// KeyMaterialId.
    pub(crate) material_id: String,
    /// KeyMaterialState.
    pub(crate) state: &'static str,
    /// When and how a rotation made it current (none for the first and one pending).
    pub(crate) rotated: Option<(i64, String)>,
    /// Of imported material: its row (import state, description, expiry).
    pub(crate) imported: Option<MaterialRow>,
}

/// Refuses rotation of keys AWS does not rotate: replicas (their primary rotates), and keys
/// other than symmetric ones.
fn rotates(key: &KeyRow) -> Result<()> {
    if key.is_replica() {
        return Err(DomainError::Unsupported(format!(
            "key {} is a replica: its primary's rotation is its own",
            key.key_id
        )));
    }
    if key.is_symmetric() {
        Ok(())
    } else {
        Err(DomainError::Unsupported(format!(
            "key {} is {}: only symmetric keys rotate",
            key.key_id, key.key_spec
        )))
    }
}

/// Refuses rotation settings on keys AWS does not rotate automatically: imported material
/// rotates on demand only, when new material was imported.
fn rotatable(key: &KeyRow) -> Result<()> {
    rotates(key)?;
    if key.origin == EXTERNAL {
        return Err(DomainError::Unsupported(format!(
            "key {} holds imported material: it rotates on demand only, to material imported \
             with ImportType NEW_KEY_MATERIAL",
            key.key_id
        )));
    }
    Ok(())
}

impl KeyServer {
    /// EnableKeyRotation: the first automatic rotation is `period` days from now (a new
    /// period, if rotation was on, counts from now too).
    pub(crate) async fn enable_rotation(
        &self,
        caller: &Caller,
        key_ref: &str,
        period: Option<i64>,
    ) -> Result<()> {
        let days = period.unwrap_or(DEFAULT_PERIOD_DAYS);
        if !PERIOD_DAYS.contains(&days) {
            let e = DomainError::invalid("RotationPeriodInDays must be 90 to 2560");
            return self.refuse(caller, "EnableKeyRotation", e).await;
        }
        self.key_change(caller, key_ref, "EnableKeyRotation", move |tx, mut key| {
            Box::pin(async move {
                rotatable(&key)?;
                key.require_state(&[ENABLED])?;
                key.rotation_period_days = Some(days);
                key.next_rotation = Some(now_ms() + days * DAY_MS);
                Ok(tx.update_key(&key).await?)
            })
        })
        .await
    }

    /// DisableKeyRotation.
    pub(crate) async fn disable_rotation(&self, caller: &Caller, key_ref: &str) -> Result<()> {
        self.key_change(caller, key_ref, "DisableKeyRotation", move |tx, mut key| {
            Box::pin(async move {
                rotatable(&key)?;
                key.require_state(&[ENABLED, DISABLED])?;
                key.rotation_period_days = None;
                key.next_rotation = None;
                Ok(tx.update_key(&key).await?)
            })
        })
        .await
    }

    /// GetKeyRotationStatus.
    pub(crate) async fn rotation_status(
        &self,
        caller: &Caller,
        key_ref: &str,
    ) -> Result<RotationStatus> {
        self.read_key(caller, key_ref, "GetKeyRotationStatus", async |key| {
            // Keys with imported material answer "not enabled", as AWS does: they rotate on
            // demand only, so their automatic rotation is never on.
            rotates(&key)?;
            Ok(RotationStatus {
                key_arn: key.arn(self.account()),
                period_days: key.rotation_period_days,
                next: key.next_rotation,
            })
        })
        .await
    }

    /// RotateKeyOnDemand: the key's ARN.
    pub(crate) async fn rotate_on_demand(&self, caller: &Caller, key_ref: &str) -> Result<String> {
        Ok(self.rotate_as(caller, key_ref, "RotateKeyOnDemand", true).await?.arn)
    }

    /// ListKeyRotations: (key ARN, the materials after the first up to the current one, or
    /// with `include` ALL_KEY_MATERIAL every one, oldest first).
    pub(crate) async fn rotations(
        &self,
        caller: &Caller,
        key_ref: &str,
        include: Option<&str>,
    ) -> Result<(String, Vec<RotationEntry>)> {
        self.read_key(caller, key_ref, "ListKeyRotations", async |key| {
            let all = match include {
                None | Some("ROTATIONS_ONLY") => false,
                Some("ALL_KEY_MATERIAL") => true,
                Some(other) => {
                    return Err(DomainError::invalid(format!(
                        "IncludeKeyMaterial must be ALL_KEY_MATERIAL or ROTATIONS_ONLY, not \
                         {other:?}"
                    )));
                }
            };
            rotates(&key)?;
            let entries = if key.origin == EXTERNAL {
                self.imported_rotations(&key, all)
                    .await?
                    .into_iter()
                    .map(|m| RotationEntry {
                        material_id: m.id,
                        state: m.state,
                        rotated: m.row.rotated_at.map(|t| (t, ON_DEMAND.to_string())),
                        imported: Some(m.row),
                    })
                    .collect()
            } else {
                let versions = self.store.versions_of(&key.key_id).await?;
                versions
                    .into_iter()
                    .filter(|v| all || v.version > 1)
                    .map(|v| RotationEntry {
                        material_id: material::material_id(
                            &key.key_id,
                            MaterialOf::Version(v.version),
                        ),
                        state: material_state(v.version, key.current_version),
                        // Versions rotated before rotation types were kept were on demand.
                        rotated: (v.version > 1).then(|| {
                            (v.created_at, v.rotation_type.unwrap_or_else(|| ON_DEMAND.into()))
                        }),
                        imported: None,
                    })
                    .collect()
            };
            Ok((key.arn(self.account()), entries))
        })
        .await
    }

    /// Rotates every enabled key whose automatic rotation is due; returns how many. Each
    /// rotation is its own transaction with a record (system principal); a key that changed
    /// meanwhile (disabled, rotated by another replica) is left as it is now.
    pub(crate) async fn rotate_due_keys(&self) -> Result<usize> {
        let now = now_ms();
        let due: Vec<KeyRow> = self
            .store
            .keys()
            .await?
            .into_iter()
            .filter(|k| !k.is_replica() && live(k, now) && k.state == ENABLED)
            .filter(|k| k.next_rotation.is_some_and(|t| t <= now))
            .collect();
        let mut rotated = 0;
        for key in due {
            if self.rotate_if_due(&key).await? {
                rotated += 1;
            }
        }
        Ok(rotated)
    }

    /// One automatic rotation of `seen`, if it is still due as of the transaction.
    async fn rotate_if_due(&self, seen: &KeyRow) -> Result<bool> {
        let spec = seen.key_spec.clone();
        let (material, public) = self.crypto.run(move || material::generate(&spec)).await?;
        let mut tx = self.store.write().await?;
        let Some(mut key) = tx.key(&seen.region, &seen.key_id).await? else { return Ok(false) };
        let now = now_ms();
        let due = key.state == ENABLED && key.next_rotation.is_some_and(|t| t <= now);
        let Some(days) = key.rotation_period_days.filter(|_| due && live(&key, now)) else {
            return Ok(false);
        };
        let next = key.current_version + 1;
        let mut version = seal_version(&self.root, &key.key_id, next, &material, public)?;
        version.rotation_type = Some(AUTOMATIC.into());
        tx.insert_version(&version).await?;
        key.current_version = next;
        key.next_rotation = Some(now + days * DAY_MS);
        tx.update_key(&key).await?;
        let system = Caller::system("-");
        let record = Record::allowed(&system, "RotateKey", Some(&key.key_id))
            .noted(&format!("automatic rotation to version {next}"));
        self.commit_recorded(tx, record).await?;
        Ok(true)
    }

    /// After EnableKey: an automatic rotation that came due while the key was disabled runs
    /// now rather than at the next sweep.
    pub(super) async fn rotate_if_overdue(&self, key: &KeyRow) {
        if key.state != PENDING_DELETION
            && key.next_rotation.is_some_and(|t| t <= now_ms())
            && let Err(e) = self.rotate_if_due(key).await
        {
            tracing::error!(error = %e, key = %key.key_id, "overdue rotation failed");
        }
    }
}
