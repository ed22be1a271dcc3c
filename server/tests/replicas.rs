//! Several key-server processes on one database, and the failures around them: replicas that
//! act as one service on one audit chain, a replica with the wrong root key, kill -9 in the
//! middle of a burst, a PostgreSQL restart under load, and an audit log that cannot be
//! written. Real `cipherdrop serve` processes and real PostgreSQL clusters: every test starts
//! its own cluster in a temporary directory whatever `CIPHERDROP_TEST_BACKEND` says, except
//! the kill -9 test, which runs on the suite's backend (SQLite or PostgreSQL).
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use cipherdrop::{Header, Limits};
use cipherdrop_server::client::EphemeralKey;
use cipherdrop_server::domain::audit::{self, ChainedRecord, GENESIS};
use common::services::Postgres;
use common::{Server, serve_expecting_exit, success};
use serde_json::{Value, json};

/// No per-principal rate limit in the way of the load these tests make.
const NO_RATE_LIMIT: [&str; 2] = ["--rate-limit", "100000"];

/// An HTTP answer: status and body.
#[derive(Clone, Debug)]
struct Reply {
    status: u16,
    body: String,
    /// For an unwrap that succeeded: the data key, opened from the JWE answer (base64).
    data_key: Option<String>,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }

    /// The error document's code (empty if there is none).
    fn code(&self) -> String {
        self.json()["error"].as_str().unwrap_or_default().to_string()
    }
}

/// A raw HTTP client that sends an `x-request-id` of the caller's choosing (the kit's
/// [`cipherdrop_server::client::Client`] lets the server pick one).
#[derive(Clone)]
struct Http {
    agent: ureq::Agent,
    auth: String,
}

impl Http {
    fn new(token: &str) -> Self {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(Duration::from_secs(5)))
            .timeout_global(Some(Duration::from_secs(60)))
            .build()
            .into();
        Self { agent, auth: format!("Bearer {token}") }
    }

    /// `method addr+path` with a JSON `body` and request ID `rid`; `Err` when no HTTP answer
    /// came back (connection refused or reset, timeout).
    fn send(
        &self,
        addr: &str,
        method: &str,
        path: &str,
        body: Option<&Value>,
        rid: &str,
    ) -> Result<Reply, String> {
        let url = format!("{addr}{path}");
        let response = match (method, body) {
            ("GET", None) => self
                .agent
                .get(&url)
                .header("authorization", &self.auth)
                .header("x-request-id", rid)
                .call(),
            ("POST", None) => self
                .agent
                .post(&url)
                .header("authorization", &self.auth)
                .header("x-request-id", rid)
                .send_empty(),
            ("POST", Some(body)) => self
                .agent
                .post(&url)
                .header("authorization", &self.auth)
                .header("x-request-id", rid)
                .send_json(body),
            ("PUT", Some(body)) => self
                .agent
                .put(&url)
                .header("authorization", &self.auth)
                .header("x-request-id", rid)
                .send_json(body),
            other => panic!("unsupported request {other:?}"),
        };
        let mut response = response.map_err(|e| e.to_string())?;
        let status = response.status().as_u16();
        let body = response.body_mut().read_to_string().map_err(|e| e.to_string())?;
        Ok(Reply { status, body, data_key: None })
    }

    /// `POST /v0/unwrap` of the header's first EDK, answered to a fresh ephemeral key.
    fn unwrap(&self, addr: &str, header: &[u8], rid: &str) -> Result<Reply, String> {
        let ours = EphemeralKey::new().unwrap();
        let body =
            json!({ "header": STANDARD.encode(header), "edkIndex": 0, "recipient": ours.jwk() });
        let mut reply = self.send(addr, "POST", "/v0/unwrap", Some(&body), rid)?;
        if reply.status == 200 {
            let answer = reply.json();
            let kid = format!("{}/v{}", answer["keyId"].as_str().unwrap(), answer["keyVersion"]);
            let jwe = answer["wrappedDataKey"].as_str().unwrap();
            reply.data_key = Some(STANDARD.encode(ours.open(jwe, &kid).unwrap()));
        }
        Ok(reply)
    }

    /// `POST /v0/keys` (RSA_2048, quick to generate).
    fn create_key(&self, addr: &str, rid: &str) -> Result<Reply, String> {
        self.send(addr, "POST", "/v0/keys", Some(&json!({ "keySpec": "RSA_2048" })), rid)
    }

    /// `POST /v0/keys/KEY/ACTION` without a body.
    fn key_action(&self, addr: &str, key: &str, action: &str, rid: &str) -> Result<Reply, String> {
        self.send(addr, "POST", &format!("/v0/keys/{key}/{action}"), None, rid)
    }
}

