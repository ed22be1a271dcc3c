//! The `Condition` element: operators, condition keys, and the glob matcher that `…Like`,
//! `Arn…`, `Action` and `Resource` values share ("IAM JSON policy elements: Condition
//! operators"; "AWS KMS condition keys").

use super::Request;

/// Request parameters a key policy may test, lowercase, as [`Request::extra`] carries them
/// ("AWS KMS condition keys").
const REQUEST_KEYS: [&str; 4] =
    ["kms:encryptionalgorithm", "kms:keyorigin", "kms:keyspec", "kms:requestalias"];

/// A condition key. AWS's are matched ignoring case ("Context key names are not
/// case-sensitive"); ours, `EncryptionContext:NAME` and `Jwt:NAME`, exactly, as always.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Key {
    /// `aws:PrincipalAccount`, `kms:CallerAccount`: the deployment's one account.
    Account,
    /// `Jwt:NAME`: a claim of the caller's sign-in token.
    Claim(String),
    /// `kms:EncryptionContext:NAME`, NAME lowercased: AWS KMS matches the context key of
    /// this condition ignoring case (GrantConstraints: "to require a fully case-sensitive
    /// encryption context, use the kms:EncryptionContext: and kms:EncryptionContextKeys
    /// conditions"), its value as the operator says.
    Context(String),
    /// `kms:EncryptionContextKeys`: the context's keys, exactly as written.
    ContextKeys,
    /// `kms:GrantIsForAWSResource`: always `false`, no AWS service calls this server.
    GrantIsForAwsResource,
    /// `kms:GrantOperations`: present in CreateGrant only.
    GrantOperations,
    /// `EncryptionContext:NAME`: the pair whose key is exactly NAME.
    LegacyContext(String),
    /// `aws:PrincipalArn`.
    PrincipalArn,
    /// One of [`REQUEST_KEYS`].
    Request(&'static str),
    /// `kms:ViaService`: never present, no AWS service calls this server.
    ViaService,
}

impl Key {
    pub(super) fn parse(name: &str) -> Result<Self, String> {
        let nonempty = |n: &str| (!n.is_empty()).then(|| n.to_owned());
        if let Some(n) = name.strip_prefix("EncryptionContext:") {
            return nonempty(n).map(Self::LegacyContext).ok_or_else(|| unknown_key(name));
        }
        if let Some(n) = name.strip_prefix("Jwt:") {
            return nonempty(n).map(Self::Claim).ok_or_else(|| unknown_key(name));
        }
        let lower = name.to_lowercase();
        if let Some(n) = lower.strip_prefix("kms:encryptioncontext:") {
            return nonempty(n).map(Self::Context).ok_or_else(|| unknown_key(name));
        }
        Ok(match lower.as_str() {
            "aws:principalaccount" | "kms:calleraccount" => Self::Account,
            "aws:principalarn" => Self::PrincipalArn,
            "kms:encryptioncontextkeys" => Self::ContextKeys,
            "kms:grantisforawsresource" => Self::GrantIsForAwsResource,
            "kms:grantoperations" => Self::GrantOperations,
            "kms:viaservice" => Self::ViaService,
            other => match REQUEST_KEYS.iter().find(|k| **k == other) {
                Some(k) => Self::Request(k),
                None => return Err(unknown_key(name)),
            },
        })
    }

    /// The key's values in the request; `None` when the request cannot tell: a context key
    /// without a verified context, an account or ARN the caller did not give.
    pub(super) fn values<'a>(&self, r: &Request<'a>) -> Option<Vec<&'a str>> {
        let known = |s: &'a str| (!s.is_empty()).then(|| vec![s]);
        Some(match self {
            Self::Account => known(r.account)?,
            Self::Claim(name) => r.claims.get(name).map_or_else(Vec::new, |v| strs(v)),
            Self::Context(name) => r
                .context?
                .iter()
                .filter(|(k, _)| k.to_lowercase() == *name)
                .map(|(_, v)| v.as_str())
                .collect(),
            Self::ContextKeys => r.context?.keys().map(String::as_str).collect(),
            Self::GrantIsForAwsResource => vec!["false"],
            Self::GrantOperations => r.grant_operations.map_or_else(Vec::new, strs),
            Self::LegacyContext(name) => {
                r.context?.get(name).map(String::as_str).into_iter().collect()
            }
            Self::PrincipalArn => known(r.principal_arn)?,
            Self::Request(name) => r.extra.get(name).map_or_else(Vec::new, |v| strs(v)),
            Self::ViaService => Vec::new(),
        })
    }
}

fn strs(values: &[String]) -> Vec<&str> {
    values.iter().map(String::as_str).collect()
}

