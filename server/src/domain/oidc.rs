//! Sign-in through OpenID Connect: a bearer token that is a JWT from a configured issuer is
//! verified here (signature with the issuer's published keys, `iss`, `aud`, `exp`, `nbf`),
//! and its claims become the caller's principal and the `Jwt:NAME` condition keys.
//!
//! Only RS256, ES256 and EdDSA are accepted: never `none`, never an HMAC algorithm (whose
//! "secret" an attacker could take from the issuer's public key). A token is checked only
//! against the keys of the issuer its `iss` names, so a key of one issuer never vouches for
//! another. Keys come from the issuer's discovery document and JWKS (refetched when a token
//! names an unknown `kid`, at most once per `refresh` per issuer), or from a file.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::Value;

use super::error::DomainError;
use super::policy::Claims;

/// Signature algorithms accepted.
const ALGORITHMS: [Algorithm; 3] = [Algorithm::RS256, Algorithm::ES256, Algorithm::EdDSA];

/// Longest token accepted (bytes): a bound on parsing work before any signature check.
const MAX_TOKEN: usize = 16 * 1024;

/// One trusted issuer.
#[derive(Clone, Debug)]
pub struct IssuerConfig {
    /// The `iss` value, also the base of its discovery document.
    pub issuer: String,
    /// A JWKS file to use instead of discovery (offline set).
    pub jwks_file: Option<PathBuf>,
    /// Prepended to the principal claim's value.
    pub prefix: String,
}

/// How tokens are checked.
#[derive(Clone, Debug)]
pub struct OidcConfig {
    /// Trusted issuers.
    pub issuers: Vec<IssuerConfig>,
    /// Accepted `aud` values (one must be in the token's).
    pub audiences: Vec<String>,
    /// The claim whose value is the principal (`sub`, `email`, ...).
    pub principal_claim: String,
    /// Clock skew allowed on `exp` and `nbf`.
    pub leeway: Duration,
    /// Least time between two fetches of an issuer's keys.
    pub refresh: Duration,
}

/// A verified sign-in.
#[derive(Clone, Debug)]
pub struct Identity {
    /// The principal policies name.
    pub principal: String,
    /// `iss`.
    pub issuer: String,
    /// `sub`.
    pub subject: String,
    /// Every claim, as condition-key values.
    pub claims: Claims,
}

/// Why a token was refused: the audit record's detail (never the token).
#[derive(Debug)]
pub(crate) struct Refused(pub(crate) String);

#[derive(Debug)]
struct Issuer {
    config: IssuerConfig,
    keys: tokio::sync::Mutex<Keys>,
}

#[derive(Debug, Default)]
struct Keys {
    set: Option<JwkSet>,
    fetched: Option<Instant>,
}

/// The verifier for every configured issuer.
#[derive(Debug)]
pub(crate) struct Oidc {
    issuers: Vec<Issuer>,
    audiences: Vec<String>,
    principal_claim: String,
    leeway: Duration,
    refresh: Duration,
    http: reqwest::Client,
}

/// Whether a bearer token has the shape of a JWT (three base64url segments), so that it is
/// verified here rather than looked up as a static token.
pub(crate) fn looks_like_jwt(token: &str) -> bool {
    token.starts_with("eyJ") && token.split('.').count() == 3
}

