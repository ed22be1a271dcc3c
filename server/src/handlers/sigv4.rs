//! AWS Signature Version 4 verification, for the KMS JSON API's clients (boto3, the AWS CLI,
//! the AWS SDKs), which sign with an access key (`cipherdrop credential create`).
//!
//! "Create a signed AWS API request" (AWS IAM User Guide, Signature Version 4): the signer
//! builds a canonical request (method, canonical URI, canonical query string, canonical
//! headers, signed headers, hashed payload), hashes it into a string to sign
//! (`AWS4-HMAC-SHA256`, the request date, the credential scope), and signs that with a key
//! derived from the secret: `kDate = HMAC("AWS4" + secret, date)`, then region, service and
//! `aws4_request`. We rebuild the same from what arrived and compare in constant time.
//!
//! Written here over aws-lc-rs's HMAC rather than with `scratchstack-aws-signature`: that
//! crate allows a fixed 15-minute skew (AWS allows 5), wants the region before it has read
//! the request (we take it from the credential scope), answers IAM's error names rather than
//! KMS's, and brings chrono, regex, derive_builder, tower and a second sha2/hmac.

use aws_lc_rs::{digest, hmac};
use axum::http::StatusCode;
use axum::http::request::Parts;
use zeroize::Zeroizing;

use super::{Auth, action_of, request_id};
use crate::domain::{Caller, DomainError};

/// The one algorithm SigV4 names.
const ALGORITHM: &str = "AWS4-HMAC-SHA256";
/// The credential scope's last element.
const TERMINATOR: &str = "aws4_request";
/// How far the request's date may be from the server's clock: AWS's five minutes.
const MAX_SKEW_SECONDS: i64 = 5 * 60;
/// `X-Amz-Date`: ISO 8601 basic format, UTC.
const AMZ_DATE: &[time::format_description::BorrowedFormatItem<'static>] =
    time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");

/// A verified request: who signed it, and for which region.
#[derive(Debug)]
pub(crate) struct Signed {
    /// The access key's principal; `token_id` is the access key ID, `region` the region of
    /// the credential scope (KMS answers with ARNs in it).
    pub(crate) caller: Caller,
}

/// Why a signed request was refused, as AWS names it (`aws_type`) for the JSON protocol.
#[derive(Debug)]
pub(crate) enum SigV4Error {
    /// The request is malformed: no algorithm, credential or date as SigV4 wants.
    IncompleteSignature(String),
    /// The signature does not match, or its date is too far from the server's clock.
    InvalidSignature(String),
    /// No `Authorization` header.
    MissingAuthenticationToken,
    /// The server could not decide (database unavailable, audit record not written).
    Failed(DomainError),
    /// Too many refused requests from the address, or requests of the principal.
    Throttling,
    /// An unknown or revoked access key, or a session token (not supported).
    UnrecognizedClient,
}

impl SigV4Error {
    /// The exception name AWS answers (`__type`, `x-amzn-ErrorType`).
    pub(crate) fn aws_type(&self) -> &'static str {
        match self {
            Self::IncompleteSignature(_) => "IncompleteSignatureException",
            Self::InvalidSignature(_) => "InvalidSignatureException",
            Self::MissingAuthenticationToken => "MissingAuthenticationTokenException",
            Self::Failed(DomainError::Unavailable(_) | DomainError::AuditFailed(_)) => {
                "DependencyTimeoutException"
            }
            Self::Failed(_) => "KMSInternalException",
            Self::Throttling => "ThrottlingException",
            Self::UnrecognizedClient => "UnrecognizedClientException",
        }
    }

    /// The message a client may see (never a secret, never what we computed).
    pub(crate) fn message(&self) -> String {
        match self {
            Self::IncompleteSignature(m) | Self::InvalidSignature(m) => m.clone(),
            Self::MissingAuthenticationToken => "Missing Authentication Token".into(),
            Self::Failed(e) => e.public_message(),
            Self::Throttling => "Rate exceeded".into(),
            Self::UnrecognizedClient => {
                "The security token included in the request is invalid.".into()
            }
        }
    }

    /// The HTTP status: 400 for every refusal, as AWS's JSON services answer them.
    pub(crate) fn status(&self) -> StatusCode {
        match self {
            Self::Failed(DomainError::Unavailable(_) | DomainError::AuditFailed(_)) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            Self::Failed(_) => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::BAD_REQUEST,
        }
    }
}

impl std::fmt::Display for SigV4Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.aws_type(), self.message())
    }
}

