//! Key policies from arbitrary bytes, as the key server gets them: JSON text through
//! `Policy::from_json_text` (a client's document: `PolicyDocument`, so duplicate keys refused
//! and 32 KiB at most, then `from_json`) and through `serde_json` then `Policy::from_json`
//! (what a stored policy goes through when it is loaded, domain/keys.rs). Nothing may panic,
//! and for every policy either path accepts:
//!
//! - the paths agree: what the text path accepts, the value path accepts as the same policy,
//!   and its compact JSON is at most `MAX_POLICY_BYTES`; what the value path accepts, written
//!   as compact JSON within that limit, the text path accepts as the same policy, and refuses,
//!   naming the key, once the first member of one of its objects is written twice;
//! - a policy serializes as the document it came from and round-trips through its storage
//!   form (`serde_json::to_string`, then `serde_json::from_str` and `from_json`, as
//!   domain/service.rs and domain/keys.rs do) to an equal policy, so a key whose policy was
//!   accepted never becomes unloadable;
//! - the check before RSA work never refuses what the decision allows: for a request without
//!   its context, `evaluate_any_context` (what Unwrap asks first) is at least as permissive as
//!   `evaluate` of that request with any context (Allow > ImplicitDeny > ExplicitDeny), so it
//!   says ExplicitDeny only when every context is denied and is Allow whenever some context is
//!   allowed;
//! - Deny wins: with an unconditional Deny statement for one action appended (the action
//!   spelled as named, in another case, as a `?` glob or by its bare first-grammar name, as the
//!   input picks), every request for that action is an ExplicitDeny, from `evaluate` with any
//!   context and from `evaluate_any_context`.
//!
//! Requests are built as domain/service.rs builds them (a principal, its IAM ARN in the
//! account, the key's ARN, `kms:keyspec`/`kms:keyorigin`-style extra keys) from fixed values
//! and from the policy's own principals, accounts, resources, actions and condition keys and
//! values; contexts from its context condition keys, with values as written, with
//! `${principal}` substituted, changed in case, one left out.
//!
//! With `CIPHERDROP_FUZZ_VERBOSE` set, each input's outcome on both paths is printed (to
//! check seeds).
#![no_main]

use std::collections::BTreeMap;

use cipherdrop::EncryptionContext;
use cipherdrop_server::domain::policy::{
    Claims, Decision, KEY_POLICY_ACTIONS, MAX_POLICY_BYTES, Policy, Request, V0_ACTIONS,
};
use cipherdrop_server::{ADMIN_PRINCIPAL, DomainError};
use libfuzzer_sys::fuzz_target;
use serde_json::{Value, json};

const ACCOUNT: &str = "111122223333";
const REGION: &str = "eu-west-1";
const KEY_ID: &str = "1234abcd-12ab-34cd-56ef-1234567890ab";

