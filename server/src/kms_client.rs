//! A blocking AWS KMS client for the AWS KMS keyrings, symmetric and RSA (`cipherdrop
//! encrypt/decrypt --kms-key`): the JSON 1.1 protocol at `POST {endpoint}/`, signed with SigV4 (the AWS SDK for
//! Rust's `aws-sigv4`), service `kms`.
//!
//! Configuration follows AWS's conventions: `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and
//! `AWS_SESSION_TOKEN` (optional) sign; the endpoint is `AWS_ENDPOINT_URL_KMS`, else
//! `AWS_ENDPOINT_URL`, else `https://kms.REGION.amazonaws.com`. The region is the one the key
//! ARN names (KMS clients are regional; a key is found only in its region).
//!
//! The keyrings' rules (what GenerateDataKey, Encrypt and Decrypt are called with, how their
//! answers are checked) are the core's [`cipherdrop::KmsSymmetricRules`] and
//! [`cipherdrop::KmsRsaRules`]: this module only signs, sends and reads JSON.

use std::fmt;
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use cipherdrop::{KmsCallError, KmsClient, KmsRequest, KmsResponse, KmsRsaRules};
use serde_json::Value;
use zeroize::{Zeroize, Zeroizing};

/// Content type of the KMS JSON protocol.
const CONTENT_TYPE: &str = "application/x-amz-json-1.1";

/// Signing credentials.
#[derive(Clone)]
pub struct Credentials {
    access_key_id: String,
    secret_access_key: Zeroizing<String>,
    session_token: Option<Zeroizing<String>>,
}

impl Credentials {
    /// Credentials of an access key (and the session token of temporary credentials).
    pub fn new(access_key_id: &str, secret_access_key: &str, session_token: Option<&str>) -> Self {
        Self {
            access_key_id: access_key_id.into(),
            secret_access_key: Zeroizing::new(secret_access_key.into()),
            session_token: session_token.map(|t| Zeroizing::new(t.into())),
        }
    }

    /// `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and `AWS_SESSION_TOKEN`, or `None` when
    /// the first two are not both set.
    pub fn from_env() -> Option<Self> {
        let var = |name| std::env::var(name).ok().filter(|v: &String| !v.is_empty());
        let id = var("AWS_ACCESS_KEY_ID")?;
        let secret = var("AWS_SECRET_ACCESS_KEY")?;
        Some(Self::new(&id, &secret, var("AWS_SESSION_TOKEN").as_deref()))
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_id", &self.access_key_id)
            .finish_non_exhaustive()
    }
}

/// A KMS client for one region.
#[derive(Clone)]
pub struct KmsHttpClient {
    agent: ureq::Agent,
    endpoint: String,
    host: String,
    region: String,
    credentials: Credentials,
}

impl fmt::Debug for KmsHttpClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KmsHttpClient")
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("credentials", &self.credentials)
            .finish()
    }
}

