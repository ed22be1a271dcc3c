//! The policy grammar: AWS KMS key policies ("IAM JSON policy elements reference", "Key
//! policies in AWS KMS") plus the forms of our first grammar, which keep their meaning: bare
//! principal names, the bare /v0 action names with case-sensitive globs, and the
//! `EncryptionContext:`/`Jwt:` condition keys. A document parses into [`Statement`]s once;
//! every refusal names the element it is about.

use serde_json::Value;

use super::Request;
use super::condition::{Key, Operator, Piece, arn_like, like, pieces};

/// The actions a key policy can name: the "AWS KMS permissions" table's operations whose
/// policy type is "Key policy" (those authorised on a KMS key; CreateKey, ListKeys and the
/// other IAM-only ones are not), plus our header-verified unwrap, `cipherdrop:Unwrap`.
pub const KEY_POLICY_ACTIONS: &[&str] = &[
    "cipherdrop:Unwrap",
    "kms:CancelKeyDeletion",
    "kms:CreateAlias",
    "kms:CreateGrant",
    "kms:Decrypt",
    "kms:DeleteAlias",
    "kms:DeleteImportedKeyMaterial",
    "kms:DeriveSharedSecret",
    "kms:DescribeKey",
    "kms:DisableKey",
    "kms:DisableKeyRotation",
    "kms:EnableKey",
    "kms:EnableKeyRotation",
    "kms:Encrypt",
    "kms:GenerateDataKey",
    "kms:GenerateDataKeyPair",
    "kms:GenerateDataKeyPairWithoutPlaintext",
    "kms:GenerateDataKeyWithoutPlaintext",
    "kms:GenerateMac",
    "kms:GetKeyPolicy",
    "kms:GetKeyRotationStatus",
    "kms:GetParametersForImport",
    "kms:GetPublicKey",
    "kms:ImportKeyMaterial",
    "kms:ListGrants",
    "kms:ListKeyPolicies",
    "kms:ListKeyRotations",
    "kms:ListResourceTags",
    "kms:PutKeyPolicy",
    "kms:ReEncryptFrom",
    "kms:ReEncryptTo",
    "kms:ReplicateKey",
    "kms:RetireGrant",
    "kms:RevokeGrant",
    "kms:RotateKeyOnDemand",
    "kms:ScheduleKeyDeletion",
    "kms:Sign",
    "kms:SynchronizeMultiRegionKey",
    "kms:TagResource",
    "kms:UntagResource",
    "kms:UpdateAlias",
    "kms:UpdateKeyDescription",
    "kms:UpdatePrimaryRegion",
    "kms:Verify",
    "kms:VerifyMac",
];

/// The actions of the first grammar, bare as the /v0 API names them, each with the action
/// of [`KEY_POLICY_ACTIONS`] it stands for (our /v0 rotate is RotateKeyOnDemand).
pub const V0_ACTIONS: [(&str, &str); 11] = [
    ("CancelKeyDeletion", "kms:CancelKeyDeletion"),
    ("Decrypt", "kms:Decrypt"),
    ("DescribeKey", "kms:DescribeKey"),
    ("DisableKey", "kms:DisableKey"),
    ("EnableKey", "kms:EnableKey"),
    ("GetKeyPolicy", "kms:GetKeyPolicy"),
    ("GetPublicKey", "kms:GetPublicKey"),
    ("PutKeyPolicy", "kms:PutKeyPolicy"),
    ("RotateKey", "kms:RotateKeyOnDemand"),
    ("ScheduleKeyDeletion", "kms:ScheduleKeyDeletion"),
    ("Unwrap", "cipherdrop:Unwrap"),
];

/// One statement, parsed.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Statement {
    pub(super) effect: Effect,
    principal: Negatable<Principal>,
    action: Negatable<ActionPattern>,
    /// `"*"` when the statement has neither `Resource` nor `NotResource` (our first grammar
    /// had none: a key policy is about its own key).
    resource: Negatable<ResourcePattern>,
    conditions: Vec<Condition>,
}

/// Statement effect.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Effect {
    /// Grants.
    Allow,
    /// Refuses, whatever else grants.
    Deny,
}

/// The values of `Principal`, `Action` or `Resource`, or (negated) of `NotPrincipal`,
/// `NotAction` or `NotResource`: the statement names what its list names, or what it does
/// not.
#[derive(Clone, Debug, PartialEq)]
struct Negatable<T> {
    negated: bool,
    items: Vec<T>,
}

