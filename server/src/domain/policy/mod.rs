//! Key policies: AWS KMS key policies ("Key policies in AWS KMS"), evaluated the way AWS IAM
//! evaluates policies ("IAM policy evaluation logic"; README "Key policy semantics" has the
//! full table). Documents of our first grammar (bare principal and action names,
//! `EncryptionContext:`/`Jwt:` keys) keep their meaning.
//!
//! - Default deny: a request is allowed only when some Allow statement applies, and no Deny
//!   statement applies (an applicable Deny beats any Allow).
//! - A statement applies when its principal, action and resource name the request (`*` as a
//!   whole value names everything; actions also take `*`/`?` globs such as `kms:Get*`) and
//!   its conditions hold.
//! - Conditions: operators are AND'ed, the keys of one operator are AND'ed, the values of
//!   one key are OR'ed (NOR'ed for the negated operators). A missing key makes a positive
//!   operator false, a negated one true; `…IfExists` makes it true for any operator; `Null`
//!   tests absence; `ForAllValues:`/`ForAnyValue:` quantify over the key's set of values.
//! - A statement whose applicability the request cannot decide fails closed: an Allow does
//!   not apply and a Deny does. That is a context condition without a verified encryption
//!   context (every /v0 action but Unwrap), or, under the /v0 wrappers, which carry neither,
//!   an account principal or a key ARN.
//!
//! Documents from clients go through [`PolicyDocument`] (duplicate JSON keys refused while
//! parsing, 32 KiB at most) and [`Policy::from_json`] (the grammar, in `grammar.rs`).

mod condition;
mod grammar;

use std::collections::BTreeMap;
use std::fmt;

use cipherdrop::EncryptionContext;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize, Serializer};
use serde_json::{Value, json};

use super::error::DomainError;
use grammar::{Effect, Statement};
pub use grammar::{KEY_POLICY_ACTIONS, V0_ACTIONS};

/// The largest policy a client may set: its compact JSON serialization, in bytes (the
/// AWS KMS key policy limit).
pub const MAX_POLICY_BYTES: usize = 32 * 1024;

/// The claims of the caller's sign-in token, each as its values (a string claim has one, an
/// array of strings several); empty for callers with a static token.
pub type Claims = BTreeMap<String, Vec<String>>;

/// No claims.
pub(crate) static NO_CLAIMS: Claims = BTreeMap::new();

/// No request condition keys.
#[cfg(test)]
static NO_EXTRA: BTreeMap<&str, Vec<String>> = BTreeMap::new();

/// Everything a policy is evaluated against.
#[derive(Clone, Copy, Debug)]
pub struct Request<'a> {
    /// Our principal name (`alice`, `admin`).
    pub principal: &'a str,
    /// Its ARN, `arn:aws:iam::ACCOUNT:user/alice` (the admin's is `arn:aws:iam::ACCOUNT:root`):
    /// `aws:PrincipalArn`. Empty where unknown.
    pub principal_arn: &'a str,
    /// The deployment's account ID. Empty where unknown: then account and user principals
    /// and `aws:PrincipalAccount`/`kms:CallerAccount` cannot be evaluated (fail closed).
    pub account: &'a str,
    /// The claims of the caller's sign-in token (`Jwt:NAME`).
    pub claims: &'a Claims,
    /// The action, as [`KEY_POLICY_ACTIONS`] names it: `kms:Decrypt`, `cipherdrop:Unwrap`.
    pub action: &'a str,
    /// The key's ARN, `arn:aws:kms:REGION:ACCOUNT:key/KEY_ID`. Empty where unknown: then a
    /// `Resource` other than `*` cannot be evaluated (fail closed).
    pub key_arn: &'a str,
    /// The verified (or AAD-bound) encryption context; `None` where the operation has none,
    /// and then context conditions cannot be evaluated (fail closed).
    pub context: Option<&'a EncryptionContext>,
    /// The operations a CreateGrant request grants (`kms:GrantOperations`); `None` elsewhere.
    pub grant_operations: Option<&'a [String]>,
    /// Other request condition keys, by lowercase name: `kms:encryptionalgorithm`,
    /// `kms:keyorigin`, `kms:keyspec`, `kms:requestalias`. A key not there is absent.
    pub extra: &'a BTreeMap<&'a str, Vec<String>>,
}

/// What a policy says about a request. Grants combine with it as in AWS KMS: an explicit
/// deny beats any grant; a grant turns an implicit deny into an allow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Some Allow statement applies and no Deny does.
    Allow,
    /// A Deny statement applies.
    ExplicitDeny,
    /// No statement applies.
    ImplicitDeny,
}

/// A key policy: the document as given, and its statements.
#[derive(Clone, Debug, PartialEq)]
pub struct Policy {
    /// Serialized as it came: GetKeyPolicy answers the document that was put (the same JSON
    /// value; object members in sorted order, compact).
    document: Value,
    statements: Vec<Statement>,
}

impl Serialize for Policy {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.document.serialize(serializer)
    }
}

/// The policy a new key gets from the /v0 API: the admin may do everything.
pub fn default_policy() -> Policy {
    builtin(json!({"Version": "2026-11-23", "Statement": [{
        "Sid": "AdminFullAccess", "Effect": "Allow", "Principal": crate::ADMIN_PRINCIPAL,
        "Action": "*"}]}))
}

/// The default key policy as AWS KMS writes it for a key created through the API ("Default
/// key policy"): the account may do every kms: action, which here means the admin (the
/// account stands for it; README "Key policy semantics").
pub fn aws_default_policy(account: &str) -> Policy {
    builtin(json!({"Version": "2012-10-17", "Id": "key-default-1", "Statement": [{
        "Sid": "Enable IAM User Permissions", "Effect": "Allow",
        "Principal": {"AWS": format!("arn:aws:iam::{account}:root")},
        "Action": "kms:*", "Resource": "*"}]}))
}

