//! Server settings: command-line flags with environment fallbacks.

use std::path::PathBuf;

/// Where the key server's data is: the database and the root key.
#[derive(Clone, Debug, clap::Args)]
pub struct DataSettings {
    /// Directory for the admin token, and by default the SQLite database and the root key.
    #[arg(long, env = "CIPHERDROP_DATA_DIR", default_value = "cipherdrop-data")]
    pub data_dir: PathBuf,
    /// Database: `sqlite://PATH` (default: DATA_DIR/cipherdrop.db) or
    /// `postgres://USER@HOST:PORT/DB` (several replicas may share one).
    #[arg(long, env = "CIPHERDROP_DATABASE_URL")]
    pub database_url: Option<String>,
    /// File holding the root key (32 random bytes) that seals every private key; replicas
    /// must share it. Default: DATA_DIR/root-key, created on first start. The environment
    /// variable CIPHERDROP_ROOT_KEY (base64) takes precedence over both.
    #[arg(long, env = "CIPHERDROP_ROOT_KEY_FILE", conflicts_with = "root_key")]
    pub root_key_file: Option<PathBuf>,
    /// The root key as `pkcs11:token=…;object=…?module-path=…&pin-source=…` (RFC 7512: a
    /// key in a PKCS#11 token, which seals and opens inside the token; made by `cipherdrop
    /// root init`) or `file:PATH`.
    #[arg(long, env = "CIPHERDROP_ROOT_KEY_URI", value_name = "URI")]
    pub root_key: Option<String>,
    /// During a root-key rotation: the root key being replaced (same forms as --root-key).
    /// Keys it sealed still open; everything new is sealed under --root-key.
    #[arg(long, env = "CIPHERDROP_PREVIOUS_ROOT_KEY", value_name = "URI")]
    pub previous_root_key: Option<String>,
}

impl Settings {
    /// The OpenID Connect configuration, if any issuer is trusted.
    pub(crate) fn oidc(
        &self,
    ) -> Result<Option<crate::domain::oidc::OidcConfig>, crate::DomainError> {
        use crate::domain::oidc::{IssuerConfig, OidcConfig};
        let bad = |m: String| crate::DomainError::Misconfigured(m);
        let pairs = |flag: &str, values: &[String]| {
            values
                .iter()
                .map(|v| {
                    v.rsplit_once('=')
                        .map(|(i, x)| (i.to_string(), x.to_string()))
                        .ok_or_else(|| bad(format!("--{flag} {v:?}: expected ISSUER=VALUE")))
                })
                .collect::<Result<Vec<_>, _>>()
        };
        let jwks = pairs("oidc-jwks", &self.oidc_jwks)?;
        let prefixes = pairs("oidc-principal-prefix", &self.oidc_principal_prefixes)?;
        for (issuer, _) in jwks.iter().chain(&prefixes) {
            if !self.oidc_issuers.contains(issuer) {
                return Err(bad(format!("{issuer}: not an --oidc-issuer")));
            }
        }
        if self.oidc_issuers.is_empty() {
            return Ok(None);
        }
        let mut issuers = Vec::new();
        for issuer in &self.oidc_issuers {
            let url =
                url::Url::parse(issuer).map_err(|e| bad(format!("--oidc-issuer {issuer}: {e}")))?;
            let loopback = matches!(url.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"));
            if url.scheme() != "https" && !(url.scheme() == "http" && loopback) {
                return Err(bad(format!(
                    "--oidc-issuer {issuer}: must be https (http only on loopback)"
                )));
            }
            let find = |list: &[(String, String)]| {
                list.iter().find(|(i, _)| i == issuer).map(|(_, v)| v.clone())
            };
            issuers.push(IssuerConfig {
                issuer: issuer.clone(),
                jwks_file: find(&jwks).map(PathBuf::from),
                prefix: find(&prefixes).unwrap_or_default(),
            });
        }
        Ok(Some(OidcConfig {
            issuers,
            audiences: self.oidc_audiences.clone(),
            principal_claim: self.oidc_principal_claim.clone(),
            leeway: std::time::Duration::from_secs(self.oidc_leeway),
            refresh: std::time::Duration::from_secs(self.oidc_jwks_refresh),
        }))
    }
}

impl DataSettings {
    /// The database URL in force; the default SQLite database is created if missing.
    pub fn database_url(&self) -> String {
        self.url("rwc")
    }