/// A file holding a fresh random root key (32 raw bytes).
fn root_key_file(path: &Path) -> PathBuf {
    let mut key = [0u8; 32];
    std::fs::File::open("/dev/urandom").unwrap().read_exact(&mut key).unwrap();
    std::fs::write(path, key).unwrap();
    path.to_path_buf()
}

/// Encrypts `pt` to `ct` through `server` for `key`; returns the message header's bytes and
/// its (only) EDK's key name.
fn encrypt(server: &Server, token: &str, key: &str, pt: &Path, ct: &Path) -> (Vec<u8>, String) {
    let (pt_arg, ct_arg) = (pt.to_str().unwrap(), ct.to_str().unwrap());
    let args = ["encrypt", "-i", pt_arg, "-o", ct_arg, "--server-key", key];
    success(&server.cli(Some(token), &args));
    let bytes = std::fs::read(ct).unwrap();
    let (header, _) = Header::parse(&bytes, &Limits::default()).unwrap();
    let edks = header.encrypted_data_keys();
    assert_eq!(edks.len(), 1);
    let name = String::from_utf8(edks[0].provider_info.clone()).unwrap();
    (header.as_bytes().to_vec(), name)
}

/// Decrypts `ct` through `server` (whichever key its EDK names); returns the plaintext.
fn decrypt(server: &Server, token: &str, ct: &Path) -> Vec<u8> {
    success(
        &server.cli(Some(token), &["decrypt", "-i", ct.to_str().unwrap(), "--server-key", "any"]),
    )
}

/// `cipherdrop audit verify` through `server`: it must pass.
fn audit_verify(server: &Server, token: &str) {
    let out = String::from_utf8(success(&server.cli(Some(token), &["audit", "verify"]))).unwrap();
    assert!(out.starts_with("audit chain OK: "), "{out}");
}

/// Checks that `records` are one chain from its start: seq 1, 2, … N without gap or
/// duplicate, each `prevHash` the hash before it, every hash right.
fn check_chain(records: &[ChainedRecord]) {
    let mut prev = GENESIS.to_string();
    for (i, r) in records.iter().enumerate() {
        assert_eq!(r.record.seq, i as i64 + 1, "position {i}: seq out of order or duplicated");
        assert_eq!(r.prev_hash, prev, "seq {}: prevHash is not the hash before it", r.record.seq);
        prev = r.hash.clone();
    }
    assert_eq!(audit::verify(records), Ok(records.len()));
}

/// The records of each request ID (`-`, the server's own records, left out).
fn by_request_id(records: &[ChainedRecord]) -> HashMap<&str, Vec<&ChainedRecord>> {
    let mut map: HashMap<&str, Vec<&ChainedRecord>> = HashMap::new();
    for r in records.iter().filter(|r| r.record.request_id != "-") {
        map.entry(r.record.request_id.as_str()).or_default().push(r);
    }
    map
}

/// The server log next to a data directory (`DIR.log`), for failure messages.
fn log_of(dir: &Path) -> String {
    std::fs::read_to_string(dir.with_extension("log")).unwrap_or_default()
}