#[derive(Clone, Debug, PartialEq)]
enum Principal {
    /// The account (`arn:aws:iam::ACCOUNT:root` or `ACCOUNT`). With no IAM here, it stands
    /// for the one principal treated as IAM-authorised in it: the admin.
    Account(String),
    /// `"*"`, `{"AWS": "*"}`.
    Everyone,
    /// A principal name of the first grammar, `"alice"`.
    Name(String),
    /// A `Service`, `Federated` or `CanonicalUser` principal: no such caller reaches this
    /// server.
    Never,
    /// `arn:aws:iam::ACCOUNT:user/NAME` or `…:role/NAME`: principal NAME of ACCOUNT.
    User { account: String, name: String },
}

#[derive(Clone, Debug, PartialEq)]
enum ActionPattern {
    /// `*`: every action.
    Everything,
    /// A `service:Action` name or glob, lowercase: IAM matches actions ignoring case.
    Named(Vec<Piece>),
    /// A bare name or glob of the first grammar, matched case-sensitively against the bare
    /// names of [`V0_ACTIONS`] only, as it always was.
    V0(Vec<Piece>),
}

#[derive(Clone, Debug, PartialEq)]
enum ResourcePattern {
    /// `*`: this key.
    Everything,
    /// An ARN, components globbed as `ArnLike` does.
    Arn(String),
}

/// One operator on one key.
#[derive(Clone, Debug, PartialEq)]
struct Condition {
    operator: Operator,
    key: Key,
    values: Vec<String>,
}

/// Parses a whole document into its statements.
pub(super) fn parse(document: &Value) -> Result<Vec<Statement>, String> {
    let top = object(document, "the policy")?;
    let mut statements = None;
    for (name, value) in top {
        match name.as_str() {
            // null is what the first grammar wrote for an absent label (`/v0` documents).
            "Id" | "Version" if !value.is_null() => {
                string(value, name)?;
            }
            "Id" | "Version" => {}
            "Statement" => {
                statements = Some(match value {
                    Value::Array(items) => items
                        .iter()
                        .enumerate()
                        .map(|(i, st)| statement(st, &format!("Statement[{i}]")))
                        .collect::<Result<_, _>>()?,
                    st => vec![statement(st, "Statement")?],
                })
            }
            other => return Err(format!("unknown member {other:?} of the policy")),
        }
    }
    statements.ok_or_else(|| "the policy has no Statement".to_owned())
}

fn statement(value: &Value, at: &str) -> Result<Statement, String> {
    let members = object(value, at)?;
    if let Some(other) = members.keys().find(|k| !STATEMENT_MEMBERS.contains(&k.as_str())) {
        return Err(format!("{at}: unknown member {other:?}"));
    }
    if let Some(sid) = members.get("Sid").filter(|sid| !sid.is_null()) {
        string(sid, &format!("{at}.Sid"))?;
    }
    let effect = match members.get("Effect").map(|v| string(v, &format!("{at}.Effect"))) {
        Some(Ok("Allow")) => Effect::Allow,
        Some(Ok("Deny")) => Effect::Deny,
        Some(Ok(other)) => return Err(format!("{at}.Effect: {other:?} is not Allow or Deny")),
        Some(Err(e)) => return Err(e),
        None => return Err(format!("{at}: no Effect")),
    };
    let principal = match either(members, at, "Principal")? {
        Some((element, negated, value)) => principals(value, &element, negated)?,
        None => return Err(format!("{at}: no Principal or NotPrincipal")),
    };
    let action = match either(members, at, "Action")? {
        Some((element, negated, value)) => {
            let items = strings(value, &element)?
                .into_iter()
                .map(|a| action(a).map_err(|e| format!("{element}: {e}")))
                .collect::<Result<_, _>>()?;
            Negatable { negated, items }
        }
        None => return Err(format!("{at}: no Action or NotAction")),
    };
    let resource = match either(members, at, "Resource")? {
        Some((element, negated, value)) => {
            let items = strings(value, &element)?
                .into_iter()
                .map(|r| resource(r).map_err(|e| format!("{element}: {e}")))
                .collect::<Result<_, _>>()?;
            Negatable { negated, items }
        }
        None => Negatable { negated: false, items: vec![ResourcePattern::Everything] },
    };
    let conditions = match members.get("Condition") {
        Some(value) => conditions(value, &format!("{at}.Condition"))?,
        None => Vec::new(),
    };
    Ok(Statement { effect, principal, action, resource, conditions })
}

const STATEMENT_MEMBERS: [&str; 9] = [
    "Action",
    "Condition",
    "Effect",
    "NotAction",
    "NotPrincipal",
    "NotResource",
    "Principal",
    "Resource",
    "Sid",
];

