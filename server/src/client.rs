//! HTTP client of the key server, for the admin CLI and the key-server keyring.
//!
//! [`Client`] is a small blocking client: base URL from `CIPHERDROP_ADDR` (default
//! `http://127.0.0.1:8700`), bearer token from `CIPHERDROP_TOKEN`. An `https://` server's
//! certificate must chain to a system root or to a CA the caller names. A refusal carries the
//! server's status, error code and message, never the token.
//!
//! [`KeyServerKeyring`] is a [`cipherdrop::Keyring`] for one server key: it wraps locally with
//! the key's public half (a raw RSA keyring, OAEP-SHA256) and unwraps through `POST /v0/unwrap`,
//! which sees the whole header and so checks the encryption context before it answers.

use std::cell::OnceCell;
use std::fmt;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use cipherdrop::{
    DataKey, DecryptError, EncryptError, EncryptedDataKey, EncryptionContext, Header, Keyring,
    OaepHash, RawRsaKeyring,
};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject as _;
use serde::Deserialize;
use serde_json::{Value, json};
use ureq::tls::{Certificate, RootCerts, TlsConfig, TlsProvider};
use zeroize::Zeroizing;

use crate::domain::audit::ChainedRecord;
use crate::domain::keys::KEY_NAMESPACE;
use crate::domain::recipient;

/// Address used when `CIPHERDROP_ADDR` is unset.
pub const DEFAULT_ADDR: &str = "http://127.0.0.1:8700";

/// Records the server returns per audit page at most.
const AUDIT_PAGE: i64 = 1000;

/// Why a call to the key server failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The server refused the request with its error document.
    Refused {
        /// HTTP status.
        status: u16,
        /// The server's error code, such as `KeyDisabled`.
        code: String,
        /// The server's message.
        message: String,
    },
    /// The server answered with an error status but no error document (no such route, a
    /// proxy, a body the server's JSON parser rejected).
    Status {
        /// HTTP status.
        status: u16,
        /// The start of the body, if it is text.
        body: String,
    },
    /// The server could not be reached, or the connection failed.
    Transport(String),
    /// The server's TLS certificate did not verify: it chains to no trusted CA, names
    /// another host, or expired.
    Certificate(String),
    /// The server answered 2xx with something other than the expected JSON.
    Response(String),
    /// The client is misconfigured (for example `CIPHERDROP_ADDR` is not an http URL).
    Config(String),
}

impl Error {
    /// The server's error code, when the server sent one.
    pub fn code(&self) -> Option<&str> {
        match self {
            Self::Refused { code, .. } => Some(code),
            _ => None,
        }
    }

    /// The HTTP status, when the server answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Refused { status, .. } | Self::Status { status, .. } => Some(*status),
            _ => None,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Refused { code, message, .. } => write!(f, "{code}: {message}"),
            Self::Status { status, body } if body.is_empty() => write!(f, "http status {status}"),
            Self::Status { status, body } => write!(f, "http status {status}: {body}"),
            Self::Transport(e) => write!(f, "cannot reach the key server: {e}"),
            Self::Certificate(e) => write!(f, "TLS certificate refused: {e}"),
            Self::Response(e) => write!(f, "unexpected answer from the key server: {e}"),
            Self::Config(e) => f.write_str(e),
        }
    }
}

impl std::error::Error for Error {}

/// HTTP methods the API uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    /// GET
    Get,
    /// POST
    Post,
    /// PUT
    Put,
    /// DELETE
    Delete,
}

/// A blocking client of the key server.
#[derive(Clone)]
pub struct Client {
    agent: ureq::Agent,
    base: String,
    token: Option<Zeroizing<String>>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("base", &self.base)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

impl Client {
    /// A client of the server at `base_url` (`http://HOST:PORT` or `https://HOST:PORT`),
    /// authenticating with `token`; an https server's certificate must chain to a system root.
    pub fn new(base_url: &str, token: Option<String>) -> Result<Self, Error> {
        Self::with_ca_file(base_url, token, None)
    }

