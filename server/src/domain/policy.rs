//! Key policies: JSON statements in the shape of AWS KMS key policies, evaluated the way AWS
//! IAM evaluates policies (README "Key policy semantics" has the full table).
//!
//! - Default deny: a request is allowed only when some Allow statement applies, and no Deny
//!   statement applies (an applicable Deny beats any Allow).
//! - A statement applies when its principal and action name the request (`*` as a whole value
//!   names everything; actions also take `*`/`?` globs such as `Get*`) and its conditions hold.
//! - Conditions test the verified encryption context (`"EncryptionContext:owner"`):
//!   operators are AND'ed, the keys of one operator are AND'ed, the values of one key are
//!   OR'ed (NOR'ed for the negated operators). A missing key makes a positive operator false,
//!   a negated one true; `…IfExists` makes it true for any operator; `Null` tests absence;
//!   `ForAllValues:`/`ForAnyValue:` treat the single-valued context key as a set of at most
//!   one value.
//! - A statement with conditions cannot be evaluated without a verified encryption context
//!   (every action but Unwrap): then an Allow does not apply and a Deny does (fail closed).
//!
//! Documents from clients go through [`PolicyDocument`] (duplicate JSON keys refused while
//! parsing, 32 KiB at most) and [`Policy::from_json`] (unknown members, actions, operators and
//! condition keys refused).

use std::collections::BTreeMap;
use std::fmt;

use cipherdrop::EncryptionContext;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::Value;

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

/// The largest policy a client may set: its compact JSON serialization, in bytes (the
/// AWS KMS key policy limit).
pub const MAX_POLICY_BYTES: usize = 32 * 1024;

/// Prefix of condition keys that test the verified encryption context.
const CONTEXT_KEY_PREFIX: &str = "EncryptionContext:";
/// Prefix of condition keys that test a claim of the caller's OpenID Connect token.
const CLAIM_KEY_PREFIX: &str = "Jwt:";

/// The claims of the caller's sign-in token, each as its values (a string claim has one, an
/// array of strings several); empty for callers with a static token.
pub type Claims = BTreeMap<String, Vec<String>>;

/// No claims.
pub(crate) static NO_CLAIMS: Claims = BTreeMap::new();

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
    /// Action names, `*`, or globs of action names (`Get*`).
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
    /// Parses and validates a policy document: unknown members, actions, condition operators
    /// and condition keys are refused. It does not see duplicate JSON keys (a
    /// [`Value`] has already dropped them) and applies no size limit, so that a stored policy
    /// always loads: documents from clients come through [`PolicyDocument`] or
    /// [`Policy::from_json_text`].
    pub fn from_json(value: Value) -> Result<Self, DomainError> {
        let policy: Self = serde_json::from_value(value)
            .map_err(|e| DomainError::invalid(format!("invalid policy: {e}")))?;
        for st in &policy.statements {
            if let Some(a) = st.action.iter().find(|a| !known_action(a)) {
                return Err(DomainError::invalid(format!("unknown action {a:?}")));
            }
            for (op, conditions) in &st.condition {
                let Some(operator) = Operator::parse(op) else {
                    return Err(DomainError::invalid(format!("unknown condition operator {op:?}")));
                };
                for (key, values) in conditions {
                    let known = [CONTEXT_KEY_PREFIX, CLAIM_KEY_PREFIX]
                        .iter()
                        .any(|p| key.strip_prefix(p).is_some_and(|name| !name.is_empty()));
                    if !known {
                        return Err(DomainError::invalid(format!(
                            "condition key {key:?} must start with {CONTEXT_KEY_PREFIX:?} or \
                             {CLAIM_KEY_PREFIX:?}"
                        )));
                    }
                    if operator == Operator::Null
                        && let Some(v) = values.iter().find(|v| !matches!(*v, "true" | "false"))
                    {
                        return Err(DomainError::invalid(format!(
                            "Null condition on {key:?}: {v:?} is not \"true\" or \"false\""
                        )));
                    }
                }
            }
        }
        Ok(policy)
    }

    /// Parses a policy document from JSON text as a client sends it: duplicate object keys
    /// anywhere are refused (naming the key), as are documents over [`MAX_POLICY_BYTES`];
    /// then [`Policy::from_json`].
    pub fn from_json_text(text: &str) -> Result<Self, DomainError> {
        let document: PolicyDocument = serde_json::from_str(text)
            .map_err(|e| DomainError::invalid(format!("invalid policy: {e}")))?;
        Self::from_json(document.0)
    }

    /// Whether `principal` may do `action`; `context` is the verified encryption context, or
    /// `None` where there is none (every action but Unwrap). Without one, a statement with
    /// conditions cannot be evaluated: an Allow does not apply, a Deny does.
    pub fn allows(
        &self,
        principal: &str,
        action: &str,
        context: Option<&EncryptionContext>,
    ) -> bool {
        self.allows_with_claims(principal, &NO_CLAIMS, action, context)
    }

    /// [`Policy::allows`] for a caller signed in with claims (`Jwt:NAME` condition keys).
    pub fn allows_with_claims(
        &self,
        principal: &str,
        claims: &Claims,
        action: &str,
        context: Option<&EncryptionContext>,
    ) -> bool {
        let request = Request { principal, claims, context };
        let applicable = |effect| {
            self.statements
                .iter()
                .filter(move |st| st.effect == effect)
                .any(|st| st.applies(&request, action))
        };
        !applicable(Effect::Deny) && applicable(Effect::Allow)
    }

    /// The cheap check made before any RSA work, for an action that will then be evaluated
    /// with a verified context (Unwrap). False only when no context could make
    /// [`Policy::allows`] true: no Allow names `principal` and `action`, or a Deny without
    /// conditions does (one that applies in every context). Conditional statements are
    /// left to [`Policy::allows`] with the verified context; this is a pre-filter, not the
    /// decision.
    pub fn may_allow(&self, principal: &str, action: &str) -> bool {
        let denied = self.statements.iter().any(|st| {
            st.effect == Effect::Deny && !st.is_conditional() && st.names(principal, action)
        });
        !denied
            && self
                .statements
                .iter()
                .any(|st| st.effect == Effect::Allow && st.names(principal, action))
    }
}

