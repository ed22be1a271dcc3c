//! Key policies from arbitrary bytes, as the key server gets them: JSON text through
//! `Policy::from_json_text` (a client's document: duplicate keys refused, 32 KiB at most) and
//! through `serde_json` then `Policy::from_json` (what a stored policy goes through when it is
//! loaded). Nothing may panic, and for every policy either path accepts:
//!
//! - `allows(p, a, ctx)` true for some context implies `may_allow(p, a)` (policy.rs: may_allow
//!   is "false only when no context could make `Policy::allows` true"; the key server skips
//!   the RSA work and refuses an Unwrap when it is false), checked on principals, actions and
//!   contexts derived from the policy itself, plus a few fixed ones;
//! - what the text path accepts, the value path accepts too, as the same policy
//!   (`from_json_text` is documented as `PolicyDocument`, then `from_json`), and its compact
//!   JSON is at most `MAX_POLICY_BYTES`;
//! - a policy round-trips through its storage form (`serde_json::to_string`, then
//!   `serde_json::from_str` and `from_json`, as domain/service.rs and domain/keys.rs do) to an
//!   equal policy, so a key whose policy was accepted never becomes unloadable.
#![no_main]

use cipherdrop::EncryptionContext;
use cipherdrop_server::ADMIN_PRINCIPAL;
use cipherdrop_server::domain::policy::{ACTIONS, MAX_POLICY_BYTES, OneOrMany, Policy};
use libfuzzer_sys::fuzz_target;

const CONTEXT_KEY_PREFIX: &str = "EncryptionContext:";

fn values(v: &OneOrMany) -> Vec<&str> {
    match v {
        OneOrMany::One(s) => vec![s.as_str()],
        OneOrMany::Many(v) => v.iter().map(String::as_str).collect(),
    }
}

/// Principals to ask about: fixed ones, then the first few the policy names.
fn principals(policy: &Policy) -> Vec<String> {
    let mut out: Vec<String> =
        [ADMIN_PRINCIPAL, "alice", "*", ""].iter().map(|s| s.to_string()).collect();
    for st in &policy.statements {
        for p in values(&st.principal) {
            if out.len() >= 8 {
                return out;
            }
            if !out.iter().any(|o| o == p) {
                out.push(p.to_string());
            }
        }
    }
    out
}

/// Actions to ask about: every action a policy can name, one it cannot, and the first few
/// Action values of the policy taken literally (globs included).
fn actions(policy: &Policy) -> Vec<String> {
    let mut out: Vec<String> = ACTIONS.iter().map(|s| s.to_string()).collect();
    out.push("Encrypt".into());
    for a in policy.statements.iter().flat_map(|st| values(&st.action)).take(3) {
        if !out.iter().any(|o| o == a) {
            out.push(a.to_string());
        }
    }
    out
}

/// Contexts to ask about for `principal`: none, empty, and contexts built from the condition
/// keys and values of the policy (values with `${principal}` substituted, taken literally,
/// changed in case, and with one key left out).
fn contexts(policy: &Policy, principal: &str) -> Vec<Option<EncryptionContext>> {
    let mut pairs: Vec<(String, String, String)> = Vec::new();
    for st in &policy.statements {
        for keys in st.condition.values() {
            for (key, vals) in keys {
                let Some(name) = key.strip_prefix(CONTEXT_KEY_PREFIX) else { continue };
                let raw = values(vals).first().copied().unwrap_or("");
                let substituted = raw.replace("${principal}", principal);
                pairs.push((name.to_string(), raw.to_string(), substituted));
                if pairs.len() >= 8 {
                    break;
                }
            }
        }
    }
    let build = |f: &dyn Fn(usize, &str, &str) -> Option<String>| -> EncryptionContext {
        pairs
            .iter()
            .enumerate()
            .filter_map(|(i, (k, raw, sub))| f(i, raw, sub).map(|v| (k.clone(), v)))
            .collect()
    };
    let mut out = vec![None, Some(EncryptionContext::new())];
    out.push(Some(build(&|_, _, sub| Some(sub.to_string()))));
    out.push(Some(build(&|_, raw, _| Some(raw.to_string()))));
    out.push(Some(build(&|_, _, sub| Some(sub.to_uppercase()))));
    out.push(Some(build(&|i, _, sub| (i != 0).then(|| sub.to_string()))));
    out.push(Some(build(&|i, _, sub| Some(if i % 2 == 0 { sub.to_string() } else { "x".into() }))));
    out
}

fn check(policy: &Policy) {
    for principal in principals(policy) {
        let contexts = contexts(policy, &principal);
        for action in actions(policy) {
            let may = policy.may_allow(&principal, &action);
            for context in &contexts {
                let allowed = policy.allows(&principal, &action, context.as_ref());
                assert!(
                    may || !allowed,
                    "allows({principal:?}, {action:?}, {context:?}) but not may_allow, \
                     policy {policy:?}"
                );
            }
        }
    }
    // The storage round trip of domain/service.rs (save) and domain/keys.rs (load).
    let stored = serde_json::to_string(policy).expect("a policy serializes");
    let value = serde_json::from_str(&stored).expect("a stored policy is JSON");
    match Policy::from_json(value) {
        Ok(loaded) => assert_eq!(&loaded, policy, "stored as {stored}"),
        Err(e) => panic!("an accepted policy does not load back: {e}; stored as {stored}"),
    }
}

fuzz_target!(|data: &[u8]| {
    let by_value = serde_json::from_slice::<serde_json::Value>(data).ok().map(Policy::from_json);
    if let Some(Ok(policy)) = &by_value {
        check(policy);
    }
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(policy) = Policy::from_json_text(text) {
        check(&policy);
        match &by_value {
            Some(Ok(same)) => assert_eq!(same, &policy, "from_json_text and from_json differ"),
            other => panic!("from_json_text accepts what from_json refuses: {other:?}"),
        }
        let value: serde_json::Value = serde_json::from_str(text).expect("parsed above");
        let size = serde_json::to_vec(&value).expect("serializes").len();
        assert!(size <= MAX_POLICY_BYTES, "{size} bytes accepted");
    }
});