    /// Like [`Client::new`], but an https server's certificate may also chain to a CA
    /// certificate in `ca_file` (PEM, one or more).
    pub fn with_ca_file(
        base_url: &str,
        token: Option<String>,
        ca_file: Option<&Path>,
    ) -> Result<Self, Error> {
        let base = base_url.trim().trim_end_matches('/').to_string();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(Error::Config(format!(
                "key server address {base:?} must start with http:// or https://"
            )));
        }
        let mut config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(Duration::from_secs(10)))
            .timeout_global(Some(Duration::from_secs(120)))
            .max_redirects(0);
        // Reading the system's roots costs a directory scan: only for a server that needs them.
        if base.starts_with("https://") {
            config = config.tls_config(tls_config(ca_file)?);
        }
        let token = token.map(|t| Zeroizing::new(t.trim().to_string())).filter(|t| !t.is_empty());
        Ok(Self { agent: config.build().into(), base, token })
    }

    /// A client configured by `CIPHERDROP_ADDR` (default [`DEFAULT_ADDR`]) and
    /// `CIPHERDROP_TOKEN`, trusting the CAs in `ca_file` too (see [`Client::with_ca_file`]).
    pub fn from_env(ca_file: Option<&Path>) -> Result<Self, Error> {
        let addr = std::env::var("CIPHERDROP_ADDR").unwrap_or_else(|_| DEFAULT_ADDR.into());
        Self::with_ca_file(&addr, std::env::var("CIPHERDROP_TOKEN").ok(), ca_file)
    }

    /// The base URL, without a trailing slash.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// Sends a request to `path` (starting with `/`, segments already percent-encoded) and
    /// returns the JSON answer, or the server's refusal.
    pub fn call(&self, method: Method, path: &str, body: Option<&Value>) -> Result<Value, Error> {
        let bytes = self.call_raw(method, path, body)?;
        serde_json::from_slice(&bytes).map_err(|e| Error::Response(e.to_string()))
    }

    /// One AWS KMS API operation (`POST /`, JSON 1.1) with the bearer token, as `/v0`
    /// takes it; a refusal carries AWS's exception name as its code.
    pub fn kms(&self, operation: &str, body: &Value) -> Result<Value, Error> {
        let url = format!("{}/", self.base);
        let mut req = self
            .agent
            .post(&url)
            .header("x-amz-target", &format!("TrentService.{operation}"))
            .header("content-type", "application/x-amz-json-1.1");
        let auth = self.token.as_ref().map(|t| Zeroizing::new(format!("Bearer {}", t.as_str())));
        if let Some(value) = &auth {
            req = req.header("authorization", value.as_str());
        }
        let body = Zeroizing::new(body.to_string());
        let mut response = req.send(body.as_bytes()).map_err(transport)?;
        let status = response.status().as_u16();
        let bytes = Zeroizing::new(
            response.body_mut().with_config().limit(64 << 20).read_to_vec().map_err(transport)?,
        );
        if (200..300).contains(&status) {
            return serde_json::from_slice(&bytes).map_err(|e| Error::Response(e.to_string()));
        }
        #[derive(Deserialize)]
        struct Exception {
            #[serde(rename = "__type")]
            kind: String,
            message: String,
        }
        match serde_json::from_slice::<Exception>(&bytes) {
            Ok(e) => Err(Error::Refused { status, code: e.kind, message: e.message }),
            Err(_) => Err(Error::Status {
                status,
                body: String::from_utf8_lossy(&bytes).trim().chars().take(200).collect(),
            }),
        }
    }

    /// Like [`Client::call`], but returns the body bytes of a successful answer; the caller
    /// owns (and may zeroize) them.
    fn call_raw(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Zeroizing<Vec<u8>>, Error> {
        let url = format!("{}{path}", self.base);
        let auth = self.token.as_ref().map(|t| Zeroizing::new(format!("Bearer {}", t.as_str())));
        macro_rules! with_auth {
            ($req:expr) => {{
                let req = $req.header("accept", "application/json");
                match &auth {
                    Some(value) => req.header("authorization", value.as_str()),
                    None => req,
                }
            }};
        }
        let response = match method {
            Method::Get => with_auth!(self.agent.get(&url)).call(),
            Method::Delete => with_auth!(self.agent.delete(&url)).call(),
            Method::Post | Method::Put => {
                let req = if method == Method::Post {
                    self.agent.post(&url)
                } else {
                    self.agent.put(&url)
                };
                let req = with_auth!(req);
                match body {
                    Some(v) => req.send_json(v),
                    None => req.send_empty(),
                }
            }
        };
        let mut response = response.map_err(transport)?;
        let status = response.status().as_u16();
        let bytes = Zeroizing::new(
            response.body_mut().with_config().limit(64 << 20).read_to_vec().map_err(transport)?,
        );
        if (200..300).contains(&status) {
            return Ok(bytes);
        }
        #[derive(Deserialize)]
        struct Refusal {
            error: String,
            message: String,
        }
        match serde_json::from_slice::<Refusal>(&bytes) {
            Ok(r) => Err(Error::Refused { status, code: r.error, message: r.message }),
            Err(_) => {
                let text = String::from_utf8_lossy(&bytes);
                let body: String = text.trim().chars().take(200).collect();
                Err(Error::Status { status, body })
            }
        }
    }

    fn key_path(key: &str, action: &str) -> String {
        let mut path = format!("/v0/keys/{}", encode_segment(key));
        if !action.is_empty() {
            path.push('/');
            path.push_str(action);
        }
        path
    }

    /// `GET /healthz`.
    pub fn health(&self) -> Result<(), Error> {
        self.call_raw(Method::Get, "/healthz", None).map(drop)
    }

    /// CreateKey: `spec` (`RSA_2048`, `RSA_3072`, `RSA_4096`; server default RSA_3072), and
    /// optional description, tags and policy document.
    pub fn create_key(
        &self,
        spec: Option<&str>,
        description: Option<&str>,
        tags: &[(String, String)],
        policy: Option<Value>,
    ) -> Result<Value, Error> {
        let mut body = json!({});
        if let Some(spec) = spec {
            body["keySpec"] = json!(spec);
        }
        if let Some(d) = description {
            body["description"] = json!(d);
        }
        if !tags.is_empty() {
            let tags: serde_json::Map<String, Value> =
                tags.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
            body["tags"] = Value::Object(tags);
        }
        if let Some(policy) = policy {
            body["policy"] = policy;
        }
        self.call(Method::Post, "/v0/keys", Some(&body))
    }

    /// ListKeys: the keys the caller may describe.
    pub fn list_keys(&self) -> Result<Value, Error> {
        self.call(Method::Get, "/v0/keys", None)
    }

    /// DescribeKey of a key ID or `alias/NAME`.
    pub fn describe_key(&self, key: &str) -> Result<Value, Error> {
        self.call(Method::Get, &Self::key_path(key, ""), None)
    }

    /// GetPublicKey of the key's current version.
    pub fn public_key(&self, key: &str) -> Result<Value, Error> {
        self.call(Method::Get, &Self::key_path(key, "public-key"), None)
    }

    /// A key action without a body: `enable`, `disable`, `cancel-deletion` or `rotate`.
    pub fn key_action(&self, key: &str, action: &str) -> Result<Value, Error> {
        self.call(Method::Post, &Self::key_path(key, action), None)
    }

    /// ScheduleKeyDeletion after `days` (7 to 30; server default 30).
    pub fn schedule_deletion(&self, key: &str, days: Option<u32>) -> Result<Value, Error> {
        let body = days.map(|d| json!({ "pendingWindowInDays": d }));
        self.call(Method::Post, &Self::key_path(key, "schedule-deletion"), body.as_ref())
    }

    /// GetKeyPolicy.
    pub fn get_policy(&self, key: &str) -> Result<Value, Error> {
        self.call(Method::Get, &Self::key_path(key, "policy"), None)
    }

    /// PutKeyPolicy with a policy document (`{"Statement": [...]}`).
    pub fn put_policy(&self, key: &str, policy: Value) -> Result<Value, Error> {
        let body = json!({ "policy": policy });
        self.call(Method::Put, &Self::key_path(key, "policy"), Some(&body))
    }

    /// CreateAlias `alias/NAME` for a key ID.
    pub fn create_alias(&self, alias: &str, key_id: &str) -> Result<Value, Error> {
        let body = json!({ "aliasName": alias_name(alias), "targetKeyId": key_id });
        self.call(Method::Post, "/v0/aliases", Some(&body))
    }

    /// UpdateAlias: point `alias/NAME` at another key ID.
    pub fn update_alias(&self, alias: &str, key_id: &str) -> Result<Value, Error> {
        let body = json!({ "targetKeyId": key_id });
        let path = format!("/v0/aliases/{}", encode_segment(&alias_name(alias)));
        self.call(Method::Put, &path, Some(&body))
    }

    /// DeleteAlias.
    pub fn delete_alias(&self, alias: &str) -> Result<Value, Error> {
        let path = format!("/v0/aliases/{}", encode_segment(&alias_name(alias)));
        self.call(Method::Delete, &path, None)
    }

    /// ListAliases.
    pub fn list_aliases(&self) -> Result<Value, Error> {
        self.call(Method::Get, "/v0/aliases", None)
    }

    /// A new bearer token for `principal` (admin only); the answer holds it once.
    pub fn create_token(&self, principal: &str) -> Result<Value, Error> {
        self.create_token_for(principal, None)
    }

    /// A new bearer token for `principal` valid for `ttl_seconds` (none: until revoked).
    pub fn create_token_for(
        &self,
        principal: &str,
        ttl_seconds: Option<u64>,
    ) -> Result<Value, Error> {
        let mut body = json!({ "principal": principal });
        if let Some(ttl) = ttl_seconds {
            body["ttlSeconds"] = json!(ttl);
        }
        self.call(Method::Post, "/v0/tokens", Some(&body))
    }

    /// Every token's ID, principal, state and dates (admin only); never a token.
    pub fn list_tokens(&self) -> Result<Value, Error> {
        self.call(Method::Get, "/v0/tokens", None)
    }

    /// Revokes a token by its ID (admin only).
    pub fn revoke_token(&self, token_id: &str) -> Result<Value, Error> {
        self.call(Method::Delete, &format!("/v0/tokens/{}", encode_segment(token_id)), None)
    }

    /// A new SigV4 access key for `principal` (admin only): generated, or the `fixed` ID and
    /// secret (local tools with set test credentials); the answer holds the secret once.
    pub fn create_credential(
        &self,
        principal: &str,
        fixed: Option<(&str, &str)>,
    ) -> Result<Value, Error> {
        let mut body = json!({ "principal": principal });
        if let Some((id, secret)) = fixed {
            body["accessKeyId"] = json!(id);
            body["secretAccessKey"] = json!(secret);
        }
        self.call(Method::Post, "/v0/credentials", Some(&body))
    }

    /// Every access key's ID, principal, state and dates (admin only); never a secret.
    pub fn list_credentials(&self) -> Result<Value, Error> {
        self.call(Method::Get, "/v0/credentials", None)
    }

    /// Revokes an access key by its ID (admin only).
    pub fn revoke_credential(&self, access_key_id: &str) -> Result<Value, Error> {
        let path = format!("/v0/credentials/{}", encode_segment(access_key_id));
        self.call(Method::Delete, &path, None)
    }

    /// One page of audit records with `seq > after`.
    pub fn audit_page(&self, after: i64, limit: Option<i64>) -> Result<Vec<ChainedRecord>, Error> {
        let mut path = format!("/v0/audit?after={after}");
        if let Some(limit) = limit {
            path.push_str(&format!("&limit={limit}"));
        }
        #[derive(Deserialize)]
        struct Page {
            records: Vec<ChainedRecord>,
        }
        let page: Page = serde_json::from_value(self.call(Method::Get, &path, None)?)
            .map_err(|e| Error::Response(format!("audit page: {e}")))?;
        Ok(page.records)
    }

    /// Every audit record, page by page. Reading the log is itself audited, so the chain
    /// grows while it is read; this returns the records up to the last page read.
    pub fn audit_all(&self) -> Result<Vec<ChainedRecord>, Error> {
        let mut all: Vec<ChainedRecord> = Vec::new();
        loop {
            let after = all.last().map_or(0, |r| r.record.seq);
            let page = self.audit_page(after, Some(AUDIT_PAGE))?;
            let short = page.len() < usize::try_from(AUDIT_PAGE).unwrap_or(usize::MAX);
            all.extend(page);
            if short {
                return Ok(all);
            }
        }
    }

    /// Every signed digest of the audit chain, as stored (admin only).
    pub fn audit_digests(&self) -> Result<Vec<String>, Error> {
        let answer = self.call(Method::Get, "/v0/audit/digests", None)?;
        let documents = answer
            .get("documents")
            .and_then(Value::as_array)
            .ok_or_else(|| Error::Response("the digests answer has no documents".into()))?;
        Ok(documents.iter().filter_map(|d| d.as_str().map(String::from)).collect())
    }

    /// The audit-signing public key document (`publicKey`, `pem`).
    pub fn audit_public_key(&self) -> Result<Value, Error> {
        self.call(Method::Get, "/v0/audit/public-key", None)
    }

    /// Unwraps EDK `edk_index` of a serialized message header through `POST /v0/unwrap`.
    /// The data key comes back as a JWE to a fresh P-256 key made for this call alone, and
    /// is zeroized when the returned key is dropped.
    pub fn unwrap(&self, header: &[u8], edk_index: usize) -> Result<Unwrapped, Error> {
        let bad = |what: &str| Error::Response(format!("unwrap: {what}"));
        let (parsed, _) = Header::parse(header, &cipherdrop::Limits::default())
            .map_err(|e| bad(&format!("header: {e}")))?;
        let edk = parsed.encrypted_data_keys().get(edk_index).ok_or_else(|| bad("no such EDK"))?;
        let asked = String::from_utf8_lossy(&edk.provider_info).into_owned();
        let ours = EphemeralKey::new()?;
        let body = json!({
            "header": STANDARD.encode(header),
            "edkIndex": edk_index,
            "recipient": ours.jwk(),
        });
        let bytes = self.call_raw(Method::Post, "/v0/unwrap", Some(&body))?;
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Answer {
            key_id: String,
            key_version: i64,
            wrapped_data_key: String,
        }
        let answer: Answer = serde_json::from_slice(&bytes).map_err(|e| bad(&e.to_string()))?;
        let key = ours.open(&answer.wrapped_data_key, &asked)?;
        Ok(Unwrapped {
            key_id: answer.key_id,
            key_version: answer.key_version,
            data_key: DataKey::from_slice(&key),
        })
    }
}