/// Whether `a` is a valid Action value: `*`, an action name, or a glob that names one.
fn known_action(a: &str) -> bool {
    a == "*"
        || ACTIONS.contains(&a)
        || (a.contains(['*', '?']) && ACTIONS.iter().any(|name| action_matches(a, name)))
}

/// Whether the Action value `pattern` names `action`.
fn action_matches(pattern: &str, action: &str) -> bool {
    let glob: Vec<Piece> = pattern
        .chars()
        .map(|c| match c {
            '*' => Piece::AnyRun,
            '?' => Piece::AnyOne,
            c => Piece::Char(c),
        })
        .collect();
    like(&glob, action)
}

/// What conditions are evaluated against.
struct Request<'a> {
    principal: &'a str,
    claims: &'a Claims,
    /// The verified encryption context; `None` where there is none.
    context: Option<&'a EncryptionContext>,
}

impl Statement {
    /// Whether its principal and action name the request.
    fn names(&self, principal: &str, action: &str) -> bool {
        self.principal.iter().any(|p| p == "*" || p == principal)
            && self.action.iter().any(|a| action_matches(a, action))
    }

    /// Whether it has a condition on some key (an operator with no keys tests nothing).
    fn is_conditional(&self) -> bool {
        self.condition.values().any(|keys| !keys.is_empty())
    }

    /// Whether its conditions hold; `None` when they cannot be evaluated: a context key
    /// without a verified context, or (in a policy not made by [`Policy::from_json`]) an
    /// unknown operator or key. Claim keys always can: a caller without a claim has no
    /// value for it.
    fn conditions_hold(&self, request: &Request<'_>) -> Option<bool> {
        let mut all = true;
        for (op, keys) in &self.condition {
            let operator = Operator::parse(op)?;
            for (key, values) in keys {
                let actual: Vec<&str> = if let Some(name) = key.strip_prefix(CONTEXT_KEY_PREFIX) {
                    request.context?.get(name).map(String::as_str).into_iter().collect()
                } else {
                    let name = key.strip_prefix(CLAIM_KEY_PREFIX)?;
                    request
                        .claims
                        .get(name)
                        .map_or_else(Vec::new, |v| v.iter().map(String::as_str).collect())
                };
                all &= operator.holds(values, &actual, request.principal);
            }
        }
        Some(all)
    }

    /// Whether it applies to the request; conditions that cannot be evaluated fail closed.
    fn applies(&self, request: &Request<'_>, action: &str) -> bool {
        self.names(request.principal, action)
            && self.conditions_hold(request).unwrap_or(self.effect == Effect::Deny)
    }
}

/// How a string operator compares a context value with a policy value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Compare {
    /// `StringEquals`: exact, case-sensitive.
    Equals,
    /// `StringEqualsIgnoreCase`: exact after Unicode lowercasing of both sides.
    EqualsIgnoreCase,
    /// `StringLike`: case-sensitive glob, `*` any run and `?` any one character.
    Like,
}

/// The `ForAllValues:`/`ForAnyValue:` set prefix, if any.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Quantifier {
    /// No prefix.
    Single,
    /// `ForAllValues:`: every value of the key satisfies the operator; true for no value.
    ForAllValues,
    /// `ForAnyValue:`: some value of the key satisfies the operator; false for no value.
    ForAnyValue,
}

/// A condition operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Operator {
    /// `Null`: `"true"` holds when the key is absent, `"false"` when it is present.
    Null,
    /// A string operator, perhaps negated (`StringNot…`), `…IfExists`, or set-prefixed.
    String { quantifier: Quantifier, compare: Compare, negated: bool, if_exists: bool },
}

impl Operator {
    fn parse(name: &str) -> Option<Self> {
        let (quantifier, rest) = if let Some(rest) = name.strip_prefix("ForAllValues:") {
            (Quantifier::ForAllValues, rest)
        } else if let Some(rest) = name.strip_prefix("ForAnyValue:") {
            (Quantifier::ForAnyValue, rest)
        } else {
            (Quantifier::Single, name)
        };
        if rest == "Null" {
            return (quantifier == Quantifier::Single).then_some(Self::Null);
        }
        let (rest, if_exists) = match rest.strip_suffix("IfExists") {
            Some(rest) => (rest, true),
            None => (rest, false),
        };
        let (compare, negated) = match rest {
            "StringEquals" => (Compare::Equals, false),
            "StringNotEquals" => (Compare::Equals, true),
            "StringEqualsIgnoreCase" => (Compare::EqualsIgnoreCase, false),
            "StringNotEqualsIgnoreCase" => (Compare::EqualsIgnoreCase, true),
            "StringLike" => (Compare::Like, false),
            "StringNotLike" => (Compare::Like, true),
            _ => return None,
        };
        Some(Self::String { quantifier, compare, negated, if_exists })
    }

