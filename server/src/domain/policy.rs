//! Key policies: JSON statements in the shape of AWS KMS key policies.
//!
//! A statement applies when its principal, action and every condition match. Any applicable
//! Deny wins; otherwise any applicable Allow allows; no statement means deny. Conditions test
//! encryption-context keys (`"EncryptionContext:owner"`) with `StringEquals`,
//! `StringNotEquals` or `StringLike` (`*` and `?` wildcards); values may use `${principal}`.

use std::collections::BTreeMap;

use cipherdrop::EncryptionContext;
use serde::{Deserialize, Serialize};

use super::error::DomainError;

/// Actions a key policy can name.
pub const ACTIONS: [&str; 11] = [
    "CancelKeyDeletion",
    "Decrypt",
    "DescribeKey",
    "DisableKey",
    "EnableKey",
    "GetKeyPolicy",
    "GetPublicKey",
    "PutKeyPolicy",
    "RotateKey",
    "ScheduleKeyDeletion",
    "Unwrap",
];

/// Prefix of condition keys that test the verified encryption context.
const CONTEXT_KEY_PREFIX: &str = "EncryptionContext:";

/// A key policy.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// Free-form version label.
    #[serde(rename = "Version", default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// The statements.
    #[serde(rename = "Statement")]
    pub statements: Vec<Statement>,
}

/// One statement.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Statement {
    /// Optional label.
    #[serde(rename = "Sid", default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    /// Allow or Deny.
    #[serde(rename = "Effect")]
    pub effect: Effect,
    /// Principal names, or `*`.
    #[serde(rename = "Principal")]
    pub principal: OneOrMany,
    /// Action names, or `*`.
    #[serde(rename = "Action")]
    pub action: OneOrMany,
    /// Operator -> condition key -> accepted values.
    #[serde(rename = "Condition", default, skip_serializing_if = "BTreeMap::is_empty")]
    pub condition: BTreeMap<String, BTreeMap<String, OneOrMany>>,
}

/// Statement effect.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub enum Effect {
    /// Grants.
    Allow,
    /// Refuses, whatever else grants.
    Deny,
}

/// A string or a list of strings.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum OneOrMany {
    /// One value.
    One(String),
    /// Several values.
    Many(Vec<String>),
}

impl OneOrMany {
    fn iter(&self) -> impl Iterator<Item = &str> {
        let slice = match self {
            Self::One(s) => std::slice::from_ref(s),
            Self::Many(v) => v.as_slice(),
        };
        slice.iter().map(String::as_str)
    }
}

/// The policy a new key gets: the admin may do everything.
pub fn default_policy() -> Policy {
    Policy {
        version: Some("2026-11-23".into()),
        statements: vec![Statement {
            sid: Some("AdminFullAccess".into()),
            effect: Effect::Allow,
            principal: OneOrMany::One(crate::ADMIN_PRINCIPAL.into()),
            action: OneOrMany::One("*".into()),
            condition: BTreeMap::new(),
        }],
    }
}

impl Policy {
    /// Parses and validates a policy document.
    pub fn from_json(value: serde_json::Value) -> Result<Self, DomainError> {
        let policy: Self = serde_json::from_value(value)
            .map_err(|e| DomainError::invalid(format!("invalid policy: {e}")))?;
        for st in &policy.statements {
            if let Some(a) = st.action.iter().find(|a| *a != "*" && !ACTIONS.contains(a)) {
                return Err(DomainError::invalid(format!("unknown action {a:?}")));
            }
            for (op, conditions) in &st.condition {
                if !["StringEquals", "StringNotEquals", "StringLike"].contains(&op.as_str()) {
                    return Err(DomainError::invalid(format!("unknown condition operator {op:?}")));
                }
                if let Some(k) = conditions.keys().find(|k| !k.starts_with(CONTEXT_KEY_PREFIX)) {
                    return Err(DomainError::invalid(format!(
                        "condition key {k:?} must start with {CONTEXT_KEY_PREFIX:?}"
                    )));
                }
            }
        }
        Ok(policy)
    }

    /// Whether `principal` may do `action`; `context` is the verified encryption context, or
    /// `None` where there is none (then every context condition is false).
    pub fn allows(
        &self,
        principal: &str,
        action: &str,
        context: Option<&EncryptionContext>,
    ) -> bool {
        let applicable = |effect| {
            self.statements.iter().filter(move |st| st.effect == effect).any(|st| {
                st.principal.iter().any(|p| p == "*" || p == principal)
                    && st.action.iter().any(|a| a == "*" || a == action)
                    && st.conditions_hold(principal, context)
            })
        };
        !applicable(Effect::Deny) && applicable(Effect::Allow)
    }

