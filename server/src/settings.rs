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
    /// Also serve the archive store (`/v0/archive`), keeping objects in this directory.
    #[arg(long, env = "CIPHERDROP_ARCHIVE_DIR")]
    pub archive_dir: Option<PathBuf>,
    /// Largest archive object, in bytes.
    #[arg(long, env = "CIPHERDROP_MAX_OBJECT_SIZE", default_value_t = 8 << 30)]
    pub max_object_size: u64,
    /// Also serve the static files of this directory at `/` (the demo page).
    #[arg(long, env = "CIPHERDROP_STATIC_DIR")]
    pub static_dir: Option<PathBuf>,
    /// Demo mode (`cipherdrop demo`): first-run demo set-up, and `/demo/config.json` with the
    /// demo principals' tokens. Never for production.
    #[arg(skip)]
    pub demo: bool,
}