/// Verifies the request's SigV4 signature for `service` (`kms`): the access key must be
/// live, the body the one signed. A refusal is audited and rate limited like a bad bearer
/// token; a signed request is subject to its principal's rate.
pub(crate) async fn authenticate(
    auth: &Auth,
    parts: &Parts,
    body: &[u8],
    service: &str,
) -> Result<Signed, SigV4Error> {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let mut named = None;
    let verified = verify(parts, body, service, now, &mut named, async |id| {
        auth.keys.access_key_secret(id).await.map_err(SigV4Error::Failed)
    })
    .await;
    let (principal, region) = match verified {
        Ok(found) => found,
        Err(SigV4Error::Failed(e)) => return Err(SigV4Error::Failed(e)),
        Err(refused) => {
            let key = named.map(|id| format!(" accessKeyId={id}")).unwrap_or_default();
            let why = format!("sigv4: {}{key}", refused.aws_type());
            return Err(match auth.refuse_anonymous(parts, Some(why)).await {
                DomainError::RateLimited => SigV4Error::Throttling,
                DomainError::Unauthorized => refused,
                other => SigV4Error::Failed(other),
            });
        }
    };
    let caller = Caller {
        principal,
        request_id: request_id(parts),
        token_id: named,
        identity: None,
        region: Some(region),
        parameters: None,
    };
    auth.admit(&caller, &action_of(parts)).await.map_err(|e| match e {
        DomainError::RateLimited => SigV4Error::Throttling,
        other => SigV4Error::Failed(other),
    })?;
    Ok(Signed { caller })
}

/// The checks of [`authenticate`] at `now` (seconds since the epoch), with `secret_of` to
/// look up an access key: (principal, region). `named` gets the access key ID once the
/// header names a plausible one, for the record.
async fn verify(
    parts: &Parts,
    body: &[u8],
    service: &str,
    now: i64,
    named: &mut Option<String>,
    secret_of: impl AsyncFnOnce(&str) -> Result<Option<(String, Zeroizing<Vec<u8>>)>, SigV4Error>,
) -> Result<(String, String), SigV4Error> {
    let header = parts
        .headers
        .get(axum::http::header::AUTHORIZATION)
        .ok_or(SigV4Error::MissingAuthenticationToken)?;
    let header = header.to_str().map_err(|_| incomplete("Authorization header is not ASCII"))?;
    let auth = Authorization::parse(header)?;
    if auth.access_key_id.len() <= 128 {
        *named = Some(auth.access_key_id.to_string());
    }
    let amz_date = request_date(parts)?;
    // Session tokens come from STS, which this server is not: no token can be valid.
    if parts.headers.contains_key("x-amz-security-token") {
        return Err(SigV4Error::UnrecognizedClient);
    }
    let (principal, secret) =
        secret_of(auth.access_key_id).await?.ok_or(SigV4Error::UnrecognizedClient)?;
    if auth.service != service {
        return Err(SigV4Error::InvalidSignature(format!(
            "Credential should be scoped to correct service: '{service}'."
        )));
    }
    // The region goes into the ARNs of the answers: AWS's region names only.
    let region_ok = auth.region.len() <= 32
        && auth.region.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if !region_ok {
        return Err(SigV4Error::InvalidSignature(
            "Credential should be scoped to a valid region.".into(),
        ));
    }
    let day = amz_date.text.get(..8).unwrap_or_default();
    if auth.date != day {
        return Err(SigV4Error::InvalidSignature(format!(
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date \
             from HTTP: '{}' != '{day}', from '{}'.",
            auth.date, amz_date.text
        )));
    }
    check_skew(&amz_date, now)?;
    let canonical = canonical_request(parts, body, &auth.signed_headers)?;
    let scope = format!("{}/{}/{}/{TERMINATOR}", auth.date, auth.region, auth.service);
    let string_to_sign =
        format!("{ALGORITHM}\n{}\n{scope}\n{}", amz_date.text, hex(&sha256(canonical.as_bytes())));
    let key = signing_key(&secret, auth.date, auth.region, auth.service);
    hmac::verify(&key, string_to_sign.as_bytes(), &auth.signature).map_err(|_| {
        SigV4Error::InvalidSignature(
            "The request signature we calculated does not match the signature you provided. \
             Check your AWS Secret Access Key and signing method. Consult the service \
             documentation for details."
                .into(),
        )
    })?;
    Ok((principal, auth.region.to_string()))
}

fn incomplete(message: impl Into<String>) -> SigV4Error {
    SigV4Error::IncompleteSignature(message.into())
}