/// A policy this module writes: only its account ID can make it invalid.
fn builtin(document: Value) -> Policy {
    #[allow(clippy::expect_used)]
    Policy::from_json(document).expect("a built-in policy is valid for a valid account ID")
}

impl Policy {
    /// Parses and validates a policy document: unknown members, actions, condition operators
    /// and condition keys are refused, each message naming the element
    /// (`Statement[1].Action: unknown action "kms:Nope"`). It does not see duplicate JSON
    /// keys (a [`Value`] has already dropped them) and applies no size limit, so that a
    /// stored policy always loads: documents from clients come through [`PolicyDocument`] or
    /// [`Policy::from_json_text`].
    pub fn from_json(document: Value) -> Result<Self, DomainError> {
        let statements = grammar::parse(&document)
            .map_err(|e| DomainError::MalformedPolicy(format!("invalid policy: {e}")))?;
        Ok(Self { document, statements })
    }

    /// Parses a policy document from JSON text as a client sends it: duplicate object keys
    /// anywhere are refused (naming the key), as are documents over [`MAX_POLICY_BYTES`];
    /// then [`Policy::from_json`].
    pub fn from_json_text(text: &str) -> Result<Self, DomainError> {
        let document: PolicyDocument = serde_json::from_str(text)
            .map_err(|e| DomainError::MalformedPolicy(format!("invalid policy: {e}")))?;
        Self::from_json(document.0)
    }

    /// What the policy says about `r`. A statement whose applicability `r` cannot decide
    /// (a context condition and no context; an account principal or key ARN and no account
    /// or key ARN) fails closed: as an Allow it does not apply, as a Deny it does.
    pub fn evaluate(&self, r: &Request<'_>) -> Decision {
        self.decide(|st| all_of(st.names(r), st.conditions_hold(r)), true)
    }

    /// The most permissive decision any encryption context could give `r` (its `context` is
    /// not looked at): the cheap check before RSA work, for an action that is then
    /// [`Policy::evaluate`]d with the verified context. `ExplicitDeny` only when a Deny
    /// applies whatever the context, `Allow` when some Allow may apply.
    pub fn evaluate_any_context(&self, r: &Request<'_>) -> Decision {
        let r = Request { context: None, ..*r };
        self.decide(|st| all_of(st.names(&r), st.conditions_hold(&r)), false)
    }

    /// Test shorthand: [`Policy::evaluate`] of a /v0 request (no account, no key ARN) allows.
    #[cfg(test)]
    fn allows(&self, principal: &str, action: &str, context: Option<&EncryptionContext>) -> bool {
        self.allows_with_claims(principal, &NO_CLAIMS, action, context)
    }

    /// Test shorthand: [`Policy::allows`] for a caller signed in with claims.
    #[cfg(test)]
    fn allows_with_claims(
        &self,
        principal: &str,
        claims: &Claims,
        action: &str,
        context: Option<&EncryptionContext>,
    ) -> bool {
        self.evaluate(&v0_request(principal, claims, action, context)) == Decision::Allow
    }

    /// Test shorthand: [`Policy::evaluate_any_context`] of a /v0 request allows (the check
    /// the server makes before RSA work on Unwrap).
    #[cfg(test)]
    fn may_allow(&self, principal: &str, action: &str) -> bool {
        self.evaluate_any_context(&v0_request(principal, &NO_CLAIMS, action, None))
            == Decision::Allow
    }

    /// Combines the statements by whether each `applies` (`None`: cannot tell). With
    /// `fail_closed`, an undecided Deny applies and an undecided Allow does not; without,
    /// the reverse (the most permissive reading, for pre-checks).
    fn decide(&self, applies: impl Fn(&Statement) -> Option<bool>, fail_closed: bool) -> Decision {
        let counts = |effect: Effect| {
            self.statements
                .iter()
                .filter(|st| st.effect == effect)
                .any(|st| applies(st).unwrap_or((effect == Effect::Deny) == fail_closed))
        };
        if counts(Effect::Deny) {
            Decision::ExplicitDeny
        } else if counts(Effect::Allow) {
            Decision::Allow
        } else {
            Decision::ImplicitDeny
        }
    }
}

/// Kleene AND of two.
fn all_of(a: Option<bool>, b: Option<bool>) -> Option<bool> {
    match (a, b) {
        (Some(false), _) | (_, Some(false)) => Some(false),
        (Some(true), Some(true)) => Some(true),
        _ => None,
    }
}