impl KmsHttpClient {
    /// A client of the KMS at `endpoint` (`http://HOST[:PORT]` or `https://...`) that signs
    /// for `region` with `credentials`.
    pub fn new(endpoint: &str, region: &str, credentials: Credentials) -> Result<Self, String> {
        let endpoint = endpoint.trim().trim_end_matches('/').to_string();
        let url =
            url::Url::parse(&endpoint).map_err(|e| format!("KMS endpoint {endpoint:?}: {e}"))?;
        if !matches!(url.scheme(), "http" | "https") || url.path() != "/" {
            return Err(format!("KMS endpoint {endpoint:?} must be http(s)://HOST[:PORT]"));
        }
        let host = match (url.host_str(), url.port()) {
            (Some(h), Some(p)) => format!("{h}:{p}"),
            (Some(h), None) => h.to_string(),
            (None, _) => return Err(format!("KMS endpoint {endpoint:?} has no host")),
        };
        let mut config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(Duration::from_secs(10)))
            .timeout_global(Some(Duration::from_secs(60)))
            .max_redirects(0);
        if url.scheme() == "https" {
            // The system's roots (SSL_CERT_FILE and SSL_CERT_DIR may replace them).
            config = config.tls_config(crate::client::tls_config(None).map_err(|e| e.to_string())?);
        }
        let agent = config.build().into();
        Ok(Self { agent, endpoint, host, region: region.into(), credentials })
    }

    /// A client for `region` (a key ARN's), configured from the environment (see the module
    /// documentation).
    pub fn for_region(region: &str) -> Result<Self, String> {
        let credentials = Credentials::from_env().ok_or_else(|| {
            "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY must be set for --kms-key".to_string()
        })?;
        let var = |name| std::env::var(name).ok().filter(|v: &String| !v.is_empty());
        let endpoint = var("AWS_ENDPOINT_URL_KMS")
            .or_else(|| var("AWS_ENDPOINT_URL"))
            .unwrap_or_else(|| format!("https://kms.{region}.amazonaws.com"));
        Self::new(&endpoint, region, credentials)
    }

    /// Calls `TrentService.{operation}` with the JSON `body`; returns the answer's JSON.
    pub fn call(&self, operation: &str, body: &str) -> Result<Value, KmsCallError> {
        let target = format!("TrentService.{operation}");
        let headers = self.sign(&target, body.as_bytes())?;
        let mut request = self.agent.post(format!("{}/", self.endpoint));
        for (name, value) in &headers {
            request = request.header(name.as_str(), value.as_str());
        }
        let mut response = request
            .send(body.as_bytes())
            .map_err(|e| KmsCallError { code: "NetworkError".into(), message: e.to_string() })?;
        let status = response.status().as_u16();
        let bytes = Zeroizing::new(
            response.body_mut().with_config().limit(1 << 20).read_to_vec().map_err(|e| {
                KmsCallError { code: "NetworkError".into(), message: e.to_string() }
            })?,
        );
        let json: Option<Value> = serde_json::from_slice(&bytes).ok();
        if (200..300).contains(&status) {
            return json.ok_or_else(|| KmsCallError {
                code: "InvalidResponse".into(),
                message: "the answer is not JSON".into(),
            });
        }
        let text = |name: &str| {
            json.as_ref().and_then(|j| j.get(name)).and_then(Value::as_str).map(str::to_string)
        };
        let code = text("__type").map_or_else(
            || format!("HTTP {status}"),
            |t| t.rsplit('#').next().unwrap_or_default().to_string(),
        );
        let message = text("message").or_else(|| text("Message")).unwrap_or_default();
        Err(KmsCallError { code, message })
    }

    /// `DescribeKey` for `key_arn`: its `KeySpec` (`SYMMETRIC_DEFAULT`, `RSA_2048`, ...).
    pub fn key_spec(&self, key_arn: &str) -> Result<String, String> {
        let body = serde_json::json!({ "KeyId": key_arn }).to_string();
        let answer = self
            .call("DescribeKey", &body)
            .map_err(|e| format!("AWS KMS DescribeKey {key_arn}: {e}"))?;
        let metadata = answer.get("KeyMetadata");
        metadata
            .and_then(|m| m.get("KeySpec").or_else(|| m.get("CustomerMasterKeySpec")))
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| format!("AWS KMS DescribeKey {key_arn}: no KeySpec in the answer"))
    }

    /// `GetPublicKey` for `rules`' key: its SPKI DER, after the core checked the key's usage
    /// and encryption algorithms.
    pub fn public_key(&self, rules: &KmsRsaRules) -> Result<Vec<u8>, String> {
        let answer = self
            .call("GetPublicKey", &rules.public_key_request_json())
            .map_err(|e| format!("AWS KMS GetPublicKey {}: {e}", rules.key_arn()))?;
        let algorithms: Option<Vec<&str>> = answer
            .get("EncryptionAlgorithms")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).collect());
        rules
            .check_public_key_description(
                answer.get("KeyUsage").and_then(Value::as_str),
                algorithms.as_deref(),
            )
            .map_err(|e| e.to_string())?;
        answer
            .get("PublicKey")
            .and_then(Value::as_str)
            .and_then(|p| STANDARD.decode(p).ok())
            .ok_or_else(|| {
                format!("AWS KMS GetPublicKey {}: no PublicKey in the answer", rules.key_arn())
            })
    }

    /// The SigV4 headers of a request with `target` and `body`, signed now.
    fn sign(&self, target: &str, body: &[u8]) -> Result<Vec<(String, String)>, KmsCallError> {
        use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
        let failed = |e: &dyn fmt::Display| KmsCallError {
            code: "SigningFailed".into(),
            message: e.to_string(),
        };
        let c = &self.credentials;
        let identity = aws_credential_types::Credentials::new(
            &c.access_key_id,
            c.secret_access_key.as_str(),
            c.session_token.as_ref().map(|t| t.to_string()),
            None,
            "cipherdrop",
        )
        .into();
        let params = aws_sigv4::sign::v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name("kms")
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()
            .map_err(|e| failed(&e))?
            .into();
        let mut headers = vec![
            ("host".to_string(), self.host.clone()),
            ("content-type".to_string(), CONTENT_TYPE.to_string()),
            ("x-amz-target".to_string(), target.to_string()),
        ];
        let signable = SignableRequest::new(
            "POST",
            format!("{}/", self.endpoint),
            headers.iter().map(|(n, v)| (n.as_str(), v.as_str())),
            SignableBody::Bytes(body),
        )
        .map_err(|e| failed(&e))?;
        let (instructions, _) = sign(signable, &params).map_err(|e| failed(&e))?.into_parts();
        let (signed, _) = instructions.into_parts();
        headers.retain(|(n, _)| n != "host");
        for header in signed {
            headers.push((header.name().to_string(), header.value().to_string()));
        }
        Ok(headers)
    }
}

impl KmsClient for KmsHttpClient {
    fn call(&self, request: &KmsRequest<'_>) -> Result<KmsResponse, KmsCallError> {
        let mut answer = self.call(request.operation(), &request.to_json())?;
        let text = |name| answer.get(name).and_then(Value::as_str);
        let response = KmsResponse::new(text("KeyId"), text("Plaintext"), text("CiphertextBlob"));
        // The plaintext data key's base64 in the parsed answer.
        if let Some(Value::String(plaintext)) = answer.get_mut("Plaintext") {
            plaintext.zeroize();
        }
        Ok(response)
    }
}