    /// Whether the condition on one key holds: `actual` is the key's set of values (one or
    /// none for a context key, any number for a claim), `values` the policy's. Without a set
    /// prefix an operator asks whether some value matches (negated: whether none does).
    fn holds(self, values: &OneOrMany, actual: &[&str], principal: &str) -> bool {
        let Self::String { quantifier, compare, negated, if_exists } = self else {
            return values.iter().any(|v| match v {
                "true" => actual.is_empty(),
                "false" => !actual.is_empty(),
                _ => false,
            });
        };
        if actual.is_empty() {
            // The key's set of values is empty.
            return match quantifier {
                Quantifier::Single => negated || if_exists,
                Quantifier::ForAllValues => true,
                Quantifier::ForAnyValue => if_exists,
            };
        }
        let matches = |a: &&str| values.iter().any(|v| compare.matches(v, a, principal));
        match quantifier {
            Quantifier::Single => actual.iter().any(matches) != negated,
            Quantifier::ForAllValues => actual.iter().all(|a| matches(a) != negated),
            Quantifier::ForAnyValue => actual.iter().any(|a| matches(a) != negated),
        }
    }
}

impl Compare {
    fn matches(self, value: &str, actual: &str, principal: &str) -> bool {
        match self {
            Self::Equals => literal(value, principal) == actual,
            Self::EqualsIgnoreCase => {
                literal(value, principal).to_lowercase() == actual.to_lowercase()
            }
            Self::Like => like(&pieces(value, principal, true), actual),
        }
    }
}

/// One element of a glob pattern.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Piece {
    /// This character, literally.
    Char(char),
    /// `*`: any run of characters, the empty one included.
    AnyRun,
    /// `?`: exactly one character.
    AnyOne,
}

/// A policy value with its variables replaced: `${principal}` by the caller's principal,
/// and `${*}`, `${?}`, `${$}` by a literal `*`, `?`, `$` (as in AWS policies). With
/// `wildcards`, a bare `*` or `?` is a glob wildcard; otherwise every character is literal.
fn pieces(value: &str, principal: &str, wildcards: bool) -> Vec<Piece> {
    let mut out = Vec::with_capacity(value.len());
    let mut rest = value;
    while let Some(c) = rest.chars().next() {
        let literal: Option<(&str, &str)> =
            [("${principal}", principal), ("${*}", "*"), ("${?}", "?"), ("${$}", "$")]
                .into_iter()
                .find(|(variable, _)| rest.starts_with(variable));
        if let Some((variable, replacement)) = literal {
            out.extend(replacement.chars().map(Piece::Char));
            rest = &rest[variable.len()..];
            continue;
        }
        out.push(match c {
            '*' if wildcards => Piece::AnyRun,
            '?' if wildcards => Piece::AnyOne,
            c => Piece::Char(c),
        });
        rest = &rest[c.len_utf8()..];
    }
    out
}

/// A policy value with its variables replaced, as a string (no wildcards).
fn literal(value: &str, principal: &str) -> String {
    pieces(value, principal, false)
        .into_iter()
        .map(|p| match p {
            Piece::Char(c) => c,
            // Not produced without wildcards.
            Piece::AnyRun => '*',
            Piece::AnyOne => '?',
        })
        .collect()
}

/// Whether `text` matches the glob `pattern`. Wildcards exist only in the pattern: every
/// character of `text` (a `*` or `?` included) is literal. Characters are Unicode scalar
/// values. Greedy with one backtrack point (the last `*`), which is exact for `*`/`?` globs:
/// O(pattern × text) at worst.
fn like(pattern: &[Piece], text: &str) -> bool {
    let text: Vec<char> = text.chars().collect();
    let (mut p, mut t) = (0, 0);
    // After the last `*` seen: the pattern position following it, and the text position
    // its run ends at so far.
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some(Piece::AnyRun) => {
                star = Some((p + 1, t));
                p += 1;
            }
            Some(Piece::AnyOne) => {
                p += 1;
                t += 1;
            }
            Some(Piece::Char(c)) if *c == text[t] => {
                p += 1;
                t += 1;
            }
            _ => match star {
                // Let the last `*` take one more character, and retry after it.
                Some((after, end)) => {
                    star = Some((after, end + 1));
                    p = after;
                    t = end + 1;
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|piece| *piece == Piece::AnyRun)
}

/// A policy document as a client sends it: any JSON value, parsed with every duplicate
/// object key refused (naming it) wherever it is, and at most [`MAX_POLICY_BYTES`] as compact
/// JSON. A plain [`Value`] keeps the last of duplicate keys, so that, say, a second
/// `"Condition"` would silently replace the first. Deserialize a request body's policy member
/// into this type, then give `.0` to [`Policy::from_json`].
#[derive(Clone, Debug, PartialEq)]
pub struct PolicyDocument(pub Value);

impl<'de> Deserialize<'de> for PolicyDocument {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let Strict(value) = Strict::deserialize(deserializer)?;
        let size = serde_json::to_vec(&value).map_err(de::Error::custom)?.len();
        if size > MAX_POLICY_BYTES {
            return Err(de::Error::custom(format!(
                "the policy is {size} bytes as compact JSON; the limit is {MAX_POLICY_BYTES}"
            )));
        }
        Ok(Self(value))
    }
}

/// A JSON value whose objects (at any depth) have no duplicate keys.
struct Strict(Value);