impl Oidc {
    /// The verifier; offline key sets are read now (a bad file stops the start).
    pub(crate) fn new(config: OidcConfig) -> Result<Self, DomainError> {
        if config.audiences.is_empty() {
            return Err(DomainError::Misconfigured(
                "--oidc-issuer needs --oidc-audience (the client ID tokens are issued to)".into(),
            ));
        }
        let mut issuers = Vec::new();
        for issuer in config.issuers {
            let mut keys = Keys::default();
            if let Some(path) = &issuer.jwks_file {
                let text = std::fs::read(path).map_err(|e| {
                    DomainError::Misconfigured(format!("--oidc-jwks {}: {e}", path.display()))
                })?;
                let set: JwkSet = serde_json::from_slice(&text).map_err(|e| {
                    DomainError::Misconfigured(format!("--oidc-jwks {}: {e}", path.display()))
                })?;
                keys.set = Some(set);
            }
            issuers.push(Issuer { config: issuer, keys: tokio::sync::Mutex::new(keys) });
        }
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| DomainError::internal(format!("HTTP client: {e}")))?;
        Ok(Self {
            issuers,
            audiences: config.audiences,
            principal_claim: config.principal_claim,
            leeway: config.leeway,
            refresh: config.refresh,
            http,
        })
    }

    /// Verifies `token`; the identity it proves, or why not.
    pub(crate) async fn verify(&self, token: &str) -> Result<Identity, Refused> {
        let refused = |why: &str| Refused(why.to_string());
        if token.len() > MAX_TOKEN {
            return Err(refused("token too long"));
        }
        let header = jsonwebtoken::decode_header(token).map_err(|_| refused("not a JWT"))?;
        if !ALGORITHMS.contains(&header.alg) {
            return Err(Refused(format!("algorithm {:?} is not accepted", header.alg)));
        }
        // The issuer is read before the signature is checked only to pick its keys; the
        // validation below checks it again against the token as signed.
        let unverified: Value = jsonwebtoken::dangerous::insecure_decode(token)
            .map(|t| t.claims)
            .map_err(|_| refused("unreadable claims"))?;
        let iss = unverified["iss"].as_str().ok_or_else(|| refused("no iss"))?;
        let issuer = self
            .issuers
            .iter()
            .find(|i| i.config.issuer == iss)
            .ok_or_else(|| refused("issuer not trusted"))?;
        let kid = header.kid.as_deref().ok_or_else(|| refused("no kid"))?;
        let jwk = self.key(issuer, kid).await?;
        let key = DecodingKey::from_jwk(&jwk).map_err(|_| refused("unusable key"))?;
        let mut validation = Validation::new(header.alg);
        validation.set_issuer(&[iss]);
        validation.set_audience(&self.audiences);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.validate_nbf = true;
        validation.leeway = self.leeway.as_secs();
        let data = jsonwebtoken::decode::<BTreeMap<String, Value>>(token, &key, &validation)
            .map_err(|e| Refused(format!("token refused: {:?}", e.kind())))?;
        let claims = data.claims;
        let subject = claims.get("sub").and_then(Value::as_str).unwrap_or_default().to_string();
        let value = claims
            .get(&self.principal_claim)
            .and_then(Value::as_str)
            .filter(|v| !v.is_empty())
            .ok_or_else(|| Refused(format!("no {} claim", self.principal_claim)))?;
        let principal = format!("{}{value}", issuer.config.prefix);
        if principal.len() > 256 || principal.chars().any(char::is_control) {
            return Err(refused("principal claim unusable"));
        }
        Ok(Identity {
            principal,
            issuer: iss.to_string(),
            subject,
            claims: claims.iter().map(|(k, v)| (k.clone(), values(v))).collect(),
        })
    }

    /// The issuer's key `kid`, fetching its key set if it is unknown (at most once per
    /// `refresh`: a flood of tokens with made-up `kid`s costs the issuer nothing).
    async fn key(&self, issuer: &Issuer, kid: &str) -> Result<jsonwebtoken::jwk::Jwk, Refused> {
        let mut keys = issuer.keys.lock().await;
        if let Some(jwk) = keys.set.as_ref().and_then(|s| s.find(kid)) {
            return Ok(jwk.clone());
        }
        let may_fetch = issuer.config.jwks_file.is_none()
            && keys.fetched.is_none_or(|at| at.elapsed() >= self.refresh);
        if !may_fetch {
            return Err(Refused("unknown kid".into()));
        }
        keys.fetched = Some(Instant::now());
        match self.fetch(&issuer.config.issuer).await {
            Ok(set) => keys.set = Some(set),
            Err(e) => {
                tracing::warn!(issuer = %issuer.config.issuer, error = %e, "fetching the issuer's keys failed");
                return Err(Refused("the issuer's keys are unavailable".into()));
            }
        }
        keys.set
            .as_ref()
            .and_then(|s| s.find(kid))
            .cloned()
            .ok_or_else(|| Refused("unknown kid".into()))
    }

    /// The issuer's key set, through its discovery document.
    async fn fetch(&self, issuer: &str) -> Result<JwkSet, String> {
        let url = format!("{}/.well-known/openid-configuration", issuer.trim_end_matches('/'));
        let discovery: Value = self.get_json(&url).await?;
        if discovery["issuer"].as_str() != Some(issuer) {
            return Err(format!("{url}: names another issuer"));
        }
        let jwks = discovery["jwks_uri"].as_str().ok_or_else(|| format!("{url}: no jwks_uri"))?;
        let set = self.get_json(jwks).await?;
        serde_json::from_value(set).map_err(|e| format!("{jwks}: {e}"))
    }

    async fn get_json(&self, url: &str) -> Result<Value, String> {
        let response = self.http.get(url).send().await.map_err(|e| format!("{url}: {e}"))?;
        if !response.status().is_success() {
            return Err(format!("{url}: HTTP {}", response.status()));
        }
        let bytes = response.bytes().await.map_err(|e| format!("{url}: {e}"))?;
        serde_json::from_slice(&bytes).map_err(|e| format!("{url}: {e}"))
    }
}

/// A claim's values for conditions: a string is one, an array its strings (and numbers and
/// booleans as text), a number or boolean its text; objects and nulls none.
fn values(value: &Value) -> Vec<String> {
    match value {
        Value::String(s) => vec![s.clone()],
        Value::Bool(_) | Value::Number(_) => vec![value.to_string()],
        Value::Array(items) => items.iter().flat_map(values).collect(),
        Value::Null | Value::Object(_) => Vec::new(),
    }
}
