//! Grants (AWS KMS): a key's permission for one grantee principal to use some operations,
//! perhaps only with an encryption context that equals, or contains, the constraint's. A
//! grant allows what the key policy leaves undecided (an implicit deny), never what it
//! denies explicitly. The server is strongly consistent, so a grant works at once and grant
//! tokens in requests are accepted without being needed.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

use super::{Caller, DomainError, KeyServer, Result, decide, found, principal_arn};
use crate::domain::keys::{PENDING_DELETION, now_ms};
use crate::domain::policy::Decision;
use crate::domain::secrets;
use crate::store::{GrantRow, KeyRow};
use cipherdrop::EncryptionContext;

/// The operations a grant may allow (AWS KMS "Grant operations").
pub(crate) const GRANT_OPERATIONS: [&str; 17] = [
    "Decrypt",
    "Encrypt",
    "GenerateDataKey",
    "GenerateDataKeyWithoutPlaintext",
    "ReEncryptFrom",
    "ReEncryptTo",
    "GenerateDataKeyPair",
    "GenerateDataKeyPairWithoutPlaintext",
    "Sign",
    "Verify",
    "GetPublicKey",
    "DescribeKey",
    "CreateGrant",
    "RetireGrant",
    "GenerateMac",
    "VerifyMac",
    "DeriveSharedSecret",
];

/// The grant operations an encryption-context constraint can apply to: those that take a
/// context, and the grant operations themselves (AWS refuses constraints on the others).
const CONSTRAINABLE: [&str; 10] = [
    "Decrypt",
    "Encrypt",
    "GenerateDataKey",
    "GenerateDataKeyWithoutPlaintext",
    "ReEncryptFrom",
    "ReEncryptTo",
    "GenerateDataKeyPair",
    "GenerateDataKeyPairWithoutPlaintext",
    "CreateGrant",
    "RetireGrant",
];

/// Most grants on one key (AWS KMS: 50,000 per key; kept small here, one row each).
const MAX_GRANTS_PER_KEY: usize = 10_000;

/// A grant's encryption-context constraint, in AWS's shape.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub(crate) struct Constraints {
    /// The context must be exactly this.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) encryption_context_equals: Option<BTreeMap<String, String>>,
    /// The context must hold these pairs (and may hold others).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) encryption_context_subset: Option<BTreeMap<String, String>>,
}

impl Constraints {
    /// Whether `context` meets them; no context meets no constraint.
    fn hold(&self, context: Option<&EncryptionContext>) -> bool {
        match (&self.encryption_context_equals, &self.encryption_context_subset) {
            (None, None) => true,
            (Some(equals), _) => context.is_some_and(|c| c == equals),
            (None, Some(subset)) => {
                context.is_some_and(|c| subset.iter().all(|(k, v)| c.get(k) == Some(v)))
            }
        }
    }
}

/// A grant to make.
#[derive(Debug)]
pub(crate) struct NewGrant {
    /// Grantee principal ARN.
    pub(crate) grantee: String,
    /// Retiring principal ARN.
    pub(crate) retiring: Option<String>,
    /// Operations.
    pub(crate) operations: Vec<String>,
    /// Constraints, if any.
    pub(crate) constraints: Option<Constraints>,
    /// Name (idempotence: the same name and parameters give the same grant).
    pub(crate) name: Option<String>,
}

/// A grant as ListGrants shows it.
#[derive(Debug)]
pub(crate) struct Grant {
    /// The row.
    pub(crate) row: GrantRow,
    /// Its key's ARN.
    pub(crate) key_arn: String,
    /// Operations.
    pub(crate) operations: Vec<String>,
    /// Constraints.
    pub(crate) constraints: Option<Constraints>,
}

/// Which grant RetireGrant names.
#[derive(Debug)]
pub(crate) enum GrantRef<'a> {
    /// By its token.
    Token(&'a str),
    /// By key and grant ID.
    Id { key_ref: &'a str, grant_id: &'a str },
}

fn operations_of(row: &GrantRow) -> Vec<String> {
    serde_json::from_str(&row.operations).unwrap_or_default()
}

fn constraints_of(row: &GrantRow) -> Option<Constraints> {
    row.constraints.as_deref().and_then(|c| serde_json::from_str(c).ok())
}

/// Whether `grant` lets its grantee do `action` in `context`.
fn grant_allows(grant: &GrantRow, action: &str, context: Option<&EncryptionContext>) -> bool {
    operations_of(grant).iter().any(|op| op == action)
        && constraints_of(grant).is_none_or(|c| c.hold(context))
}