    /// Whether some Allow statement could grant `action` to `principal` in some context, and
    /// no unconditional Deny refuses it: the cheap check made before any RSA work.
    pub fn may_allow(&self, principal: &str, action: &str) -> bool {
        let names = |st: &Statement| {
            st.principal.iter().any(|p| p == "*" || p == principal)
                && st.action.iter().any(|a| a == "*" || a == action)
        };
        let denied = self
            .statements
            .iter()
            .any(|st| st.effect == Effect::Deny && st.condition.is_empty() && names(st));
        !denied && self.statements.iter().any(|st| st.effect == Effect::Allow && names(st))
    }
}

impl Statement {
    fn conditions_hold(&self, principal: &str, context: Option<&EncryptionContext>) -> bool {
        self.condition.iter().all(|(op, conditions)| {
            conditions.iter().all(|(key, values)| {
                let name = &key[CONTEXT_KEY_PREFIX.len()..];
                let Some(actual) = context.and_then(|c| c.get(name)) else { return false };
                let mut expected = values.iter().map(|v| v.replace("${principal}", principal));
                match op.as_str() {
                    "StringEquals" => expected.any(|v| v == *actual),
                    "StringNotEquals" => expected.all(|v| v != *actual),
                    "StringLike" => expected.any(|v| like(&v, actual)),
                    _ => false,
                }
            })
        })
    }
}

/// Glob match with `*` (any run) and `?` (any one character).
fn like(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn policy(json: serde_json::Value) -> Policy {
        Policy::from_json(json).unwrap()
    }

    fn ctx(owner: &str) -> EncryptionContext {
        [("owner".to_string(), owner.to_string())].into()
    }

    #[test]
    fn owner_equals_principal_is_one_statement() {
        let p = policy(serde_json::json!({"Statement": [{
            "Effect": "Allow", "Principal": "*", "Action": "Unwrap",
            "Condition": {"StringEquals": {"EncryptionContext:owner": "${principal}"}}
        }]}));
        assert!(p.allows("alice", "Unwrap", Some(&ctx("alice"))));
        assert!(!p.allows("bob", "Unwrap", Some(&ctx("alice"))));
        assert!(!p.allows("alice", "Unwrap", None));
        assert!(!p.allows("alice", "DisableKey", Some(&ctx("alice"))));
        assert!(p.may_allow("bob", "Unwrap"));
    }

    #[test]
    fn deny_wins_and_silence_denies() {
        let p = policy(serde_json::json!({"Statement": [
            {"Effect": "Allow", "Principal": ["alice", "bob"], "Action": "*"},
            {"Effect": "Deny", "Principal": "bob", "Action": ["Unwrap", "Decrypt"]}
        ]}));
        assert!(p.allows("alice", "Unwrap", None));
        assert!(!p.allows("bob", "Unwrap", None));
        assert!(!p.may_allow("bob", "Unwrap"));
        assert!(p.allows("bob", "DescribeKey", None));
        assert!(!p.allows("carol", "DescribeKey", None));
    }

    #[test]
    fn like_and_not_equals() {
        let p = policy(serde_json::json!({"Statement": [{
            "Effect": "Allow", "Principal": "*", "Action": "Unwrap",
            "Condition": {"StringLike": {"EncryptionContext:owner": "team-*"},
                          "StringNotEquals": {"EncryptionContext:owner": "team-x"}}
        }]}));
        assert!(p.allows("a", "Unwrap", Some(&ctx("team-ab"))));
        assert!(!p.allows("a", "Unwrap", Some(&ctx("team-x"))));
        assert!(!p.allows("a", "Unwrap", Some(&ctx("other"))));
        assert!(like("a?c*", "abcdef") && !like("a?c", "abcd") && like("*", ""));
    }

    #[test]
    fn rejects_unknown_actions_operators_and_keys() {
        for bad in [
            serde_json::json!({"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "Nope"}]}),
            serde_json::json!({"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "*",
                "Condition": {"NumericEquals": {"EncryptionContext:a": "1"}}}]}),
            serde_json::json!({"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "*",
                "Condition": {"StringEquals": {"aws:username": "1"}}}]}),
            serde_json::json!({"Statement": [{"Effect": "Maybe", "Principal": "*", "Action": "*"}]}),
        ] {
            assert!(Policy::from_json(bad).is_err());
        }
    }
}
