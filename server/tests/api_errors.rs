//! End to end: every refusal answers in the one JSON error shape `{"error", "message"}`,
//! including those axum's extractors and router make (a path that is not UTF-8, a body that is
//! not JSON or too large, a route or method that does not exist), and a key may be named as
//! `alias/NAME` on every key route (issue 13, last finding).
#![allow(clippy::unwrap_used)]

mod common;

use common::Server;
use serde_json::Value;

/// An answer: status, `Allow` header, body.
struct Answer {
    status: u16,
    allow: Option<String>,
    body: String,
}

impl Answer {
    /// Asserts the status and the JSON error shape with `code`; returns the message.
    fn error(&self, status: u16, code: &str) -> String {
        assert_eq!(self.status, status, "{}", self.body);
        let body: Value = serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.body));
        assert_eq!(body["error"], code, "{body}");
        assert_eq!(body.as_object().unwrap().len(), 2, "only error and message: {body}");
        body["message"].as_str().unwrap().to_string()
    }

    fn json(&self) -> Value {
        assert_eq!(self.status, 200, "{}", self.body);
        serde_json::from_str(&self.body).unwrap()
    }
}

/// A raw request with the admin token; `json`: a body sent as `application/json`.
fn send(server: &Server, method: &str, path: &str, json: Option<&[u8]>) -> Answer {
    let agent = ureq::Agent::config_builder().http_status_as_error(false).build().new_agent();
    let mut req = ureq::http::Request::builder()
        .method(method)
        .uri(format!("{}{path}", server.addr))
        .header("Authorization", format!("Bearer {}", server.admin));
    if json.is_some() {
        req = req.header("Content-Type", "application/json");
    }
    let req = req.body(json.unwrap_or_default().to_vec()).unwrap();
    let mut resp = agent.run(req).unwrap();
    let allow = resp.headers().get("allow").map(|v| v.to_str().unwrap().to_string());
    let body = resp.body_mut().read_to_string().unwrap_or_default();
    Answer { status: resp.status().as_u16(), allow, body }
}

/// Whether the audit log's last record is a refusal of `action` with `code`.
fn last_refusal(server: &Server, action: &str, code: &str) -> bool {
    let records = server.admin().audit_all().unwrap();
    let last = &records.last().unwrap().record;
    last.action == action && last.result == "Error" && last.detail == code
}

/// Path segments that are not UTF-8 are a 400 in JSON (axum answered in plain text), and
/// recorded under the method and path the caller sent.
#[test]
fn path_that_is_not_utf8_is_json_and_audited() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(&tmp.path().join("data"));
    for (method, path) in [
        ("GET", "/v0/keys/%FF%FE"),
        ("GET", "/v0/keys/%FF%FE/policy"),
        ("DELETE", "/v0/tokens/%FF"),
    ] {
        let message = send(&server, method, path, None).error(400, "InvalidRequest");
        assert!(message.contains("UTF-8"), "{message}");
    }
    send(&server, "DELETE", "/v0/aliases/%FF", None).error(400, "InvalidRequest");
    assert!(last_refusal(&server, "DELETE /v0/aliases/%FF", "InvalidRequest"));
}

/// Bodies that are not JSON, not of the JSON media type, missing or of the wrong shape are
/// refused in JSON, each audited under the operation's name.
#[test]
fn bad_bodies_are_json_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(&tmp.path().join("data"));
    send(&server, "POST", "/v0/tokens", Some(b"{not json")).error(400, "InvalidRequest");
    assert!(last_refusal(&server, "CreateToken", "InvalidRequest"));
    let unknown = br#"{"principal": "alice", "admin": true}"#;
    send(&server, "POST", "/v0/tokens", Some(unknown)).error(400, "InvalidRequest");
    send(&server, "POST", "/v0/unwrap", Some(b"")).error(400, "InvalidRequest");
    // JSON Schema's integers, which openapi.json promises, include 3600.0; not 1.5.
    let whole = br#"{"principal": "carol", "ttlSeconds": 3600.0}"#;
    assert_eq!(send(&server, "POST", "/v0/tokens", Some(whole)).json()["principal"], "carol");
    let half = br#"{"principal": "carol", "ttlSeconds": 1.5}"#;
    send(&server, "POST", "/v0/tokens", Some(half)).error(400, "InvalidRequest");
    send(&server, "POST", "/v0/tokens", None).error(415, "UnsupportedMediaType");
    assert!(last_refusal(&server, "CreateToken", "UnsupportedMediaType"));
    send(&server, "GET", "/v0/audit?after=first", None).error(400, "InvalidRequest");
    assert!(last_refusal(&server, "ListAudit", "InvalidRequest"));
}