/// An IAM principal ARN of `account`, as grants name principals: the account
/// (`arn:aws:iam::ACCOUNT:root`), a user or a role.
fn check_principal(account: &str, arn: &str, member: &str) -> Result<()> {
    let ok = arn == format!("arn:aws:iam::{account}:root")
        || ["user/", "role/"].iter().any(|kind| {
            arn.strip_prefix(&format!("arn:aws:iam::{account}:{kind}"))
                .is_some_and(|name| !name.is_empty() && name.len() <= 128)
        });
    if ok {
        Ok(())
    } else {
        Err(DomainError::invalid(format!(
            "{member} must be an IAM principal ARN of account {account} \
             (arn:aws:iam::{account}:user/NAME, role/NAME or root), not {arn:?}"
        )))
    }
}

fn check_new(account: &str, g: &NewGrant) -> Result<()> {
    check_principal(account, &g.grantee, "GranteePrincipal")?;
    if let Some(r) = &g.retiring {
        check_principal(account, r, "RetiringPrincipal")?;
    }
    if g.operations.is_empty() {
        return Err(DomainError::invalid("Operations must name at least one operation"));
    }
    if let Some(op) = g.operations.iter().find(|op| !GRANT_OPERATIONS.contains(&op.as_str())) {
        return Err(DomainError::invalid(format!("{op:?} is not a grant operation")));
    }
    if let Some(c) = &g.constraints {
        if c.encryption_context_equals.is_some() && c.encryption_context_subset.is_some() {
            return Err(DomainError::invalid(
                "Constraints hold EncryptionContextEquals or EncryptionContextSubset, not both",
            ));
        }
        if let Some(op) = g.operations.iter().find(|op| !CONSTRAINABLE.contains(&op.as_str())) {
            return Err(DomainError::invalid(format!(
                "grant constraints do not apply to {op}: it takes no encryption context"
            )));
        }
    }
    if let Some(name) = &g.name {
        let ok = (1..=256).contains(&name.len())
            && name.chars().all(|c| c.is_ascii_alphanumeric() || ":/_-".contains(c));
        if !ok {
            return Err(DomainError::invalid("Name is 1-256 characters of [a-zA-Z0-9:/_-]"));
        }
    }
    Ok(())
}

/// The grants of one region's keys (a multi-Region key's replicas have their own).
fn of_region(grants: Vec<GrantRow>, region: &str) -> Vec<GrantRow> {
    grants.into_iter().filter(|g| g.region == region).collect()
}

impl KeyServer {
    /// Whether `caller` may do the grant operation `action` with `key` in `context`: the key
    /// policy, or (where the policy leaves it undecided) one of the key's grants to the caller.
    pub(super) async fn allowed(
        &self,
        caller: &Caller,
        key: &KeyRow,
        action: &str,
        context: Option<&EncryptionContext>,
    ) -> Result<()> {
        let account = self.account();
        let refused = || {
            DomainError::AccessDenied(format!(
                "{} may not {action} key {}",
                caller.principal, key.key_id
            ))
        };
        match decide(account, caller, key, action, context, None, false)? {
            Decision::Allow => return Ok(()),
            Decision::ExplicitDeny => return Err(refused()),
            Decision::ImplicitDeny => {}
        }
        let me = principal_arn(account, caller);
        let grants = of_region(self.store.grants(Some(&key.key_id)).await?, &key.region);
        if grants.iter().any(|g| g.grantee == me && grant_allows(g, action, context)) {
            Ok(())
        } else {
            Err(refused())
        }
    }

