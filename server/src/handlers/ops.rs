//! Operations endpoints and middleware: health, metrics, OpenAPI, request IDs.

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tracing::Instrument;

use super::REQUEST_ID;
use crate::domain::{Caller, DomainError, require_admin};
use crate::state::AppState;

/// The OpenAPI document, tested against the real routes.
pub(crate) const OPENAPI: &str = include_str!("../../openapi.json");

pub(crate) async fn healthz(State(state): State<AppState>) -> Result<&'static str, DomainError> {
    state.keys.ping().await?;
    Ok("ok\n")
}

pub(crate) async fn openapi() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI)
}

/// Prometheus text exposition: HTTP requests, and the audit writer's counters.
fn exposition(state: &AppState, lag: Option<i64>) -> impl IntoResponse + use<> {
    let mut out = String::new();
    let audit = state.keys.audit_log().stats();
    for (name, help, value) in [
        ("cipherdrop_audit_records_total", "Audit records made durable.", &audit.records),
        ("cipherdrop_audit_commits_total", "Group commits of audit records.", &audit.batches),
        (
            "cipherdrop_audit_failed_commits_total",
            "Group commits that failed.",
            &audit.failed_batches,
        ),
    ] {
        let value = value.load(std::sync::atomic::Ordering::Relaxed);
        out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}\n"));
    }
    let micros = audit.commit_micros.load(std::sync::atomic::Ordering::Relaxed);
    out.push_str(&format!(
        "# HELP cipherdrop_audit_commit_seconds Time in audit group commits (store latency).\n\
         # TYPE cipherdrop_audit_commit_seconds summary\n\
         cipherdrop_audit_commit_seconds_sum {}\ncipherdrop_audit_commit_seconds_count {}\n",
        micros as f64 / 1e6,
        audit.batches.load(std::sync::atomic::Ordering::Relaxed)
            + audit.failed_batches.load(std::sync::atomic::Ordering::Relaxed),
    ));
    if let Some(lag) = lag {
        out.push_str(&format!(
            "# HELP cipherdrop_audit_digest_lag_records Records no signed digest covers yet.\n\
             # TYPE cipherdrop_audit_digest_lag_records gauge\n\
             cipherdrop_audit_digest_lag_records {lag}\n"
        ));
    }
    let ops = audit.operations.lock().map(|m| m.clone()).unwrap_or_default();
    out.push_str(
        "# HELP cipherdrop_operations_total Audited operations by action, key and result \
         (Allowed, Denied, Error; Alarm: use of a key pending deletion).\n\
         # TYPE cipherdrop_operations_total counter\n",
    );
    for ((action, key, result), n) in &ops {
        out.push_str(&format!(
            "cipherdrop_operations_total{{action=\"{action}\",key=\"{key}\",result=\"{result}\"}} {n}\n"
        ));
    }
    let alarms: u64 = ops.iter().filter(|((_, _, r), _)| r == "Alarm").map(|(_, n)| n).sum();
    let denials: u64 = ops.iter().filter(|((_, _, r), _)| r == "Denied").map(|(_, n)| n).sum();
    out.push_str(&format!(
        "# HELP cipherdrop_alarms_total Uses of keys pending deletion.\n\
         # TYPE cipherdrop_alarms_total counter\ncipherdrop_alarms_total {alarms}\n\
         # HELP cipherdrop_denials_total Requests refused for who or how often.\n\
         # TYPE cipherdrop_denials_total counter\ncipherdrop_denials_total {denials}\n"
    ));
    out.push_str(
        "# HELP cipherdrop_http_requests_total HTTP requests by method, route and status.\n\
         # TYPE cipherdrop_http_requests_total counter\n",
    );
    let counts = state.requests.lock().map(|m| m.clone()).unwrap_or_default();
    for ((method, route, status), n) in counts {
        out.push_str(&format!(
            "cipherdrop_http_requests_total{{method=\"{method}\",route=\"{route}\",status=\"{status}\"}} {n}\n"
        ));
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], out)
}

/// `/metrics` on the API's listener: the admin's token only (the series name routes and
/// outcomes that other principals need not see), audited like any read.
pub(crate) async fn metrics(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<impl IntoResponse, DomainError> {
    let lag = state.keys.digest_lag().await.ok();
    let outcome = require_admin(&caller).map(|()| exposition(&state, lag));
    state.keys.audit_log().outcome(&caller, "GetMetrics", None, None, outcome).await
}

/// `/metrics` on `--metrics-listen`, a listener for the operator's network only.
pub(crate) async fn open_metrics(State(state): State<AppState>) -> impl IntoResponse {
    let lag = state.keys.digest_lag().await.ok();
    exposition(&state, lag)
}

/// Counts requests by matched route (not raw path: key IDs would explode the label set).
pub(crate) async fn count_requests(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    // Bounded labels: a client choosing its method or path must not grow the series set.
    let method = match request.method().as_str() {
        m @ ("GET" | "POST" | "PUT" | "DELETE" | "HEAD" | "OPTIONS" | "PATCH") => m.to_string(),
        _ => "other".to_string(),
    };
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |p| p.as_str().to_string());
    let response = next.run(request).await;
    if let Ok(mut counts) = state.requests.lock() {
        *counts.entry((method, route, response.status().as_u16())).or_default() += 1;
    }
    response
}

/// Gives every request an `x-request-id` (a random one unless the client sent one) and
/// echoes it in the response.
pub(crate) async fn request_id(mut request: Request, next: Next) -> Response {
    let id = match request.headers().get(REQUEST_ID) {
        Some(v) if v.len() <= 64 => v.clone(),
        _ => {
            let bytes: [u8; 12] = crate::domain::secrets::random().unwrap_or_default();
            let hex = crate::domain::secrets::hex(&bytes);
            HeaderValue::from_str(&hex).unwrap_or(HeaderValue::from_static("-"))
        }
    };
    request.headers_mut().insert(REQUEST_ID, id.clone());
    let span = tracing::info_span!("request", method = %request.method(), path = %request.uri().path(), request_id = ?id);
    let mut response = next.run(request).instrument(span.clone()).await;
    tracing::info!(parent: &span, status = response.status().as_u16(), "response");
    response.headers_mut().insert(REQUEST_ID, id);
    response
}