fn unknown_key(name: &str) -> String {
    format!(
        "unknown condition key {name:?} (known: EncryptionContext:NAME, Jwt:NAME, \
         kms:EncryptionContext:NAME, kms:EncryptionContextKeys, kms:CallerAccount, \
         kms:EncryptionAlgorithm, kms:GrantIsForAWSResource, kms:GrantOperations, kms:KeyOrigin, \
         kms:KeySpec, kms:RequestAlias, kms:ViaService, aws:PrincipalAccount, aws:PrincipalArn)"
    )
}

/// How an operator compares a request value with a policy value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Compare {
    /// `ArnEquals`/`ArnLike` (the same in IAM): each of the six `:`-separated components
    /// matched as a case-sensitive glob.
    Arn,
    /// `Bool`: `"true"` or `"false"`.
    Bool,
    /// `StringEquals`: exact, case-sensitive.
    Equals,
    /// `StringEqualsIgnoreCase`: exact after Unicode lowercasing of both sides.
    EqualsIgnoreCase,
    /// `StringLike`: case-sensitive glob, `*` any run and `?` any one character.
    Like,
}

/// The `ForAllValues:`/`ForAnyValue:` set prefix, if any.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Quantifier {
    /// No prefix.
    Single,
    /// `ForAllValues:`: every value of the key satisfies the operator; true for no value.
    ForAllValues,
    /// `ForAnyValue:`: some value of the key satisfies the operator; false for no value.
    ForAnyValue,
}

/// A condition operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Operator {
    /// `Null`: `"true"` holds when the key is absent, `"false"` when it is present.
    Null,
    /// A comparison, perhaps negated (`StringNot…`, `ArnNot…`), `…IfExists`, or set-prefixed.
    Compare { quantifier: Quantifier, compare: Compare, negated: bool, if_exists: bool },
}

impl Operator {
    pub(super) fn parse(name: &str) -> Option<Self> {
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
            "ArnEquals" | "ArnLike" => (Compare::Arn, false),
            "ArnNotEquals" | "ArnNotLike" => (Compare::Arn, true),
            "Bool" => (Compare::Bool, false),
            "StringEquals" => (Compare::Equals, false),
            "StringNotEquals" => (Compare::Equals, true),
            "StringEqualsIgnoreCase" => (Compare::EqualsIgnoreCase, false),
            "StringNotEqualsIgnoreCase" => (Compare::EqualsIgnoreCase, true),
            "StringLike" => (Compare::Like, false),
            "StringNotLike" => (Compare::Like, true),
            _ => return None,
        };
        Some(Self::Compare { quantifier, compare, negated, if_exists })
    }

    /// Whether its values may only be `"true"` and `"false"`.
    pub(super) fn takes_booleans(self) -> bool {
        matches!(self, Self::Null | Self::Compare { compare: Compare::Bool, .. })
    }

    /// Whether the condition on one key holds: `actual` is the key's set of values (one or
    /// none for a legacy context key, any number for a claim), `values` the policy's.
    /// Without a set prefix an operator asks whether some value matches (negated: whether
    /// none does).
    pub(super) fn holds(self, values: &[String], actual: &[&str], principal: &str) -> bool {
        let Self::Compare { quantifier, compare, negated, if_exists } = self else {
            return values.iter().any(|v| match v.as_str() {
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
    pub(super) fn matches(self, value: &str, actual: &str, principal: &str) -> bool {
        match self {
            Self::Arn => arn_like(value, actual, principal),
            Self::Bool | Self::Equals => literal(value, principal) == actual,
            Self::EqualsIgnoreCase => {
                literal(value, principal).to_lowercase() == actual.to_lowercase()
            }
            Self::Like => like(&pieces(value, principal, true), actual),
        }
    }
}

/// Whether the ARN `actual` matches the ARN pattern `pattern`: both have six `:`-separated
/// components (the last may hold more `:`), each matched as a glob, so a `*` never runs
/// across a `:` before the resource part ("ArnLike: each of the six colon-delimited
/// components of the ARN is checked separately").
pub(super) fn arn_like(pattern: &str, actual: &str, principal: &str) -> bool {
    let (p, a): (Vec<&str>, Vec<&str>) =
        (pattern.splitn(6, ':').collect(), actual.splitn(6, ':').collect());
    p.len() == 6
        && a.len() == 6
        && p.iter().zip(&a).all(|(p, a)| like(&pieces(p, principal, true), a))
}

/// One element of a glob pattern.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Piece {
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
pub(super) fn pieces(value: &str, principal: &str, wildcards: bool) -> Vec<Piece> {
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
pub(super) fn literal(value: &str, principal: &str) -> String {
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
pub(super) fn like(pattern: &[Piece], text: &str) -> bool {
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