    /// CreateGrant: (grant token, grant ID). Allowed by the key policy's `kms:CreateGrant`
    /// (its `kms:GrantOperations` condition sees the new grant's operations), or by a grant
    /// to the caller with CreateGrant whose operations and constraints cover the new one's.
    pub(crate) async fn create_grant(
        &self,
        caller: &Caller,
        key_ref: &str,
        new: NewGrant,
        dry_run: bool,
    ) -> Result<(String, String)> {
        if let Err(e) = check_new(self.account(), &new) {
            return self.refuse(caller, "CreateGrant", e).await;
        }
        let local = match self.key_ref(caller, key_ref) {
            Ok(local) => local,
            Err(e) => return self.refuse(caller, "CreateGrant", e).await,
        };
        let token: [u8; 48] = secrets::random()?;
        let id: [u8; 32] = secrets::random()?;
        let (region, account) = (self.region_of(caller).to_string(), self.account().to_string());
        let (who, key_ref) = (caller.clone(), key_ref.to_string());
        self.change(caller, "CreateGrant", move |tx, key_id| {
            Box::pin(async move {
                let key = found(tx.key(&region, &local).await?, &key_ref)?;
                *key_id = Some(key.key_id.clone());
                let grants = of_region(tx.grants(&key.key_id).await?, &key.region);
                let ops = new.operations.clone();
                let by_policy =
                    decide(&account, &who, &key, "CreateGrant", None, Some(&ops), false)?;
                let me = principal_arn(&account, &who);
                let by_grant = grants.iter().any(|g| {
                    g.grantee == me
                        && operations_of(g).iter().any(|op| op == "CreateGrant")
                        && ops.iter().all(|op| operations_of(g).contains(op))
                        && constraints_of(g).is_none_or(|c| Some(&c) == new.constraints.as_ref())
                });
                let allowed = match by_policy {
                    Decision::Allow => true,
                    Decision::ExplicitDeny => false,
                    Decision::ImplicitDeny => by_grant,
                };
                if !allowed {
                    return Err(DomainError::AccessDenied(format!(
                        "{} may not CreateGrant on key {}",
                        who.principal, key.key_id
                    )));
                }
                if key.state == PENDING_DELETION {
                    return Err(DomainError::KeyPendingDeletion(format!(
                        "key {} is pending deletion",
                        key.key_id
                    )));
                }
                if dry_run {
                    return Err(DomainError::DryRun);
                }
                let mut operations = new.operations.clone();
                operations.sort();
                operations.dedup();
                let operations = serde_json::to_string(&operations)
                    .map_err(|e| DomainError::internal(e.to_string()))?;
                let constraints = new
                    .constraints
                    .as_ref()
                    .map(serde_json::to_string)
                    .transpose()
                    .map_err(|e| DomainError::internal(e.to_string()))?;
                let name = new.name.clone().unwrap_or_default();
                let same = grants.iter().find(|g| {
                    !name.is_empty()
                        && g.name == name
                        && g.grantee == new.grantee
                        && g.retiring == new.retiring
                        && g.operations == operations
                        && g.constraints == constraints
                });
                if let Some(same) = same {
                    return Ok((same.grant_token.clone(), same.grant_id.clone()));
                }
                if grants.len() >= MAX_GRANTS_PER_KEY {
                    return Err(DomainError::LimitExceeded(format!(
                        "key {} has {MAX_GRANTS_PER_KEY} grants",
                        key.key_id
                    )));
                }
                let row = GrantRow {
                    grant_id: secrets::hex(&id),
                    key_id: key.key_id.clone(),
                    name,
                    grantee: new.grantee,
                    retiring: new.retiring,
                    issuer: me,
                    operations,
                    constraints,
                    grant_token: URL_SAFE_NO_PAD.encode(token),
                    created_at: now_ms(),
                    region: key.region.clone(),
                };
                tx.insert_grant(&row).await?;
                Ok((row.grant_token, row.grant_id))
            })
        })
        .await
    }

    /// ListGrants (the key policy's `kms:ListGrants`), optionally one grant or one grantee's.
    pub(crate) async fn list_grants(
        &self,
        caller: &Caller,
        key_ref: &str,
        grant_id: Option<&str>,
        grantee: Option<&str>,
    ) -> Result<Vec<Grant>> {
        self.read_key(caller, key_ref, "ListGrants", async |key| {
            let key_arn = key.arn(self.account());
            Ok(self
                .store
                .grants(Some(&key.key_id))
                .await?
                .into_iter()
                .filter(|g| g.region == key.region)
                .filter(|g| grant_id.is_none_or(|id| g.grant_id == id))
                .filter(|g| grantee.is_none_or(|p| g.grantee == p))
                .map(|row| self.shown(row, &key_arn))
                .collect())
        })
        .await
    }

