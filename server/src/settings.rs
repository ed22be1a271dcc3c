//! Server settings: command-line flags with environment fallbacks.

use std::path::PathBuf;

/// `cipherdrop serve` settings.
#[derive(Clone, Debug, clap::Args)]
pub struct Settings {
    /// Directory for the database, the root key and the admin token.
    #[arg(long, env = "CIPHERDROP_DATA_DIR", default_value = "cipherdrop-data")]
    pub data_dir: PathBuf,
    /// Address to listen on.
    #[arg(long, env = "CIPHERDROP_LISTEN", default_value = "127.0.0.1:8700")]
    pub listen: String,
    /// Origins allowed by CORS (comma-separated), e.g. https://app.example.
    #[arg(long, env = "CIPHERDROP_CORS_ORIGINS", value_delimiter = ',')]
    pub cors_origins: Vec<String>,
    /// Largest request body, in bytes.
    #[arg(long, env = "CIPHERDROP_BODY_LIMIT", default_value_t = 1 << 20)]
    pub body_limit: usize,
    /// Requests per second each principal may make (burst: twice that).
    #[arg(long, env = "CIPHERDROP_RATE_LIMIT", default_value_t = 200)]
    pub rate_limit: u32,
}