/// A P-256 key pair for one answer: its public half goes out as the `recipient` JWK, its
/// private half opens the JWE that comes back, then is gone.
#[derive(Debug)]
pub struct EphemeralKey {
    private: aws_lc_rs::agreement::EphemeralPrivateKey,
    public: Vec<u8>,
}

impl EphemeralKey {
    /// A fresh key pair.
    pub fn new() -> Result<Self, Error> {
        use aws_lc_rs::agreement::{ECDH_P256, EphemeralPrivateKey};
        let failed = || Error::Response("ephemeral key generation failed".into());
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let private = EphemeralPrivateKey::generate(&ECDH_P256, &rng).map_err(|_| failed())?;
        let public = private.compute_public_key().map_err(|_| failed())?.as_ref().to_vec();
        Ok(Self { private, public })
    }

    /// The public key as a JWK.
    pub fn jwk(&self) -> Value {
        let (x, y) = recipient::jwk_coordinates(&self.public);
        json!({ "kty": "EC", "crv": cipherdrop::jwe::CURVE, "x": x, "y": y })
    }

    /// Opens a JWE to this key that names key version `kid`; the key pair is used up.
    pub fn open(self, compact: &str, kid: &str) -> Result<Zeroizing<Vec<u8>>, Error> {
        use cipherdrop::jwe;
        let bad = |what: String| Error::Response(format!("unwrap: {what}"));
        let header = jwe::protected_header(compact).map_err(|e| bad(e.to_string()))?;
        let header: Value = serde_json::from_slice(&header).map_err(|e| bad(e.to_string()))?;
        let text = |v: &Value, name: &str| v[name].as_str().unwrap_or_default().to_string();
        let epk = &header["epk"];
        let point = recipient::jwk_point(&text(epk, "x"), &text(epk, "y"))
            .ok_or_else(|| bad("JWE epk.x and epk.y are not P-256 coordinates".into()))?;
        let (alg, enc, crv, got) =
            (text(&header, "alg"), text(&header, "enc"), text(epk, "crv"), text(&header, "kid"));
        let fields = jwe::Protected { alg: &alg, enc: &enc, crv: &crv, kid: &got };
        let z = recipient::agree(self.private, &point)
            .ok_or_else(|| bad("JWE epk is not a point on P-256".into()))?;
        jwe::open(compact, &fields, kid, &z).map_err(|e| bad(e.to_string()))
    }
}

