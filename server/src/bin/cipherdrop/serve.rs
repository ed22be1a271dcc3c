//! `cipherdrop serve`: the key server in the foreground, JSON logs on stderr.

use cipherdrop_server::{Settings, launch_with_tcp_listener};

use crate::cli::DemoArgs;
use crate::error::Error;

/// Demo settings: archive store under the data directory, the page, demo set-up on.
pub(crate) fn demo_settings(args: DemoArgs) -> Settings {
    Settings {
        archive_dir: Some(args.data_dir.join("archive")),
        data_dir: args.data_dir,
        listen: args.listen,
        cors_origins: Vec::new(),
        body_limit: 1 << 20,
        rate_limit: 1000,
        max_object_size: 8 << 30,
        static_dir: Some(args.static_dir),
        demo: true,
    }
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
    let runtime =
        tokio::runtime::Runtime::new().map_err(Error::io("cannot start the runtime", None))?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(&settings.listen)
            .await
            .map_err(Error::io(format!("cannot listen on {}", settings.listen), None))?;
        let addr = listener.local_addr().map_err(Error::io("cannot listen", None))?;
        println!("cipherdrop key server on http://{addr}");
        launch_with_tcp_listener(settings, listener, shutdown_signal()).await.map_err(Error::Server)
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