/// A string or the strings of a list, as policy elements hold them; nothing for other values.
fn strings(value: &Value) -> Vec<&str> {
    match value {
        Value::String(s) => vec![s.as_str()],
        Value::Array(items) => items.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

fn push_new(list: &mut Vec<String>, item: &str, cap: usize) {
    if list.len() < cap && !list.iter().any(|o| o == item) {
        list.push(item.to_owned());
    }
}

/// What requests are made of: fixed values, then the first few the policy names.
struct Vocabulary {
    principals: Vec<String>,
    accounts: Vec<String>,
    resources: Vec<String>,
    actions: Vec<String>,
    /// Condition keys as written, each with its first value (a boolean as its text).
    conditions: Vec<(String, String)>,
}

impl Vocabulary {
    fn of(document: &Value) -> Self {
        let mut v = Vocabulary {
            principals: [ADMIN_PRINCIPAL, "alice", "*", ""].map(str::to_owned).to_vec(),
            accounts: vec![String::new(), ACCOUNT.to_owned()],
            resources: Vec::new(),
            actions: Vec::new(),
            conditions: Vec::new(),
        };
        let statements = match document.get("Statement") {
            Some(Value::Array(items)) => items.iter().collect(),
            Some(st) => vec![st],
            None => Vec::new(),
        };
        for st in statements {
            for element in ["Principal", "NotPrincipal"] {
                let ids: Vec<&str> = match st.get(element) {
                    Some(Value::Object(types)) => types.values().flat_map(strings).collect(),
                    Some(other) => strings(other),
                    None => Vec::new(),
                };
                for id in ids {
                    v.principal_id(id);
                }
            }
            for element in ["Action", "NotAction"] {
                for a in st.get(element).map(strings).unwrap_or_default() {
                    push_new(&mut v.actions, a, 3);
                }
            }
            for element in ["Resource", "NotResource"] {
                for r in st.get(element).map(strings).unwrap_or_default() {
                    push_new(&mut v.resources, r, 2);
                }
            }
            let operators = st.get("Condition").and_then(Value::as_object).into_iter().flatten();
            for keys in operators.filter_map(|(_, keys)| keys.as_object()) {
                for (key, values) in keys {
                    let first = match values {
                        Value::Bool(b) => b.to_string(),
                        values => strings(values).first().copied().unwrap_or("").to_owned(),
                    };
                    if v.conditions.len() < 8 {
                        v.conditions.push((key.clone(), first));
                    }
                }
            }
        }
        v
    }

    /// A principal as the policy names it: a bare name, an account ID, or an IAM ARN
    /// `arn:aws:iam::ACCOUNT:root|user/NAME|role/NAME`.
    fn principal_id(&mut self, id: &str) {
        let is_account = |s: &str| s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit());
        if is_account(id) {
            push_new(&mut self.accounts, id, 3);
        } else if let Some((account, resource)) =
            id.strip_prefix("arn:aws:iam::").and_then(|rest| rest.split_once(':'))
        {
            push_new(&mut self.accounts, account, 3);
            if let Some(name) = resource.strip_prefix("user/").or(resource.strip_prefix("role/")) {
                push_new(&mut self.principals, name, 8);
            }
        } else {
            push_new(&mut self.principals, id, 8);
        }
    }

    /// Actions to ask about: Unwrap, Decrypt and CreateGrant (which carries grant operations),
    /// two more of `KEY_POLICY_ACTIONS` as `pick` chooses, an action no key policy can name,
    /// and the policy's first few Action values taken literally (globs included).
    fn request_actions(&self, pick: usize) -> Vec<String> {
        let n = KEY_POLICY_ACTIONS.len();
        let mut out = Vec::new();
        for a in ["cipherdrop:Unwrap", "kms:Decrypt", "kms:CreateGrant"]
            .into_iter()
            .chain([KEY_POLICY_ACTIONS[pick % n], KEY_POLICY_ACTIONS[pick / n % n]])
            .chain(["kms:CreateKey"])
            .chain(self.actions.iter().map(String::as_str))
        {
            push_new(&mut out, a, usize::MAX);
        }
        out
    }

    /// The values of the condition keys that `select` gives a name (it sees each key as
    /// written), `${principal}` substituted, by that name.
    fn values_of(
        &self,
        principal: &str,
        select: impl Fn(&str) -> Option<String>,
    ) -> BTreeMap<String, Vec<String>> {
        let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (key, value) in &self.conditions {
            if let Some(name) = select(key) {
                out.entry(name).or_default().push(value.replace("${principal}", principal));
            }
        }
        out
    }

    /// Contexts to ask about for `principal`: empty, and contexts built from the context
    /// condition keys and values of the policy (values with `${principal}` substituted, taken
    /// literally, changed in case, and with one key left out; keys changed in case).
    fn contexts(&self, principal: &str) -> Vec<EncryptionContext> {
        let mut pairs: Vec<(String, String, String)> = Vec::new();
        for (key, raw) in &self.conditions {
            let lower = key.to_lowercase();
            let name = if let Some(name) = key.strip_prefix("EncryptionContext:") {
                name.to_owned()
            } else if let Some(name) = lower.strip_prefix("kms:encryptioncontext:") {
                name.to_owned()
            } else if lower == "kms:encryptioncontextkeys" {
                pairs.push((raw.clone(), "v".into(), "v".into()));
                continue;
            } else {
                continue;
            };
            pairs.push((name, raw.clone(), raw.replace("${principal}", principal)));
        }
        let build = |f: &dyn Fn(usize, &str, &str, &str) -> Option<(String, String)>| {
            pairs.iter().enumerate().filter_map(|(i, (k, raw, sub))| f(i, k, raw, sub)).collect()
        };
        vec![
            EncryptionContext::new(),
            build(&|_, k, _, sub| Some((k.into(), sub.into()))),
            build(&|_, k, raw, _| Some((k.into(), raw.into()))),
            build(&|_, k, _, sub| Some((k.into(), sub.to_uppercase()))),
            build(&|_, k, _, sub| Some((k.to_uppercase(), sub.into()))),
            build(&|i, k, _, sub| (i != 0).then(|| (k.into(), sub.into()))),
            build(&|i, k, _, sub| {
                Some((k.into(), if i % 2 == 0 { sub.into() } else { "x".into() }))
            }),
        ]
    }
}

/// A request's parts that `Request` borrows.
struct Parts {
    principal: String,
    principal_arn: String,
    account: String,
    key_arn: String,
    claims: Claims,
    grant_operations: Vec<String>,
    extra: Vec<(String, Vec<String>)>,
}

impl Parts {
    fn request<'a>(
        &'a self,
        action: &'a str,
        extra: &'a BTreeMap<&'a str, Vec<String>>,
        context: Option<&'a EncryptionContext>,
    ) -> Request<'a> {
        Request {
            principal: &self.principal,
            principal_arn: &self.principal_arn,
            account: &self.account,
            claims: &self.claims,
            action,
            key_arn: &self.key_arn,
            context,
            grant_operations: (action == "kms:CreateGrant").then_some(&self.grant_operations[..]),
            extra,
        }
    }
}

