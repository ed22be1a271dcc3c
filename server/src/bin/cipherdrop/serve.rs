//! `cipherdrop serve`: the key server in the foreground, JSON logs on stderr.

use cipherdrop_server::{DataSettings, Service, Settings};

use crate::cli::{BackupArgs, DemoArgs, RestoreArgs, RootCommand};
use crate::error::Error;

/// Demo settings: archive store under the data directory, the page, demo set-up on.
pub(crate) fn demo_settings(args: DemoArgs) -> Settings {
    Settings {
        archive_dir: args.archive_url.is_none().then(|| args.data_dir.join("archive")),
        archive_url: args.archive_url,
        data: DataSettings {
            data_dir: args.data_dir,
            database_url: args.database_url,
            root_key_file: None,
            root_key: None,
            previous_root_key: None,
        },
        listen: args.listen,
        tls_cert: None,
        tls_key: None,
        insecure_http: false,
        metrics_listen: None,
        audit_dir: None,
        audit_digest_records: 1000,
        audit_digest_interval: 60,
        cors_origins: Vec::new(),
        body_limit: 1 << 20,
        rate_limit: 1000,
        allow_plaintext_data_keys: false,
        account_id: "000000000000".into(),
        region: "us-east-1".into(),
        oidc_issuers: Vec::new(),
        oidc_audiences: Vec::new(),
        oidc_jwks: Vec::new(),
        oidc_principal_claim: "sub".into(),
        oidc_principal_prefixes: Vec::new(),
        oidc_leeway: 60,
        oidc_jwks_refresh: 60,
        max_object_size: 8 << 30,
        upload_ttl: 24 * 3600,
        max_open_uploads: 16,
        static_dir: Some(args.static_dir),
        demo: true,
    }
}

/// The async runtime: half the cores (at least one) unless TOKIO_WORKER_THREADS says
/// otherwise. RSA runs on the key server's own crypto threads, one per core, so the async
/// side only moves bytes; more workers than that measured slower (context switches).
fn runtime() -> Result<tokio::runtime::Runtime, Error> {
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if std::env::var_os("TOKIO_WORKER_THREADS").is_none() {
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
        builder.worker_threads((cores / 2).max(1));
    }
    builder.enable_all().build().map_err(Error::io("cannot start the runtime", None))
}

/// `cipherdrop backup`: prints what it wrote.
pub(crate) fn backup(args: &BackupArgs) -> Result<(), Error> {
    let counts = runtime()?
        .block_on(cipherdrop_server::backup(&args.data, &args.out))
        .map_err(Error::Server)?;
    println!(
        "backup {}: {} keys, {} audit records",
        args.out.display(),
        counts.keys,
        counts.records
    );
    Ok(())
}

/// `cipherdrop restore`: prints what it loaded.
pub(crate) fn restore(args: &RestoreArgs) -> Result<(), Error> {
    let counts = runtime()?
        .block_on(cipherdrop_server::restore(&args.data, &args.file))
        .map_err(Error::Server)?;
    println!(
        "restored {}: {} keys, {} audit records",
        args.file.display(),
        counts.keys,
        counts.records
    );
    Ok(())
}

pub(crate) fn run(settings: Settings) -> Result<(), Error> {
    tracing_subscriber::fmt()
        .json()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    runtime()?.block_on(async {
        let listener = tokio::net::TcpListener::bind(&settings.listen)
            .await
            .map_err(Error::io(format!("cannot listen on {}", settings.listen), None))?;
        let addr = listener.local_addr().map_err(Error::io("cannot listen", None))?;
        // The demo's issuer names the address as bound (a port of 0 is chosen now).
        let settings = match settings.demo {
            true => Settings { listen: addr.to_string(), ..settings },
            false => settings,
        };
        let service = Service::open(settings).await.map_err(Error::Server)?;
        // Only once the database is open and the root key checked: the line means "ready".
        println!("cipherdrop key server on {}://{addr}", service.scheme());
        service.serve(listener, shutdown_signal()).await.map_err(Error::Server)
    })
}

/// Ctrl-C or SIGTERM: stop accepting, finish in-flight requests, exit.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    tokio::select! { () = ctrl_c => {}, () = term => {} }
    tracing::info!("shutting down");
}

/// `cipherdrop root init` / `root rotate`.
pub(crate) fn root(command: RootCommand) -> Result<(), Error> {
    match command {
        RootCommand::Init { root_key } => {
            let shown = cipherdrop_server::create_root_key(&root_key).map_err(Error::Server)?;
            println!("root key made: {shown}");
        }
        RootCommand::Rotate { data } => {
            let done = runtime()?
                .block_on(cipherdrop_server::rotate_root(&data))
                .map_err(Error::Server)?;
            let json = serde_json::to_string(&done).map_err(|e| Error::Usage(e.to_string()))?;
            println!("{json}");
        }
    }
    Ok(())
}