/// `ELEMENT` or `NotELEMENT`, at most one of them: the element's path, whether it is the
/// negated one, and its value.
fn either<'v>(
    members: &'v serde_json::Map<String, Value>,
    at: &str,
    element: &str,
) -> Result<Option<(String, bool, &'v Value)>, String> {
    let not = format!("Not{element}");
    match (members.get(element), members.get(&not)) {
        (Some(_), Some(_)) => Err(format!("{at}: {element} and {not} are exclusive")),
        (Some(v), None) => Ok(Some((format!("{at}.{element}"), false, v))),
        (None, Some(v)) => Ok(Some((format!("{at}.{not}"), true, v))),
        (None, None) => Ok(None),
    }
}

fn principals(value: &Value, at: &str, negated: bool) -> Result<Negatable<Principal>, String> {
    let items = match value {
        Value::Object(types) if types.is_empty() => return Err(format!("{at}: names nothing")),
        Value::Object(types) => {
            let mut items = Vec::new();
            for (kind, ids) in types {
                let at = format!("{at}.{kind}");
                for id in strings(ids, &at)? {
                    items.push(match kind.as_str() {
                        "AWS" => aws_principal(id).map_err(|e| format!("{at}: {e}"))?,
                        "CanonicalUser" | "Federated" | "Service" if !id.is_empty() => {
                            Principal::Never
                        }
                        "CanonicalUser" | "Federated" | "Service" => {
                            return Err(format!("{at}: an empty principal"));
                        }
                        other => {
                            return Err(format!(
                                "{at}: unknown principal type {other:?} (AWS, Service, \
                                 Federated or CanonicalUser)"
                            ));
                        }
                    });
                }
            }
            items
        }
        value => strings(value, at)?
            .into_iter()
            .map(|p| if p == "*" { Principal::Everyone } else { Principal::Name(p.to_owned()) })
            .collect(),
    };
    Ok(Negatable { negated, items })
}

/// An `AWS` principal: `*`, an account ID, or an IAM ARN of the account, a user or a role.
fn aws_principal(id: &str) -> Result<Principal, String> {
    if id == "*" {
        return Ok(Principal::Everyone);
    }
    if is_account_id(id) {
        return Ok(Principal::Account(id.to_owned()));
    }
    let shape = || {
        format!(
            "{id:?} is not \"*\", an account ID or arn:aws:iam::ACCOUNT:root, \
             …:user/NAME or …:role/NAME"
        )
    };
    if id.contains(['*', '?']) {
        return Err(format!(
            "{id:?}: principals take no wildcards (test aws:PrincipalArn with ArnLike)"
        ));
    }
    let (account, resource) = id
        .strip_prefix("arn:aws:iam::")
        .and_then(|rest| rest.split_once(':'))
        .filter(|(account, _)| is_account_id(account))
        .ok_or_else(shape)?;
    let name = resource.strip_prefix("user/").or_else(|| resource.strip_prefix("role/"));
    match (resource, name) {
        ("root", _) => Ok(Principal::Account(account.to_owned())),
        (_, Some(name)) if !name.is_empty() => {
            Ok(Principal::User { account: account.to_owned(), name: name.to_owned() })
        }
        _ => Err(shape()),
    }
}

fn is_account_id(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

/// An Action value: `*`; a `service:Action` name or glob naming one of
/// [`KEY_POLICY_ACTIONS`] (any case); or a bare name or case-sensitive glob naming one of
/// [`V0_ACTIONS`].
fn action(a: &str) -> Result<ActionPattern, String> {
    if a == "*" {
        return Ok(ActionPattern::Everything);
    }
    if a.contains(':') {
        let glob = pieces(&a.to_lowercase(), "", true);
        return if KEY_POLICY_ACTIONS.iter().any(|name| like(&glob, &name.to_lowercase())) {
            Ok(ActionPattern::Named(glob))
        } else {
            Err(format!(
                "unknown action {a:?} (a key policy names the key's operations: kms:Decrypt, \
                 kms:Describe*, cipherdrop:Unwrap, ...)"
            ))
        };
    }
    let glob = pieces(a, "", true);
    if V0_ACTIONS.iter().any(|(bare, _)| like(&glob, bare)) {
        return Ok(ActionPattern::V0(glob));
    }
    let named = format!("kms:{a}");
    if KEY_POLICY_ACTIONS.iter().any(|name| name.eq_ignore_ascii_case(&named)) {
        Err(format!("unknown action {a:?} (write it {named:?})"))
    } else {
        Err(format!("unknown action {a:?}"))
    }
}

fn resource(r: &str) -> Result<ResourcePattern, String> {
    if r == "*" {
        Ok(ResourcePattern::Everything)
    } else if r.starts_with("arn:") && r.splitn(6, ':').count() == 6 {
        Ok(ResourcePattern::Arn(r.to_owned()))
    } else {
        Err(format!("{r:?} is not \"*\" or an ARN (arn:aws:kms:REGION:ACCOUNT:key/KEY_ID)"))
    }
}

fn conditions(value: &Value, at: &str) -> Result<Vec<Condition>, String> {
    let mut out = Vec::new();
    for (op, keys) in object(value, at)? {
        let operator = Operator::parse(op)
            .ok_or_else(|| format!("{at}: unknown condition operator {op:?}"))?;
        let at = format!("{at}.{op}");
        for (key, values) in object(keys, &at)? {
            let at = format!("{at}.{key:?}");
            let key = Key::parse(key).map_err(|e| format!("{at}: {e}"))?;
            let values: Vec<String> = match values {
                Value::Bool(b) if operator.takes_booleans() => vec![b.to_string()],
                values => strings(values, &at)?.into_iter().map(str::to_owned).collect(),
            };
            if operator.takes_booleans()
                && let Some(v) = values.iter().find(|v| !matches!(v.as_str(), "true" | "false"))
            {
                return Err(format!("{at}: {v:?} is not \"true\" or \"false\""));
            }
            out.push(Condition { operator, key, values });
        }
    }
    Ok(out)
}

fn object<'v>(value: &'v Value, at: &str) -> Result<&'v serde_json::Map<String, Value>, String> {
    value.as_object().ok_or_else(|| format!("{at} is not a JSON object"))
}

