//! Command-line interface definition.

use std::path::PathBuf;

use cipherdrop_server::client::Client;
use clap::{Args, Parser, Subcommand};

use crate::error::Error;

/// cipherdrop: client-side encryption in the AWS Encryption SDK message format.
#[derive(Debug, Parser)]
#[command(name = "cipherdrop", version, about)]
pub(crate) struct Cli {
    /// How to reach a key server, for the commands that call one.
    #[command(flatten)]
    pub(crate) key_server: KeyServerArgs,
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// The key server the admin commands and `--server-key` call: CIPHERDROP_ADDR and
/// CIPHERDROP_TOKEN from the environment, and this option.
#[derive(Debug, Args)]
pub(crate) struct KeyServerArgs {
    /// CA certificates (PEM, one or more) that an https:// key server's certificate may chain
    /// to, besides the system's roots.
    #[arg(long, env = "CIPHERDROP_CA_FILE", value_name = "FILE", global = true)]
    pub(crate) ca_file: Option<PathBuf>,
}

impl KeyServerArgs {
    /// The one place the CLI makes its key-server client.
    pub(crate) fn client(&self) -> Result<Client, Error> {
        Ok(Client::from_env(self.ca_file.as_deref())?)
    }
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Encrypt IN into an AWS Encryption SDK message.
    Encrypt(EncryptArgs),
    /// Decrypt an AWS Encryption SDK message; nothing unauthenticated is left in OUT.
    Decrypt(DecryptArgs),
    /// Run the key server.
    Serve(Box<cipherdrop_server::Settings>),
    /// Run the archive demo: key server, archive store and demo page on one port.
    Demo(DemoArgs),
    /// Write the key server's database (sealed keys, aliases, policies, token hashes, audit
    /// chain) to one file, consistent at one point in time, while servers keep serving.
    Backup(BackupArgs),
    /// Load a backup into an empty database (either backend); the same root key opens it.
    Restore(RestoreArgs),
    /// The root key that seals every private key: make one in a PKCS#11 token, or rotate.
    #[command(subcommand)]
    Root(RootCommand),
    /// Manage keys on a key server (CIPHERDROP_ADDR, CIPHERDROP_TOKEN).
    #[command(subcommand)]
    Key(crate::admin::KeyCommand),
    /// Manage aliases (alias/NAME) on a key server.
    #[command(subcommand)]
    Alias(crate::admin::AliasCommand),
    /// Read or replace a key policy.
    #[command(subcommand)]
    Policy(crate::admin::PolicyCommand),
    /// Create bearer tokens for principals.
    #[command(subcommand)]
    Token(crate::admin::TokenCommand),
    /// Create access keys (AWS Signature Version 4) for the KMS API's clients.
    #[command(subcommand)]
    Credential(crate::admin::CredentialCommand),
    /// List the audit log or verify its hash chain.
    #[command(subcommand)]
    Audit(crate::admin::AuditCommand),
    /// Sign a file with a SIGN_VERIFY key on a key server, or check a signature (`--check`).
    Sign(crate::admin::SigningArgs),
    /// The MAC of a file under a GENERATE_VERIFY_MAC key, or check one (`--check`).
    Mac(crate::admin::SigningArgs),
}

/// Options shared by `encrypt` and `decrypt`.
#[derive(Debug, Args)]
pub(crate) struct CommonArgs {
    /// Input file; `-` or absent means standard input.
    #[arg(short = 'i', long = "input", value_name = "IN")]
    pub(crate) input: Option<PathBuf>,
    /// Output file; `-` or absent means standard output.
    #[arg(short = 'o', long = "output", value_name = "OUT")]
    pub(crate) output: Option<PathBuf>,
    /// Raw RSA key as NAMESPACE/NAME=PEM (SPKI public key, or PKCS#8/PKCS#1 private key).
    /// Repeat for several keys; the first is the generator unless --server-key is given.
    #[arg(
        long = "rsa-key",
        value_name = "NAMESPACE/NAME=PEM",
        required_unless_present_any = ["server_keys", "kms_keys"]
    )]
    pub(crate) rsa_keys: Vec<String>,
    /// Key-server key (key ID or alias/NAME) at CIPHERDROP_ADDR, with CIPHERDROP_TOKEN.
    /// Repeatable. Server keys come before --rsa-key keys: the first --server-key is the
    /// generator. On decrypt, any key-server EDK is sent to the server, whatever key it names.
    #[arg(long = "server-key", value_name = "KEY_ID_OR_ALIAS")]
    pub(crate) server_keys: Vec<String>,
    /// AWS KMS key (a key ARN). To encrypt, its type comes from DescribeKey: a symmetric key
    /// (SYMMETRIC_DEFAULT) is used as the AWS KMS keyring (GenerateDataKey as the generator,
    /// else Encrypt; EDK provider ID aws-kms), an RSA key as the AWS KMS RSA keyring (wrapped
    /// locally with its public key; aws-kms-rsa; unsigned suites only). To decrypt, KMS
    /// Decrypt is called for either kind of EDK of this ARN. Repeatable; after --server-key
    /// keys, before --rsa-key keys. Signed with AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY at
    /// AWS_ENDPOINT_URL_KMS (else https://kms.REGION.amazonaws.com), for the ARN's region.
    #[arg(long = "kms-key", value_name = "KEY_ARN")]
    pub(crate) kms_keys: Vec<String>,
    /// Grant token sent with every GenerateDataKey, Encrypt and Decrypt call of a symmetric
    /// --kms-key. Repeatable.
    // Tokens are base64url: one in 64 starts with '-', which must not read as a flag.
    #[arg(long = "kms-grant-token", value_name = "TOKEN", allow_hyphen_values = true)]
    pub(crate) kms_grant_tokens: Vec<String>,
    /// KMS encryption algorithm of every RSA --kms-key: RSAES_OAEP_SHA_256 or RSAES_OAEP_SHA_1.
    #[arg(long, value_name = "ALGORITHM", default_value = "RSAES_OAEP_SHA_256")]
    pub(crate) kms_encryption_algorithm: String,
    /// RSA-OAEP hash (MGF1 uses the same), for every --rsa-key.
    #[arg(long, value_name = "HASH", default_value = "sha256")]
    pub(crate) oaep: String,
    /// Encryption context pair KEY=VALUE. On decrypt, the message must contain it.
    #[arg(long = "context", value_name = "KEY=VALUE")]
    pub(crate) context: Vec<String>,
}