/// The parts of `Authorization: AWS4-HMAC-SHA256 Credential=AKID/DATE/REGION/SERVICE/
/// aws4_request, SignedHeaders=a;b, Signature=HEX`.
#[derive(Debug)]
struct Authorization<'a> {
    access_key_id: &'a str,
    date: &'a str,
    region: &'a str,
    service: &'a str,
    signed_headers: Vec<&'a str>,
    signature: Vec<u8>,
}

impl<'a> Authorization<'a> {
    fn parse(header: &'a str) -> Result<Self, SigV4Error> {
        let (algorithm, rest) = header.trim().split_once(' ').unwrap_or((header.trim(), ""));
        if algorithm != ALGORITHM {
            return Err(incomplete(format!("Unsupported AWS 'algorithm': '{algorithm}'")));
        }
        let (mut credential, mut signed, mut signature) = (None, None, None);
        for element in rest.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let (name, value) = element.split_once('=').ok_or_else(|| {
                incomplete(format!("'{element}' not a valid key=value pair in Authorization"))
            })?;
            let slot = match name {
                "Credential" => &mut credential,
                "SignedHeaders" => &mut signed,
                "Signature" => &mut signature,
                _ => continue,
            };
            *slot = Some(value);
        }
        let missing =
            |what: &str| incomplete(format!("Authorization header requires '{what}' parameter."));
        let credential = credential.ok_or_else(|| missing("Credential"))?;
        let signed = signed.ok_or_else(|| missing("SignedHeaders"))?;
        let signature = signature.ok_or_else(|| missing("Signature"))?;
        let scope: Vec<&str> = credential.split('/').collect();
        let [access_key_id, date, region, service, terminator] = scope[..] else {
            return Err(incomplete(format!(
                "Credential should have 5 parts (AKID/DATE/REGION/SERVICE/{TERMINATOR}): \
                 '{credential}'"
            )));
        };
        if terminator != TERMINATOR {
            return Err(incomplete(format!(
                "Credential should be scoped with a valid terminator: '{TERMINATOR}', not \
                 '{terminator}'."
            )));
        }
        if access_key_id.is_empty() || region.is_empty() || service.is_empty() {
            return Err(incomplete(format!("Credential has an empty element: '{credential}'")));
        }
        if date.len() != 8 || !date.bytes().all(|b| b.is_ascii_digit()) {
            return Err(incomplete(format!("Credential date is not YYYYMMDD: '{date}'")));
        }
        let signed_headers: Vec<&str> = signed.split(';').collect();
        if signed_headers.iter().any(|h| h.is_empty() || h.bytes().any(|b| b.is_ascii_uppercase()))
        {
            return Err(incomplete(
                "SignedHeaders must be lowercase header names separated by ';'",
            ));
        }
        if !signed_headers.contains(&"host") {
            return Err(incomplete(
                "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.",
            ));
        }
        let signature = unhex(signature)
            .filter(|s| s.len() == digest::SHA256_OUTPUT_LEN)
            .ok_or_else(|| incomplete("Signature must be 64 hexadecimal digits"))?;
        Ok(Self { access_key_id, date, region, service, signed_headers, signature })
    }
}

/// The request's date: `X-Amz-Date`, else `Date` (RFC 7231's IMF-fixdate), as the string to
/// sign writes it.
struct RequestDate {
    text: String,
    unix: i64,
}

fn request_date(parts: &Parts) -> Result<RequestDate, SigV4Error> {
    if let Some(value) = parts.headers.get("x-amz-date") {
        let text = value.to_str().unwrap_or_default().trim();
        let parsed = time::PrimitiveDateTime::parse(text, AMZ_DATE).map_err(|_| {
            incomplete(format!(
                "Date must be in ISO-8601 'basic format'. Got '{text}'. See \
                 http://en.wikipedia.org/wiki/ISO_8601"
            ))
        })?;
        return Ok(RequestDate { text: text.into(), unix: parsed.assume_utc().unix_timestamp() });
    }
    let Some(value) = parts.headers.get(axum::http::header::DATE) else {
        return Err(incomplete(
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' \
             header.",
        ));
    };
    let text = value.to_str().unwrap_or_default().trim();
    let parsed = time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc2822)
        .map_err(|_| incomplete(format!("Date header is not an HTTP date: '{text}'")))?;
    let utc = parsed.to_offset(time::UtcOffset::UTC);
    let text = utc.format(AMZ_DATE).map_err(|_| incomplete("Date out of range"))?;
    Ok(RequestDate { text, unix: utc.unix_timestamp() })
}

