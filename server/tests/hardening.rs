//! End to end: the key server's smaller promises to operators, each tried as an attacker or a
//! careless operator would (issue "Key server trust", findings 8, 9, 10, 12 and 13).
#![allow(clippy::unwrap_used)]

mod common;

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{BIN, Server};

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// A raw request: (status, body).
fn request(method: &str, url: &str, token: Option<&str>, host: Option<&str>) -> (u16, String) {
    let agent = ureq::Agent::config_builder().http_status_as_error(false).build().new_agent();
    let method = ureq::http::Method::from_bytes(method.as_bytes()).unwrap();
    let mut req = ureq::http::Request::builder().method(method).uri(url);
    if let Some(t) = token {
        req = req.header("Authorization", format!("Bearer {t}"));
    }
    if let Some(h) = host {
        req = req.header("Host", h);
    }
    let mut resp = agent.run(req.body(()).unwrap()).unwrap();
    (resp.status().as_u16(), resp.body_mut().read_to_string().unwrap_or_default())
}

/// Finding 8: reserved names (`-` is how anonymous requests are recorded, `system` is the
/// server's own records) and names that differ from another only by case cannot get tokens;
/// principal names are lowercase and compared exactly.
#[test]
fn reserved_and_confusable_principals_get_no_token() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(&tmp.path().join("data"));
    for name in ["-", "system", "anonymous", "Admin", "ADMIN", "Alice", "...", "a b", ""] {
        let err = server.admin().create_token(name).unwrap_err();
        assert_eq!(err.status(), Some(400), "{name:?}: {err}");
    }
    for name in ["alice", "bob@example.com", "svc.backup-1"] {
        server.admin().create_token(name).unwrap();
    }
    let refused = server
        .admin()
        .audit_all()
        .unwrap()
        .into_iter()
        .filter(|r| r.record.action == "CreateToken" && r.record.result == "Error")
        .count();
    assert_eq!(refused, 9, "every refusal is audited");
}

