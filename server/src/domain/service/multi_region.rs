//! Multi-Region keys (AWS KMS): a primary key and replicas in other regions of this
//! deployment, all with the same `mrk-` key ID and the same key material (the versions are
//! shared by key ID, so a rotation of the primary is every replica's at once), each with its
//! own state, policy, description, tags, aliases and grants. Data encrypted through one
//! region decrypts through another with no call to the first.

use std::collections::BTreeMap;

use super::{Caller, DomainError, KeyServer, Result, authorize, found, require_admin};
use crate::domain::keys::{self, DISABLED, ENABLED, KeyMetadata, now_ms};
use crate::domain::policy::{Policy, aws_default_policy};
use crate::store::ReplicaRow;

/// A multi-Region key's place in its family, as DescribeKey's MultiRegionConfiguration
/// names it.
#[derive(Debug)]
pub(crate) struct MultiRegionConfig {
    /// `PRIMARY` or `REPLICA`.
    pub(crate) key_type: &'static str,
    /// The primary's (ARN, region).
    pub(crate) primary: (String, String),
    /// The replicas' (ARN, region).
    pub(crate) replicas: Vec<(String, String)>,
}

/// A replica to make.
#[derive(Debug)]
pub(crate) struct NewReplica {
    /// Its region.
    pub(crate) region: String,
    /// Its policy (AWS's default when absent).
    pub(crate) policy: Option<serde_json::Value>,
    /// Description.
    pub(crate) description: String,
    /// Tags.
    pub(crate) tags: BTreeMap<String, String>,
}

impl KeyServer {
    /// The family of a multi-Region key, `None` for a single-Region one.
    pub(crate) async fn multi_region_config(
        &self,
        metadata: &KeyMetadata,
    ) -> Result<Option<MultiRegionConfig>> {
        let Some(primary) = &metadata.primary_region else { return Ok(None) };
        let account = self.account();
        let arn = |region: &str| keys::key_arn(region, account, &metadata.key_id);
        let replicas = self.store.replica_regions(&metadata.key_id).await?;
        Ok(Some(MultiRegionConfig {
            key_type: if *primary == metadata.region { "PRIMARY" } else { "REPLICA" },
            primary: (arn(primary), primary.clone()),
            replicas: replicas.iter().map(|r| (arn(r), r.clone())).collect(),
        }))
    }

    /// ReplicateKey: a replica of the primary `key_ref` (of the caller's region) in
    /// `new.region`. Creating a key in a region is an IAM permission in AWS, so here the
    /// admin's; the primary's policy must allow `kms:ReplicateKey` too.
    pub(crate) async fn replicate_key(
        &self,
        caller: &Caller,
        key_ref: &str,
        new: NewReplica,
    ) -> Result<(KeyMetadata, Policy)> {
        let checked = require_admin(caller).and_then(|()| {
            if !keys::valid_region(&new.region) {
                return Err(DomainError::invalid(format!(
                    "ReplicaRegion {:?} is not a region name",
                    new.region
                )));
            }
            let policy = match new.policy.clone() {
                Some(p) => Policy::from_json(p)?,
                None => aws_default_policy(self.account()),
            };
            super::check_tags(&new.tags, new.tags.len())?;
            Ok(policy)
        });
        let policy = match checked {
            Ok(p) => p,
            Err(e) => return self.refuse(caller, "ReplicateKey", e).await,
        };
        let local = match self.key_ref(caller, key_ref) {
            Ok(local) => local,
            Err(e) => return self.refuse(caller, "ReplicateKey", e).await,
        };
        let stored =
            serde_json::to_string(&policy).map_err(|e| DomainError::internal(e.to_string()))?;
        let (region, account, who) =
            (self.region_of(caller).to_string(), self.account().to_string(), caller.clone());
        let key_ref = key_ref.to_string();
        self.change(caller, "ReplicateKey", move |tx, key_id| {
            Box::pin(async move {
                let key = found(tx.key(&region, &local).await?, &key_ref)?;
                *key_id = Some(key.key_id.clone());
                authorize(&account, &who, &key, "ReplicateKey")?;
                primary_only(&key, "ReplicateKey")?;
                key.require_state(&[ENABLED, DISABLED])?;
                if new.region == key.region || tx.key(&new.region, &key.key_id).await?.is_some() {
                    return Err(DomainError::AlreadyExists(format!(
                        "key {} already has a key in {}",
                        key.key_id, new.region
                    )));
                }
                let replica = ReplicaRow {
                    key_id: key.key_id.clone(),
                    region: new.region.clone(),
                    description: new.description,
                    state: ENABLED.into(),
                    deletion_date: None,
                    created_at: now_ms(),
                    tags: serde_json::to_string(&new.tags)
                        .map_err(|e| DomainError::internal(e.to_string()))?,
                    policy: stored,
                };
                tx.insert_replica(&replica).await?;
                let made = found(tx.key(&new.region, &key.key_id).await?, &key.key_id)?;
                Ok((made.metadata(&account), policy))
            })
        })
        .await
    }

    /// UpdatePrimaryRegion: the replica in `new_region` becomes the primary and the primary
    /// a replica; each keeps its own regional settings.
    pub(crate) async fn update_primary_region(
        &self,
        caller: &Caller,
        key_ref: &str,
        new_region: &str,
    ) -> Result<()> {
        let new_region = new_region.to_string();
        self.key_change(caller, key_ref, "UpdatePrimaryRegion", move |tx, key| {
            Box::pin(async move {
                primary_only(&key, "UpdatePrimaryRegion")?;
                if !tx.replica_regions(&key.key_id).await?.contains(&new_region) {
                    return Err(DomainError::NotFound(format!(
                        "key {} has no replica in {new_region}",
                        key.key_id
                    )));
                }
                Ok(tx.swap_primary(&key.key_id, &new_region).await?)
            })
        })
        .await
    }
}

/// Refuses an operation that only a multi-Region primary key takes.
fn primary_only(key: &crate::store::KeyRow, action: &str) -> Result<()> {
    match &key.primary_region {
        None => Err(DomainError::Unsupported(format!(
            "{action}: key {} is not a multi-Region key",
            key.key_id
        ))),
        Some(primary) if *primary != key.region => Err(DomainError::Unsupported(format!(
            "{action}: key {} is a replica; its primary is in {primary}",
            key.key_id
        ))),
        Some(_) => Ok(()),
    }
}