impl<'de> Deserialize<'de> for Strict {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(StrictVisitor).map(Strict)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        Strict::deserialize(deserializer).map(|Strict(v)| v)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(Strict(item)) = seq.next_element()? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = serde_json::Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if object.contains_key(&key) {
                return Err(de::Error::custom(format!("duplicate key {key:?} in a JSON object")));
            }
            let Strict(value) = map.next_value()?;
            object.insert(key, value);
        }
        Ok(Value::Object(object))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn policy(json: Value) -> Policy {
        Policy::from_json(json).unwrap()
    }

    fn ctx(pairs: &[(&str, &str)]) -> EncryptionContext {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn glob(pattern: &str) -> Vec<Piece> {
        pieces(pattern, "", true)
    }

    fn claims(pairs: &[(&str, &[&str])]) -> Claims {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.iter().map(|s| s.to_string()).collect()))
            .collect()
    }

    /// `Jwt:NAME` keys: multi-valued claims under each quantifier, absent claims (static
    /// tokens), and evaluation without an encryption context.
    #[test]
    fn claim_conditions() {
        let allow = |op: &str, values: Value| {
            policy(json!({ "Statement": [{ "Effect": "Allow", "Principal": "*", "Action": "*",
                "Condition": { op: { "Jwt:groups": values } } }] }))
        };
        let finance = claims(&[("groups", &["finance", "staff"])]);
        let staff = claims(&[("groups", &["staff"])]);
        let none = Claims::new();
        // (operator, policy values, [finance+staff, staff only, no claim])
        let cases: [(&str, Value, [bool; 3]); 8] = [
            ("StringEquals", json!("finance"), [true, false, false]),
            ("ForAnyValue:StringEquals", json!("finance"), [true, false, false]),
            ("ForAllValues:StringEquals", json!("finance"), [false, false, true]),
            ("ForAllValues:StringEquals", json!(["finance", "staff"]), [true, true, true]),
            ("StringNotEquals", json!("finance"), [false, true, true]),
            ("ForAnyValue:StringNotEquals", json!("finance"), [true, true, false]),
            ("ForAllValues:StringNotEquals", json!("finance"), [false, true, true]),
            ("StringLike", json!("fin*"), [true, false, false]),
        ];
        for (op, values, expected) in cases {
            let p = allow(op, values.clone());
            for (who, want) in [&finance, &staff, &none].into_iter().zip(expected) {
                // No encryption context needed: claims are known for every action.
                let got = p.allows_with_claims("alice", who, "DescribeKey", None);
                assert_eq!(got, want, "{op} {values} for {who:?}");
            }
        }
        // A Deny on a claim stops static-token callers too (they have no such claim).
        let p = policy(json!({ "Statement": [
            { "Effect": "Allow", "Principal": "*", "Action": "*" },
            { "Effect": "Deny", "Principal": "*", "Action": "Unwrap",
              "Condition": { "ForAnyValue:StringNotEquals": { "Jwt:email_verified": "true" } } },
            { "Effect": "Deny", "Principal": "*", "Action": "Unwrap",
              "Condition": { "Null": { "Jwt:email_verified": "true" } } }] }));
        let verified = claims(&[("email_verified", &["true"])]);
        let context = ctx(&[("owner", "alice")]);
        assert!(p.allows_with_claims("alice", &verified, "Unwrap", Some(&context)));
        assert!(!p.allows("alice", "Unwrap", Some(&context)));
        assert!(!p.allows_with_claims(
            "alice",
            &claims(&[("email_verified", &["false"])]),
            "Unwrap",
            Some(&context)
        ));
        assert!(
            Policy::from_json(json!({ "Statement": [{ "Effect": "Allow", "Principal": "*",
            "Action": "*", "Condition": { "StringEquals": { "Jwt:": "x" } } }] }))
            .is_err()
        );
    }

    /// The README's semantics table, cell by cell: every operator (plain, `…IfExists`,
    /// `ForAllValues:`, `ForAnyValue:`, `Null`) against a context where the key is present
    /// and matches, present and matches none of the values, absent, and no verified context
    /// at all; each in an Allow statement (does it grant?) and in a Deny statement next to an
    /// unconditional Allow (does it refuse?).
    #[test]
    fn semantics_table() {
        // Condition result for: present & matching, present & matching none, absent.
        const T: bool = true;
        const F: bool = false;
        let table: [(&str, [bool; 3]); 38] = [
            ("StringEquals", [T, F, F]),
            ("StringEqualsIgnoreCase", [T, F, F]),
            ("StringLike", [T, F, F]),
            ("StringNotEquals", [F, T, T]),
            ("StringNotEqualsIgnoreCase", [F, T, T]),
            ("StringNotLike", [F, T, T]),
            ("StringEqualsIfExists", [T, F, T]),
            ("StringEqualsIgnoreCaseIfExists", [T, F, T]),
            ("StringLikeIfExists", [T, F, T]),
            ("StringNotEqualsIfExists", [F, T, T]),
            ("StringNotEqualsIgnoreCaseIfExists", [F, T, T]),
            ("StringNotLikeIfExists", [F, T, T]),
            ("ForAllValues:StringEquals", [T, F, T]),
            ("ForAllValues:StringEqualsIgnoreCase", [T, F, T]),
            ("ForAllValues:StringLike", [T, F, T]),
            ("ForAllValues:StringNotEquals", [F, T, T]),
            ("ForAllValues:StringNotEqualsIgnoreCase", [F, T, T]),
            ("ForAllValues:StringNotLike", [F, T, T]),
            ("ForAllValues:StringEqualsIfExists", [T, F, T]),
            ("ForAllValues:StringEqualsIgnoreCaseIfExists", [T, F, T]),
            ("ForAllValues:StringLikeIfExists", [T, F, T]),
            ("ForAllValues:StringNotEqualsIfExists", [F, T, T]),
            ("ForAllValues:StringNotEqualsIgnoreCaseIfExists", [F, T, T]),
            ("ForAllValues:StringNotLikeIfExists", [F, T, T]),
            ("ForAnyValue:StringEquals", [T, F, F]),
            ("ForAnyValue:StringEqualsIgnoreCase", [T, F, F]),
            ("ForAnyValue:StringLike", [T, F, F]),
            ("ForAnyValue:StringNotEquals", [F, T, F]),
            ("ForAnyValue:StringNotEqualsIgnoreCase", [F, T, F]),
            ("ForAnyValue:StringNotLike", [F, T, F]),
            ("ForAnyValue:StringEqualsIfExists", [T, F, T]),
            ("ForAnyValue:StringEqualsIgnoreCaseIfExists", [T, F, T]),
            ("ForAnyValue:StringLikeIfExists", [T, F, T]),
            ("ForAnyValue:StringNotEqualsIfExists", [F, T, T]),
            ("ForAnyValue:StringNotEqualsIgnoreCaseIfExists", [F, T, T]),
            ("ForAnyValue:StringNotLikeIfExists", [F, T, T]),
            ("Null:true", [F, F, T]),
            ("Null:false", [T, T, F]),
        ];
        for (row, expected) in table {
            // (operator, policy value, a matching context value); "ops" matches none.
            let (op, value, matching) = match row {
                "Null:true" => ("Null", "true", "eng"),
                "Null:false" => ("Null", "false", "eng"),
                op if op.contains("IgnoreCase") => (op, "ENG", "eNg"),
                op if op.contains("Like") => (op, "e?g*", "engineering"),
                op => (op, "eng", "eng"),
            };
            let condition = json!({ op: { "EncryptionContext:dept": value } });
            let allow = policy(json!({ "Statement": [
                { "Effect": "Allow", "Principal": "bob", "Action": "Unwrap",
                  "Condition": condition },
            ]}));
            let deny = policy(json!({ "Statement": [
                { "Effect": "Allow", "Principal": "bob", "Action": "*" },
                { "Effect": "Deny", "Principal": "bob", "Action": ["Unwrap", "Decrypt"],
                  "Condition": condition },
            ]}));
            let contexts = [
                ctx(&[("dept", matching), ("owner", "bob")]),
                ctx(&[("dept", "ops"), ("owner", "bob")]),
                ctx(&[("owner", "bob")]),
            ];
            for (context, holds) in contexts.iter().zip(expected) {
                let c = Some(context);
                assert_eq!(allow.allows("bob", "Unwrap", c), holds, "Allow {row} {context:?}");
                assert_eq!(deny.allows("bob", "Unwrap", c), !holds, "Deny {row} {context:?}");
                // Statements name principals and actions first.
                assert!(!allow.allows("carol", "Unwrap", c) && !allow.allows("bob", "Decrypt", c));
                assert!(deny.allows("bob", "DescribeKey", c), "Deny {row} names Unwrap only");
            }
            // An empty verified context is a context in which the key is absent.
            let empty = ctx(&[]);
            assert_eq!(allow.allows("bob", "Unwrap", Some(&empty)), expected[2], "{row}");
            assert_eq!(deny.allows("bob", "Unwrap", Some(&empty)), !expected[2], "{row}");
            // No verified context: the Allow never grants, the Deny always refuses (the
            // actions it names), whatever the operator.
            for action in ["Unwrap", "Decrypt"] {
                assert!(!allow.allows("bob", action, None), "Allow {row} without context");
                assert!(!deny.allows("bob", action, None), "Deny {row} without context");
            }
            assert!(deny.allows("bob", "DescribeKey", None), "{row}: unconditional Allow");
            // The pre-check never refuses what some context allows.
            assert!(allow.may_allow("bob", "Unwrap") && deny.may_allow("bob", "Unwrap"), "{row}");
        }
    }

    /// Without a verified context (Decrypt, DescribeKey, ...), a Deny on a context key
    /// applies (fail closed) and an Allow on one does not, even when the condition would hold
    /// for a missing key; statements without conditions apply as usual.
    #[test]
    fn no_verified_context_fails_closed() {
        let p = policy(json!({ "Statement": [
            { "Effect": "Allow", "Principal": "bob", "Action": ["Unwrap", "Decrypt"] },
            { "Effect": "Deny", "Principal": "*", "Action": ["Unwrap", "Decrypt"],
              "Condition": { "StringEquals": { "EncryptionContext:owner": "alice" } } },
            { "Effect": "Allow", "Principal": "carol", "Action": ["DescribeKey", "Decrypt"],
              "Condition": { "StringNotEqualsIfExists": { "EncryptionContext:owner": "x" } } },
        ]}));
        assert!(!p.allows("bob", "Decrypt", None), "the owner=alice Deny is not avoidable");
        assert!(p.allows("bob", "Unwrap", Some(&ctx(&[("owner", "bob")]))));
        assert!(!p.allows("bob", "Unwrap", Some(&ctx(&[("owner", "alice")]))));
        assert!(!p.allows("carol", "DescribeKey", None), "no context: the Allow does not apply");
        assert!(!p.allows("carol", "Decrypt", None));
        assert!(p.allows("carol", "DescribeKey", Some(&ctx(&[]))), "but it does with one");
    }

    /// Values of one key are OR'ed (NOR'ed for negated operators), keys of one operator and
    /// the operators of a statement are AND'ed.
    #[test]
    fn values_or_keys_and_operators_and() {
        let p = policy(json!({ "Statement": [{
            "Effect": "Allow", "Principal": "*", "Action": "Unwrap",
            "Condition": {
                "StringEquals": { "EncryptionContext:dept": ["eng", "ops"],
                                  "EncryptionContext:tier": "gold" },
                "StringNotEquals": { "EncryptionContext:class": ["secret", "top"] },
            }
        }]}));
        let ok = |pairs: &[(&str, &str)]| p.allows("a", "Unwrap", Some(&ctx(pairs)));
        assert!(ok(&[("dept", "eng"), ("tier", "gold")]));
        assert!(ok(&[("dept", "ops"), ("tier", "gold"), ("class", "public")]));
        assert!(!ok(&[("dept", "hr"), ("tier", "gold")]), "dept matches no value");
        assert!(!ok(&[("dept", "eng")]), "tier missing: the keys are AND'ed");
        assert!(!ok(&[("dept", "eng"), ("tier", "gold"), ("class", "secret")]), "NOR");
        assert!(!ok(&[("dept", "eng"), ("tier", "gold"), ("class", "top")]), "NOR");
    }

    /// `${principal}` is the caller; `${*}`, `${?}` and `${$}` are literal characters, so
    /// that StringLike can match a literal `*` or `?`.
    #[test]
    fn policy_variables() {
        let p = policy(json!({ "Statement": [{
            "Effect": "Allow", "Principal": "*", "Action": "Unwrap",
            "Condition": {
                "StringEquals": { "EncryptionContext:owner": "${principal}" },
                "StringLike": { "EncryptionContext:path": "/home/${principal}/${*}*" },
                "StringEqualsIgnoreCase": { "EncryptionContext:cost": "${$}5${?}" },
            }
        }]}));
        let c = |owner, path, cost| ctx(&[("owner", owner), ("path", path), ("cost", cost)]);
        assert!(p.allows("alice", "Unwrap", Some(&c("alice", "/home/alice/*x", "$5?"))));
        assert!(!p.allows("bob", "Unwrap", Some(&c("alice", "/home/alice/*x", "$5?"))));
        assert!(!p.allows("alice", "Unwrap", Some(&c("alice", "/home/alice/x", "$5?"))));
        assert!(!p.allows("alice", "Unwrap", Some(&c("alice", "/home/alice/*", "$5x"))));
        assert_eq!(literal("${unknown} ${principal}$", "p"), "${unknown} p$");
    }

    /// StringEquals is case-sensitive; the IgnoreCase forms compare Unicode lowercase.
    #[test]
    fn case_sensitivity() {
        assert!(
            Compare::Equals.matches("Eng", "Eng", "") && !Compare::Equals.matches("Eng", "eng", "")
        );
        assert!(Compare::EqualsIgnoreCase.matches("ÄRGER", "ärger", ""));
        assert!(Compare::EqualsIgnoreCase.matches("${principal}", "ALICE", "alice"));
        assert!(!Compare::EqualsIgnoreCase.matches("eng", "eng ", ""));
        assert!(!Compare::Like.matches("e*", "Eng", ""), "StringLike is case-sensitive");
    }

    /// `"Action": "*"` is every action; lists and globs name some; Deny wins; no statement
    /// means deny.
    #[test]
    fn actions_principals_deny_wins_and_default_deny() {
        let p = policy(json!({ "Statement": [
            { "Effect": "Allow", "Principal": ["alice", "bob"], "Action": "*" },
            { "Effect": "Deny", "Principal": "bob", "Action": ["Unwrap", "Decrypt"] },
            { "Effect": "Allow", "Principal": "carol", "Action": "Get*" },
            { "Effect": "Deny", "Principal": "carol", "Action": "?etKeyPolicy" },
        ]}));
        for action in ACTIONS {
            assert!(p.allows("alice", action, None), "{action}");
        }
        assert!(!p.allows("bob", "Unwrap", Some(&ctx(&[]))));
        assert!(!p.allows("bob", "Decrypt", None));
        assert!(!p.may_allow("bob", "Unwrap"));
        assert!(p.allows("bob", "DescribeKey", None));
        assert!(!p.allows("dave", "DescribeKey", None), "default deny");
        assert!(p.allows("carol", "GetPublicKey", None));
        assert!(!p.allows("carol", "GetKeyPolicy", None), "Deny glob");
        assert!(!p.allows("carol", "DescribeKey", None));
        assert!(!Policy { version: None, statements: vec![] }.allows("admin", "Unwrap", None));
    }

    #[test]
    fn owner_equals_principal_is_one_statement() {
        let p = policy(json!({"Statement": [{
            "Effect": "Allow", "Principal": "*", "Action": "Unwrap",
            "Condition": {"StringEquals": {"EncryptionContext:owner": "${principal}"}}
        }]}));
        let alice = ctx(&[("owner", "alice")]);
        assert!(p.allows("alice", "Unwrap", Some(&alice)));
        assert!(!p.allows("bob", "Unwrap", Some(&alice)));
        assert!(!p.allows("alice", "Unwrap", None));
        assert!(!p.allows("alice", "DisableKey", Some(&alice)));
        assert!(p.may_allow("bob", "Unwrap"));
    }

    /// A statement built by hand with an operator or key this version does not know cannot
    /// be evaluated: as an Allow it grants nothing, as a Deny it refuses.
    #[test]
    fn unevaluable_conditions_fail_closed() {
        let statement = |effect, op: &str, key: &str| Statement {
            sid: None,
            effect,
            principal: OneOrMany::One("*".into()),
            action: OneOrMany::One("Unwrap".into()),
            condition: [(op.to_string(), [(key.to_string(), OneOrMany::One("x".into()))].into())]
                .into(),
        };
        let all = Statement {
            condition: BTreeMap::new(),
            ..statement(Effect::Allow, "StringEquals", "EncryptionContext:a")
        };
        let c = ctx(&[("a", "x")]);
        for (op, key) in [("NumericEquals", "EncryptionContext:a"), ("StringEquals", "aws:a")] {
            let allow =
                Policy { version: None, statements: vec![statement(Effect::Allow, op, key)] };
            assert!(!allow.allows("p", "Unwrap", Some(&c)));
            let deny = Policy {
                version: None,
                statements: vec![all.clone(), statement(Effect::Deny, op, key)],
            };
            assert!(!deny.allows("p", "Unwrap", Some(&c)));
        }
    }

    /// Reference glob matcher: exhaustive recursion over the pattern.
    fn like_reference(p: &[Piece], t: &[char]) -> bool {
        match p.split_first() {
            None => t.is_empty(),
            Some((Piece::AnyRun, rest)) => (0..=t.len()).any(|i| like_reference(rest, &t[i..])),
            Some((Piece::AnyOne, rest)) => !t.is_empty() && like_reference(rest, &t[1..]),
            Some((Piece::Char(c), rest)) => t.first() == Some(c) && like_reference(rest, &t[1..]),
        }
    }

    /// Wildcards are the pattern's only: a `*` or `?` in the text is a literal character
    /// (the old matcher let a text `*` consume the pattern's `*`, so `*secret` missed
    /// `*xsecret`).
    #[test]
    fn like_wildcards_only_in_the_pattern() {
        let yes = [
            ("*secret", "*xsecret"),
            ("*secret", "secret"),
            ("*secret", "topsecret"),
            ("*secret", "**secret"),
            ("?secret", "*secret"),
            ("?secret", "?secret"),
            ("a*b*c", "a*b*c"),
            ("a*b*c", "abc"),
            ("a*b*c", "a*xb?yc"),
            ("*", ""),
            ("*", "*"),
            ("**", "anything"),
            ("", ""),
            ("a?c*", "abcdef"),
            ("*a*a*a", "aaa"),
            ("*ab", "aab"),
            ("*?", "x"),
            ("日本*", "日本語"),
            ("?本?", "日本語"),
            ("??", "é🙂"),
            ("*🙂", "x🙂"),
        ];
        let no = [
            ("*secret", "*xsecre"),
            ("*secret", "*secretx"),
            ("?secret", "secret"),
            ("?secret", "**secret"),
            ("a*b*c", "acb"),
            ("", "a"),
            ("?", ""),
            ("a?c", "abcd"),
            ("*a*a*a", "aa"),
            ("x", "*"),
            ("?", "é🙂"),
            ("*.txt", "a.txt.gz"),
        ];
        for (pattern, text) in yes {
            assert!(like(&glob(pattern), text), "{pattern:?} should match {text:?}");
        }
        for (pattern, text) in no {
            assert!(!like(&glob(pattern), text), "{pattern:?} should not match {text:?}");
        }
        // `${*}` and `${?}` are literal in the pattern.
        let literal_star = pieces("a${*}b", "", true);
        assert!(like(&literal_star, "a*b") && !like(&literal_star, "axb"));
        assert!(like(&pieces("${?}", "", true), "?") && !like(&pieces("${?}", "", true), "x"));
    }

    /// The matcher agrees with the reference on every pattern and text of up to 5
    /// characters over {a, b, *, ?}: 1,365 x 1,365 pairs.
    #[test]
    fn like_agrees_with_reference_exhaustively() {
        fn all(n: usize) -> Vec<String> {
            let mut out = vec![String::new()];
            let mut last = vec![String::new()];
            for _ in 0..n {
                last = last
                    .iter()
                    .flat_map(|s| ['a', 'b', '*', '?'].map(|c| format!("{s}{c}")))
                    .collect();
                out.extend(last.iter().cloned());
            }
            out
        }
        let strings = all(5);
        for pattern in &strings {
            let pieces = glob(pattern);
            for text in &strings {
                let chars: Vec<char> = text.chars().collect();
                assert_eq!(
                    like(&pieces, text),
                    like_reference(&pieces, &chars),
                    "{pattern:?} ~ {text:?}"
                );
            }
        }
    }

    /// Pathological patterns stay fast (no exponential backtracking).
    #[test]
    fn like_is_not_exponential() {
        let pattern = glob(&"*a".repeat(40));
        let text = "a".repeat(2000) + "b";
        assert!(!like(&pattern, &text));
        assert!(like(&pattern, &"a".repeat(2000)));
    }

    /// `may_allow` never refuses what `allows` grants in some context: checked on many
    /// pseudo-random policies against every context over the keys and values they use.
    #[test]
    fn may_allow_is_conservative() {
        let conditions = [
            json!({}),
            json!({ "StringEquals": { "EncryptionContext:k": "a" } }),
            json!({ "StringNotEquals": { "EncryptionContext:k": "a" } }),
            json!({ "StringLikeIfExists": { "EncryptionContext:k": "a*" } }),
            json!({ "StringNotLike": { "EncryptionContext:k": ["a?", "b"] } }),
            json!({ "Null": { "EncryptionContext:k": "true" } }),
            json!({ "Null": { "EncryptionContext:j": "false" } }),
            json!({ "Null": { "EncryptionContext:j": ["true", "false"] } }),
            json!({ "ForAllValues:StringEquals": { "EncryptionContext:k": "b" } }),
            json!({ "ForAnyValue:StringNotEqualsIgnoreCase": { "EncryptionContext:j": "A" } }),
            json!({ "StringEquals": { "EncryptionContext:k": "a", "EncryptionContext:j": "a" } }),
            json!({ "StringEquals": { "EncryptionContext:k": "${principal}" } }),
        ];
        let (principals, actions) = (["*", "bob", "alice"], ["*", "Unwrap", "Decrypt", "Un*"]);
        let values = [None, Some("a"), Some("b"), Some("ab"), Some("A"), Some("bob")];
        let mut contexts = Vec::new();
        for k in values {
            for j in values {
                let mut c = EncryptionContext::new();
                k.map(|v| c.insert("k".into(), v.into()));
                j.map(|v| c.insert("j".into(), v.into()));
                contexts.push(c);
            }
        }
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = |n: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            usize::try_from(seed % n as u64).unwrap()
        };
        let (mut refused, mut checked) = (0, 0);
        for _ in 0..3000 {
            let statements: Vec<Value> = (0..1 + next(4))
                .map(|_| {
                    json!({
                        "Effect": if next(2) == 0 { "Allow" } else { "Deny" },
                        "Principal": principals[next(3)],
                        "Action": actions[next(4)],
                        "Condition": conditions[next(conditions.len())],
                    })
                })
                .collect();
            let p = policy(json!({ "Statement": statements }));
            let granted = contexts.iter().any(|c| p.allows("bob", "Unwrap", Some(c)));
            if granted {
                assert!(p.may_allow("bob", "Unwrap"), "{p:?}");
                checked += 1;
            } else if !p.may_allow("bob", "Unwrap") {
                refused += 1;
            }
        }
        assert!(checked > 100 && refused > 100, "{checked} granted, {refused} pre-refused");
    }

    /// Duplicate object keys are refused wherever they are, naming the key; a plain
    /// `Value` would keep the last and so turn a conditional Allow into an unconditional one.
    #[test]
    fn duplicate_keys_are_refused_anywhere() {
        let cases = [
            (r#"{"Statement": [], "Statement": []}"#, "Statement"),
            (
                r#"{"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "Unwrap",
                   "Condition": {"StringEquals": {"EncryptionContext:owner": "bob"}},
                   "Condition": {}}]}"#,
                "Condition",
            ),
            (
                r#"{"Statement": [{"Effect": "Allow", "Effect": "Deny", "Principal": "*",
                   "Action": "*"}]}"#,
                "Effect",
            ),
            (
                r#"{"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "*",
                   "Condition": {"StringEquals": {"EncryptionContext:a": "1",
                                                  "EncryptionContext:a": "2"}}}]}"#,
                "EncryptionContext:a",
            ),
            (
                r#"{"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "*",
                   "Condition": {"Null": {"EncryptionContext:a": "true"},
                                 "Null": {"EncryptionContext:b": "true"}}}]}"#,
                "Null",
            ),
            (r#"{"Statement": [], "Version": "1", "Sid": {"x": [{"y": 1, "y": 2}]}}"#, "y"),
        ];
        for (text, key) in cases {
            let err = Policy::from_json_text(text).unwrap_err();
            let message = err.public_message();
            assert!(matches!(err, DomainError::Invalid(_)), "{message}");
            assert!(message.contains(&format!("duplicate key {key:?}")), "{text}: {message}");
        }
        // The same documents without the duplicates parse (the last case has an unknown
        // member, refused as such).
        let ok = r#"{"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "Unwrap",
                   "Condition": {"StringEquals": {"EncryptionContext:owner": "bob"}}}]}"#;
        let parsed = Policy::from_json_text(ok).unwrap();
        assert!(!parsed.allows("bob", "Unwrap", Some(&ctx(&[("owner", "eve")]))));
        let text = serde_json::to_string(&parsed).unwrap();
        assert_eq!(Policy::from_json_text(&text).unwrap(), parsed, "round trip");
    }

    /// Unknown members, actions, operators, condition keys and Null values are refused.
    #[test]
    fn rejects_unknown_members_actions_operators_and_keys() {
        let with = |condition: Value| {
            json!({ "Statement": [{ "Effect": "Allow", "Principal": "*", "Action": "*",
                                    "Condition": condition }] })
        };
        let key = "EncryptionContext:a";
        let mut bad = vec![
            json!({"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "Nope"}]}),
            json!({"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "Nope*"}]}),
            json!({"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "unwrap"}]}),
            json!({"Statement": [{"Effect": "Maybe", "Principal": "*", "Action": "*"}]}),
            json!({"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "*",
                                  "Resource": "*"}]}),
            json!({"Statement": [], "Id": "x"}),
            json!({"Statement": [{"Effect": "Allow", "Principal": 7, "Action": "*"}]}),
            with(json!({ "StringEquals": { "aws:username": "1" } })),
            with(json!({ "StringEquals": { "encryptioncontext:a": "1" } })),
            with(json!({ "Null": { key: "yes" } })),
            with(json!({ "Null": { key: ["true", "maybe"] } })),
            with(json!({ "StringEquals": { key: 1 } })),
        ];
        for op in [
            "NumericEquals",
            "NullIfExists",
            "ForAllValues:Null",
            "ForAnyValue:Null",
            "stringequals",
            "StringEqualsIfExistsIfExists",
            "ForAllValues:ForAnyValue:StringEquals",
            "IfExists",
            "StringLikeIgnoreCase",
            "ForAllValues:",
            "Bool",
        ] {
            bad.push(with(json!({ op: { key: "1" } })));
        }
        for doc in bad {
            assert!(Policy::from_json(doc.clone()).is_err(), "{doc}");
        }
        for op in ["ForAnyValue:StringNotLikeIfExists", "Null", "StringNotEqualsIgnoreCase"] {
            let value = if op == "Null" { "false" } else { "1" };
            Policy::from_json(with(json!({ op: { key: value } }))).unwrap();
        }
    }

    /// Documents from clients are at most 32 KiB as compact JSON; stored ones load whatever
    /// their size.
    #[test]
    fn size_limit() {
        let sized = |n: usize| {
            let base = json!({"Statement": [
                {"Sid": "", "Effect": "Allow", "Principal": "*", "Action": "*"}]});
            let pad = n - serde_json::to_vec(&base).unwrap().len();
            let doc = json!({"Statement": [
                {"Sid": "x".repeat(pad), "Effect": "Allow", "Principal": "*", "Action": "*"}]});
            assert_eq!(serde_json::to_vec(&doc).unwrap().len(), n);
            doc
        };
        let at_limit = sized(MAX_POLICY_BYTES).to_string();
        assert!(Policy::from_json_text(&at_limit).is_ok());
        // Whitespace does not count.
        let pretty = serde_json::to_string_pretty(&sized(MAX_POLICY_BYTES)).unwrap();
        assert!(pretty.len() > MAX_POLICY_BYTES && Policy::from_json_text(&pretty).is_ok());
        let over = sized(MAX_POLICY_BYTES + 1);
        let err = Policy::from_json_text(&over.to_string()).unwrap_err().public_message();
        assert!(err.contains("32769 bytes") && err.contains("32768"), "{err}");
        assert!(Policy::from_json(over).is_ok(), "a stored policy is not size-checked");
    }
}
