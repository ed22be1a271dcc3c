//! The cipherdrop key server: holds RSA private keys, never file data, and unwraps a message's
//! data key only when the caller's identity, the key's state and policy, and the message's
//! verified encryption context allow it. Every call is audited in a hash chain.
//!
//! The binary only parses arguments; [`launch_with_tcp_listener`] runs the server.
#![forbid(unsafe_code)]

mod archive;
pub mod client;
pub mod demo;
pub mod domain;
mod error;
mod handlers;
mod router;
mod settings;
mod state;

use std::future::Future;

pub use error::AppError;
pub use settings::Settings;

/// The principal whose token `serve` creates on first start; it may create keys, aliases and
/// tokens, read the audit log, and always read or replace key policies.
pub const ADMIN_PRINCIPAL: &str = "admin";

/// Opens (or initialises) the data directory and serves on `listener` until `shutdown`
/// completes; in-flight requests finish first.
pub async fn launch_with_tcp_listener(
    settings: Settings,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), AppError> {
    let state = state::AppState::open(&settings).await?;
    let demo_config = match settings.demo {
        true => Some(demo::bootstrap(&state, &settings.data_dir).await?),
        false => None,
    };
    let sweeper = tokio::spawn(state.clone().sweep_expired_keys());
    let app = router::router(state, &settings, demo_config);
    let addr = listener.local_addr().map_err(|e| AppError::internal(e.to_string()))?;
    tracing::info!(%addr, "cipherdrop key server listening");
    let served =
        axum::serve(listener, app.into_make_service_with_connect_info::<std::net::SocketAddr>())
            .with_graceful_shutdown(shutdown)
            .await;
    sweeper.abort();
    served.map_err(|e| AppError::internal(e.to_string()))
}
