//! Every route and layer in one place.

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, HeaderValue, Method, header};
use axum::middleware;
use axum::routing::{delete, get, post, put};
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::archive::Archive;
use crate::handlers::{self, v0};
use crate::settings::Settings;
use crate::state::AppState;

/// The application: routes, CORS for the configured origins, body limit, request IDs and
/// metrics.
pub(crate) fn router(
    state: AppState,
    archive: Option<Archive>,
    addr: std::net::SocketAddr,
    settings: &Settings,
    demo: Option<(serde_json::Value, crate::demo::DevIssuer)>,
) -> Router {
    // `*` is "any origin" (tower-http panics on a list that holds it); bearer tokens, not
    // cookies, carry identity, so no credentials mode is needed either way.
    let any_origin = settings.cors_origins.iter().any(|o| o.trim() == "*");
    let origins: Vec<HeaderValue> =
        settings.cors_origins.iter().filter_map(|o| HeaderValue::from_str(o.trim()).ok()).collect();
    let allow = if any_origin { AllowOrigin::any() } else { AllowOrigin::list(origins) };
    let cors = CorsLayer::new()
        .allow_origin(allow)
        .allow_methods([Method::GET, Method::POST, Method::PUT, Method::DELETE])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            HeaderName::from_static("x-request-id"),
            // The AWS KMS API from browsers (SigV4 through WebCrypto).
            HeaderName::from_static("x-amz-target"),
            HeaderName::from_static("x-amz-date"),
            HeaderName::from_static("x-amz-content-sha256"),
            HeaderName::from_static("x-amz-security-token"),
            HeaderName::from_static("x-amz-user-agent"),
        ]);
    // Every key route twice: `{key_id}` (a key ID, or an alias as `alias%2FNAME`) and
    // `alias/{alias}`, since AWS clients write `alias/NAME` with its slash as is.
    let mut api = Router::new().route("/keys", get(v0::keys::list).post(v0::keys::create));
    for key in ["/keys/{key_id}", "/keys/alias/{alias}"] {
        api = api
            .route(key, get(v0::keys::describe))
            .route(&format!("{key}/public-key"), get(v0::keys::public_key))
            .route(&format!("{key}/enable"), post(v0::keys::enable))
            .route(&format!("{key}/disable"), post(v0::keys::disable))
            .route(&format!("{key}/schedule-deletion"), post(v0::keys::schedule_deletion))
            .route(&format!("{key}/cancel-deletion"), post(v0::keys::cancel_deletion))
            .route(&format!("{key}/rotate"), post(v0::keys::rotate))
            .route(&format!("{key}/policy"), get(v0::keys::get_policy).put(v0::keys::put_policy))
            .route(&format!("{key}/decrypt"), post(v0::unwrap::decrypt));
    }
    let api = api
        .route("/unwrap", post(v0::unwrap::unwrap))
        .route("/aliases", get(v0::aliases::list).post(v0::aliases::create))
        .route("/aliases/{*alias}", put(v0::aliases::update).delete(v0::aliases::delete))
        .route("/tokens", get(v0::tokens::list).post(v0::tokens::create))
        .route("/tokens/{token_id}", delete(v0::tokens::revoke))
        .route("/credentials", get(v0::credentials::list).post(v0::credentials::create))
        .route("/credentials/{access_key_id}", delete(v0::credentials::revoke))
        .route("/audit", get(v0::audit::list))
        .route("/audit/digests", get(v0::audit::digests))
        .route("/audit/public-key", get(v0::audit::public_key));
    let api = match archive {
        Some(archive) => api.nest("/archive", crate::archive::routes(archive)),
        None => api,
    };
    // Its own fallback, so that /v0 answers in JSON even where --static-dir serves the rest.
    let api = api.fallback(handlers::no_route);
    let app = Router::new()
        .route("/", kms_route(settings))
        .route("/healthz", get(handlers::ops::healthz))
        .route("/metrics", get(handlers::ops::metrics))
        .route("/openapi.json", get(handlers::ops::openapi))
        .nest("/v0", api);
    let app = match demo {
        Some((config, issuer)) => {
            let demo = handlers::demo::DemoState { config, issuer, hosts: demo_hosts(addr) };
            app.merge(
                Router::new()
                    .route("/demo/config.json", get(handlers::demo::config))
                    .route(
                        "/demo/oidc/.well-known/openid-configuration",
                        get(handlers::demo::discovery),
                    )
                    .route("/demo/oidc/jwks", get(handlers::demo::jwks))
                    .route("/demo/oidc/token", post(handlers::demo::token))
                    .with_state(demo),
            )
        }
        None => app,
    };
    // After every route (it applies to the routes there are), before the layers (so that
    // these answers get a request ID too).
    let app = app.method_not_allowed_fallback(handlers::no_method);
    let app = match &settings.static_dir {
        Some(dir) => app.fallback_service(tower_http::services::ServeDir::new(dir)),
        None => app.fallback(handlers::no_route),
    };
    app.layer(middleware::from_fn_with_state(state.clone(), handlers::ops::count_requests))
        .layer(middleware::from_fn(handlers::ops::request_id))
        .layer(DefaultBodyLimit::max(settings.body_limit))
        .layer(cors)
        .with_state(state)
}

/// `POST /` is the AWS KMS API; with `--static-dir`, `GET /` is still the page there.
fn kms_route(settings: &Settings) -> axum::routing::MethodRouter<AppState> {
    let kms = post(handlers::kms::call);
    match &settings.static_dir {
        Some(dir) => kms.fallback_service(tower_http::services::ServeDir::new(dir)),
        None => kms,
    }
}

/// The `Host` values the demo configuration is served to: the listening address, and its
/// `localhost` names when that is a loopback address.
fn demo_hosts(addr: std::net::SocketAddr) -> Vec<String> {
    let port = addr.port();
    let mut hosts = vec![addr.to_string()];
    if addr.ip().is_loopback() {
        hosts.extend([
            format!("localhost:{port}"),
            format!("127.0.0.1:{port}"),
            format!("[::1]:{port}"),
        ]);
    }
    hosts.dedup();
    hosts
}

/// The `--metrics-listen` listener: `/metrics` alone, without a token.
pub(crate) fn metrics_router(state: AppState) -> Router {
    Router::new().route("/metrics", get(handlers::ops::open_metrics)).with_state(state)
}