/// A request as the /v0 API makes it: a bare action name stands for its
/// [`KEY_POLICY_ACTIONS`] name, and neither the account nor the key's ARN is known.
#[cfg(test)]
fn v0_request<'a>(
    principal: &'a str,
    claims: &'a Claims,
    action: &'a str,
    context: Option<&'a EncryptionContext>,
) -> Request<'a> {
    let action =
        V0_ACTIONS.iter().find(|(bare, _)| *bare == action).map_or(action, |(_, named)| named);
    Request {
        principal,
        principal_arn: "",
        account: "",
        claims,
        action,
        key_arn: "",
        context,
        grant_operations: None,
        extra: &NO_EXTRA,
    }
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
    use super::condition::{Compare, Piece, like, literal, pieces};
    use super::*;

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
        for (action, _) in V0_ACTIONS {
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
        assert!(!policy(json!({"Statement": []})).allows("admin", "Unwrap", None));
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

    /// What a request cannot evaluate fails closed: the /v0 wrappers carry no account and
    /// no key ARN, so a statement naming an account principal, a key ARN or an account
    /// condition grants nothing as an Allow and refuses as a Deny (`Resource: "*"` needs
    /// neither). [`Request`] with both evaluates them.
    #[test]
    fn unevaluable_conditions_fail_closed() {
        let arn = "arn:aws:kms:eu-west-1:111122223333:key/k";
        let cases = [
            json!({"Principal": {"AWS": "111122223333"}, "Action": "Unwrap"}),
            json!({"Principal": "*", "Action": "Unwrap", "Resource": arn}),
            json!({"Principal": "*", "Action": "Unwrap",
                   "Condition": {"StringEquals": {"kms:CallerAccount": "111122223333"}}}),
            json!({"Principal": "*", "Action": "Unwrap",
                   "Condition": {"ArnLike": {"aws:PrincipalArn": "arn:aws:iam::111122223333:*"}}}),
        ];
        let c = ctx(&[("a", "x")]);
        let extra = BTreeMap::new();
        let full = Request {
            principal: "admin",
            principal_arn: "arn:aws:iam::111122223333:root",
            account: "111122223333",
            claims: &NO_CLAIMS,
            action: "cipherdrop:Unwrap",
            key_arn: arn,
            context: Some(&c),
            grant_operations: None,
            extra: &extra,
        };
        for mut statement in cases {
            statement["Effect"] = json!("Allow");
            let allow = policy(json!({ "Statement": [statement.clone()] }));
            assert!(!allow.allows("admin", "Unwrap", Some(&c)), "{statement}");
            assert!(allow.may_allow("admin", "Unwrap"), "{statement}");
            assert_eq!(allow.evaluate(&full), Decision::Allow, "{statement}");
            statement["Effect"] = json!("Deny");
            let all = json!({"Effect": "Allow", "Principal": "*", "Action": "*"});
            let deny = policy(json!({ "Statement": [all, statement.clone()] }));
            assert!(!deny.allows("admin", "Unwrap", Some(&c)), "{statement}");
            assert_eq!(deny.evaluate(&full), Decision::ExplicitDeny, "{statement}");
            let elsewhere = Request {
                account: "999999999999",
                key_arn: "arn:aws:kms:eu-west-1:999999999999:key/k",
                principal_arn: "arn:aws:iam::999999999999:root",
                ..full
            };
            assert_eq!(deny.evaluate(&elsewhere), Decision::Allow, "{statement}");
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
            assert!(matches!(err, DomainError::MalformedPolicy(_)), "{message}");
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

    const ACCOUNT: &str = "111122223333";
    const KEY_ARN: &str =
        "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";

    /// A request of the AWS grammar, built up by the tests.
    struct Ask {
        principal: &'static str,
        action: &'static str,
        key_arn: &'static str,
        claims: Claims,
        context: Option<EncryptionContext>,
        grant_operations: Option<Vec<String>>,
        extra: BTreeMap<&'static str, Vec<String>>,
    }

    fn ask(principal: &'static str, action: &'static str) -> Ask {
        Ask {
            principal,
            action,
            key_arn: KEY_ARN,
            claims: Claims::new(),
            context: None,
            grant_operations: None,
            extra: BTreeMap::new(),
        }
    }

    impl Ask {
        fn context(self, pairs: &[(&str, &str)]) -> Self {
            Self { context: Some(ctx(pairs)), ..self }
        }

        fn decide(&self, p: &Policy) -> Decision {
            let principal_arn = match self.principal {
                "admin" => format!("arn:aws:iam::{ACCOUNT}:root"),
                name => format!("arn:aws:iam::{ACCOUNT}:user/{name}"),
            };
            let extra: BTreeMap<&str, Vec<String>> =
                self.extra.iter().map(|(k, v)| (*k, v.clone())).collect();
            let r = Request {
                principal: self.principal,
                principal_arn: &principal_arn,
                account: ACCOUNT,
                claims: &self.claims,
                action: self.action,
                key_arn: self.key_arn,
                context: self.context.as_ref(),
                grant_operations: self.grant_operations.as_deref(),
                extra: &extra,
            };
            p.evaluate(&r)
        }
    }

    fn allow(statement: Value) -> Policy {
        let mut statement = statement;
        statement["Effect"] = json!("Allow");
        policy(json!({ "Version": "2012-10-17", "Statement": [statement] }))
    }

    /// AWS-shaped documents parse: one Statement object or a list, `Id`, both Versions,
    /// every Principal form, the negated elements, Resource ARNs, and AWS's own examples.
    #[test]
    fn grammar_accepts_aws_key_policies() {
        let docs = [
            json!({"Version": "2012-10-17", "Id": "key-default-1", "Statement": {
                "Sid": "Enable IAM User Permissions", "Effect": "Allow",
                "Principal": {"AWS": "arn:aws:iam::111122223333:root"},
                "Action": "kms:*", "Resource": "*"}}),
            json!({"Version": "2008-10-17", "Statement": [{"Effect": "Deny",
                "NotPrincipal": {"AWS": ["111122223333", "arn:aws:iam::111122223333:user/bob"]},
                "NotAction": ["kms:Describe*", "kms:Get*"],
                "NotResource": "arn:aws:kms:*:111122223333:key/*"}]}),
            json!({"Statement": [{"Effect": "Allow",
                "Principal": {"AWS": "arn:aws:iam::444455556666:role/KeyUsers",
                              "Service": "cloudtrail.amazonaws.com"},
                "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*",
                           "kms:GenerateDataKey*", "kms:DescribeKey"],
                "Resource": [KEY_ARN]}]}),
            // The console's "Allow attachment of persistent resources".
            json!({"Statement": [{"Effect": "Allow", "Principal": {"AWS": "*"},
                "Action": ["kms:CreateGrant", "kms:ListGrants", "kms:RevokeGrant"],
                "Resource": "*", "Condition": {"Bool": {"kms:GrantIsForAWSResource": true}}}]}),
            json!({"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "KMS:decrypt",
                "Condition": {
                    "StringEquals": {"kms:EncryptionContext:Dept": "eng",
                                     "KMS:CallerAccount": "111122223333"},
                    "ForAllValues:StringEquals": {"kms:EncryptionContextKeys": ["Dept"],
                                                  "kms:GrantOperations": "Decrypt"},
                    "ArnNotLikeIfExists": {"aws:PrincipalArn": "arn:aws:iam::*:user/x"},
                    "BoolIfExists": {"kms:GrantIsForAWSResource": "false"},
                    "StringLike": {"kms:RequestAlias": "alias/*", "kms:ViaService": "*",
                                   "kms:EncryptionAlgorithm": "RSAES_*", "kms:KeySpec": "RSA_*",
                                   "kms:KeyOrigin": "AWS_KMS", "aws:PrincipalAccount": "1*"},
                    "Null": {"kms:ViaService": true}}}]}),
            json!({"Statement": [{"Effect": "Allow", "Principal": "*",
                "Action": ["cipherdrop:Unwrap", "cipherdrop:*", "*:GetPublicKey"]}]}),
            // Empty lists are accepted as before; they name nothing.
            json!({"Statement": []}),
        ];
        for doc in docs {
            Policy::from_json(doc.clone()).unwrap_or_else(|e| panic!("{doc}: {e:?}"));
        }
    }

    /// Refusals, each with the message that names the offending element.
    #[test]
    fn grammar_refusals_name_the_element() {
        let st = |extra: Value| {
            let mut st = json!({"Effect": "Allow", "Principal": "*", "Action": "*"});
            for (k, v) in extra.as_object().unwrap() {
                st[k] = v.clone();
            }
            st
        };
        let one = |extra: Value| json!({ "Statement": [st(extra)] });
        let cases = [
            (json!([]), "the policy is not a JSON object"),
            (json!({"Version": "2012-10-17"}), "the policy has no Statement"),
            (json!({"Version": 2012}), "Version is not a string"),
            (json!({"Statement": [], "Extra": 1}), "unknown member \"Extra\" of the policy"),
            (json!({"Statement": [st(json!({})), 7]}), "Statement[1] is not a JSON object"),
            (
                json!({"Statement": st(json!({"Effect": "allow"}))}),
                "Statement.Effect: \"allow\" is not Allow or Deny",
            ),
            (json!({"Statement": [{"Principal": "*", "Action": "*"}]}), "Statement[0]: no Effect"),
            (
                json!({"Statement": [{"Effect": "Allow", "Action": "*"}]}),
                "Statement[0]: no Principal or NotPrincipal",
            ),
            (
                json!({"Statement": [{"Effect": "Allow", "Principal": "*"}]}),
                "Statement[0]: no Action or NotAction",
            ),
            (
                one(json!({"NotPrincipal": "bob"})),
                "Statement[0]: Principal and NotPrincipal are exclusive",
            ),
            (
                one(json!({"NotAction": "Unwrap"})),
                "Statement[0]: Action and NotAction are exclusive",
            ),
            (
                one(json!({"Resource": "*", "NotResource": "*"})),
                "Statement[0]: Resource and NotResource are exclusive",
            ),
            (one(json!({"Sid": 1})), "Statement[0].Sid is not a string"),
            (one(json!({"Principle": "*"})), "Statement[0]: unknown member \"Principle\""),
            (one(json!({"Principal": {}})), "Statement[0].Principal: names nothing"),
            (
                one(json!({"Principal": {"Aws": "*"}})),
                "Statement[0].Principal.Aws: unknown principal type \"Aws\"",
            ),
            (
                one(json!({"Principal": {"AWS": "arn:aws:iam::1:root"}})),
                "Statement[0].Principal.AWS: \"arn:aws:iam::1:root\" is not \"*\", an account ID",
            ),
            (
                one(json!({"Principal": {"AWS": "arn:aws:iam::111122223333:group/g"}})),
                "is not \"*\", an account ID or arn:aws:iam::ACCOUNT:root",
            ),
            (
                one(json!({"Principal": {"AWS": "arn:aws:sts::111122223333:assumed-role/r/s"}})),
                "is not \"*\", an account ID",
            ),
            (
                one(json!({"Principal": {"AWS": "arn:aws:iam::111122223333:user/*"}})),
                "principals take no wildcards (test aws:PrincipalArn with ArnLike)",
            ),
            (
                one(json!({"Principal": {"Service": ""}})),
                "Statement[0].Principal.Service: an empty principal",
            ),
            (
                one(json!({"Action": "kms:CreateKey"})),
                "Statement[0].Action: unknown action \"kms:CreateKey\"",
            ),
            (one(json!({"Action": "s3:*"})), "unknown action \"s3:*\""),
            (one(json!({"Action": "kms:Unwrap"})), "unknown action \"kms:Unwrap\""),
            (
                one(json!({"Action": "Encrypt"})),
                "unknown action \"Encrypt\" (write it \"kms:Encrypt\")",
            ),
            (
                one(json!({"Action": "decrypt"})),
                "unknown action \"decrypt\" (write it \"kms:decrypt\")",
            ),
            (
                json!({"Statement": {"Effect": "Allow", "Principal": "*",
                                     "NotAction": ["Unwrap", 1]}}),
                "Statement.NotAction is not a string or a list of strings",
            ),
            (
                one(json!({"Resource": "key/1"})),
                "Statement[0].Resource: \"key/1\" is not \"*\" or an ARN",
            ),
            (
                // Six components: a `*` does not stand for several.
                one(json!({"NotResource": ["*", "arn:aws:kms:*:key/*"]})),
                "Statement[0].NotResource: \"arn:aws:kms:*:key/*\" is not \"*\" or an ARN",
            ),
            (
                one(json!({"Condition": {"Bool": {"kms:GrantIsForAWSResource": "yes"}}})),
                "Condition.Bool.\"kms:GrantIsForAWSResource\": \"yes\" is not \"true\"",
            ),
            (
                one(json!({"Condition": {"StringEquals": {"kms:EncryptionContext:": "x"}}})),
                "unknown condition key \"kms:EncryptionContext:\"",
            ),
            (
                one(json!({"Condition": {"StringEquals": {"aws:SourceIp": "x"}}})),
                "Statement[0].Condition.StringEquals.\"aws:SourceIp\": unknown condition key",
            ),
            (
                one(json!({"Condition": {"NumericLessThan": {"kms:KeySpec": "1"}}})),
                "Statement[0].Condition: unknown condition operator \"NumericLessThan\"",
            ),
            (
                one(json!({"Condition": {"StringEquals": {"kms:KeySpec": true}}})),
                "is not a string or a list of strings",
            ),
        ];
        for (doc, message) in cases {
            let err = Policy::from_json(doc.clone()).unwrap_err();
            assert!(matches!(err, DomainError::MalformedPolicy(_)), "{doc}");
            let got = err.public_message();
            assert!(got.starts_with("invalid policy: ") && got.contains(message), "{doc}: {got}");
        }
    }

    /// Principal forms: everyone; the account (root ARN or ID) is the admin only; user and
    /// role ARNs name that principal of this account; other accounts and other principal
    /// types never match; bare names as before; NotPrincipal names everyone else.
    #[test]
    fn principal_forms() {
        let other = "arn:aws:iam::444455556666";
        let cases: [(Value, [bool; 3]); 12] = [
            // admin, alice, bob
            (json!("*"), [true, true, true]),
            (json!({"AWS": "*"}), [true, true, true]),
            (json!({"AWS": format!("arn:aws:iam::{ACCOUNT}:root")}), [true, false, false]),
            (json!({"AWS": ACCOUNT}), [true, false, false]),
            (json!({"AWS": format!("arn:aws:iam::{ACCOUNT}:user/alice")}), [false, true, false]),
            (
                json!({"AWS": [format!("arn:aws:iam::{ACCOUNT}:role/bob"), ACCOUNT]}),
                [true, false, true],
            ),
            (
                json!({"AWS": [format!("{other}:root"), format!("{other}:user/alice"),
                               "444455556666"]}),
                [false, false, false],
            ),
            (
                json!({"Service": "kms.amazonaws.com",
                       "Federated": "cognito-identity.amazonaws.com"}),
                [false, false, false],
            ),
            (json!(["alice", "admin"]), [true, true, false]),
            (json!("arn:aws:iam::111122223333:root"), [false, false, false]),
            (json!({"AWS": format!("arn:aws:iam::{ACCOUNT}:user/Alice")}), [false, false, false]),
            (json!({"AWS": format!("arn:aws:iam::{ACCOUNT}:user/admin")}), [true, false, false]),
        ];
        for (principal, expected) in cases {
            let p = allow(json!({"Principal": principal, "Action": "kms:DescribeKey"}));
            let not = policy(json!({"Statement": [{"Effect": "Allow", "NotPrincipal": principal,
                                                   "Action": "kms:DescribeKey"}]}));
            for (who, want) in ["admin", "alice", "bob"].into_iter().zip(expected) {
                let got = ask(who, "kms:DescribeKey").decide(&p);
                assert_eq!(got == Decision::Allow, want, "{principal} {who}");
                let got = ask(who, "kms:DescribeKey").decide(&not);
                assert_eq!(got == Decision::Allow, !want, "NotPrincipal {principal} {who}");
            }
        }
    }

    /// `kms:` names and globs match ignoring case and never name `cipherdrop:Unwrap`; `*`
    /// names everything; bare names keep their first meaning (case-sensitive, the /v0
    /// actions only); NotAction names every other action.
    #[test]
    fn action_globs_and_case() {
        let names = |action: Value, names: &[&str], not: &[&str]| {
            let p = allow(json!({"Principal": "*", "Action": action}));
            for a in names {
                assert_eq!(ask("bob", leak(a)).decide(&p), Decision::Allow, "{action} {a}");
            }
            for a in not {
                assert_eq!(ask("bob", leak(a)).decide(&p), Decision::ImplicitDeny, "{action} {a}");
            }
            let n = policy(json!({"Statement": [{"Effect": "Allow", "Principal": "*",
                                                 "NotAction": action}]}));
            for a in not {
                assert_eq!(ask("bob", leak(a)).decide(&n), Decision::Allow, "Not {action} {a}");
            }
            for a in names {
                assert_eq!(ask("bob", leak(a)).decide(&n), Decision::ImplicitDeny, "Not {action}");
            }
        };
        names(json!("*"), KEY_POLICY_ACTIONS, &[]);
        names(json!("kms:*"), &KEY_POLICY_ACTIONS[1..], &["cipherdrop:Unwrap"]);
        names(json!("cipherdrop:*"), &["cipherdrop:Unwrap"], &["kms:Decrypt"]);
        names(json!("KMS:describe*"), &["kms:DescribeKey"], &["kms:Decrypt"]);
        names(
            json!(["kms:GenerateDataKey*", "kms:reencrypt?o"]),
            &["kms:GenerateDataKey", "kms:GenerateDataKeyPairWithoutPlaintext", "kms:ReEncryptTo"],
            &["kms:GenerateMac", "kms:ReEncryptFrom"],
        );
        // Bare globs name the /v0 actions only, as before: not kms:GetKeyRotationStatus.
        names(
            json!("Get*"),
            &["kms:GetPublicKey", "kms:GetKeyPolicy"],
            &["kms:GetKeyRotationStatus", "kms:GetParametersForImport", "kms:DescribeKey"],
        );
        names(json!("RotateKey"), &["kms:RotateKeyOnDemand"], &["kms:EnableKeyRotation"]);
        names(json!("Unwrap"), &["cipherdrop:Unwrap"], &["kms:Decrypt"]);
        names(json!("*crypt"), &["kms:Decrypt"], &["kms:Encrypt", "cipherdrop:Unwrap"]);
        // The /v0 wrappers take the bare name or the new one alike.
        let p = allow(json!({"Principal": "*", "Action": "kms:RotateKeyOnDemand"}));
        assert!(
            p.allows("bob", "RotateKey", None) && p.allows("bob", "kms:RotateKeyOnDemand", None)
        );
        for (bare, named) in V0_ACTIONS {
            assert!(KEY_POLICY_ACTIONS.contains(&named), "{bare}");
        }
    }

    fn leak(s: &str) -> &'static str {
        Box::leak(s.to_owned().into_boxed_str())
    }

    /// Resource: `*`, the key's ARN, globs per ARN component, NotResource.
    #[test]
    fn resources() {
        let cases = [
            (json!("*"), true),
            (json!(KEY_ARN), true),
            (json!("arn:aws:kms:*:111122223333:key/*"), true),
            (json!("arn:aws:kms:eu-west-?:111122223333:key/1234abcd-*"), true),
            (json!("arn:aws:kms:*:444455556666:key/*"), false),
            (json!("arn:aws:kms:*:111122223333:alias/*"), false),
            (json!(["arn:aws:kms:us-east-1:111122223333:key/x", "arn:*:kms:*:*:key/*"]), true),
        ];
        for (resource, want) in cases {
            let p = allow(json!({"Principal": "*", "Action": "kms:*", "Resource": resource}));
            let n = allow(json!({"Principal": "*", "Action": "kms:*", "NotResource": resource}));
            let r = ask("bob", "kms:Decrypt");
            assert_eq!(r.decide(&p) == Decision::Allow, want, "{resource}");
            assert_eq!(r.decide(&n) == Decision::Allow, !want, "NotResource {resource}");
        }
    }

    /// Every condition key and the new operators, Allow statements on `kms:Decrypt`: does
    /// it grant? A key the request lacks is absent (false for positive operators); a
    /// context key without a context cannot be evaluated.
    #[test]
    fn condition_keys_and_operators() {
        let with_extra = |k: &'static str, v: &str| {
            let mut a = ask("alice", "kms:Decrypt");
            a.extra.insert(k, vec![v.to_owned()]);
            a
        };
        let grant = |ops: &[&str]| Ask {
            grant_operations: Some(ops.iter().map(|s| s.to_string()).collect()),
            ..ask("alice", "kms:CreateGrant")
        };
        let cases: Vec<(Value, Ask, bool)> = vec![
            // kms:EncryptionContext:KEY matches the context key ignoring case, the value not.
            (
                json!({"StringEquals": {"kms:EncryptionContext:Dept": "eng"}}),
                ask("alice", "kms:Decrypt").context(&[("dept", "eng")]),
                true,
            ),
            (
                json!({"StringEquals": {"KMS:ENCRYPTIONCONTEXT:dept": "eng"}}),
                ask("alice", "kms:Decrypt").context(&[("DEPT", "eng")]),
                true,
            ),
            (
                json!({"StringEquals": {"kms:EncryptionContext:dept": "eng"}}),
                ask("alice", "kms:Decrypt").context(&[("dept", "ENG")]),
                false,
            ),
            (
                json!({"StringEquals": {"kms:EncryptionContext:dept": "eng"}}),
                ask("alice", "kms:Decrypt").context(&[]),
                false,
            ),
            (
                json!({"StringNotEquals": {"kms:EncryptionContext:dept": "eng"}}),
                ask("alice", "kms:Decrypt").context(&[]),
                true,
            ),
            (
                json!({"StringNotEquals": {"kms:EncryptionContext:dept": "eng"}}),
                ask("alice", "kms:Decrypt"),
                false,
            ),
            // The legacy key stays case-sensitive.
            (
                json!({"StringEquals": {"EncryptionContext:Dept": "eng"}}),
                ask("alice", "kms:Decrypt").context(&[("dept", "eng")]),
                false,
            ),
            // kms:EncryptionContextKeys: exact keys; without a context it cannot be told.
            (
                json!({"ForAnyValue:StringEquals": {"kms:EncryptionContextKeys": "dept"}}),
                ask("alice", "kms:Decrypt").context(&[("dept", "x"), ("owner", "y")]),
                true,
            ),
            (
                json!({"ForAnyValue:StringEquals": {"kms:EncryptionContextKeys": "Dept"}}),
                ask("alice", "kms:Decrypt").context(&[("dept", "x")]),
                false,
            ),
            (
                json!({"ForAllValues:StringEquals":
                       {"kms:EncryptionContextKeys": ["dept", "owner"]}}),
                ask("alice", "kms:Decrypt").context(&[("dept", "x"), ("owner", "y")]),
                true,
            ),
            (
                json!({"ForAllValues:StringEquals": {"kms:EncryptionContextKeys": "dept"}}),
                ask("alice", "kms:Decrypt").context(&[("dept", "x"), ("owner", "y")]),
                false,
            ),
            (
                json!({"ForAllValues:StringEquals": {"kms:EncryptionContextKeys": "dept"}}),
                ask("alice", "kms:Decrypt").context(&[]),
                true,
            ),
            (
                json!({"ForAnyValue:StringEquals": {"kms:EncryptionContextKeys": "dept"}}),
                ask("alice", "kms:Decrypt").context(&[]),
                false,
            ),
            (
                json!({"ForAllValues:StringEquals": {"kms:EncryptionContextKeys": "dept"}}),
                ask("alice", "kms:Decrypt"),
                false,
            ),
            (
                json!({"Null": {"kms:EncryptionContextKeys": "false"}}),
                ask("alice", "kms:Decrypt").context(&[("a", "b")]),
                true,
            ),
            // kms:GrantOperations: present in CreateGrant only.
            (
                json!({"ForAllValues:StringEquals":
                       {"kms:GrantOperations": ["Decrypt", "Encrypt"]}}),
                grant(&["Decrypt"]),
                true,
            ),
            (
                json!({"ForAllValues:StringEquals":
                       {"kms:GrantOperations": ["Decrypt", "Encrypt"]}}),
                grant(&["Decrypt", "ReEncryptFrom"]),
                false,
            ),
            (
                json!({"ForAnyValue:StringEquals": {"kms:GrantOperations": "ReEncryptFrom"}}),
                grant(&["Decrypt", "ReEncryptFrom"]),
                true,
            ),
            (
                json!({"ForAnyValue:StringEquals": {"kms:GrantOperations": "ReEncryptFrom"}}),
                grant(&[]),
                false,
            ),
            (
                json!({"ForAllValues:StringEquals": {"kms:GrantOperations": "Decrypt"}}),
                grant(&[]),
                true,
            ),
            (
                json!({"ForAnyValue:StringLike": {"kms:GrantOperations": "*"}}),
                ask("alice", "kms:CreateGrant"),
                false,
            ),
            // Bool, and kms:GrantIsForAWSResource, which is always false here.
            (json!({"Bool": {"kms:GrantIsForAWSResource": true}}), grant(&["Decrypt"]), false),
            (json!({"Bool": {"kms:GrantIsForAWSResource": "false"}}), grant(&["Decrypt"]), true),
            (
                json!({"BoolIfExists": {"Jwt:email_verified": "true"}}),
                ask("alice", "kms:Decrypt"),
                true,
            ),
            (json!({"Bool": {"Jwt:email_verified": "true"}}), ask("alice", "kms:Decrypt"), false),
            (
                json!({"Bool": {"Jwt:email_verified": "true"}}),
                Ask {
                    claims: claims(&[("email_verified", &["true"])]),
                    ..ask("alice", "kms:Decrypt")
                },
                true,
            ),
            // The caller's account and ARN.
            (
                json!({"StringEquals": {"kms:CallerAccount": ACCOUNT}}),
                ask("alice", "kms:Decrypt"),
                true,
            ),
            (
                json!({"StringEquals": {"aws:PrincipalAccount": "444455556666"}}),
                ask("alice", "kms:Decrypt"),
                false,
            ),
            (
                json!({"ArnEquals": {"aws:PrincipalArn": "arn:aws:iam::111122223333:user/alice"}}),
                ask("alice", "kms:Decrypt"),
                true,
            ),
            (
                json!({"ArnLike": {"aws:PrincipalArn": "arn:aws:iam::*:user/*"}}),
                ask("admin", "kms:Decrypt"),
                false,
            ),
            (
                json!({"ArnLike": {"aws:PrincipalArn": "arn:aws:iam::*:root"}}),
                ask("admin", "kms:Decrypt"),
                true,
            ),
            (
                json!({"ArnNotLike": {"aws:PrincipalArn": "arn:aws:iam::*:user/b*"}}),
                ask("alice", "kms:Decrypt"),
                true,
            ),
            (
                json!({"ArnNotEquals":
                       {"aws:PrincipalArn": "arn:aws:iam::111122223333:user/alice"}}),
                ask("alice", "kms:Decrypt"),
                false,
            ),
            (
                json!({"ArnLike": {"aws:PrincipalArn": "arn:aws:iam::111122223333:*"}}),
                ask("alice", "kms:Decrypt"),
                true,
            ),
            // An ARN value that is not six components never matches ArnLike.
            (
                json!({"ArnLike": {"kms:RequestAlias": "*"}}),
                with_extra("kms:requestalias", "alias/a"),
                false,
            ),
            // Request parameters, absent unless the request has them.
            (
                json!({"StringEquals": {"kms:EncryptionAlgorithm": "RSAES_OAEP_SHA_256"}}),
                with_extra("kms:encryptionalgorithm", "RSAES_OAEP_SHA_256"),
                true,
            ),
            (
                json!({"StringEquals": {"kms:EncryptionAlgorithm": "RSAES_OAEP_SHA_256"}}),
                ask("alice", "kms:Decrypt"),
                false,
            ),
            (
                json!({"StringLike": {"kms:RequestAlias": "alias/finance-*"}}),
                with_extra("kms:requestalias", "alias/finance-eu"),
                true,
            ),
            (
                json!({"StringEquals": {"kms:KeySpec": "RSA_3072"}}),
                with_extra("kms:keyspec", "RSA_3072"),
                true,
            ),
            (
                json!({"StringEquals": {"kms:KeyOrigin": "AWS_KMS"}}),
                with_extra("kms:keyorigin", "EXTERNAL"),
                false,
            ),
            // kms:ViaService is never present.
            (json!({"Null": {"kms:ViaService": "true"}}), ask("alice", "kms:Decrypt"), true),
            (json!({"StringLike": {"kms:ViaService": "*"}}), ask("alice", "kms:Decrypt"), false),
        ];
        for (condition, request, want) in cases {
            let p = allow(json!({"Principal": "*", "Action": "*", "Condition": condition}));
            assert_eq!(request.decide(&p) == Decision::Allow, want, "{condition}");
        }
    }

    /// Deny beats Allow; no statement is an implicit deny; a Deny on a context key without a
    /// context applies (fail closed), and `evaluate_any_context` reads it as "may not".
    #[test]
    fn decisions() {
        let p = policy(json!({"Statement": [
            {"Effect": "Allow", "Principal": {"AWS": ACCOUNT}, "Action": "*"},
            {"Effect": "Allow", "Principal": "*", "Action": "cipherdrop:Unwrap",
             "Condition": {"StringEquals": {"kms:EncryptionContext:owner": "${principal}"}}},
            {"Effect": "Deny", "Principal": "*", "Action": ["kms:Decrypt", "cipherdrop:Unwrap"],
             "Condition": {"StringEquals": {"kms:EncryptionContext:class": "secret"}}},
            {"Effect": "Deny", "Principal": {"AWS": format!("arn:aws:iam::{ACCOUNT}:user/eve")},
             "Action": "*"},
        ]}));
        let unwrap = |who| ask(who, "cipherdrop:Unwrap");
        assert_eq!(ask("admin", "kms:DescribeKey").decide(&p), Decision::Allow);
        assert_eq!(ask("bob", "kms:DescribeKey").decide(&p), Decision::ImplicitDeny);
        assert_eq!(ask("eve", "kms:DescribeKey").decide(&p), Decision::ExplicitDeny);
        assert_eq!(unwrap("bob").context(&[("owner", "bob")]).decide(&p), Decision::Allow);
        assert_eq!(unwrap("bob").context(&[("owner", "al")]).decide(&p), Decision::ImplicitDeny);
        let secret = [("owner", "bob"), ("class", "secret")];
        assert_eq!(unwrap("bob").context(&secret).decide(&p), Decision::ExplicitDeny);
        assert_eq!(ask("admin", "kms:Decrypt").decide(&p), Decision::ExplicitDeny, "fail closed");
        let any = |who, action| {
            let extra = BTreeMap::new();
            let arn = format!("arn:aws:iam::{ACCOUNT}:user/{who}");
            p.evaluate_any_context(&Request {
                principal: who,
                principal_arn: &arn,
                account: ACCOUNT,
                claims: &NO_CLAIMS,
                action,
                key_arn: KEY_ARN,
                context: None,
                grant_operations: None,
                extra: &extra,
            })
        };
        assert_eq!(any("bob", "cipherdrop:Unwrap"), Decision::Allow);
        assert_eq!(any("bob", "kms:DescribeKey"), Decision::ImplicitDeny);
        assert_eq!(any("eve", "cipherdrop:Unwrap"), Decision::ExplicitDeny);
        assert_eq!(any("admin", "kms:Decrypt"), Decision::Allow, "some context allows it");
    }

    /// The default key policy as AWS writes it: the account, so the admin, may do every
    /// kms: action and nothing else, nobody else anything; it serializes as AWS writes it.
    #[test]
    fn aws_default_policy_is_awss() {
        let p = aws_default_policy(ACCOUNT);
        let text = serde_json::to_value(&p).unwrap();
        let aws = json!({"Version": "2012-10-17", "Id": "key-default-1", "Statement": [{
            "Sid": "Enable IAM User Permissions", "Effect": "Allow",
            "Principal": {"AWS": "arn:aws:iam::111122223333:root"},
            "Action": "kms:*", "Resource": "*"}]});
        assert_eq!(text, aws);
        for action in &KEY_POLICY_ACTIONS[1..] {
            assert_eq!(ask("admin", action).decide(&p), Decision::Allow, "{action}");
            assert_eq!(ask("alice", action).decide(&p), Decision::ImplicitDeny, "{action}");
        }
        assert_eq!(ask("admin", "cipherdrop:Unwrap").decide(&p), Decision::ImplicitDeny);
        assert_eq!(
            ask("admin", "kms:Decrypt").decide(&aws_default_policy("444455556666")),
            Decision::ImplicitDeny
        );
        // The /v0 default is unchanged, and works through evaluate as well.
        assert_eq!(ask("admin", "cipherdrop:Unwrap").decide(&default_policy()), Decision::Allow);
    }

    #[test]
    fn null_labels_of_the_first_grammar_load() {
        // `/v0` clients wrote absent labels as null (openapi.json allows it); found by
        // schemathesis after the AWS grammar came in.
        let doc = json!({"Version": null, "Statement": [
            {"Sid": null, "Effect": "Allow", "Principal": "alice", "Action": "Decrypt"}]});
        assert!(Policy::from_json(doc).unwrap().allows("alice", "Decrypt", None));
    }

    /// A policy serializes as the document that was put (the same JSON value), whatever
    /// its grammar, and reparses to itself; stored documents of the first grammar load.
    #[test]
    fn round_trip() {
        let documents = [
            r#"{"Version":"2012-10-17","Id":"k","Statement":{"Sid":"a","Effect":"Deny",
                "NotPrincipal":{"AWS":["111122223333"]},"NotAction":"kms:Get*",
                "Condition":{}}}"#,
            r#"{"Statement":[{"Effect":"Allow","Principal":"admin","Action":"*"}]}"#,
            r#"{"Version":"2026-11-23","Statement":[{"Sid":"AdminFullAccess","Effect":"Allow",
                "Principal":"admin","Action":"*"}]}"#,
        ];
        for text in documents {
            let p = Policy::from_json_text(text).unwrap();
            let value: Value = serde_json::from_str(text).unwrap();
            assert_eq!(serde_json::to_value(&p).unwrap(), value);
            let again = Policy::from_json_text(&serde_json::to_string(&p).unwrap()).unwrap();
            assert_eq!(again, p);
        }
    }
}