/// What `POST /v0/unwrap` returned.
#[derive(Debug)]
pub struct Unwrapped {
    /// The key that unwrapped.
    pub key_id: String,
    /// Its version.
    pub key_version: i64,
    /// The data key (zeroized on drop).
    pub data_key: DataKey,
}

/// TLS with the aws-lc-rs provider (the server's), trusting the system's roots (which
/// `SSL_CERT_FILE` and `SSL_CERT_DIR` may replace) and the CA certificates in `ca_file`.
pub(crate) fn tls_config(ca_file: Option<&Path>) -> Result<TlsConfig, Error> {
    let mut roots = rustls_native_certs::load_native_certs().certs;
    if let Some(path) = ca_file {
        let unreadable =
            |e: &dyn fmt::Display| Error::Config(format!("CA file {}: {e}", path.display()));
        let cas = CertificateDer::pem_file_iter(path)
            .and_then(Iterator::collect::<Result<Vec<_>, _>>)
            .map_err(|e| unreadable(&e))?;
        if cas.is_empty() {
            return Err(unreadable(&"no certificate in it"));
        }
        roots.extend(cas);
    }
    let roots = roots.iter().map(|c| Certificate::from_der(c).to_owned());
    Ok(TlsConfig::builder()
        .provider(TlsProvider::Rustls)
        .unversioned_rustls_crypto_provider(Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
        .root_certs(RootCerts::from(roots))
        .build())
}

/// `alias/NAME` for `NAME` or `alias/NAME`.
pub fn alias_name(name: &str) -> String {
    if name.starts_with("alias/") { name.to_string() } else { format!("alias/{name}") }
}

/// A transport failure, with rustls's certificate refusals told apart (ureq hands them over
/// inside an io::Error).
fn transport(e: ureq::Error) -> Error {
    let tls = match &e {
        ureq::Error::Rustls(tls) => Some(tls),
        ureq::Error::Io(io) => io.get_ref().and_then(|e| e.downcast_ref()),
        _ => None,
    };
    match tls {
        Some(tls @ rustls::Error::InvalidCertificate(_)) => Error::Certificate(tls.to_string()),
        _ => Error::Transport(e.to_string()),
    }
}

/// Percent-encodes one path segment: everything but RFC 3986 unreserved characters, so that
/// `alias/NAME` travels as `alias%2FNAME`.
pub fn encode_segment(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for b in segment.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A keyring for one key-server key (key ID or `alias/NAME`).
///
/// Wrap: the key's public half is fetched once (`GET /v0/keys/{key}/public-key`, on first
/// use or [`KeyServerKeyring::fetch_public_key`]) and the data key is wrapped locally as a raw
/// RSA EDK (provider ID `cipherdrop`, provider info `KEYID/vN`, OAEP-SHA256).
///
/// Unwrap: every EDK with provider ID `cipherdrop` goes to the server, whichever key ID or
/// version it names (after an alias is retargeted or a key rotated, older messages name other
/// keys and versions); the server decides. Other EDKs are not this keyring's (`None`).
pub struct KeyServerKeyring {
    client: Client,
    key: String,
    wrapping: OnceCell<RawRsaKeyring>,
}

impl KeyServerKeyring {
    /// A keyring for `key` (a key ID or `alias/NAME`) on the server `client` talks to. Nothing
    /// is fetched yet.
    pub fn new(client: Client, key: &str) -> Self {
        Self { client, key: key.to_string(), wrapping: OnceCell::new() }
    }

    /// The key ID or alias this keyring wraps to.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Fetches the public key now (once), so that a refusal shows before any data is read.
    /// Returns the raw RSA keyring it wraps with.
    pub fn fetch_public_key(&self) -> Result<&RawRsaKeyring, Error> {
        if let Some(keyring) = self.wrapping.get() {
            return Ok(keyring);
        }
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct PublicKey {
            key_namespace: String,
            key_name: String,
            public_key: String,
        }
        let doc: PublicKey = serde_json::from_value(self.client.public_key(&self.key)?)
            .map_err(|e| Error::Response(format!("public key: {e}")))?;
        if doc.key_namespace != KEY_NAMESPACE {
            return Err(Error::Response(format!(
                "public key: keyNamespace is {:?}, not {KEY_NAMESPACE:?}",
                doc.key_namespace
            )));
        }
        let spki = STANDARD
            .decode(&doc.public_key)
            .map_err(|_| Error::Response("public key: publicKey is not base64".into()))?;
        let keyring =
            RawRsaKeyring::from_public_der(KEY_NAMESPACE, &doc.key_name, &spki, OaepHash::Sha256)
                .map_err(|e| Error::Response(format!("public key: {e}")))?;
        Ok(self.wrapping.get_or_init(|| keyring))
    }
}

impl fmt::Debug for KeyServerKeyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyServerKeyring")
            .field("server", &self.client.base_url())
            .field("key", &self.key)
            .field("key_name", &self.wrapping.get().map(RawRsaKeyring::name))
            .finish()
    }
}

impl Keyring for KeyServerKeyring {
    fn wrap(
        &self,
        data_key: &DataKey,
        context: &EncryptionContext,
    ) -> Result<Vec<EncryptedDataKey>, EncryptError> {
        let keyring = self
            .fetch_public_key()
            .map_err(|e| EncryptError::Keyring(format!("key server key {}: {e}", self.key)))?;
        keyring.wrap(data_key, context)
    }

    fn unwrap(
        &self,
        edk: &EncryptedDataKey,
        header: &Header,
    ) -> Option<Result<DataKey, DecryptError>> {
        if edk.provider_id != KEY_NAMESPACE {
            return None;
        }
        let edks = header.encrypted_data_keys();
        let index = edks
            .iter()
            .position(|e| std::ptr::eq(e, edk))
            .or_else(|| edks.iter().position(|e| e == edk));
        let Some(index) = index else {
            return Some(Err(DecryptError::Keyring("the EDK is not in this header".into())));
        };
        Some(
            self.client
                .unwrap(header.as_bytes(), index)
                .map(|u| u.data_key)
                .map_err(|e| DecryptError::Keyring(format!("key server: {e}"))),
        )
    }
}