    /// The database URL in force, for tools that must find an existing database (`backup`):
    /// a default SQLite database that does not exist is an error, not a new empty one.
    pub fn existing_database_url(&self) -> String {
        self.url("rw")
    }

    fn url(&self, sqlite_mode: &str) -> String {
        match &self.database_url {
            Some(url) => url.clone(),
            None => format!(
                "sqlite://{}?mode={sqlite_mode}",
                self.data_dir.join("cipherdrop.db").display()
            ),
        }
    }
}

/// `cipherdrop serve` settings.
#[derive(Clone, Debug, clap::Args)]
pub struct Settings {
    /// Database, root key and data directory.
    #[command(flatten)]
    pub data: DataSettings,
    /// Address to listen on. Plain HTTP is served on loopback only (127.0.0.0/8, ::1,
    /// localhost): any other address needs --tls-cert and --tls-key, or --insecure-http.
    #[arg(long, env = "CIPHERDROP_LISTEN", default_value = "127.0.0.1:8700")]
    pub listen: String,
    /// Serve HTTPS (HTTP/1.1 and HTTP/2) with this certificate chain (PEM, the server's
    /// certificate first). Both files are read again on SIGHUP: new connections get the new
    /// pair; a pair that does not load is logged and the old one kept.
    #[arg(long, env = "CIPHERDROP_TLS_CERT", value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The private key of --tls-cert (PEM: PKCS#8, PKCS#1 or SEC1).
    #[arg(long, env = "CIPHERDROP_TLS_KEY", value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Serve plain HTTP on a non-loopback --listen or --metrics-listen address (behind a
    /// proxy that terminates TLS, say): bearer tokens and data keys then cross the network
    /// in clear up to that proxy.
    #[arg(long, env = "CIPHERDROP_INSECURE_HTTP")]
    pub insecure_http: bool,
    /// Append-only directory, outside the database, where each signed digest of the audit
    /// chain (`digests/N.json`) and the records it covers (`records/N.jsonl`) are written.
    #[arg(long, env = "CIPHERDROP_AUDIT_DIR")]
    pub audit_dir: Option<PathBuf>,
    /// Sign a digest of the audit chain once this many records are uncovered...
    #[arg(long, env = "CIPHERDROP_AUDIT_DIGEST_RECORDS", default_value_t = 1000)]
    pub audit_digest_records: i64,
    /// ...or once uncovered records wait this many seconds (and at shutdown).
    #[arg(long, env = "CIPHERDROP_AUDIT_DIGEST_INTERVAL", default_value_t = 60)]
    pub audit_digest_interval: u64,
    /// Also serve `/metrics` without a token on this address (for the operator's network
    /// only), in plain HTTP: on loopback only, unless --insecure-http. On the API's address
    /// `/metrics` needs the admin token.
    #[arg(long, env = "CIPHERDROP_METRICS_LISTEN")]
    pub metrics_listen: Option<String>,
    /// Origins allowed by CORS (comma-separated), e.g. https://app.example.
    #[arg(long, env = "CIPHERDROP_CORS_ORIGINS", value_delimiter = ',')]
    pub cors_origins: Vec<String>,
    /// Largest request body, in bytes.
    #[arg(long, env = "CIPHERDROP_BODY_LIMIT", default_value_t = 1 << 20)]
    pub body_limit: usize,
    /// Also answer data keys in the clear (`dataKey`, `plaintext`) to callers that send no
    /// `recipient` key. Off by default: whoever sees such a response has the file's key.
    #[arg(long, env = "CIPHERDROP_ALLOW_PLAINTEXT_DATA_KEYS")]
    pub allow_plaintext_data_keys: bool,
    /// The AWS account ID in every ARN (`arn:aws:kms:REGION:ACCOUNT:key/ID`); the default is
    /// the one local AWS emulators use.
    #[arg(long, env = "CIPHERDROP_ACCOUNT_ID", default_value = "000000000000")]
    pub account_id: String,
    /// The region of `/v0` requests (AWS KMS API requests name theirs in their signature).
    /// Keys are regional: a key made in one region is not found in another.
    #[arg(long, env = "CIPHERDROP_REGION", default_value = "us-east-1")]
    pub region: String,
    /// Trusted OpenID Connect issuer (repeatable): bearer tokens that are its JWTs sign
    /// callers in; keys from ISSUER/.well-known/openid-configuration (https, or http on
    /// loopback) unless --oidc-jwks gives a file.
    #[arg(
        long = "oidc-issuer",
        env = "CIPHERDROP_OIDC_ISSUERS",
        value_delimiter = ',',
        value_name = "URL"
    )]
    pub oidc_issuers: Vec<String>,
    /// Accepted audience (`aud`; repeatable): the client ID the issuer gives tokens for.
    #[arg(
        long = "oidc-audience",
        env = "CIPHERDROP_OIDC_AUDIENCES",
        value_delimiter = ',',
        value_name = "AUD"
    )]
    pub oidc_audiences: Vec<String>,
    /// An offline key set for an issuer: ISSUER=FILE (a JWKS document; repeatable).
    #[arg(long = "oidc-jwks", value_name = "ISSUER=FILE")]
    pub oidc_jwks: Vec<String>,
    /// The claim whose value is the caller's principal (`sub`, or `email`, ...).
    #[arg(long, env = "CIPHERDROP_OIDC_PRINCIPAL_CLAIM", default_value = "sub")]
    pub oidc_principal_claim: String,
    /// A prefix for an issuer's principals: ISSUER=PREFIX (repeatable), e.g.
    /// `https://accounts.google.com=google:`, so that two issuers' users never share a name.
    #[arg(long = "oidc-principal-prefix", value_name = "ISSUER=PREFIX")]
    pub oidc_principal_prefixes: Vec<String>,
    /// Clock skew allowed on a token's `exp` and `nbf`, in seconds.
    #[arg(long, env = "CIPHERDROP_OIDC_LEEWAY", default_value_t = 60)]
    pub oidc_leeway: u64,
    /// Least seconds between two fetches of an issuer's keys (a token with an unknown `kid`
    /// triggers one).
    #[arg(long, env = "CIPHERDROP_OIDC_JWKS_REFRESH", default_value_t = 60)]
    pub oidc_jwks_refresh: u64,
    /// Requests per second each principal may make (burst: twice that).
    #[arg(long, env = "CIPHERDROP_RATE_LIMIT", default_value_t = 200)]
    pub rate_limit: u32,
    /// Also serve the archive store (`/v0/archive`) at this URL: `file:///DIR` or
    /// `s3://BUCKET/PREFIX` (AWS environment variables: credentials, AWS_REGION,
    /// AWS_ENDPOINT_URL, AWS_ALLOW_HTTP=true for a local endpoint).
    #[arg(long, env = "CIPHERDROP_ARCHIVE_URL", conflicts_with = "archive_dir")]
    pub archive_url: Option<String>,
    /// Shorthand for `--archive-url file:///DIR`.
    #[arg(long, env = "CIPHERDROP_ARCHIVE_DIR")]
    pub archive_dir: Option<PathBuf>,
    /// Largest archive object, in bytes.
    #[arg(long, env = "CIPHERDROP_MAX_OBJECT_SIZE", default_value_t = 8 << 30)]
    pub max_object_size: u64,
    /// Seconds an unfinished archive upload stays open.
    #[arg(long, env = "CIPHERDROP_UPLOAD_TTL", default_value_t = 24 * 3600)]
    pub upload_ttl: u64,
    /// Unfinished archive uploads each principal may have open at once.
    #[arg(long, env = "CIPHERDROP_MAX_OPEN_UPLOADS", default_value_t = 16)]
    pub max_open_uploads: u32,
    /// Also serve the static files of this directory at `/` (the demo page).
    #[arg(long, env = "CIPHERDROP_STATIC_DIR")]
    pub static_dir: Option<PathBuf>,
    /// Demo mode (`cipherdrop demo`): first-run demo set-up, and `/demo/config.json` with the
    /// demo principals' tokens. Never for production.
    #[arg(skip)]
    pub demo: bool,
}

impl Settings {
    /// The archive URL in force, if the archive is on.
    pub fn archive_url(&self) -> Option<String> {
        match (&self.archive_url, &self.archive_dir) {
            (Some(url), _) => Some(url.clone()),
            (None, Some(dir)) => {
                let dir = std::path::absolute(dir).unwrap_or_else(|_| dir.clone());
                url::Url::from_directory_path(&dir).ok().map(String::from)
            }
            (None, None) => None,
        }
    }
}