fn string<'v>(value: &'v Value, at: &str) -> Result<&'v str, String> {
    value.as_str().ok_or_else(|| format!("{at} is not a string"))
}

/// A string or a list of strings.
fn strings<'v>(value: &'v Value, at: &str) -> Result<Vec<&'v str>, String> {
    let not = || format!("{at} is not a string or a list of strings");
    match value {
        Value::String(s) => Ok(vec![s]),
        Value::Array(items) => items.iter().map(|v| v.as_str().ok_or_else(not)).collect(),
        _ => Err(not()),
    }
}

/// Kleene OR: true if any is, unknown if any is and none is true.
fn any(values: impl IntoIterator<Item = Option<bool>>) -> Option<bool> {
    let mut unknown = false;
    for v in values {
        match v {
            Some(true) => return Some(true),
            None => unknown = true,
            Some(false) => {}
        }
    }
    (!unknown).then_some(false)
}

/// Kleene AND: false if any is, unknown if any is and none is false.
fn all(values: impl IntoIterator<Item = Option<bool>>) -> Option<bool> {
    any(values.into_iter().map(|v| v.map(|b| !b))).map(|b| !b)
}

impl Statement {
    /// Whether its principal, action and resource name the request; `None` when the request
    /// cannot tell (an account or key ARN it does not carry).
    pub(super) fn names(&self, r: &Request<'_>) -> Option<bool> {
        let principal = self.principal.names(|p| p.names(r));
        let action = self.action.names(|a| Some(a.names(r.action)));
        let resource = self.resource.names(|res| res.names(r));
        all([principal, action, resource])
    }

    /// Whether its conditions hold; `None` when the request cannot tell (a context key
    /// without a verified context, say). Claim keys always can: a caller without a claim
    /// has no value for it.
    pub(super) fn conditions_hold(&self, r: &Request<'_>) -> Option<bool> {
        all(self.conditions.iter().map(|c| {
            let actual = c.key.values(r)?;
            Some(c.operator.holds(&c.values, &actual, r.principal))
        }))
    }
}

impl<T> Negatable<T> {
    fn names(&self, item_names: impl Fn(&T) -> Option<bool>) -> Option<bool> {
        any(self.items.iter().map(item_names)).map(|b| b != self.negated)
    }
}

impl Principal {
    fn names(&self, r: &Request<'_>) -> Option<bool> {
        let of_account = |account: &str| (!r.account.is_empty()).then(|| account == r.account);
        match self {
            Self::Account(account) => {
                of_account(account).map(|ours| ours && r.principal == crate::ADMIN_PRINCIPAL)
            }
            Self::Everyone => Some(true),
            Self::Name(name) => Some(name == r.principal),
            Self::Never => Some(false),
            Self::User { account, name } => {
                of_account(account).map(|ours| ours && name == r.principal)
            }
        }
    }
}

impl ActionPattern {
    fn names(&self, action: &str) -> bool {
        match self {
            Self::Everything => true,
            Self::Named(glob) => like(glob, &action.to_lowercase()),
            Self::V0(glob) => V0_ACTIONS
                .iter()
                .any(|(bare, named)| named.eq_ignore_ascii_case(action) && like(glob, bare)),
        }
    }
}

impl ResourcePattern {
    fn names(&self, r: &Request<'_>) -> Option<bool> {
        match self {
            Self::Everything => Some(true),
            Self::Arn(_) if r.key_arn.is_empty() => None,
            Self::Arn(pattern) => Some(arn_like(pattern, r.key_arn, r.principal)),
        }
    }
}