#[derive(Debug, Args)]
pub(crate) struct EncryptArgs {
    #[command(flatten)]
    pub(crate) common: CommonArgs,
    /// Plaintext bytes per frame (1..=2147483647).
    #[arg(long, value_name = "BYTES", default_value_t = cipherdrop::DEFAULT_FRAME_LENGTH)]
    pub(crate) frame_length: u32,
    /// Algorithm suite: 0x0578 (signed; the default) or 0x0478 (the default with an RSA
    /// --kms-key, whose keyring refuses signed suites).
    #[arg(long, value_name = "ID")]
    pub(crate) suite: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct DecryptArgs {
    #[command(flatten)]
    pub(crate) common: CommonArgs,
    /// Also read legacy non-committing (message format 1.0) messages.
    #[arg(long)]
    pub(crate) allow_legacy: bool,
    /// Most encrypted data keys a message may carry.
    #[arg(long, value_name = "N", default_value_t = 10)]
    pub(crate) max_encrypted_data_keys: usize,
}

#[derive(Debug, Args)]
pub(crate) struct BackupArgs {
    /// The database to back up.
    #[command(flatten)]
    pub(crate) data: cipherdrop_server::DataSettings,
    /// The backup file (written with mode 0600 beside, then renamed).
    #[arg(long, value_name = "FILE")]
    pub(crate) out: PathBuf,
}

#[derive(Debug, Args)]
pub(crate) struct RestoreArgs {
    /// The empty database to restore into.
    #[command(flatten)]
    pub(crate) data: cipherdrop_server::DataSettings,
    /// The backup file.
    #[arg(value_name = "FILE")]
    pub(crate) file: PathBuf,
}

#[derive(Debug, Args)]
pub(crate) struct DemoArgs {
    /// Directory for the database, keys, tokens, escrow key and archived objects.
    #[arg(long, env = "CIPHERDROP_DATA_DIR", default_value = "build/demo-data")]
    pub(crate) data_dir: PathBuf,
    /// Address to listen on.
    #[arg(long, env = "CIPHERDROP_LISTEN", default_value = "127.0.0.1:8700")]
    pub(crate) listen: String,
    /// The built demo page.
    #[arg(long, default_value = "www-demo/dist")]
    pub(crate) static_dir: PathBuf,
    /// Archive store URL (`file:///DIR` or `s3://BUCKET/PREFIX`); default DATA_DIR/archive.
    #[arg(long, env = "CIPHERDROP_ARCHIVE_URL")]
    pub(crate) archive_url: Option<String>,
    /// Database URL (default: SQLite in the data directory).
    #[arg(long, env = "CIPHERDROP_DATABASE_URL")]
    pub(crate) database_url: Option<String>,
}

#[derive(Debug, Subcommand)]
pub(crate) enum RootCommand {
    /// Make a new AES-256 root key in a PKCS#11 token (sensitive, never extractable): the
    /// object the URI names must not exist yet.
    Init {
        /// `pkcs11:token=…;object=…?module-path=…&pin-source=…` (RFC 7512).
        #[arg(long, value_name = "URI")]
        root_key: String,
    },
    /// Re-seal every key version under --root-key (the new key), opening what
    /// --previous-root-key sealed, online: first restart every server with both flags, then
    /// run this with the same flags, then restart the servers without --previous-root-key.
    /// Safe to run again; prints what it re-sealed as JSON.
    Rotate {
        /// The database, the new root key and the one it replaces.
        #[command(flatten)]
        data: cipherdrop_server::DataSettings,
    },
}