/// Two replicas on one PostgreSQL database are one service: a key made on one is used on the
/// other, a state change, rotation or policy change on one is in force on the other at the
/// very next request, tokens and the admin token are shared, and concurrent requests through
/// both append to one audit chain (contiguous seq, linked, every request ID exactly once)
/// that `audit verify` accepts through either replica.
#[test]
fn replicas_are_one_service() {
    let started = Instant::now();
    let tmp = tempfile::tempdir().unwrap();
    let pg = Postgres::start(&tmp.path().join("pg"));
    let url = pg.create_database("cipherdrop");
    let root = root_key_file(&tmp.path().join("root-key"));
    let a = Server::start_replica(&tmp.path().join("a"), &url, &root, &NO_RATE_LIMIT);
    let b = Server::start_replica(&tmp.path().join("b"), &url, &root, &NO_RATE_LIMIT);
    assert!(!a.admin.is_empty(), "the first start on an empty database writes the admin token");
    assert!(
        b.admin.is_empty() && !tmp.path().join("b/admin-token").exists(),
        "a second replica must not issue another admin token"
    );
    let admin = a.admin.clone();
    let (ca, cb) = (a.client(Some(&admin)), b.client(Some(&admin)));

    // A key made on A is B's key too.
    let key = ca.create_key(Some("RSA_2048"), None, &[], None).unwrap()["keyId"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(cb.describe_key(&key).unwrap()["keyState"], "Enabled");
    let public_b = cb.public_key(&key).unwrap();
    assert_eq!(public_b["keyName"], format!("{key}/v1"));
    assert_eq!(public_b["publicKey"], ca.public_key(&key).unwrap()["publicKey"]);

    // Encrypt through B, decrypt through A; unwrap on both gives the same data key.
    let plain = b"one service, two processes".to_vec();
    let pt = tmp.path().join("pt");
    std::fs::write(&pt, &plain).unwrap();
    let v1 = tmp.path().join("v1.ct");
    let (h1, name1) = encrypt(&b, &admin, &key, &pt, &v1);
    assert_eq!(name1, format!("{key}/v1"));
    assert_eq!(decrypt(&a, &admin, &v1), plain);
    let on_b = cb.unwrap(&h1, 0).unwrap();
    assert_eq!((on_b.key_id.as_str(), on_b.key_version), (key.as_str(), 1));
    let on_a = ca.unwrap(&h1, 0).unwrap();
    assert_eq!(on_a.data_key.dangerous_as_bytes(), on_b.data_key.dangerous_as_bytes());

    // Disabled on B: the very next unwrap on A is refused. Enabled on A: B unwraps again.
    assert_eq!(cb.key_action(&key, "disable").unwrap()["keyState"], "Disabled");
    let err = ca.unwrap(&h1, 0).unwrap_err();
    assert_eq!((err.status(), err.code()), (Some(403), Some("KeyDisabled")), "{err}");
    assert_eq!(ca.describe_key(&key).unwrap()["keyState"], "Disabled");
    let err = cb.unwrap(&h1, 0).unwrap_err();
    assert_eq!((err.status(), err.code()), (Some(403), Some("KeyDisabled")), "{err}");
    assert_eq!(ca.key_action(&key, "enable").unwrap()["keyState"], "Enabled");
    assert_eq!(cb.unwrap(&h1, 0).unwrap().key_version, 1);
    assert_eq!(cb.describe_key(&key).unwrap()["keyState"], "Enabled");

    // Rotated on A: B wraps to version 2 at once, and opens messages of both versions.
    assert_eq!(ca.key_action(&key, "rotate").unwrap()["currentVersion"], 2);
    assert_eq!(cb.describe_key(&key).unwrap()["currentVersion"], 2);
    assert_eq!(cb.public_key(&key).unwrap()["keyName"], format!("{key}/v2"));
    assert_eq!(decrypt(&b, &admin, &v1), plain, "a message of before the rotation, through B");
    let v2 = tmp.path().join("v2.ct");
    let (h2, name2) = encrypt(&b, &admin, &key, &pt, &v2);
    assert_eq!(name2, format!("{key}/v2"));
    assert_eq!(decrypt(&b, &admin, &v2), plain);
    assert_eq!(decrypt(&a, &admin, &v2), plain);
    assert_eq!(ca.unwrap(&h2, 0).unwrap().key_version, 2);
    assert_eq!(cb.unwrap(&h1, 0).unwrap().key_version, 1);

    // A token made on A works on B; a policy put on one is in force on the other at once.
    let carol = a.token("carol");
    let (carol_a, carol_b) = (a.client(Some(&carol)), b.client(Some(&carol)));
    for (name, c) in [("A", &carol_a), ("B", &carol_b)] {
        let err = c.unwrap(&h1, 0).unwrap_err();
        assert_eq!((err.status(), err.code()), (Some(403), Some("AccessDenied")), "{name}: {err}");
    }
    let admin_only =
        json!({ "Statement": [{ "Effect": "Allow", "Principal": "admin", "Action": "*" }] });
    let with_carol = json!({ "Statement": [
        { "Effect": "Allow", "Principal": "admin", "Action": "*" },
        { "Effect": "Allow", "Principal": "carol", "Action": "Unwrap" },
    ]});
    ca.put_policy(&key, with_carol.clone()).unwrap();
    assert_eq!(cb.get_policy(&key).unwrap()["policy"]["Statement"][1]["Principal"], "carol");
    let unwrapped = carol_b.unwrap(&h1, 0).unwrap_or_else(|e| panic!("policy put on A, B: {e}"));
    assert_eq!(unwrapped.key_id, key);
    assert_eq!(carol_a.unwrap(&h2, 0).unwrap().key_version, 2);
    cb.put_policy(&key, admin_only).unwrap();
    for (name, c) in [("A", &carol_a), ("B", &carol_b)] {
        let err = c.unwrap(&h1, 0).unwrap_err();
        assert_eq!(
            (err.status(), err.code()),
            (Some(403), Some("AccessDenied")),
            "policy put on B, carol through {name}: {err}"
        );
    }

    // Concurrent unwraps through both replicas, each with its own request ID.
    let http = Http::new(&admin);
    let addrs = [a.addr.clone(), b.addr.clone()];
    let workers: Vec<_> = (0..4)
        .map(|t| {
            let (http, addrs, header, key) = (http.clone(), addrs.clone(), h1.clone(), key.clone());
            std::thread::spawn(move || {
                let mut rids = Vec::new();
                for i in 0..25 {
                    let rid = format!("replicas-{t}-{i}");
                    let addr = &addrs[(t + i) % 2];
                    let reply = http.unwrap(addr, &header, &rid).unwrap_or_else(|e| {
                        panic!("{rid} to {addr}: no answer: {e}");
                    });
                    assert_eq!(reply.status, 200, "{rid} to {addr}: {}", reply.body);
                    assert_eq!(reply.json()["keyId"], key.as_str(), "{rid}");
                    rids.push(rid);
                }
                rids
            })
        })
        .collect();
    let rids: Vec<String> = workers.into_iter().flat_map(|w| w.join().unwrap()).collect();
    assert_eq!(rids.len(), 100);

    audit_verify(&a, &admin);
    audit_verify(&b, &admin);
    let records = ca.audit_all().unwrap();
    check_chain(&records);
    // Read through B, the same chain (plus the records of the reads since).
    let via_b = cb.audit_all().unwrap();
    check_chain(&via_b);
    assert!(via_b.len() > records.len());
    assert!(via_b[..records.len()] == records[..], "B reads another chain than A");
    let ids = by_request_id(&via_b);
    for rid in &rids {
        let found = ids.get(rid.as_str()).map_or(&[][..], Vec::as_slice);
        assert_eq!(found.len(), 1, "request {rid}: {} audit records", found.len());
        let r = &found[0].record;
        assert_eq!(
            (r.action.as_str(), r.result.as_str(), r.key_id.as_deref()),
            ("Unwrap", "Allowed", Some(key.as_str())),
            "{rid}"
        );
    }
    eprintln!("replicas_are_one_service: {} records, {:?}", via_b.len(), started.elapsed());
}

/// A replica started with another root key than the database's refuses to start: it exits
/// non-zero naming the root key, issues no admin token, and changes nothing the first replica
/// sees; with the right root key the same replica starts and serves the database's keys.
#[test]
fn root_key_mismatch_is_refused() {
    let started = Instant::now();
    let tmp = tempfile::tempdir().unwrap();
    let pg = Postgres::start(&tmp.path().join("pg"));
    let url = pg.create_database("cipherdrop");
    let root = root_key_file(&tmp.path().join("root-key"));
    let other = root_key_file(&tmp.path().join("other-root-key"));
    let a = Server::start_replica(&tmp.path().join("a"), &url, &root, &[]);
    let key = a.create_key();
    let records = a.admin().audit_all().unwrap();

    let b_dir = tmp.path().join("b");
    let args = ["--database-url", url.as_str(), "--root-key-file", other.to_str().unwrap()];
    let (status, log) = serve_expecting_exit(&b_dir, &args, Duration::from_secs(20));
    let status =
        status.unwrap_or_else(|| panic!("a replica with another root key kept running:\n{log}"));
    assert!(!status.success(), "a replica with another root key exited with {status}:\n{log}");
    assert!(log.to_lowercase().contains("root key"), "the refusal must name the root key:\n{log}");
    assert!(!b_dir.join("admin-token").exists(), "the refused replica wrote an admin token");

    // A is untouched: same key, the chain grew only by A's own reads, and verifies.
    assert_eq!(a.admin().describe_key(&key).unwrap()["keyState"], "Enabled");
    let after = a.admin().audit_all().unwrap();
    check_chain(&after);
    assert!(after[..records.len()] == records[..]);
    assert!(
        after[records.len()..].iter().all(|r| r.record.principal == "admin"),
        "the refused replica wrote audit records: {:?}",
        &after[records.len()..]
    );
    audit_verify(&a, &a.admin);

    // With the database's root key, the same replica starts and opens A's key.
    let b = Server::start_replica(&b_dir, &url, &root, &[]);
    let pt = tmp.path().join("pt");
    std::fs::write(&pt, b"same root key").unwrap();
    let ct = tmp.path().join("ct");
    encrypt(&a, &a.admin, &key, &pt, &ct);
    assert_eq!(decrypt(&b, &a.admin, &ct), b"same root key");
    eprintln!("root_key_mismatch_is_refused: {:?}, {status}: {}", started.elapsed(), log.trim());
}

/// One request of the burst that got an HTTP answer.
#[derive(Clone, Debug)]
struct Answered {
    rid: String,
    /// The audit action it must have left.
    action: &'static str,
    status: u16,
    code: String,
    /// The key a CreateKey made.
    key: Option<String>,
}

/// kill -9 of a server in the middle of a burst of key creations, disables/enables and
/// unwraps (the suite's backend: SQLite, or PostgreSQL with CIPHERDROP_TEST_BACKEND=postgres):
/// after a restart on the same data, every request that was answered has exactly one audit
/// record (by request ID, with the answered outcome), every acknowledged key exists, every key
/// that exists has its CreateKey record, the toggled key's state is the one its last recorded
/// change set, and `audit verify` passes.
#[test]
fn kill_9_during_a_burst_loses_nothing_acknowledged() {
    let started = Instant::now();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let mut server = Server::start_with(&dir, &NO_RATE_LIMIT);
    let admin = server.admin.clone();
    let toggled = server.create_key();
    let pt = tmp.path().join("pt");
    std::fs::write(&pt, b"burst").unwrap();
    let (header, _) = encrypt(&server, &admin, &toggled, &pt, &tmp.path().join("ct"));

    let answered = Arc::new(Mutex::new(Vec::<Answered>::new()));
    let http = Http::new(&admin);
    let addr = server.addr.clone();
    fn record(answered: &Mutex<Vec<Answered>>, rid: String, action: &'static str, reply: &Reply) {
        let key = match action {
            "CreateKey" => reply.json()["keyId"].as_str().map(String::from),
            _ => None,
        };
        let (status, code) = (reply.status, reply.code());
        answered.lock().unwrap().push(Answered { rid, action, status, code, key });
    }
    let mut workers = Vec::new();
    for t in 0..2 {
        let (http, addr, answered) = (http.clone(), addr.clone(), Arc::clone(&answered));
        workers.push(std::thread::spawn(move || {
            for i in 0.. {
                let rid = format!("create-{t}-{i}");
                let Ok(reply) = http.create_key(&addr, &rid) else { return };
                record(&answered, rid, "CreateKey", &reply);
            }
        }));
    }
    {
        let (http, addr, answered, key) =
            (http.clone(), addr.clone(), Arc::clone(&answered), toggled.clone());
        workers.push(std::thread::spawn(move || {
            for i in 0.. {
                let (action, verb) =
                    if i % 2 == 0 { ("DisableKey", "disable") } else { ("EnableKey", "enable") };
                let rid = format!("toggle-{i}");
                let Ok(reply) = http.key_action(&addr, &key, verb, &rid) else { return };
                record(&answered, rid, action, &reply);
            }
        }));
    }
    for t in 0..2 {
        let (http, addr, answered, header) =
            (http.clone(), addr.clone(), Arc::clone(&answered), header.clone());
        workers.push(std::thread::spawn(move || {
            for i in 0.. {
                let rid = format!("unwrap-{t}-{i}");
                let Ok(reply) = http.unwrap(&addr, &header, &rid) else { return };
                record(&answered, rid, "Unwrap", &reply);
            }
        }));
    }
    let count =
        |action: &str| answered.lock().unwrap().iter().filter(|a| a.action == action).count();
    let deadline = Instant::now() + Duration::from_secs(20);
    while count("CreateKey") < 4 || count("DisableKey") < 5 || count("Unwrap") < 20 {
        assert!(
            Instant::now() < deadline,
            "the burst is too slow: {} creates, {} disables, {} unwraps answered",
            count("CreateKey"),
            count("DisableKey"),
            count("Unwrap")
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    server.kill9();
    for w in workers {
        w.join().unwrap();
    }
    let answered = answered.lock().unwrap().clone();
    let log = log_of(&dir);
    for a in &answered {
        let fine = match a.action {
            "Unwrap" => a.status == 200 || (a.status == 403 && a.code == "KeyDisabled"),
            _ => a.status == 200,
        };
        assert!(fine, "{a:?} during the burst (before the kill)\nserver log:\n{log}");
    }

    let server = Server::start_with(&dir, &NO_RATE_LIMIT);
    let client = server.admin();
    let records = client.audit_all().unwrap();
    check_chain(&records);
    let ids = by_request_id(&records);
    for (rid, found) in &ids {
        assert_eq!(found.len(), 1, "request {rid} has {} audit records", found.len());
    }
    for a in &answered {
        let Some(found) = ids.get(a.rid.as_str()) else {
            panic!("{a:?} was answered, but its audit record is gone after kill -9");
        };
        let r = &found[0].record;
        let result = if a.status == 200 { "Allowed" } else { "Denied" };
        assert_eq!((r.action.as_str(), r.result.as_str()), (a.action, result), "{a:?}");
    }
    let listed: Vec<String> = client.list_keys().unwrap()["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["keyId"].as_str().unwrap().to_string())
        .collect();
    let created: Vec<&str> = answered.iter().filter_map(|a| a.key.as_deref()).collect();
    for key in &created {
        assert!(listed.iter().any(|k| k == key), "acknowledged key {key} is gone after kill -9");
        assert!(client.public_key(key).is_ok(), "acknowledged key {key} has no usable version");
    }
    for key in &listed {
        assert!(
            records.iter().any(|r| r.record.action == "CreateKey"
                && r.record.result == "Allowed"
                && r.record.key_id.as_deref() == Some(key.as_str())),
            "key {key} exists without its CreateKey audit record"
        );
    }
    let last_change = records
        .iter()
        .rev()
        .find(|r| {
            r.record.key_id.as_deref() == Some(toggled.as_str())
                && r.record.result == "Allowed"
                && matches!(r.record.action.as_str(), "DisableKey" | "EnableKey")
        })
        .unwrap();
    let expected = if last_change.record.action == "DisableKey" { "Disabled" } else { "Enabled" };
    assert_eq!(
        client.describe_key(&toggled).unwrap()["keyState"],
        expected,
        "the key's state is not the one its last audited change set (seq {})",
        last_change.record.seq
    );
    audit_verify(&server, &server.admin);
    eprintln!(
        "kill_9_during_a_burst_loses_nothing_acknowledged ({}): {} answered ({} keys), {} \
         records, {:?}",
        common::backend(),
        answered.len(),
        created.len(),
        records.len(),
        started.elapsed()
    );
}

/// One unwrap of the load: when it was sent, when its answer came, its request ID and answer.
type Sample = (Instant, Instant, String, Result<Reply, String>);

/// PostgreSQL stops and starts again under a steady load of unwraps: every answer is 200 or
/// a 503 error document (`ServiceUnavailable` or `AuditUnavailable`, no data key) — never a
/// 500, a dropped connection or a crash — 503s do come while PostgreSQL is down, unwraps
/// succeed again within 10 s of its return and keep succeeding, every 200 was audited exactly
/// once (none answered 200 while PostgreSQL was down), and the chain verifies. The outage (4 s) outlasts the pool's 3 s acquire timeout, so
/// requests are refused, not only delayed.
#[test]
fn postgres_restart_under_load_gives_503_and_recovers() {
    let started = Instant::now();
    let tmp = tempfile::tempdir().unwrap();
    let pg = Postgres::start(&tmp.path().join("pg"));
    let url = pg.create_database("cipherdrop");
    let dir = tmp.path().join("data");
    let mut server =
        Server::start_with(&dir, &["--database-url", url.as_str(), "--rate-limit", "100000"]);
    let admin = server.admin.clone();
    let key = server.create_key();
    let pt = tmp.path().join("pt");
    std::fs::write(&pt, b"through a restart").unwrap();
    let (header, _) = encrypt(&server, &admin, &key, &pt, &tmp.path().join("ct"));

    let http = Http::new(&admin);
    let stop = Arc::new(AtomicBool::new(false));
    let samples = Arc::new(Mutex::new(Vec::<Sample>::new()));
    let workers: Vec<_> = (0..3)
        .map(|t| {
            let (http, addr, header) = (http.clone(), server.addr.clone(), header.clone());
            let (stop, samples) = (Arc::clone(&stop), Arc::clone(&samples));
            std::thread::spawn(move || {
                let mut i = 0;
                while !stop.load(Ordering::Relaxed) {
                    let rid = format!("load-{t}-{i}");
                    let at = Instant::now();
                    let reply = http.unwrap(&addr, &header, &rid);
                    if reply.is_err() {
                        // Not a reason to spin: the test fails on it below.
                        std::thread::sleep(Duration::from_millis(50));
                    }
                    samples.lock().unwrap().push((at, Instant::now(), rid, reply));
                    i += 1;
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs(1));
    let down = Instant::now();
    pg.stop();
    let stopped = Instant::now();
    std::thread::sleep(Duration::from_secs(4));
    let restarting = Instant::now();
    pg.start_again();
    let up = Instant::now();

    // Back within 10 s, and then every unwrap succeeds.
    let mut recovered = None;
    let mut last = None;
    for n in 0.. {
        let reply = http.unwrap(&server.addr, &header, &format!("recover-{n}"));
        if matches!(&reply, Ok(r) if r.status == 200) {
            recovered = Some(Instant::now());
            break;
        }
        last = Some(reply);
        if up.elapsed() > Duration::from_secs(10) {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let Some(recovered) = recovered else {
        panic!(
            "no unwrap succeeded within 10 s of PostgreSQL's return; last: {last:?}\nlog:\n{}",
            log_of(&dir)
        );
    };
    for n in 0..20 {
        let rid = format!("after-{n}");
        let reply = http.unwrap(&server.addr, &header, &rid).unwrap();
        assert_eq!(reply.status, 200, "{rid} after recovery: {}", reply.body);
    }
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.join().unwrap();
    }
    assert!(server.is_running(), "the server exited:\n{}", log_of(&dir));

    let samples = samples.lock().unwrap().clone();
    let log = log_of(&dir);
    let (mut ok, mut refused) = (0, 0);
    for (sent, answered, rid, reply) in &samples {
        let reply = match reply {
            Ok(r) => r,
            Err(e) => panic!("{rid}: no HTTP answer (the server dropped it?): {e}\nlog:\n{log}"),
        };
        match reply.status {
            200 => {
                assert_eq!(reply.json()["keyId"], key.as_str(), "{rid}");
                // No database, so no audit record: a 200 then would be an unaudited unwrap.
                assert!(
                    *answered <= stopped || *answered >= restarting,
                    "{rid}: 200 while PostgreSQL was down: {}",
                    reply.body
                );
                ok += 1;
            }
            503 => {
                let code = reply.code();
                assert!(
                    code == "ServiceUnavailable" || code == "AuditUnavailable",
                    "{rid}: 503 with code {code:?}: {}",
                    reply.body
                );
                assert!(reply.json().get("dataKey").is_none(), "{rid}: {}", reply.body);
                assert!(*answered >= down, "{rid}: 503 before PostgreSQL stopped: {}", reply.body);
                assert!(*sent < recovered, "{rid}: 503 sent after the recovery: {}", reply.body);
                refused += 1;
            }
            other => panic!("{rid}: status {other}: {}\nlog:\n{log}", reply.body),
        }
    }
    assert!(refused > 0, "no 503 while PostgreSQL was down ({ok} answers 200)");
    assert!(ok > 0);

    audit_verify(&server, &admin);
    let records = server.admin().audit_all().unwrap();
    check_chain(&records);
    let ids = by_request_id(&records);
    for (rid, found) in &ids {
        assert_eq!(found.len(), 1, "request {rid} has {} audit records", found.len());
    }
    for (_, _, rid, reply) in &samples {
        if reply.as_ref().is_ok_and(|r| r.status == 200) {
            assert!(ids.contains_key(rid.as_str()), "{rid} answered 200 without an audit record");
        }
    }
    eprintln!(
        "postgres_restart_under_load_gives_503_and_recovers: {ok} ok, {refused} refused, back \
         {:?} after PostgreSQL, {:?}",
        recovered - up,
        started.elapsed()
    );
}

/// When the audit record cannot be written for another reason than an outage (INSERT on
/// `audit` revoked from the server's role), the server fails closed: unwrap answers 503
/// AuditUnavailable without a data key, key creation, disable and rotation answer 503 and
/// change nothing in the database, and no audit row is added. With the grant back everything
/// works again, the failed requests left no records, and the chain verifies.
#[test]
fn audit_write_failure_fails_closed() {
    let started = Instant::now();
    let tmp = tempfile::tempdir().unwrap();
    let pg = Postgres::start(&tmp.path().join("pg"));
    let superuser = pg.create_database("cipherdrop");
    let dir = tmp.path().join("data");
    // The first start, as the superuser, creates the schema and the admin token.
    let mut first = Server::start_with(&dir, &["--database-url", superuser.as_str()]);
    first.stop();
    pg.create_role("app");
    pg.grant_all("app", "cipherdrop");
    let app = pg.url_as("app", "cipherdrop");
    let server = Server::start_with(&dir, &["--database-url", app.as_str()]);
    assert_eq!(server.admin, first.admin, "one admin token per database");
    let admin = server.admin.clone();
    let addr = server.addr.clone();
    let key = server.create_key();
    let pt = tmp.path().join("pt");
    std::fs::write(&pt, b"fail closed").unwrap();
    let ct = tmp.path().join("ct");
    let (header, _) = encrypt(&server, &admin, &key, &pt, &ct);
    assert_eq!(decrypt(&server, &admin, &ct), b"fail closed");
    let http = Http::new(&admin);
    let reply = http.unwrap(&addr, &header, "granted-unwrap").unwrap();
    assert_eq!(reply.status, 200, "{}", reply.body);
    let data_key = reply.data_key.clone().unwrap();

    let sql = |q: &str| pg.psql("cipherdrop", q);
    let state = || {
        sql(&format!("SELECT state || ' v' || current_version FROM keys WHERE key_id = '{key}'"))
    };
    let counts = || {
        sql("SELECT (SELECT count(*) FROM keys) || ' keys, ' || \
             (SELECT count(*) FROM key_versions) || ' versions, ' || \
             (SELECT count(*) FROM audit) || ' records, head ' || (SELECT seq FROM audit_head)")
    };
    sql("REVOKE INSERT ON audit FROM app");
    let before = counts();
    let log = || log_of(&dir);

    let reply = http.unwrap(&addr, &header, "revoked-unwrap").unwrap();
    assert_eq!((reply.status, reply.code().as_str()), (503, "AuditUnavailable"), "{}", reply.body);
    assert!(reply.json().get("dataKey").is_none(), "{}", reply.body);
    assert!(!reply.body.contains(&data_key), "the data key left without a record: {}", reply.body);

    let reply = http.create_key(&addr, "revoked-create").unwrap();
    assert_eq!(
        (reply.status, reply.code().as_str()),
        (503, "AuditUnavailable"),
        "{}\nlog:\n{}",
        reply.body,
        log()
    );
    assert_eq!(counts(), before, "a key creation without its record changed the database");

    let reply = http.key_action(&addr, &key, "disable", "revoked-disable").unwrap();
    assert_eq!((reply.status, reply.code().as_str()), (503, "AuditUnavailable"), "{}", reply.body);
    assert_eq!(state(), "Enabled v1", "a disable without its record took effect");

    let reply = http.key_action(&addr, &key, "rotate", "revoked-rotate").unwrap();
    assert_eq!((reply.status, reply.code().as_str()), (503, "AuditUnavailable"), "{}", reply.body);
    assert_eq!(state(), "Enabled v1", "a rotation without its record took effect");
    assert_eq!(counts(), before, "failed requests changed the database");

    // The grant back: everything works again.
    sql("GRANT INSERT ON audit TO app");
    let reply = http.unwrap(&addr, &header, "regranted-unwrap").unwrap();
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.data_key.as_deref(), Some(data_key.as_str()));
    let reply = http.create_key(&addr, "regranted-create").unwrap();
    assert_eq!(reply.status, 200, "{}", reply.body);
    let new_key = reply.json()["keyId"].as_str().unwrap().to_string();
    let reply = http.key_action(&addr, &key, "disable", "regranted-disable").unwrap();
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(state(), "Disabled v1");
    let reply = http.key_action(&addr, &key, "enable", "regranted-enable").unwrap();
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(state(), "Enabled v1");
    assert_eq!(decrypt(&server, &admin, &ct), b"fail closed");

    audit_verify(&server, &admin);
    let records = server.admin().audit_all().unwrap();
    check_chain(&records);
    let ids = by_request_id(&records);
    for rid in ["revoked-unwrap", "revoked-create", "revoked-disable", "revoked-rotate"] {
        assert!(!ids.contains_key(rid), "failed request {rid} left a record: {:?}", ids[rid]);
    }
    for (rid, action) in [
        ("granted-unwrap", "Unwrap"),
        ("regranted-unwrap", "Unwrap"),
        ("regranted-create", "CreateKey"),
        ("regranted-disable", "DisableKey"),
        ("regranted-enable", "EnableKey"),
    ] {
        let found = ids.get(rid).map_or(&[][..], Vec::as_slice);
        assert_eq!(found.len(), 1, "{rid}: {} records", found.len());
        assert_eq!(
            (found[0].record.action.as_str(), found[0].record.result.as_str()),
            (action, "Allowed")
        );
    }
    assert_eq!(ids["regranted-create"][0].record.key_id.as_deref(), Some(new_key.as_str()));
    eprintln!("audit_write_failure_fails_closed: {:?}", started.elapsed());
}