/// The requests to ask about, but for action and context: each principal, with no account
/// (nor key ARN, as the /v0 checks of old), or in an account with the key's ARN there or one
/// of the policy's resources; each with no claims and extra keys, or with the policy's.
fn requests(v: &Vocabulary) -> Vec<Parts> {
    let mut out = Vec::new();
    for principal in &v.principals {
        for account in &v.accounts {
            let principal_arn = match (account.is_empty(), principal == ADMIN_PRINCIPAL) {
                (true, _) => String::new(),
                (false, true) => format!("arn:aws:iam::{account}:root"),
                (false, false) => format!("arn:aws:iam::{account}:user/{principal}"),
            };
            let mut key_arns = vec![if account.is_empty() {
                String::new()
            } else {
                format!("arn:aws:kms:{REGION}:{account}:key/{KEY_ID}")
            }];
            if account == ACCOUNT {
                key_arns.extend(v.resources.iter().cloned());
            }
            for (i, key_arn) in key_arns.into_iter().enumerate() {
                let with_keys = (i + out.len()) % 2 == 1;
                let claims = if with_keys {
                    v.values_of(principal, |k| k.strip_prefix("Jwt:").map(str::to_owned))
                } else {
                    Claims::new()
                };
                let grant_operations = v
                    .values_of(principal, |k| {
                        k.eq_ignore_ascii_case("kms:GrantOperations").then(String::new)
                    })
                    .into_values()
                    .flatten()
                    .collect();
                let extra = if with_keys {
                    v.values_of(principal, |k| Some(k.to_lowercase())).into_iter().collect()
                } else {
                    Vec::new()
                };
                out.push(Parts {
                    principal: principal.clone(),
                    principal_arn: principal_arn.clone(),
                    account: account.clone(),
                    key_arn,
                    claims,
                    grant_operations,
                    extra,
                });
            }
        }
    }
    out
}

fn permissiveness(d: Decision) -> u8 {
    match d {
        Decision::ExplicitDeny => 0,
        Decision::ImplicitDeny => 1,
        Decision::Allow => 2,
    }
}

/// A cheap hash of the input, to vary what is asked without a fixed layout.
fn pick(data: &[u8]) -> usize {
    data.iter().fold(data.len(), |h, &b| h.wrapping_mul(31).wrapping_add(usize::from(b)))
}

/// The evaluation invariants: `evaluate_any_context` at least as permissive as `evaluate` with
/// any context, and an appended Deny for an action denying every request for it.
fn check_evaluation(policy: &Policy, document: &Value, pick: usize) {
    let vocabulary = Vocabulary::of(document);
    let requests = requests(&vocabulary);
    let actions = vocabulary.request_actions(pick);
    let denied = KEY_POLICY_ACTIONS[pick % KEY_POLICY_ACTIONS.len()];
    let spelled = match pick / 7 % 5 {
        0 => denied.to_owned(),
        1 => denied.to_lowercase(),
        2 => denied.to_uppercase(),
        3 => format!("{}?", &denied[..denied.len() - 1]),
        _ => V0_ACTIONS
            .iter()
            .find(|(_, named)| *named == denied)
            .map_or(denied, |(bare, _)| bare)
            .to_owned(),
    };
    let mut with_deny = document.clone();
    let deny = json!({"Effect": "Deny", "Principal": "*", "Action": spelled});
    match &mut with_deny["Statement"] {
        Value::Array(items) => items.push(deny),
        single => *single = json!([single.take(), deny]),
    }
    let with_deny = match Policy::from_json(with_deny) {
        Ok(p) => p,
        Err(e) => panic!("an unconditional Deny of {spelled:?} makes a valid policy invalid: {e}"),
    };

    for parts in &requests {
        let extra: BTreeMap<&str, Vec<String>> =
            parts.extra.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
        let contexts = vocabulary.contexts(&parts.principal);
        for action in &actions {
            let any = policy.evaluate_any_context(&parts.request(action, &extra, None));
            for context in std::iter::once(None).chain(contexts.iter().map(Some)) {
                let request = parts.request(action, &extra, context);
                let decision = policy.evaluate(&request);
                assert!(
                    permissiveness(decision) <= permissiveness(any),
                    "evaluate {decision:?} but evaluate_any_context {any:?} for {request:?}, \
                     policy {policy:?}"
                );
            }
        }
        let any = with_deny.evaluate_any_context(&parts.request(denied, &extra, None));
        assert_eq!(any, Decision::ExplicitDeny, "any context, Deny of {spelled:?}");
        for context in std::iter::once(None).chain(contexts.iter().map(Some)) {
            let request = parts.request(denied, &extra, context);
            let decision = with_deny.evaluate(&request);
            assert_eq!(
                decision,
                Decision::ExplicitDeny,
                "Deny of {spelled:?} appended, {request:?}, policy {with_deny:?}"
            );
        }
    }
}