/// Finding 9: the data directory is 0700 and the database with its WAL and shared-memory
/// files 0600, also when the directory existed with 0755 before the first start.
#[test]
fn data_dir_and_database_files_are_owner_only() {
    if common::backend() != "sqlite" {
        return; // the files checked are SQLite's
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    std::fs::create_dir(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let server = Server::start(&dir);
    server.create_key();
    assert_eq!(mode(&dir), 0o700, "data directory");
    for file in
        ["cipherdrop.db", "cipherdrop.db-wal", "cipherdrop.db-shm", "root-key", "admin-token"]
    {
        assert_eq!(mode(&dir.join(file)), 0o600, "{file}");
    }
}

/// Finding 10: `/metrics` labels are bounded (a client choosing methods cannot grow the
/// series set), `/metrics` on the API's port needs the admin token, and `--metrics-listen`
/// serves it apart without one.
#[test]
fn metrics_are_bounded_and_not_public() {
    let tmp = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let metrics_addr = format!("127.0.0.1:{port}");
    let server = Server::start_with(&tmp.path().join("data"), &["--metrics-listen", &metrics_addr]);
    let host = server.addr.trim_start_matches("http://").to_string();
    for i in 0..50 {
        // HTTP clients refuse such methods: a raw request, as an attacker sends it.
        use std::io::{Read, Write};
        let method = format!("X{i}{}", "Y".repeat(i * 60));
        let mut conn = std::net::TcpStream::connect(&host).unwrap();
        write!(conn, "{method} /v0/keys HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n")
            .unwrap();
        let _ = conn.read_to_end(&mut Vec::new());
    }
    let (status, _) = request("GET", &format!("{}/metrics", server.addr), None, None);
    assert_eq!(status, 401);
    let alice = server.token("alice");
    let (status, _) = request("GET", &format!("{}/metrics", server.addr), Some(&alice), None);
    assert_eq!(status, 403);
    let (status, text) =
        request("GET", &format!("{}/metrics", server.addr), Some(&server.admin), None);
    assert_eq!(status, 200);
    let series: Vec<&str> =
        text.lines().filter(|l| l.starts_with("cipherdrop_http_requests_total{")).collect();
    assert!(series.len() < 10, "{} series: {series:?}", series.len());
    assert!(text.lines().all(|l| l.len() < 200), "a label holds what a client chose");
    assert!(series.iter().any(|l| l.contains("method=\"other\"")), "{series:?}");
    let (status, open) = request("GET", &format!("http://{metrics_addr}/metrics"), None, None);
    assert_eq!(status, 200);
    assert!(open.contains("cipherdrop_audit_records_total"), "{open}");
}

/// Finding 13: `--cors-origins '*'` starts (tower-http used to panic at start) and allows
/// any origin.
#[test]
fn cors_any_origin_starts() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start_with(&tmp.path().join("data"), &["--cors-origins", "*"]);
    let agent = ureq::Agent::config_builder().http_status_as_error(false).build().new_agent();
    let req = ureq::http::Request::builder()
        .method("OPTIONS")
        .uri(format!("{}/v0/keys", server.addr))
        .header("Origin", "https://app.example")
        .header("Access-Control-Request-Method", "POST")
        .body(())
        .unwrap();
    let resp = agent.run(req).unwrap();
    assert_eq!(resp.headers().get("access-control-allow-origin").unwrap(), "*");
}

/// Finding 12: the demo signs its users in (`POST /demo/oidc/token`) and serves its page's
/// configuration only to requests addressed to its own listening address, so a page on
/// another name that resolves here (DNS rebinding) gets 403 and no token; the configuration
/// itself holds no token.
#[test]
fn demo_config_only_for_its_own_host() {
    let tmp = tempfile::tempdir().unwrap();
    let page = tmp.path().join("page");
    std::fs::create_dir(&page).unwrap();
    std::fs::write(page.join("index.html"), "<!doctype html>").unwrap();
    let data = tmp.path().join("demo-data");
    let mut child = Command::new(BIN)
        .args(["demo", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(&data)
        .arg("--static-dir")
        .arg(&page)
        .env_remove("CIPHERDROP_DATABASE_URL")
        .env_remove("CIPHERDROP_ARCHIVE_URL")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let addr = line.trim().strip_prefix("cipherdrop key server on ").unwrap().to_string();
    let deadline = Instant::now() + Duration::from_secs(30);
    let url = format!("{addr}/demo/config.json");
    let (status, body) = loop {
        let got = request("GET", &url, None, None);
        if got.0 == 200 || Instant::now() > deadline {
            break got;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(status, 200, "{body}");
    // `POST /` is the AWS KMS API; `GET /` is still the page (it answered 405 once).
    let (status, page) = request("GET", &format!("{addr}/"), None, None);
    assert_eq!((status, page.as_str()), (200, "<!doctype html>"));
    // No static token (`cdt_…`) and no JWT (`eyJ….eyJ…`; base64 PEM has no dots).
    assert!(!body.contains("cdt_") && !body.contains(".eyJ"), "no token in the config: {body}");
    let port = addr.rsplit(':').next().unwrap();
    let (status, _) = request("GET", &url, None, Some(&format!("localhost:{port}")));
    assert_eq!(status, 200);
    let sign_in = |host: &str| {
        let response = ureq::post(&format!("{addr}/demo/oidc/token"))
            .header("Host", host)
            .config()
            .http_status_as_error(false)
            .build()
            .send_json(serde_json::json!({ "user": "alice" }))
            .unwrap();
        let status = response.status().as_u16();
        (status, response.into_body().read_to_string().unwrap_or_default())
    };
    let (status, body) = sign_in(&format!("localhost:{port}"));
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"id_token\":\"eyJ"), "{body}");
    for host in ["evil.example", &format!("evil.example:{port}"), "127.0.0.1"] {
        let (status, body) = request("GET", &url, None, Some(host));
        assert_eq!(status, 403, "{host}: {body}");
        let (status, body) = sign_in(host);
        assert_eq!(status, 403, "{host}: {body}");
        assert!(!body.contains(".eyJ"), "{host}: a token was handed out");
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// Finding 11: a flood of requests with bad tokens from one address is limited (429s) and
/// costs a handful of audit records (refusals of an address share one record per window),
/// while a principal with a valid token from the same address is not locked out.
#[test]
fn bad_token_flood_is_limited_and_aggregated() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(&tmp.path().join("data"));
    let before = server.admin().audit_all().unwrap().len();
    let url = format!("{}/v0/keys", server.addr);
    let statuses: Vec<u16> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..4)
            .map(|_| {
                s.spawn(|| {
                    (0..250)
                        .map(|_| request("GET", &url, Some("cdt_bogus"), None).0)
                        .collect::<Vec<u16>>()
                })
            })
            .collect();
        let alice_ok = s.spawn(|| {
            let alice = server.token("alice");
            (0..20).all(|_| request("GET", &url, Some(&alice), None).0 == 200)
        });
        assert!(alice_ok.join().unwrap(), "a valid token was locked out by the flood");
        workers.into_iter().flat_map(|w| w.join().unwrap()).collect::<Vec<u16>>()
    });
    let limited = statuses.iter().filter(|s| **s == 429).count();
    assert!(statuses.iter().all(|s| *s == 401 || *s == 429), "{statuses:?}");
    assert!(limited >= 900, "only {limited} of 1000 bad-token requests got 429");
    let records = server.admin().audit_all().unwrap();
    let anonymous = records[before..].iter().filter(|r| r.record.principal == "-").count();
    assert!((1..=3).contains(&anonymous), "{anonymous} records for the flood");
}

/// The metrics operators need: audited operations by action, key and result (so denials
/// and unwraps per key), alarms (any use of a key pending deletion), the audit digest lag
/// and the store's commit latency.
#[test]
fn metrics_count_operations_denials_and_alarms() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(&tmp.path().join("data"));
    let key = server.create_key();
    let (pt, ct) = (tmp.path().join("pt"), tmp.path().join("ct"));
    std::fs::write(&pt, b"metrics").unwrap();
    let (pt, ct) = (pt.to_str().unwrap(), ct.to_str().unwrap());
    let admin = Some(server.admin.as_str());
    common::success(&server.cli(admin, &["encrypt", "-i", pt, "-o", ct, "--server-key", &key]));
    common::success(&server.cli(admin, &["decrypt", "-i", ct, "--server-key", "any"]));
    let bob = server.token("bob");
    assert!(server.client(Some(&bob)).describe_key(&key).is_err());
    server.admin_json(&["key", "schedule-deletion", &key]);
    assert!(!server.cli(admin, &["decrypt", "-i", ct, "--server-key", "any"]).status.success());
    let (status, text) =
        request("GET", &format!("{}/metrics", server.addr), Some(&server.admin), None);
    assert_eq!(status, 200);
    let has = |line: &str| text.lines().any(|l| l == line);
    let unwraps = format!(
        "cipherdrop_operations_total{{action=\"Unwrap\",key=\"{key}\",result=\"Allowed\"}} 1"
    );
    assert!(has(&unwraps), "{text}");
    let alarm = format!(
        "cipherdrop_operations_total{{action=\"Unwrap\",key=\"{key}\",result=\"Alarm\"}} 1"
    );
    assert!(has(&alarm), "{text}");
    assert!(has("cipherdrop_alarms_total 1"), "{text}");
    assert!(text.lines().any(|l| l.starts_with("cipherdrop_denials_total ") && !l.ends_with(" 0")));
    assert!(text.contains("cipherdrop_audit_digest_lag_records "), "{text}");
    assert!(text.contains("cipherdrop_audit_commit_seconds_count "), "{text}");
}