/// A body over `--body-limit` is 413 in JSON, and audited.
#[test]
fn oversized_body_is_413() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start_with(&tmp.path().join("data"), &["--body-limit", "1024"]);
    let body = format!(r#"{{"principal": "alice", "x": "{}"}}"#, "a".repeat(2000));
    let message =
        send(&server, "POST", "/v0/tokens", Some(body.as_bytes())).error(413, "PayloadTooLarge");
    assert!(message.contains("length limit"), "{message}");
    assert!(last_refusal(&server, "CreateToken", "PayloadTooLarge"));
}

/// Routes and methods that do not exist answer 404 and 405 (with `Allow`) in JSON.
#[test]
fn unknown_routes_and_methods_are_json() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(&tmp.path().join("data"));
    for path in ["/v0/nothing", "/nothing", "/v0/keys/a/b/c"] {
        send(&server, "GET", path, None).error(404, "NotFound");
    }
    let answer = send(&server, "PATCH", "/v0/keys", None);
    answer.error(405, "MethodNotAllowed");
    assert_eq!(answer.allow.as_deref(), Some("GET,HEAD,POST"));
    send(&server, "DELETE", "/v0/audit", None).error(405, "MethodNotAllowed");
}

/// `alias/NAME` names a key on every `/v0/keys/{keyId}` route, with its slash as is or as
/// `%2F`; a name that holds a slash itself goes in one segment.
#[test]
fn alias_names_a_key_on_every_key_route() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(&tmp.path().join("data"));
    let key = server.create_key();
    server.admin_json(&["alias", "create", "team", &key]);
    server.admin_json(&["alias", "create", "team/ops", &key]);
    for name in ["alias/team", "alias%2Fteam", "alias%2Fteam%2Fops"] {
        let at = |suffix: &str| format!("/v0/keys/{name}{suffix}");
        let id = |answer: Answer| answer.json()["keyId"].as_str().unwrap().to_string();
        assert_eq!(id(send(&server, "GET", &at(""), None)), key, "{name}");
        assert_eq!(id(send(&server, "GET", &at("/public-key"), None)), key, "{name}");
        assert_eq!(id(send(&server, "POST", &at("/disable"), None)), key, "{name}");
        assert_eq!(id(send(&server, "POST", &at("/enable"), None)), key, "{name}");
        assert_eq!(id(send(&server, "POST", &at("/rotate"), None)), key, "{name}");
        let days = Some(&br#"{"pendingWindowInDays": 7}"#[..]);
        assert_eq!(id(send(&server, "POST", &at("/schedule-deletion"), days)), key, "{name}");
        assert_eq!(id(send(&server, "POST", &at("/cancel-deletion"), None)), key, "{name}");
        assert_eq!(id(send(&server, "POST", &at("/enable"), None)), key, "{name}");
        let policy = send(&server, "GET", &at("/policy"), None).json();
        assert_eq!(policy["keyId"], key.as_str(), "{name}");
        let body = serde_json::to_vec(&serde_json::json!({ "policy": policy["policy"] })).unwrap();
        assert_eq!(id(send(&server, "PUT", &at("/policy"), Some(&body))), key, "{name}");
        // Not a real ciphertext: refused, but as a Decrypt with the key it names.
        let recipient = cipherdrop_server::client::EphemeralKey::new().unwrap().jwk();
        let blob = serde_json::json!({ "ciphertextBlob": "AAAA", "recipient": recipient });
        let blob = serde_json::to_vec(&blob).unwrap();
        send(&server, "POST", &at("/decrypt"), Some(&blob)).error(400, "InvalidCiphertext");
        let records = server.admin().audit_all().unwrap();
        let last = &records.last().unwrap().record;
        assert_eq!((last.action.as_str(), last.key_id.as_deref()), ("Decrypt", Some(&*key)));
    }
    send(&server, "GET", "/v0/keys/alias/missing", None).error(404, "NotFound");
}
