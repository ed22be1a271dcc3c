//! Admin subcommands: talk to a key server over HTTP (CIPHERDROP_ADDR, CIPHERDROP_TOKEN).
//! Each prints the server's JSON answer, pretty, on standard output.

use std::io::{Read, Write};
use std::path::PathBuf;

use base64::Engine as _;
use cipherdrop_server::client::Client;
use cipherdrop_server::domain::audit;
use cipherdrop_server::domain::policy::PolicyDocument;
use clap::Subcommand;
use serde_json::Value;

use crate::cli::{Command, KeyServerArgs};
use crate::error::Error;

#[derive(Debug, Subcommand)]
pub(crate) enum KeyCommand {
    /// Create an RSA key; prints its metadata (with `keyId`).
    Create {
        /// Key spec (the server's default: RSA_3072). The specs other than RSA and
        /// SYMMETRIC_DEFAULT, and usages other than ENCRYPT_DECRYPT, are made through the AWS
        /// KMS API with the same token.
        #[arg(long, value_name = "SPEC", value_parser = [
            "SYMMETRIC_DEFAULT", "RSA_2048", "RSA_3072", "RSA_4096", "ECC_NIST_P256",
            "ECC_NIST_P384", "ECC_NIST_P521", "ECC_SECG_P256K1", "HMAC_224", "HMAC_256",
            "HMAC_384", "HMAC_512"])]
        spec: Option<String>,
        /// Key usage (default ENCRYPT_DECRYPT).
        #[arg(long, value_name = "USAGE", value_parser = [
            "ENCRYPT_DECRYPT", "SIGN_VERIFY", "GENERATE_VERIFY_MAC", "KEY_AGREEMENT"])]
        usage: Option<String>,
        /// Free-form description.
        #[arg(long, value_name = "TEXT")]
        description: Option<String>,
        /// Tag KEY=VALUE; repeat for several.
        #[arg(long = "tag", value_name = "KEY=VALUE")]
        tags: Vec<String>,
        /// Key policy document (JSON `{"Statement": [...]}`; `-` for standard input).
        #[arg(long, value_name = "FILE")]
        policy: Option<PathBuf>,
    },
    /// Show a key's metadata.
    Describe {
        /// Key ID or alias/NAME.
        key: String,
    },
    /// Show the public key of the key's current version.
    PublicKey {
        /// Key ID or alias/NAME.
        key: String,
        /// Print only the PEM (SPKI).
        #[arg(long)]
        pem: bool,
    },
    /// Enable a disabled key.
    Enable {
        /// Key ID or alias/NAME.
        key: String,
    },
    /// Disable a key: it neither wraps nor unwraps until enabled.
    Disable {
        /// Key ID or alias/NAME.
        key: String,
    },
    /// Schedule a key's deletion; until then it is refused and its use raises an alarm.
    ScheduleDeletion {
        /// Key ID or alias/NAME.
        key: String,
        /// Days until deletion (7 to 30; server default 30).
        #[arg(long, value_name = "N")]
        days: Option<u32>,
    },
    /// Cancel a scheduled deletion; the key is then Disabled.
    CancelDeletion {
        /// Key ID or alias/NAME.
        key: String,
    },
    /// Give a key a new version for new messages; old versions still unwrap.
    Rotate {
        /// Key ID or alias/NAME.
        key: String,
    },
    /// List the keys the caller may describe.
    List,
}

#[derive(Debug, Subcommand)]
pub(crate) enum AliasCommand {
    /// Create alias/NAME for a key.
    Create {
        /// NAME or alias/NAME.
        name: String,
        /// Key ID.
        key: String,
    },
    /// Point alias/NAME at another key.
    Update {
        /// NAME or alias/NAME.
        name: String,
        /// Key ID.
        key: String,
    },
    /// Delete alias/NAME (not its key).
    Delete {
        /// NAME or alias/NAME.
        name: String,
    },
    /// List aliases.
    List,
}