/// `value` as compact JSON, the first member of its `dup_at`-th non-empty object (in document
/// order) written twice; returns that member's key.
fn write_with_duplicate(
    value: &Value,
    dup_at: usize,
    seen: &mut usize,
    out: &mut String,
) -> Option<String> {
    let mut duplicated = None;
    match value {
        Value::Object(members) => {
            let repeated = members.iter().next().filter(|_| {
                *seen += 1;
                *seen - 1 == dup_at
            });
            out.push('{');
            for (i, (key, member)) in repeated.into_iter().chain(members).enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                duplicated = duplicated.or(write_with_duplicate(member, dup_at, seen, out));
            }
            out.push('}');
            duplicated = repeated.map(|(key, _)| key.clone()).or(duplicated);
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                duplicated = duplicated.or(write_with_duplicate(item, dup_at, seen, out));
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
    duplicated
}

fn nonempty_objects(value: &Value) -> usize {
    match value {
        Value::Object(members) => {
            usize::from(!members.is_empty()) + members.values().map(nonempty_objects).sum::<usize>()
        }
        Value::Array(items) => items.iter().map(nonempty_objects).sum(),
        _ => 0,
    }
}

/// What holds for every policy the value path accepts from `document`.
fn check(policy: &Policy, document: &Value, pick: usize) {
    let stored = serde_json::to_string(policy).expect("a policy serializes");
    let value: Value = serde_json::from_str(&stored).expect("a stored policy is JSON");
    assert_eq!(&value, document, "a policy serializes as another document");
    match Policy::from_json(value) {
        Ok(loaded) => assert_eq!(&loaded, policy, "stored as {stored}"),
        Err(e) => panic!("an accepted policy does not load back: {e}; stored as {stored}"),
    }

    if stored.len() <= MAX_POLICY_BYTES {
        match Policy::from_json_text(&stored) {
            Ok(same) => assert_eq!(&same, policy, "the text path reads {stored} differently"),
            Err(e) => panic!("the text path refuses {stored}, {e}"),
        }
    }
    let (mut text, mut seen) = (String::new(), 0);
    // An accepted policy is an object with a Statement.
    let dup_at = pick % nonempty_objects(document);
    let key = write_with_duplicate(document, dup_at, &mut seen, &mut text)
        .expect("an object to duplicate a member of");
    match Policy::from_json_text(&text) {
        Ok(_) => panic!("the text path accepts duplicate keys {key:?}: {text}"),
        Err(e) => {
            let named = format!("duplicate key {key:?}");
            assert!(e.to_string().contains(&named), "refused, but not for {named}: {e}");
        }
    }

    check_evaluation(policy, document, pick);
}

/// How a path took the input, for `CIPHERDROP_FUZZ_VERBOSE`.
fn outcome(result: Option<&Result<Policy, DomainError>>) -> String {
    match result {
        None => "not JSON".into(),
        Some(Ok(_)) => "accepted".into(),
        Some(Err(e)) => format!("refused ({e})"),
    }
}

fuzz_target!(|data: &[u8]| {
    let pick = pick(data);
    let value = serde_json::from_slice::<Value>(data).ok();
    let by_value = value.clone().map(Policy::from_json);
    let by_text = std::str::from_utf8(data).ok().map(Policy::from_json_text);
    if std::env::var_os("CIPHERDROP_FUZZ_VERBOSE").is_some() {
        eprintln!(
            "value path {}, text path {}",
            outcome(by_value.as_ref()),
            outcome(by_text.as_ref())
        );
    }
    if let (Some(document), Some(Ok(policy))) = (&value, &by_value) {
        check(policy, document, pick);
    }
    if let Some(Ok(policy)) = &by_text {
        match &by_value {
            Some(Ok(same)) => assert_eq!(same, policy, "from_json_text and from_json differ"),
            other => panic!("from_json_text accepts what from_json refuses: {other:?}"),
        }
        let size = value.map(|v| v.to_string().len()).expect("parsed above");
        assert!(size <= MAX_POLICY_BYTES, "{size} bytes accepted");
    }
});