/// Refuses a date more than five minutes from `now`, in AWS's words.
fn check_skew(date: &RequestDate, now: i64) -> Result<(), SigV4Error> {
    let shown = |unix: i64| {
        time::OffsetDateTime::from_unix_timestamp(unix)
            .ok()
            .and_then(|t| t.format(AMZ_DATE).ok())
            .unwrap_or_default()
    };
    if date.unix < now - MAX_SKEW_SECONDS {
        return Err(SigV4Error::InvalidSignature(format!(
            "Signature expired: {} is now earlier than {} ({} - 5 min.)",
            date.text,
            shown(now - MAX_SKEW_SECONDS),
            shown(now)
        )));
    }
    if date.unix > now + MAX_SKEW_SECONDS {
        return Err(SigV4Error::InvalidSignature(format!(
            "Signature not yet current: {} is still later than {} ({} + 5 min.)",
            date.text,
            shown(now + MAX_SKEW_SECONDS),
            shown(now)
        )));
    }
    Ok(())
}

/// "Create a canonical request": `METHOD\nURI\nQUERY\nHEADERS\n\nSIGNED\nPAYLOAD_HASH`.
fn canonical_request(
    parts: &Parts,
    body: &[u8],
    signed_headers: &[&str],
) -> Result<String, SigV4Error> {
    let payload = hex(&sha256(body));
    if let Some(claimed) = parts.headers.get("x-amz-content-sha256")
        && claimed.as_bytes() != payload.as_bytes()
    {
        return Err(SigV4Error::InvalidSignature(
            "The provided 'x-amz-content-sha256' header does not match what was computed.".into(),
        ));
    }
    let mut out = format!(
        "{}\n{}\n{}\n",
        parts.method.as_str(),
        canonical_uri(parts.uri.path()),
        canonical_query(parts.uri.query().unwrap_or_default())
    );
    for name in signed_headers {
        out.push_str(name);
        out.push(':');
        out.push_str(&header_value(parts, name)?);
        out.push('\n');
    }
    out.push('\n');
    out.push_str(&signed_headers.join(";"));
    out.push('\n');
    out.push_str(&payload);
    Ok(out)
}

/// "Canonical URI": the path as sent, normalized (RFC 3986 dot segments removed, empty
/// segments dropped) and URI-encoded once more, every segment. Services other than S3 sign
/// the path encoded twice: the signer encodes what it puts on the wire again.
fn canonical_uri(path: &str) -> String {
    let mut segments: Vec<&str> = Vec::new();
    for segment in path.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            s => segments.push(s),
        }
    }
    let trailing = path.ends_with('/') && !segments.is_empty();
    let mut out = String::from("/");
    out.push_str(&segments.iter().map(|s| uri_encode(s.as_bytes())).collect::<Vec<_>>().join("/"));
    if trailing {
        out.push('/');
    }
    out
}

/// "Canonical query string": each name and value URI-encoded (decoded first, so that every
/// signer's encoding gives the same), sorted by name then value, `name=value` joined by `&`.
fn canonical_query(query: &str) -> String {
    let mut pairs: Vec<(String, String)> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (name, value) = p.split_once('=').unwrap_or((p, ""));
            (uri_encode(&percent_decode(name)), uri_encode(&percent_decode(value)))
        })
        .collect();
    pairs.sort();
    pairs.iter().map(|(n, v)| format!("{n}={v}")).collect::<Vec<_>>().join("&")
}

/// "Canonical headers": a signed header's values, each trimmed with runs of spaces folded to
/// one, joined by commas in the order received; `host` from the URI's authority where the
/// request has none (HTTP/2's `:authority`).
fn header_value(parts: &Parts, name: &str) -> Result<String, SigV4Error> {
    let values: Vec<String> = parts
        .headers
        .get_all(name)
        .iter()
        .map(|v| {
            String::from_utf8_lossy(v.as_bytes()).split_whitespace().collect::<Vec<_>>().join(" ")
        })
        .collect();
    if !values.is_empty() {
        return Ok(values.join(","));
    }
    match (name, parts.uri.authority()) {
        ("host", Some(authority)) => Ok(authority.as_str().to_string()),
        _ => Err(incomplete(format!("signed header '{name}' is not in the request"))),
    }
}