#[derive(Debug, Subcommand)]
pub(crate) enum PolicyCommand {
    /// Show a key's policy.
    Get {
        /// Key ID or alias/NAME.
        key: String,
    },
    /// Replace a key's policy with FILE (`-`: standard input). FILE holds the policy
    /// document, or the output of `policy get`.
    Put {
        /// Key ID or alias/NAME.
        key: String,
        /// Policy JSON file, or `-`.
        file: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum TokenCommand {
    /// Create a bearer token for a principal; it is shown once (with its ID, which is not
    /// secret and names it in audit records and to `token revoke`).
    Create {
        /// Principal name (lowercase letters, digits, `._@-`).
        #[arg(long, value_name = "NAME")]
        principal: String,
        /// Lifetime: seconds, or a number with s, m, h or d (e.g. 12h, 30d); default: until
        /// revoked.
        #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
        ttl: Option<u64>,
    },
    /// List tokens: ID, principal, state (Active, Expired, Revoked) and dates.
    List,
    /// Revoke a token by its ID: refused at its next request, through every replica.
    Revoke {
        /// Token ID (`tok_...`).
        token_id: String,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum CredentialCommand {
    /// Create an access key for a principal; the secret is shown once (the ID is not secret:
    /// it names the key in audit records and to `credential revoke`).
    Create {
        /// Principal name (lowercase letters, digits, `._@-`).
        #[arg(long, value_name = "NAME")]
        principal: String,
        /// A fixed access key ID (16-128 uppercase letters and digits), for local tools with
        /// set test credentials; needs --secret-access-key. Default: a new `AKIA...` ID.
        #[arg(long, value_name = "ID", requires = "secret_access_key")]
        access_key_id: Option<String>,
        /// The fixed secret access key (16-128 printable ASCII characters, no spaces).
        #[arg(long, value_name = "SECRET", requires = "access_key_id")]
        secret_access_key: Option<String>,
    },
    /// List access keys: ID, principal, state (Active, Revoked) and dates; never a secret.
    List,
    /// Revoke an access key by its ID: refused at its next request, through every replica.
    Revoke {
        /// Access key ID.
        access_key_id: String,
    },
}

/// Seconds of a duration written `N`, `Ns`, `Nm`, `Nh` or `Nd`.
fn parse_duration(text: &str) -> Result<u64, String> {
    let (digits, unit) = match text.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => text.split_at(i),
        None => (text, "s"),
    };
    let n: u64 = digits.parse().map_err(|_| format!("{text:?} is not a duration"))?;
    let scale = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(format!("{text:?}: the unit must be s, m, h or d")),
    };
    n.checked_mul(scale).filter(|s| *s > 0).ok_or_else(|| format!("{text:?} is out of range"))
}

#[derive(Debug, Subcommand)]
pub(crate) enum AuditCommand {
    /// List audit records (one page, at most 1000).
    List {
        /// Only records with seq > N.
        #[arg(long, value_name = "N", default_value_t = 0)]
        after: i64,
        /// Records per page (1 to 1000).
        #[arg(long, value_name = "N")]
        limit: Option<i64>,
    },
    /// Fetch every record and the signed digests and verify them locally: the hash chain,
    /// each digest's signature and link, and that the chain holds what each digest signed
    /// (a cut tail or a rewrite fails); exit 1 naming what broke.
    Verify {
        /// Also check the chain against this digest (a `digests/N.json` kept elsewhere).
        #[arg(long, value_name = "FILE")]
        digest: Option<PathBuf>,
        /// The audit-signing public key (PEM from `audit public-key --pem`), instead of
        /// asking the server for it.
        #[arg(long, value_name = "FILE")]
        public_key: Option<PathBuf>,
    },
    /// Show the audit-signing public key.
    PublicKey {
        /// Print only the PEM (SPKI).
        #[arg(long)]
        pem: bool,
    },
}

/// `sign`, `verify` and `mac`: a file's signature or MAC by a key on the server, through the
/// AWS KMS API (Sign, Verify, GenerateMac, VerifyMac) with the bearer token.
#[derive(Debug, clap::Args)]
pub(crate) struct SigningArgs {
    /// Key ID, alias/NAME or ARN.
    #[arg(long, value_name = "KEY")]
    key: String,
    /// SigningAlgorithm (RSASSA_PSS_SHA_256, ECDSA_SHA_256, …) or MacAlgorithm
    /// (HMAC_SHA_256, …).
    #[arg(long, value_name = "ALGORITHM")]
    algorithm: String,
    /// The file is a digest made with the algorithm's hash (MessageType DIGEST).
    #[arg(long)]
    digest: bool,
    /// Check this signature or MAC (raw bytes) instead of making one; exit 1 if it does not
    /// verify.
    #[arg(long, value_name = "FILE")]
    check: Option<PathBuf>,
    /// The message (at most 4096 bytes); `-` for standard input.
    message: PathBuf,
}

fn read_input(path: &PathBuf) -> Result<Vec<u8>, Error> {
    let mut bytes = Vec::new();
    if path.as_os_str() == "-" {
        std::io::stdin().read_to_end(&mut bytes).map_err(Error::io("reading", None))?;
    } else {
        bytes = std::fs::read(path).map_err(Error::io("reading", Some(path)))?;
    }
    Ok(bytes)
}

/// `sign` (`mac: false`) or `mac`: prints the operation's answer (the signature or MAC in
/// base64), or with `--check` whether it verified.
fn signing(client: &Client, args: SigningArgs, mac: bool) -> Result<Answer, Error> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let message = b64.encode(read_input(&args.message)?);
    let mut body = serde_json::json!({ "KeyId": args.key, "Message": message });
    let (make, check, algorithm, proof) = if mac {
        ("GenerateMac", "VerifyMac", "MacAlgorithm", "Mac")
    } else {
        body["MessageType"] = Value::from(if args.digest { "DIGEST" } else { "RAW" });
        ("Sign", "Verify", "SigningAlgorithm", "Signature")
    };
    body[algorithm] = Value::from(args.algorithm);
    let Some(path) = &args.check else { return Ok(client.kms(make, &body)?.into()) };
    body[proof] = Value::from(b64.encode(read_input(path)?));
    Ok(client.kms(check, &body)?.into())
}

pub(crate) fn run(command: Command, key_server: &KeyServerArgs) -> Result<(), Error> {
    let client = key_server.client()?;
    let answer = match command {
        Command::Sign(args) => signing(&client, args, false)?,
        Command::Mac(args) => signing(&client, args, true)?,
        Command::Key(c) => key(&client, c)?,
        Command::Alias(c) => alias(&client, c)?.into(),
        Command::Policy(c) => policy(&client, c)?.into(),
        Command::Token(TokenCommand::Create { principal, ttl }) => {
            client.create_token_for(&principal, ttl)?.into()
        }
        Command::Token(TokenCommand::List) => client.list_tokens()?.into(),
        Command::Token(TokenCommand::Revoke { token_id }) => client.revoke_token(&token_id)?.into(),
        Command::Credential(CredentialCommand::Create {
            principal,
            access_key_id,
            secret_access_key,
        }) => {
            let secret = secret_access_key.map(zeroize::Zeroizing::new);
            let fixed = access_key_id.as_deref().zip(secret.as_ref().map(|s| s.as_str()));
            client.create_credential(&principal, fixed)?.into()
        }
        Command::Credential(CredentialCommand::List) => client.list_credentials()?.into(),
        Command::Credential(CredentialCommand::Revoke { access_key_id }) => {
            client.revoke_credential(&access_key_id)?.into()
        }
        Command::Audit(AuditCommand::List { after, limit }) => {
            serde_json::json!({ "records": client.audit_page(after, limit)? }).into()
        }
        Command::Audit(AuditCommand::Verify { digest, public_key }) => {
            return verify(&client, digest.as_ref(), public_key.as_ref());
        }
        Command::Audit(AuditCommand::PublicKey { pem }) => {
            let doc = client.audit_public_key()?;
            match (pem, doc.get("pem").and_then(Value::as_str)) {
                (true, Some(pem)) => Answer::Text(pem.to_string()),
                _ => doc.into(),
            }
        }
        // main dispatches every other command itself.
        _ => return Err(Error::Usage("not an admin command".into())),
    };
    print(&answer)
}

/// What a command prints: JSON, or text as is (`public-key --pem`).
enum Answer {
    Json(Value),
    Text(String),
}

impl From<Value> for Answer {
    fn from(v: Value) -> Self {
        Self::Json(v)
    }
}

fn print(answer: &Answer) -> Result<(), Error> {
    let text = match answer {
        Answer::Json(v) => {
            let mut s = serde_json::to_string_pretty(v).map_err(|e| Error::Usage(e.to_string()))?;
            s.push('\n');
            s
        }
        Answer::Text(s) => s.clone(),
    };
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(Error::io("cannot write", None))
}

fn key(client: &Client, command: KeyCommand) -> Result<Answer, Error> {
    Ok(match command {
        KeyCommand::Create { spec, usage, description, tags, policy } => {
            let tags = tags
                .iter()
                .map(|t| match t.split_once('=') {
                    Some((k, v)) => Ok((k.to_string(), v.to_string())),
                    None => Err(Error::Usage(format!("--tag {t:?}: expected KEY=VALUE"))),
                })
                .collect::<Result<Vec<_>, _>>()?;
            let policy = policy.as_ref().map(read_policy).transpose()?;
            let v0 = matches!(
                spec.as_deref(),
                None | Some("SYMMETRIC_DEFAULT" | "RSA_2048" | "RSA_3072" | "RSA_4096")
            ) && usage.as_deref().is_none_or(|u| u == "ENCRYPT_DECRYPT");
            if v0 {
                client.create_key(spec.as_deref(), description.as_deref(), &tags, policy)?.into()
            } else {
                let mut body = serde_json::json!({
                    "KeySpec": spec, "KeyUsage": usage.as_deref().unwrap_or("ENCRYPT_DECRYPT"),
                    "Description": description.unwrap_or_default(),
                    "Tags": tags.iter().map(|(k, v)| serde_json::json!({"TagKey": k, "TagValue": v}))
                        .collect::<Vec<_>>(),
                });
                if let Some(policy) = policy {
                    body["Policy"] = Value::String(policy.to_string());
                }
                client.kms("CreateKey", &body)?.into()
            }
        }
        KeyCommand::Describe { key } => client.describe_key(&key)?.into(),
        KeyCommand::PublicKey { key, pem } => {
            let doc = client.public_key(&key)?;
            if pem {
                let pem = doc.get("pem").and_then(Value::as_str).ok_or_else(|| {
                    Error::Usage("the server's public key document has no pem".into())
                })?;
                Answer::Text(pem.to_string())
            } else {
                doc.into()
            }
        }
        KeyCommand::Enable { key } => client.key_action(&key, "enable")?.into(),
        KeyCommand::Disable { key } => client.key_action(&key, "disable")?.into(),
        KeyCommand::CancelDeletion { key } => client.key_action(&key, "cancel-deletion")?.into(),
        KeyCommand::Rotate { key } => client.key_action(&key, "rotate")?.into(),
        KeyCommand::ScheduleDeletion { key, days } => client.schedule_deletion(&key, days)?.into(),
        KeyCommand::List => client.list_keys()?.into(),
    })
}

fn alias(client: &Client, command: AliasCommand) -> Result<Value, Error> {
    Ok(match command {
        AliasCommand::Create { name, key } => client.create_alias(&name, &key)?,
        AliasCommand::Update { name, key } => client.update_alias(&name, &key)?,
        AliasCommand::Delete { name } => client.delete_alias(&name)?,
        AliasCommand::List => client.list_aliases()?,
    })
}

fn policy(client: &Client, command: PolicyCommand) -> Result<Value, Error> {
    Ok(match command {
        PolicyCommand::Get { key } => client.get_policy(&key)?,
        PolicyCommand::Put { key, file } => client.put_policy(&key, read_policy(&file)?)?,
    })
}

/// A policy document from FILE or standard input (`-`). The output of `policy get`
/// (`{"keyId", "policy": {...}}`) is accepted too.
fn read_policy(path: &PathBuf) -> Result<Value, Error> {
    let mut text = String::new();
    if path.as_os_str() == "-" {
        std::io::stdin().read_to_string(&mut text).map_err(Error::io("cannot read", None))?;
    } else {
        text = std::fs::read_to_string(path).map_err(Error::io("cannot read", Some(path)))?;
    }
    // Parsed as the server parses policies: a duplicated key anywhere is an error here, not
    // silently the last one (a plain JSON value would keep only that).
    let doc: Value = serde_json::from_str::<PolicyDocument>(&text)
        .map(|d| d.0)
        .map_err(|e| Error::Usage(format!("policy {}: {e}", path.display())))?;
    Ok(match doc {
        Value::Object(mut o) if !o.contains_key("Statement") && o.contains_key("policy") => {
            o.remove("policy").unwrap_or_default()
        }
        other => other,
    })
}

/// `audit verify`: the signed digests first, then every record page by page (so that the
/// records fetched include all the digests cover), checked with the server's own rules.
fn verify(client: &Client, digest: Option<&PathBuf>, key: Option<&PathBuf>) -> Result<(), Error> {
    let documents = client.audit_digests()?;
    let records = client.audit_all()?;
    let n = audit::verify(&records).map_err(|(seq, reason)| {
        Error::Audit(format!("audit chain broken at seq {seq}: {reason}"))
    })?;
    let public_key = match key {
        Some(path) => public_key_file(path)?,
        None => {
            let doc = client.audit_public_key()?;
            let b64 = doc.get("publicKey").and_then(Value::as_str).unwrap_or_default();
            base64::engine::general_purpose::STANDARD
                .decode(b64)
                .map_err(|_| Error::Audit("the server's audit public key is not base64".into()))?
        }
    };
    let digests = audit::verify_digests(&records, &documents, &public_key)
        .map_err(|e| Error::Audit(format!("audit chain does not match its signed digests: {e}")))?;
    if let Some(path) = digest {
        let text = std::fs::read_to_string(path).map_err(Error::io("cannot read", Some(path)))?;
        let kept: audit::SignedDigest = serde_json::from_str(&text)
            .map_err(|e| Error::Usage(format!("{}: not a digest: {e}", path.display())))?;
        let signature = base64::engine::general_purpose::STANDARD
            .decode(&kept.signature)
            .map_err(|_| Error::Audit(format!("{}: signature is not base64", path.display())))?;
        let verifier = aws_lc_rs::signature::UnparsedPublicKey::new(
            &aws_lc_rs::signature::ECDSA_P256_SHA256_ASN1,
            &public_key,
        );
        verifier.verify(&kept.signed_bytes(), &signature).map_err(|_| {
            Error::Audit(format!("{}: the signature does not verify", path.display()))
        })?;
        audit::check_covered(&records, &kept).map_err(|e| {
            Error::Audit(format!("audit chain does not match {}: {e}", path.display()))
        })?;
    }
    println!("audit chain OK: {n} records");
    let newest = documents
        .last()
        .and_then(|d| serde_json::from_str::<audit::SignedDigest>(d).ok())
        .map_or(0, |d| d.seq);
    println!("signed digests OK: {digests}, the newest covers seq {newest}");
    Ok(())
}

/// The P-256 point of a PEM SPKI file: its last 65 bytes (the uncompressed point is the
/// BIT STRING that ends a P-256 SubjectPublicKeyInfo).
fn public_key_file(path: &PathBuf) -> Result<Vec<u8>, Error> {
    let text = std::fs::read_to_string(path).map_err(Error::io("cannot read", Some(path)))?;
    let b64: String = text.lines().filter(|l| !l.starts_with("-----")).collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .map_err(|_| Error::Usage(format!("{}: not a PEM public key", path.display())))?;
    let point = der.get(der.len().saturating_sub(65)..).unwrap_or_default();
    if der.len() < 65 + 26 || point.first() != Some(&4) {
        return Err(Error::Usage(format!("{}: not a P-256 public key", path.display())));
    }
    Ok(point.to_vec())
}