    /// ListRetirableGrants: the grants `retiring` may retire, across the caller's region;
    /// for the admin, or for that principal itself.
    pub(crate) async fn retirable_grants(
        &self,
        caller: &Caller,
        retiring: &str,
    ) -> Result<Vec<Grant>> {
        let outcome = async {
            check_principal(self.account(), retiring, "RetiringPrincipal")?;
            let me = principal_arn(self.account(), caller);
            if caller.principal != crate::domain::ADMIN_PRINCIPAL && me != retiring {
                return Err(DomainError::AccessDenied(format!(
                    "{} may not list the grants {retiring} may retire",
                    caller.principal
                )));
            }
            let region = self.region_of(caller);
            let keys: BTreeMap<String, KeyRow> = self
                .store
                .keys()
                .await?
                .into_iter()
                .filter(|k| k.region == region)
                .map(|k| (k.key_id.clone(), k))
                .collect();
            let grants = self.store.grants(None).await?;
            Ok(of_region(grants, region)
                .into_iter()
                .filter(|g| g.retiring.as_deref() == Some(retiring))
                .filter_map(|g| {
                    let arn = keys.get(&g.key_id)?.arn(self.account());
                    Some(self.shown(g, &arn))
                })
                .collect())
        }
        .await;
        self.audit.outcome(caller, "ListRetirableGrants", None, None, outcome).await
    }

    fn shown(&self, row: GrantRow, key_arn: &str) -> Grant {
        let (operations, constraints) = (operations_of(&row), constraints_of(&row));
        Grant { row, key_arn: key_arn.to_string(), operations, constraints }
    }

    /// RetireGrant: by its retiring principal, by its grantee if it allows RetireGrant, or
    /// by the admin (the account).
    pub(crate) async fn retire_grant(
        &self,
        caller: &Caller,
        which: GrantRef<'_>,
        dry_run: bool,
    ) -> Result<()> {
        self.end_grant(caller, "RetireGrant", which, dry_run).await
    }

    /// RevokeGrant: by whoever the key policy allows `kms:RevokeGrant`.
    pub(crate) async fn revoke_grant(
        &self,
        caller: &Caller,
        key_ref: &str,
        grant_id: &str,
        dry_run: bool,
    ) -> Result<()> {
        self.end_grant(caller, "RevokeGrant", GrantRef::Id { key_ref, grant_id }, dry_run).await
    }

    async fn end_grant(
        &self,
        caller: &Caller,
        action: &'static str,
        which: GrantRef<'_>,
        dry_run: bool,
    ) -> Result<()> {
        // A token names a grant on any key: find the key first, outside the change.
        let (key_ref, grant_id, token) = match which {
            GrantRef::Id { key_ref, grant_id } => {
                (key_ref.to_string(), Some(grant_id.to_string()), None)
            }
            GrantRef::Token(token) => {
                let all = of_region(self.store.grants(None).await?, self.region_of(caller));
                match all.into_iter().find(|g| g.grant_token == token) {
                    Some(g) => (g.key_id, Some(g.grant_id), Some(token.to_string())),
                    None => {
                        let e = DomainError::InvalidGrantToken;
                        return self.refuse(caller, action, e).await;
                    }
                }
            }
        };
        let local = match self.key_ref(caller, &key_ref) {
            Ok(local) => local,
            Err(e) => return self.refuse(caller, action, e).await,
        };
        let (region, account, who) =
            (self.region_of(caller).to_string(), self.account().to_string(), caller.clone());
        self.change(caller, action, move |tx, key_id| {
            Box::pin(async move {
                let key = found(tx.key(&region, &local).await?, &key_ref)?;
                *key_id = Some(key.key_id.clone());
                let grants = of_region(tx.grants(&key.key_id).await?, &key.region);
                let grant = grants
                    .iter()
                    .find(|g| grant_id.as_deref() == Some(g.grant_id.as_str()))
                    .filter(|g| token.as_deref().is_none_or(|t| t == g.grant_token));
                let me = principal_arn(&account, &who);
                let may = match (action, grant) {
                    ("RevokeGrant", _) => {
                        decide(&account, &who, &key, "RevokeGrant", None, None, false)?
                            == Decision::Allow
                    }
                    (_, Some(g)) => {
                        who.principal == crate::domain::ADMIN_PRINCIPAL
                            || g.retiring.as_deref() == Some(me.as_str())
                            || (g.grantee == me
                                && operations_of(g).iter().any(|op| op == "RetireGrant"))
                    }
                    (_, None) => who.principal == crate::domain::ADMIN_PRINCIPAL,
                };
                if !may {
                    return Err(DomainError::AccessDenied(format!(
                        "{} may not {action} this grant of key {}",
                        who.principal, key.key_id
                    )));
                }
                let Some(grant) = grant else {
                    return Err(DomainError::NotFound(format!(
                        "key {} has no grant {}",
                        key.key_id,
                        grant_id.unwrap_or_default()
                    )));
                };
                if dry_run {
                    return Err(DomainError::DryRun);
                }
                tx.delete_grant(&key.key_id, &grant.grant_id).await?;
                Ok(())
            })
        })
        .await
    }
}