/// RFC 3986 percent-encoding as SigV4 wants it: everything but `A-Za-z0-9-._~`, in
/// uppercase hex.
fn uri_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for &b in bytes {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `%XX` decoded; anything else (a `%` not followed by two hex digits too) taken as is.
fn percent_decode(text: &str) -> Vec<u8> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let decoded = (bytes[i] == b'%')
            .then(|| bytes.get(i + 1..i + 3))
            .flatten()
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match decoded {
            Some(b) => {
                out.push(b);
                i += 3;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    out
}

/// "Derive a signing key": HMAC chained over date, region, service and `aws4_request`; the
/// intermediate keys are zeroized.
fn signing_key(secret: &[u8], date: &str, region: &str, service: &str) -> hmac::Key {
    let mut key = Zeroizing::new(b"AWS4".to_vec());
    key.extend_from_slice(secret);
    for part in [date, region, service, TERMINATOR] {
        let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, &key), part.as_bytes());
        key = Zeroizing::new(tag.as_ref().to_vec());
    }
    hmac::Key::new(hmac::HMAC_SHA256, &key)
}

fn sha256(bytes: &[u8]) -> digest::Digest {
    digest::digest(&digest::SHA256, bytes)
}

fn hex(d: &digest::Digest) -> String {
    crate::domain::secrets::hex(d.as_ref())
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok()).collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// A change to a signed request.
    type Tamper = Box<dyn Fn(&mut Parts, &mut Vec<u8>)>;

    /// The AWS Signature Version 4 test suite's example credentials.
    const ACCESS_KEY_ID: &str = "AKIDEXAMPLE";
    const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
    /// 20150830T123600Z, the suite's request date.
    const SUITE_TIME: i64 = 1_440_938_160;

    /// Signed requests (`.sreq`) of the AWS Signature Version 4 test suite
    /// (aws-sig-v4-test-suite, Apache-2.0, `tests/data/sigv4/LICENSE` and `NOTICE`): service
    /// `service`, region `us-east-1`, signed at [`SUITE_TIME`] with [`SECRET`].
    const SUITE: &[(&str, &str)] = &[
        (
            "get-header-key-duplicate",
            include_str!("../../tests/data/sigv4/get-header-key-duplicate.sreq"),
        ),
        (
            "get-header-value-order",
            include_str!("../../tests/data/sigv4/get-header-value-order.sreq"),
        ),
        (
            "get-header-value-trim",
            include_str!("../../tests/data/sigv4/get-header-value-trim.sreq"),
        ),
        ("get-relative", include_str!("../../tests/data/sigv4/get-relative.sreq")),
        (
            "get-relative-relative",
            include_str!("../../tests/data/sigv4/get-relative-relative.sreq"),
        ),
        ("get-slash", include_str!("../../tests/data/sigv4/get-slash.sreq")),
        ("get-slash-dot-slash", include_str!("../../tests/data/sigv4/get-slash-dot-slash.sreq")),
        (
            "get-slash-pointless-dot",
            include_str!("../../tests/data/sigv4/get-slash-pointless-dot.sreq"),
        ),
        ("get-slashes", include_str!("../../tests/data/sigv4/get-slashes.sreq")),
        ("get-unreserved", include_str!("../../tests/data/sigv4/get-unreserved.sreq")),
        ("get-vanilla", include_str!("../../tests/data/sigv4/get-vanilla.sreq")),
        (
            "get-vanilla-empty-query-key",
            include_str!("../../tests/data/sigv4/get-vanilla-empty-query-key.sreq"),
        ),
        (
            "get-vanilla-query-order-key-case",
            include_str!("../../tests/data/sigv4/get-vanilla-query-order-key-case.sreq"),
        ),
        (
            "get-vanilla-query-unreserved",
            include_str!("../../tests/data/sigv4/get-vanilla-query-unreserved.sreq"),
        ),
        (
            "get-vanilla-utf8-query",
            include_str!("../../tests/data/sigv4/get-vanilla-utf8-query.sreq"),
        ),
        ("post-header-key-case", include_str!("../../tests/data/sigv4/post-header-key-case.sreq")),
        ("post-header-key-sort", include_str!("../../tests/data/sigv4/post-header-key-sort.sreq")),
        (
            "post-header-value-case",
            include_str!("../../tests/data/sigv4/post-header-value-case.sreq"),
        ),
        ("post-vanilla", include_str!("../../tests/data/sigv4/post-vanilla.sreq")),
        (
            "post-vanilla-empty-query-value",
            include_str!("../../tests/data/sigv4/post-vanilla-empty-query-value.sreq"),
        ),
        ("post-vanilla-query", include_str!("../../tests/data/sigv4/post-vanilla-query.sreq")),
    ];

    /// A raw HTTP/1.1 request as [`Parts`] and body; a non-ASCII request target is
    /// percent-encoded, as a client puts it on the wire.
    fn parse(raw: &str) -> (Parts, Vec<u8>) {
        let (head, body) = raw.split_once("\n\n").unwrap_or((raw, ""));
        let mut lines = head.lines();
        let mut request = lines.next().unwrap().splitn(3, ' ');
        let (method, target) = (request.next().unwrap(), request.next().unwrap());
        let target: String = target
            .bytes()
            .map(|b| if b.is_ascii() { char::from(b).to_string() } else { format!("%{b:02X}") })
            .collect();
        let mut builder = axum::http::Request::builder().method(method).uri(target);
        for line in lines {
            let (name, value) = line.split_once(':').unwrap();
            builder = builder.header(name, value);
        }
        let (parts, ()) = builder.body(()).unwrap().into_parts();
        (parts, body.as_bytes().to_vec())
    }

    /// [`verify`] with one access key, `SECRET` for `ACCESS_KEY_ID` (principal `alice`).
    fn check(
        parts: &Parts,
        body: &[u8],
        service: &str,
        now: i64,
    ) -> Result<(String, String), SigV4Error> {
        let mut named = None;
        let run = verify(parts, body, service, now, &mut named, async |id| {
            Ok((id == ACCESS_KEY_ID)
                .then(|| ("alice".to_string(), Zeroizing::new(SECRET.as_bytes().to_vec()))))
        });
        tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(run)
    }

    fn kind(result: Result<(String, String), SigV4Error>) -> &'static str {
        match result {
            Ok(_) => "ok",
            Err(e) => e.aws_type(),
        }
    }

    #[test]
    fn the_aws_test_suite_verifies() {
        for (name, raw) in SUITE {
            let (parts, body) = parse(raw);
            match check(&parts, &body, "service", SUITE_TIME) {
                Ok((principal, region)) => assert_eq!(
                    (principal.as_str(), region.as_str()),
                    ("alice", "us-east-1"),
                    "{name}"
                ),
                Err(e) => panic!("{name}: {e}"),
            }
        }
    }

    #[test]
    fn the_aws_test_suite_tampered_fails() {
        let (parts, body) = parse(SUITE[10].1);
        assert_eq!(SUITE[10].0, "get-vanilla");
        let cases: [(&str, Tamper, &str); 8] = [
            ("body", Box::new(|_, b| b.extend_from_slice(b"x")), "InvalidSignatureException"),
            (
                "host",
                Box::new(|p, _| {
                    p.headers.insert("host", "evil.example".parse().unwrap());
                }),
                "InvalidSignatureException",
            ),
            (
                "query",
                Box::new(|p, _| p.uri = "/?a=b".parse().unwrap()),
                "InvalidSignatureException",
            ),
            (
                "method",
                Box::new(|p, _| p.method = axum::http::Method::POST),
                "InvalidSignatureException",
            ),
            (
                "date",
                Box::new(|p, _| {
                    p.headers.insert("x-amz-date", "20150830T123601Z".parse().unwrap());
                }),
                "InvalidSignatureException",
            ),
            (
                "no authorization",
                Box::new(|p, _| {
                    p.headers.remove("authorization");
                }),
                "MissingAuthenticationTokenException",
            ),
            (
                "no date",
                Box::new(|p, _| {
                    p.headers.remove("x-amz-date");
                }),
                "IncompleteSignatureException",
            ),
            (
                "session token",
                Box::new(|p, _| {
                    p.headers.insert("x-amz-security-token", "t".parse().unwrap());
                }),
                "UnrecognizedClientException",
            ),
        ];
        for (what, tamper, expected) in cases {
            let (mut p, mut b) = (parts.clone(), body.clone());
            tamper(&mut p, &mut b);
            assert_eq!(kind(check(&p, &b, "service", SUITE_TIME)), expected, "{what}");
        }
        assert_eq!(kind(check(&parts, &body, "kms", SUITE_TIME)), "InvalidSignatureException");
    }

    #[test]
    fn clock_skew_beyond_five_minutes_is_refused() {
        let (parts, body) = parse(SUITE[10].1);
        assert_eq!(kind(check(&parts, &body, "service", SUITE_TIME + 300)), "ok");
        assert_eq!(kind(check(&parts, &body, "service", SUITE_TIME - 300)), "ok");
        let late = check(&parts, &body, "service", SUITE_TIME + 301).unwrap_err();
        assert!(
            late.message().starts_with(
                "Signature expired: 20150830T123600Z is now earlier than 20150830T123601Z"
            ),
            "{late}"
        );
        let early = check(&parts, &body, "service", SUITE_TIME - 301).unwrap_err();
        assert!(early.message().starts_with("Signature not yet current:"), "{early}");
    }

    #[test]
    fn malformed_authorization_is_incomplete() {
        let (parts, body) = parse(SUITE[10].1);
        let good = parts.headers["authorization"].to_str().unwrap().to_string();
        for bad in [
            good.replace("AWS4-HMAC-SHA256", "AWS4-HMAC-SHA512"),
            good.replace("/aws4_request", "/aws5_request"),
            good.replace("Credential=AKIDEXAMPLE/", "Credential="),
            good.replace("SignedHeaders=host;x-amz-date", "SignedHeaders=x-amz-date"),
            good.replace("Signature=5fa0", "Signature=zz"),
            good.replace(", Signature=", ", Sig="),
            good.replace("20150830/", "2015-08-30/"),
        ] {
            let mut p = parts.clone();
            p.headers.insert("authorization", bad.parse().unwrap());
            assert_eq!(
                kind(check(&p, &body, "service", SUITE_TIME)),
                "IncompleteSignatureException",
                "{bad}"
            );
        }
        let mut unknown = parts.clone();
        unknown
            .headers
            .insert("authorization", good.replace("AKIDEXAMPLE", "AKIDOTHER").parse().unwrap());
        assert_eq!(
            kind(check(&unknown, &body, "service", SUITE_TIME)),
            "UnrecognizedClientException"
        );
        let mut region = parts.clone();
        let bad = good.replace("us-east-1", "US_EAST");
        region.headers.insert("authorization", bad.parse().unwrap());
        assert_eq!(kind(check(&region, &body, "service", SUITE_TIME)), "InvalidSignatureException");
    }

    #[test]
    fn canonical_forms_follow_the_spec() {
        assert_eq!(canonical_uri(""), "/");
        assert_eq!(canonical_uri("/a%20b//c/./d/../"), "/a%2520b/c/");
        assert_eq!(canonical_query("b=2&a=3&a=1&c"), "a=1&a=3&b=2&c=");
        assert_eq!(canonical_query("k=a+b%2fc~d e"), "k=a%2Bb%2Fc~d%20e");
        let (parts, _) = parse("GET / HTTP/1.1\nhost:h\nmy:  a   b  \nmy: c\n\n");
        assert_eq!(header_value(&parts, "my").unwrap(), "a b,c");
    }

    /// A request to a KMS-like endpoint signed by the AWS SDK for Rust's signer (aws-sigv4),
    /// an implementation independent of ours, at `time`, for `region`, with `secret`.
    fn sdk_signed(body: &[u8], region: &str, secret: &str, time: std::time::SystemTime) -> Parts {
        sdk_signed_as(ACCESS_KEY_ID, body, region, secret, time)
    }

    /// [`sdk_signed`] with the access key ID `id`.
    fn sdk_signed_as(
        id: &str,
        body: &[u8],
        region: &str,
        secret: &str,
        time: std::time::SystemTime,
    ) -> Parts {
        use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
        let identity =
            aws_credential_types::Credentials::new(id, secret, None, None, "test").into();
        let params = aws_sigv4::sign::v4::SigningParams::builder()
            .identity(&identity)
            .region(region)
            .name("kms")
            .time(time)
            .settings(SigningSettings::default())
            .build()
            .unwrap()
            .into();
        let headers = [
            ("host", "127.0.0.1:8700"),
            ("content-type", "application/x-amz-json-1.1"),
            ("x-amz-target", "TrentService.ListKeys"),
        ];
        let signable = SignableRequest::new(
            "POST",
            "http://127.0.0.1:8700/",
            headers.into_iter(),
            SignableBody::Bytes(body),
        )
        .unwrap();
        let (instructions, _) = sign(signable, &params).unwrap().into_parts();
        let mut request = axum::http::Request::builder().method("POST").uri("/");
        for (name, value) in headers {
            request = request.header(name, value);
        }
        let mut request = request.body(()).unwrap();
        instructions.apply_to_request_http1x(&mut request);
        request.into_parts().0
    }

    #[test]
    fn requests_signed_by_the_aws_sdk_verify_and_tampering_fails() {
        let now = std::time::SystemTime::now();
        let unix =
            i64::try_from(now.duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()).unwrap();
        let body = br#"{"Limit": 10}"#;
        let parts = sdk_signed(body, "eu-west-1", SECRET, now);
        let (principal, region) = check(&parts, body, "kms", unix).unwrap();
        assert_eq!((principal.as_str(), region.as_str()), ("alice", "eu-west-1"));

        assert_eq!(
            kind(check(&parts, br#"{"Limit": 11}"#, "kms", unix)),
            "InvalidSignatureException",
            "body"
        );
        let mut target = parts.clone();
        target.headers.insert("x-amz-target", "TrentService.Decrypt".parse().unwrap());
        assert_eq!(
            kind(check(&target, body, "kms", unix)),
            "InvalidSignatureException",
            "a signed header"
        );
        let mut region = parts.clone();
        let moved =
            region.headers["authorization"].to_str().unwrap().replace("/eu-west-1/", "/us-east-1/");
        region.headers.insert("authorization", moved.parse().unwrap());
        assert_eq!(
            kind(check(&region, body, "kms", unix)),
            "InvalidSignatureException",
            "region scope"
        );
        let other = sdk_signed(body, "eu-west-1", "another-secret-access-key-0123456789", now);
        assert_eq!(
            kind(check(&other, body, "kms", unix)),
            "InvalidSignatureException",
            "another secret"
        );
        let old = sdk_signed(body, "eu-west-1", SECRET, now - std::time::Duration::from_secs(400));
        let expired = check(&old, body, "kms", unix).unwrap_err();
        assert!(expired.message().starts_with("Signature expired"), "{expired}");
        let mut date = parts.clone();
        let day = date.headers["x-amz-date"].to_str().unwrap().to_string();
        let next =
            time::PrimitiveDateTime::parse(&day, AMZ_DATE).unwrap() + time::Duration::days(1);
        date.headers.insert("x-amz-date", next.format(AMZ_DATE).unwrap().parse().unwrap());
        assert_eq!(kind(check(&date, body, "kms", unix)), "InvalidSignatureException", "date");
    }

    #[test]
    fn session_tokens_are_refused() {
        let raw = include_str!("../../tests/data/sigv4/post-sts-header-after.sreq");
        let (parts, body) = parse(raw);
        assert_eq!(
            kind(check(&parts, &body, "service", SUITE_TIME)),
            "UnrecognizedClientException"
        );
    }

    #[test]
    fn a_date_header_stands_in_for_x_amz_date() {
        let (mut parts, _) = parse(SUITE[10].1);
        parts.headers.remove("x-amz-date");
        parts.headers.insert("date", "Sun, 30 Aug 2015 12:36:00 GMT".parse().unwrap());
        assert_eq!(request_date(&parts).unwrap().text, "20150830T123600Z");
    }

    /// Through [`authenticate`] on a real key server (SQLite in a temporary directory): a
    /// live access key signs in with its principal and ID; revoked, it is an unrecognized
    /// client; the refusal is recorded once, naming the access key ID, never the secret.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn authenticate_follows_the_stored_access_key() {
        let tmp = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", tmp.path().join("db").display());
        let store = crate::store::open(&url).await.unwrap();
        let root = crate::domain::root::RootKey::new(&[7u8; 32]).unwrap();
        let digests = crate::domain::DigestOptions {
            every_records: i64::MAX,
            every: std::time::Duration::MAX,
            dir: None,
        };
        let keys = std::sync::Arc::new(
            crate::domain::KeyServer::open(store, root, digests).await.unwrap(),
        );
        let admin = Caller::named(crate::domain::ADMIN_PRINCIPAL, "test");
        let fixed = Some((ACCESS_KEY_ID.repeat(2), Zeroizing::new(SECRET.to_string())));
        let (id, _, _) = keys.create_credential(&admin, "alice", fixed).await.unwrap();
        let auth = Auth::new(keys.clone(), 100);
        let now = std::time::SystemTime::now();
        let body = b"{}";
        let parts = sdk_signed_as(&id, body, "eu-west-1", SECRET, now);
        let signed = authenticate(&auth, &parts, body, "kms").await.unwrap();
        assert_eq!(signed.caller.principal, "alice");
        assert_eq!(signed.caller.token_id.as_deref(), Some(id.as_str()));
        assert_eq!(signed.caller.region.as_deref(), Some("eu-west-1"));

        keys.revoke_credential(&admin, &id).await.unwrap();
        let refused = authenticate(&auth, &parts, body, "kms").await.unwrap_err();
        assert_eq!(refused.aws_type(), "UnrecognizedClientException");
        assert_eq!(refused.message(), "The security token included in the request is invalid.");
        let records = keys.audit_page(&admin, 0, 1000).await.unwrap();
        let text = serde_json::to_string(&records).unwrap();
        assert!(!text.contains(SECRET), "a secret reached the audit log");
        let refusals: Vec<_> = records.iter().filter(|r| r.record.result == "Denied").collect();
        assert_eq!(refusals.len(), 1, "{text}");
        let detail = &refusals[0].record.detail;
        assert!(
            detail.contains("sigv4: UnrecognizedClientException") && detail.contains(&id),
            "{detail}"
        );
    }
}
