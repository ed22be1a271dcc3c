//! End to end: the archive store (`/v0/archive`) of the real `cipherdrop serve`, on moto's S3
//! (`--archive-url s3://BUCKET/PREFIX`) and on `file://`. Upload sessions and single uploads,
//! object IDs claimed by exactly one uploader, sessions across restarts and replicas, the
//! upload TTL, the open-upload quota, and requests that must be refused. The key server's
//! database follows `CIPHERDROP_TEST_BACKEND` (the replica test always uses PostgreSQL).
#![allow(clippy::unwrap_used)]

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use common::Server;
use common::services::{Postgres, S3};
use serde_json::{Value, json};

/// The bucket every S3 test creates on its own moto server.
const BUCKET: &str = "cipherdrop-archive";

/// An HTTP answer.
#[derive(Debug)]
struct Answer {
    status: u16,
    body: Vec<u8>,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// Asserts a 2xx answer; returns its JSON (Null if the body is empty or not JSON).
    fn expect_ok(&self, what: &str) -> Value {
        assert!(self.ok(), "{what}: {} {}", self.status, String::from_utf8_lossy(&self.body));
        self.json()
    }

    /// Asserts the API's JSON error document with `status` and `code`; returns its message.
    fn expect_error(&self, what: &str, status: u16, code: &str) -> String {
        let doc = self.json();
        assert_eq!(
            (self.status, doc["error"].as_str()),
            (status, Some(code)),
            "{what}: {}",
            String::from_utf8_lossy(&self.body)
        );
        doc["message"].as_str().unwrap().to_string()
    }
}

/// Archive calls with one bearer token.
#[derive(Clone)]
struct Api {
    base: String,
    token: String,
    agent: ureq::Agent,
}

impl Api {
    fn new(server: &Server, token: &str) -> Self {
        let agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
        Self { base: format!("{}/v0/archive", server.addr), token: token.to_string(), agent }
    }

    /// `METHOD /v0/archive/objects/PATH` (PATH already percent-encoded).
    fn send(&self, method: &str, path: &str, body: Option<&[u8]>) -> Answer {
        self.try_send(method, path, body).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Like `send`, with a transport failure as an error (a body past the server's limit:
    /// the server answers and stops reading, so the client may fail to write the rest).
    fn try_send(&self, method: &str, path: &str, body: Option<&[u8]>) -> Result<Answer, String> {
        let url = format!("{}/objects{path}", self.base);
        let auth = format!("Bearer {}", self.token);
        let response = match (method, body) {
            ("GET", _) => self.agent.get(&url).header("authorization", &auth).call(),
            ("DELETE", _) => self.agent.delete(&url).header("authorization", &auth).call(),
            ("PUT", Some(b)) => self.agent.put(&url).header("authorization", &auth).send(b),
            ("PUT", None) => self.agent.put(&url).header("authorization", &auth).send_empty(),
            ("POST", Some(b)) => self.agent.post(&url).header("authorization", &auth).send(b),
            ("POST", None) => self.agent.post(&url).header("authorization", &auth).send_empty(),
            (other, _) => panic!("method {other}"),
        };
        let mut response = response.map_err(|e| format!("{method} {url}: {e}"))?;
        let status = response.status().as_u16();
        let body = response.body_mut().with_config().limit(256 << 20).read_to_vec().unwrap();
        Ok(Answer { status, body })
    }

    fn list(&self) -> Vec<Value> {
        let answer = self.send("GET", "", None);
        answer.expect_ok("list")["objects"].as_array().unwrap().clone()
    }

    fn put(&self, id: &str, bytes: &[u8]) -> Answer {
        self.send("PUT", &format!("/{id}"), Some(bytes))
    }

    fn get(&self, id: &str) -> Answer {
        self.send("GET", &format!("/{id}"), None)
    }

    fn delete(&self, id: &str) -> Answer {
        self.send("DELETE", &format!("/{id}"), None)
    }

    fn put_meta(&self, id: &str, bytes: &[u8]) -> Answer {
        self.send("PUT", &format!("/{id}/meta"), Some(bytes))
    }

    fn get_meta(&self, id: &str) -> Answer {
        self.send("GET", &format!("/{id}/meta"), None)
    }

    fn start(&self, id: &str) -> Answer {
        self.send("POST", &format!("/{id}/upload"), None)
    }

    fn part(&self, id: &str, n: i64, bytes: &[u8]) -> Answer {
        self.send("PUT", &format!("/{id}/upload/{n}"), Some(bytes))
    }

    fn complete(&self, id: &str) -> Answer {
        self.send("POST", &format!("/{id}/upload/complete"), None)
    }

    fn abort(&self, id: &str) -> Answer {
        self.send("DELETE", &format!("/{id}/upload"), None)
    }

    /// A whole upload session that must succeed; returns the completion's JSON.
    fn upload(&self, id: &str, parts: &[&[u8]]) -> Value {
        self.start(id).expect_ok("start");
        for (n, part) in parts.iter().enumerate() {
            self.part(id, i64::try_from(n).unwrap(), part).expect_ok("part");
        }
        self.complete(id).expect_ok("complete")
    }
}

fn random(len: usize) -> Vec<u8> {
    let mut bytes = vec![0u8; len];
    getrandom::fill(&mut bytes).unwrap();
    bytes
}

/// The listing's entry for `id`, if any.
fn listed(api: &Api, id: &str) -> Option<Value> {
    api.list().into_iter().find(|o| o["id"] == id)
}

/// A server with its archive on `s3://BUCKET/PREFIX` of `s3`, plus `args`.
fn s3_server(dir: &Path, s3: &S3, prefix: &str, args: &[&str]) -> Server {
    let url = format!("s3://{BUCKET}/{prefix}");
    let mut all = vec!["--archive-url", url.as_str()];
    all.extend_from_slice(args);
    Server::start_with_env(dir, &all, &s3.env())
}

/// A server with its archive in the local directory `archive` (`file://`), plus `args`.
fn file_server(dir: &Path, archive: &Path, args: &[&str]) -> Server {
    std::fs::create_dir_all(archive).unwrap();
    let url = url_of(archive);
    let mut all = vec!["--archive-url", url.as_str()];
    all.extend_from_slice(args);
    Server::start_with(dir, &all)
}

fn url_of(dir: &Path) -> String {
    format!("file://{}", dir.to_str().unwrap())
}

/// The audit records of archive actions: (principal, action, result, detail).
fn archive_audit(server: &Server) -> Vec<(String, String, String, String)> {
    const ACTIONS: [&str; 10] = [
        "ListObjects",
        "PutObject",
        "PutObjectMeta",
        "GetObject",
        "GetObjectMeta",
        "DeleteObject",
        "StartUpload",
        "UploadPart",
        "CompleteUpload",
        "AbortUpload",
    ];
    server
        .admin()
        .audit_all()
        .unwrap()
        .into_iter()
        .map(|r| r.record)
        .filter(|r| ACTIONS.contains(&r.action.as_str()))
        .map(|r| (r.principal, r.action, r.result, r.detail))
        .collect()
}

/// Whether an archive record (principal, action, result, detail) was appended after the
/// first `before` ones.
fn audited_since(server: &Server, before: usize, record: (&str, &str, &str, &str)) -> bool {
    archive_audit(server)[before..]
        .iter()
        .any(|r| (r.0.as_str(), r.1.as_str(), r.2.as_str(), r.3.as_str()) == record)
}

/// End to end on S3: an object uploaded as a session of parts (three of 2 MiB and a short
/// last one, so the joined object spans several S3 multipart parts) and one streamed as a
/// single PUT are listed complete with the right size and owner, read back byte for byte,
/// and stored under the prefix at `objects/ID/data`; staged parts live under `uploads/ID/`
/// only until completion. Metadata records, deletion, empty objects, and the audit trail of
/// every call are checked too.
#[test]
fn s3_session_and_single_uploads_round_trip() {
    let s3 = S3::start();
    s3.create_bucket(BUCKET);
    let tmp = tempfile::tempdir().unwrap();
    let server = s3_server(&tmp.path().join("data"), &s3, "tenant-a", &[]);
    let (alice, bob) =
        (Api::new(&server, &server.token("alice")), Api::new(&server, &server.token("bob")));

    let parts = [random(2 << 20), random(2 << 20), random(2 << 20), random(12_345)];
    let whole: Vec<u8> = parts.concat();
    let started = alice.start("sess-1").expect_ok("start");
    assert_eq!(started, json!({ "id": "sess-1", "maxPart": 32 << 20 }));
    let mut size = 0;
    for (n, part) in parts.iter().enumerate() {
        size += part.len();
        let answer = alice.part("sess-1", i64::try_from(n).unwrap(), part).expect_ok("part");
        assert_eq!(answer, json!({ "id": "sess-1", "part": n, "size": size }));
    }
    // Staged, not yet an object: not listed, not readable.
    assert_eq!(
        s3.list(BUCKET, "tenant-a/uploads/"),
        (0..4).map(|n| format!("tenant-a/uploads/sess-1/{n:08}")).collect::<Vec<_>>()
    );
    assert_eq!(s3.get(BUCKET, "tenant-a/uploads/sess-1/00000001"), parts[1]);
    assert!(alice.list().is_empty());
    alice.get("sess-1").expect_error("GET while uploading", 404, "NotFound");
    let done = alice.complete("sess-1").expect_ok("complete");
    assert_eq!(done, json!({ "id": "sess-1", "size": whole.len() }));

    let single = random((5 << 20) + 777);
    let put = bob.put("single-1", &single).expect_ok("single PUT");
    assert_eq!(put, json!({ "id": "single-1", "size": single.len() }));

    let list = alice.list();
    assert_eq!(list.len(), 2, "{list:?}");
    for (entry, (id, size, owner)) in
        list.iter().zip([("sess-1", whole.len(), "alice"), ("single-1", single.len(), "bob")])
    {
        assert_eq!(
            (&entry["id"], &entry["size"], &entry["owner"], &entry["hasMeta"]),
            (&json!(id), &json!(size), &json!(owner), &json!(false)),
            "{entry}"
        );
        assert!(entry["uploaded"].as_str().unwrap().starts_with("20"), "{entry}");
    }
    let got = bob.get("sess-1");
    assert_eq!(got.status, 200);
    assert!(got.body == whole, "GET sess-1 returned different bytes");
    assert!(alice.get("single-1").body == single, "GET single-1 returned different bytes");

    // In the bucket: the objects under the prefix, no staged parts left, nothing elsewhere.
    assert_eq!(
        s3.list(BUCKET, ""),
        ["tenant-a/objects/sess-1/data", "tenant-a/objects/single-1/data"]
    );
    assert!(s3.get(BUCKET, "tenant-a/objects/sess-1/data") == whole);
    assert!(s3.get(BUCKET, "tenant-a/objects/single-1/data") == single);

    // The uploader's metadata record, stored beside the data.
    alice.put_meta("sess-1", b"encrypted record").expect_ok("meta");
    assert_eq!(bob.get_meta("sess-1").body, b"encrypted record");
    assert_eq!(s3.get(BUCKET, "tenant-a/objects/sess-1/meta"), b"encrypted record");
    assert_eq!(listed(&alice, "sess-1").unwrap()["hasMeta"], true);

    // Deletion removes the row and the stored bytes.
    assert_eq!(bob.delete("single-1").status, 204);
    bob.get("single-1").expect_error("GET deleted", 404, "NotFound");
    assert_eq!(
        s3.list(BUCKET, ""),
        ["tenant-a/objects/sess-1/data", "tenant-a/objects/sess-1/meta"]
    );

    // Empty objects: a zero-byte single PUT and a session without parts.
    assert_eq!(alice.put("empty-put", b"").expect_ok("empty PUT")["size"], 0);
    assert_eq!(alice.upload("empty-session", &[])["size"], 0);
    for id in ["empty-put", "empty-session"] {
        let got = bob.get(id);
        assert_eq!((got.status, got.body.len()), (200, 0), "{id}");
    }

    // Every call was audited, under its caller.
    let records = archive_audit(&server);
    let count = |principal: &str, action: &str, result: &str| {
        records
            .iter()
            .filter(|r| (r.0.as_str(), r.1.as_str(), r.2.as_str()) == (principal, action, result))
            .count()
    };
    assert_eq!(count("alice", "StartUpload", "Allowed"), 2);
    assert_eq!(count("alice", "UploadPart", "Allowed"), 4);
    assert_eq!(count("alice", "CompleteUpload", "Allowed"), 2);
    assert_eq!(count("alice", "PutObjectMeta", "Allowed"), 1);
    assert_eq!(count("alice", "PutObject", "Allowed"), 1);
    assert_eq!(count("bob", "PutObject", "Allowed"), 1);
    assert_eq!(count("bob", "DeleteObject", "Allowed"), 1);
    assert_eq!(count("bob", "GetObjectMeta", "Allowed"), 1);
    assert_eq!(count("alice", "GetObject", "Error"), 1, "the GET of an unfinished object");
    assert_eq!(count("bob", "GetObject", "Error"), 1, "the GET of a deleted object");
    assert!(count("alice", "ListObjects", "Allowed") >= 3);
}

/// How one racer claims an object ID.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Claim {
    /// `PUT /objects/ID` with its body.
    Put,
    /// `POST /objects/ID/upload`.
    Start,
}

/// Two uploaders race for one object ID, released together by a barrier, ten times each with
/// fresh IDs: both with single PUTs, both starting sessions, and one of each. Exactly one wins
/// (2xx), the other gets 409 InvalidState; the object ends up with the winner's bytes and
/// owner, and the loser can neither add parts, complete, write the metadata record nor
/// delete the object.
#[test]
fn racing_uploaders_for_one_id_exactly_one_wins() {
    let s3 = S3::start();
    s3.create_bucket(BUCKET);
    let tmp = tempfile::tempdir().unwrap();
    let server = s3_server(&tmp.path().join("data"), &s3, "race", &["--rate-limit", "100000"]);
    let racers = [
        ("alice", Api::new(&server, &server.token("alice"))),
        ("bob", Api::new(&server, &server.token("bob"))),
    ];
    let variants =
        [(Claim::Put, Claim::Put), (Claim::Start, Claim::Start), (Claim::Put, Claim::Start)];
    for round in 0..10 {
        for (v, (first, second)) in variants.iter().enumerate() {
            // The mixed variant swaps sides every round.
            let claims = if round % 2 == 1 { [*second, *first] } else { [*first, *second] };
            let id = format!("race-{v}-{round}");
            let barrier = Arc::new(Barrier::new(2));
            let threads: Vec<_> = racers
                .iter()
                .zip(claims)
                .map(|((name, api), claim)| {
                    let (api, barrier, id) = (api.clone(), Arc::clone(&barrier), id.clone());
                    let body = format!("{name}'s bytes for {id}").into_bytes();
                    std::thread::spawn(move || {
                        barrier.wait();
                        match claim {
                            Claim::Put => api.put(&id, &body),
                            Claim::Start => api.start(&id),
                        }
                    })
                })
                .collect();
            let answers: Vec<Answer> = threads.into_iter().map(|t| t.join().unwrap()).collect();
            let winners: Vec<usize> = (0..2).filter(|&i| answers[i].ok()).collect();
            assert_eq!(winners.len(), 1, "{id} {claims:?}: {answers:?}");
            let (w, l) = (winners[0], 1 - winners[0]);
            answers[l].expect_error(&format!("{id}: the loser"), 409, "InvalidState");
            let ((winner, wapi), (_, lapi)) = (&racers[w], &racers[l]);
            let body = format!("{winner}'s bytes for {id}").into_bytes();
            if claims[w] == Claim::Start {
                lapi.part(&id, 0, b"loser's part").expect_error(
                    "loser's part",
                    403,
                    "AccessDenied",
                );
                wapi.part(&id, 0, &body).expect_ok("winner's part");
                lapi.complete(&id).expect_error("loser's complete", 403, "AccessDenied");
                lapi.abort(&id).expect_error("loser's abort", 403, "AccessDenied");
                wapi.complete(&id).expect_ok("winner's complete");
            }
            // Taken for good: neither a second PUT nor a session.
            lapi.put(&id, b"again").expect_error("loser's second PUT", 409, "InvalidState");
            lapi.start(&id).expect_error("loser's second start", 409, "InvalidState");
            let entry = listed(wapi, &id).unwrap_or_else(|| panic!("{id} not listed"));
            assert_eq!(
                (&entry["owner"], &entry["size"]),
                (&json!(winner), &json!(body.len())),
                "{id}"
            );
            assert_eq!(lapi.get(&id).body, body, "{id}: the winner's bytes");
            let meta = lapi.put_meta(&id, b"loser's name");
            assert!(matches!(meta.status, 403 | 409), "{id}: loser's meta {meta:?}");
            lapi.delete(&id).expect_error("loser's delete", 403, "AccessDenied");
            wapi.put_meta(&id, b"winner's record").expect_ok("winner's meta");
            let meta = lapi.put_meta(&id, b"loser's name");
            assert!(matches!(meta.status, 403 | 409), "{id}: loser's meta {meta:?}");
            assert_eq!(lapi.get_meta(&id).body, b"winner's record", "{id}");
            assert_eq!(lapi.get(&id).body, body, "{id}: still the winner's bytes");
        }
    }
    assert_eq!(racers[0].1.list().len(), 30);
    assert!(s3.list(BUCKET, "race/uploads/").is_empty());
}

/// An upload session is a database row plus staged parts, so it survives a restart of the
/// server (SIGTERM, and kill -9) between parts; and with two replicas on one PostgreSQL
/// database (shared root key, same archive URL), consecutive parts can go to alternate
/// replicas, each replica knows which part comes next, and either reads the result.
#[test]
fn upload_sessions_survive_restarts_and_span_replicas() {
    let s3 = S3::start();
    s3.create_bucket(BUCKET);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let mut server = s3_server(&dir, &s3, "restart", &[]);
    let token = server.token("alice");
    let parts = [random(300_000), random(300_000), random(1000)];
    let alice = Api::new(&server, &token);
    alice.start("restart-1").expect_ok("start");
    alice.part("restart-1", 0, &parts[0]).expect_ok("part 0");
    server.stop();
    let mut server = s3_server(&dir, &s3, "restart", &[]);
    let alice = Api::new(&server, &token);
    let message =
        alice.part("restart-1", 0, &parts[0]).expect_error("part 0 again", 400, "InvalidRequest");
    assert!(message.contains("expected part 1"), "{message}");
    alice.part("restart-1", 1, &parts[1]).expect_ok("part 1 after a restart");
    server.kill9();
    let server = s3_server(&dir, &s3, "restart", &[]);
    let alice = Api::new(&server, &token);
    alice.part("restart-1", 2, &parts[2]).expect_ok("part 2 after kill -9");
    alice.start("restart-1").expect_error("start again", 409, "InvalidState");
    alice.complete("restart-1").expect_ok("complete");
    assert!(alice.get("restart-1").body == parts.concat());
    assert!(s3.list(BUCKET, "restart/uploads/").is_empty());
    drop(server);

    // Two replicas on one PostgreSQL database.
    let pg = Postgres::start(&tmp.path().join("shared.pg"));
    let url = pg.create_database("replicas");
    let root_key = tmp.path().join("root-key");
    write_root_key(&root_key);
    let archive = format!("s3://{BUCKET}/replicas");
    let args = ["--archive-url", archive.as_str()];
    let r1 = Server::start_replica_env(&tmp.path().join("r1"), &url, &root_key, &args, &s3.env());
    let r2 = Server::start_replica_env(&tmp.path().join("r2"), &url, &root_key, &args, &s3.env());
    assert!(!r1.admin.is_empty() && r2.admin.is_empty(), "one admin token per database");
    let token = r1.token("alice");
    let on = [Api::new(&r1, &token), Api::new(&r2, &token)];
    let bob = Api::new(&r2, &r1.token("bob"));
    let parts = [random(200_000), random(200_000), random(200_000), random(77)];
    on[0].start("replica-1").expect_ok("start on r1");
    bob.start("replica-1").expect_error("bob on r2", 409, "InvalidState");
    for (n, part) in parts.iter().enumerate() {
        let this = &on[(n + 1) % 2];
        let n = i64::try_from(n).unwrap();
        if n > 0 {
            // The part the other replica took is not taken again here.
            let message = this.part("replica-1", n - 1, part).expect_error(
                "stale part",
                400,
                "InvalidRequest",
            );
            assert!(message.contains(&format!("expected part {n}")), "{message}");
        }
        this.part("replica-1", n, part).expect_ok("part");
    }
    bob.part("replica-1", 4, b"x").expect_error("bob's part", 403, "AccessDenied");
    assert_eq!(on[1].complete("replica-1").expect_ok("complete on r2")["size"], 600_077);
    assert!(on[0].get("replica-1").body == parts.concat());
    assert!(on[1].get("replica-1").body == parts.concat());
    assert_eq!(on[0].list(), on[1].list());
    on[0].put_meta("replica-1", b"record").expect_ok("meta on r1");
    on[1].put_meta("replica-1", b"second").expect_error("meta again on r2", 409, "InvalidState");
    assert_eq!(
        s3.list(BUCKET, "replicas/"),
        ["replicas/objects/replica-1/data", "replicas/objects/replica-1/meta"]
    );
}

/// 32 random bytes in `path`, mode 0600.
fn write_root_key(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, random(32)).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
}

/// `--upload-ttl 2`: three seconds after its start an unfinished upload is gone: its parts,
/// completion and abort answer 404 "no upload … in progress", it is not listed, and another
/// principal may claim the ID, which removes the stale staged parts; the new upload numbers
/// its parts from 0 and holds only its own bytes.
#[test]
fn an_upload_past_its_ttl_is_gone_and_its_id_free() {
    let tmp = tempfile::tempdir().unwrap();
    let archive = tmp.path().join("archive");
    let server = file_server(&tmp.path().join("data"), &archive, &["--upload-ttl", "2"]);
    let (alice, bob) =
        (Api::new(&server, &server.token("alice")), Api::new(&server, &server.token("bob")));
    alice.start("ttl-1").expect_ok("start");
    alice.part("ttl-1", 0, b"alice-0").expect_ok("part 0");
    let staged = archive.join("uploads/ttl-1/00000000");
    assert_eq!(std::fs::read(&staged).unwrap(), b"alice-0");
    bob.start("ttl-1").expect_error("bob while alice's upload lives", 409, "InvalidState");
    std::thread::sleep(Duration::from_secs(3));

    for answer in
        [alice.part("ttl-1", 1, b"alice-1"), alice.complete("ttl-1"), alice.abort("ttl-1")]
    {
        let message = answer.expect_error("after the TTL", 404, "NotFound");
        assert!(message.contains("no upload of ttl-1 in progress"), "{message}");
    }
    assert!(listed(&alice, "ttl-1").is_none());
    alice.get("ttl-1").expect_error("GET", 404, "NotFound");

    bob.start("ttl-1").expect_ok("bob claims the expired ID");
    assert!(!staged.exists(), "alice's stale part is still staged");
    alice.part("ttl-1", 0, b"alice-0").expect_error("alice's part", 403, "AccessDenied");
    bob.part("ttl-1", 0, b"bob-0").expect_ok("bob's part 0");
    assert_eq!(bob.complete("ttl-1").expect_ok("complete")["size"], 5);
    assert_eq!(alice.get("ttl-1").body, b"bob-0");
    assert_eq!(listed(&alice, "ttl-1").unwrap()["owner"], "bob");

    // A single PUT may also take an expired session's ID.
    alice.start("ttl-2").expect_ok("start");
    std::thread::sleep(Duration::from_millis(2500));
    bob.put("ttl-2", b"bob's object").expect_ok("PUT over an expired session");
    assert_eq!(listed(&alice, "ttl-2").unwrap()["owner"], "bob");
}

/// A `PUT /objects/ID` by raw HTTP/1.1, so the body can be sent slowly.
struct SlowPut {
    stream: TcpStream,
}

impl SlowPut {
    /// Sends the request head (Content-Length `len`) and `first`, the start of the body.
    fn start(server: &Server, token: &str, id: &str, len: usize, first: &[u8]) -> Self {
        let host = server.addr.strip_prefix("http://").unwrap();
        let mut stream = TcpStream::connect(host).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        write!(
            stream,
            "PUT /v0/archive/objects/{id} HTTP/1.1\r\nHost: {host}\r\n\
             Authorization: Bearer {token}\r\nContent-Length: {len}\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        stream.write_all(first).unwrap();
        stream.flush().unwrap();
        Self { stream }
    }

    /// Sends the rest of the body; returns the status and body of the answer.
    fn finish(mut self, rest: &[u8]) -> (u16, String) {
        self.stream.write_all(rest).unwrap();
        let mut text = String::new();
        self.stream.read_to_string(&mut text).unwrap();
        let status = text.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
        let body = text.split("\r\n\r\n").nth(1).unwrap_or_default().to_string();
        (status, body)
    }
}

/// A single PUT that is still streaming when its TTL ends has lost its claim: whatever its
/// stream does afterwards must not touch the principal that claimed the ID next. Finishing
/// late is refused and neither completes nor replaces the new owner's object (whether that
/// upload is still open or already complete); a late disconnect does not delete the new
/// owner's upload.
#[test]
fn a_single_put_streaming_past_its_ttl_cannot_touch_the_next_claim() {
    let tmp = tempfile::tempdir().unwrap();
    let archive = tmp.path().join("archive");
    let server = file_server(&tmp.path().join("data"), &archive, &["--upload-ttl", "2"]);
    let (alice_token, bob_token) = (server.token("alice"), server.token("bob"));
    let bob = Api::new(&server, &bob_token);
    let ids = ["late-open", "late-complete", "late-drop"];
    let slow: Vec<SlowPut> =
        ids.iter().map(|id| SlowPut::start(&server, &alice_token, id, 10, b"alice")).collect();
    // Each claim is alice's once bob's probe is refused as another principal's upload.
    let deadline = Instant::now() + Duration::from_secs(10);
    for id in ids {
        while bob.part(id, 0, b"probe").status != 403 {
            assert!(Instant::now() < deadline, "alice's PUT of {id} never claimed it");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    std::thread::sleep(Duration::from_millis(2500));
    for id in ids {
        bob.start(id).expect_ok("bob claims the expired ID");
    }
    let mut slow = slow.into_iter();

    // Finishing while bob's upload is open.
    let (status, body) = slow.next().unwrap().finish(b"-late");
    assert!(!(200..300).contains(&status), "late PUT accepted: {status} {body}");
    bob.part("late-open", 0, b"bob's data").expect_ok("bob's part");
    bob.complete("late-open").expect_ok("bob's complete");
    assert_eq!(bob.get("late-open").body, b"bob's data");
    let entry = listed(&bob, "late-open").unwrap();
    assert_eq!((&entry["owner"], &entry["size"]), (&json!("bob"), &json!(10)));

    // Finishing after bob completed.
    bob.part("late-complete", 0, b"bob's bytes").expect_ok("bob's part");
    bob.complete("late-complete").expect_ok("bob's complete");
    let (status, body) = slow.next().unwrap().finish(b"-late");
    assert!(!(200..300).contains(&status), "late PUT accepted: {status} {body}");
    assert_eq!(bob.get("late-complete").body, b"bob's bytes", "alice's late bytes replaced bob's");
    assert_eq!(listed(&bob, "late-complete").unwrap()["size"], 11);

    // Disconnecting: the server abandons alice's stream, and only hers.
    let before = archive_audit(&server).len();
    drop(slow.next().unwrap());
    let deadline = Instant::now() + Duration::from_secs(10);
    while !archive_audit(&server)[before..]
        .iter()
        .any(|r| r.0 == "alice" && r.1 == "PutObject" && r.2 == "Error")
    {
        assert!(Instant::now() < deadline, "the interrupted PUT was never audited");
        std::thread::sleep(Duration::from_millis(50));
    }
    bob.part("late-drop", 0, b"bob survives").expect_ok("bob's part after alice's disconnect");
    bob.complete("late-drop").expect_ok("bob's complete");
    assert_eq!(bob.get("late-drop").body, b"bob survives");
}

/// `--max-open-uploads 2`: a principal's third unfinished upload (session or single PUT) is
/// refused 429 LimitExceeded, audited as Denied; other principals are not affected; aborting
/// or completing an upload frees a place.
#[test]
fn open_uploads_per_principal_are_limited() {
    let tmp = tempfile::tempdir().unwrap();
    let archive = tmp.path().join("archive");
    let server = file_server(&tmp.path().join("data"), &archive, &["--max-open-uploads", "2"]);
    let (alice, bob) =
        (Api::new(&server, &server.token("alice")), Api::new(&server, &server.token("bob")));
    alice.start("q-1").expect_ok("first");
    alice.start("q-2").expect_ok("second");
    let message = alice.start("q-3").expect_error("third", 429, "LimitExceeded");
    assert!(message.contains("2 unfinished uploads"), "{message}");
    alice.put("q-3", b"single").expect_error("third as a PUT", 429, "LimitExceeded");
    bob.start("q-3").expect_ok("bob has his own quota");

    assert_eq!(alice.abort("q-1").status, 204);
    alice.part("q-1", 0, b"x").expect_error("part of an aborted upload", 404, "NotFound");
    alice.start("q-4").expect_ok("after an abort");
    alice.start("q-5").expect_error("full again", 429, "LimitExceeded");
    alice.part("q-2", 0, b"q-2").expect_ok("part");
    alice.complete("q-2").expect_ok("complete");
    alice.start("q-5").expect_ok("after a completion");
    // Completed objects never count.
    alice.abort("q-4").expect_ok("abort");
    alice.abort("q-5").expect_ok("abort");
    for n in 0..3 {
        alice.upload(&format!("done-{n}"), &[b"x"]);
    }
    alice.start("q-6").expect_ok("complete objects do not count");
    let denied = archive_audit(&server)
        .into_iter()
        .filter(|r| r.0 == "alice" && r.2 == "Denied" && r.3 == "LimitExceeded")
        .count();
    assert_eq!(denied, 3);
}

/// Requests that must be refused, on S3 with `--max-object-size 1000000`: a session that
/// grows past the limit is refused 413 and abandoned (parts gone, ID free), as is a single
/// PUT past it, while exactly the limit is fine; malformed object IDs (`../x`, 65
/// characters, dots, NUL, spaces) are 400 on every route; another principal's parts,
/// completion and abort are 403 and change nothing; parts out of order or not numbers are
/// 400; a metadata record over 64 KiB is refused (also past the server's body limit: as
/// JSON, audited); an unfinished object cannot be read, described, deleted or overwritten;
/// no token is 401.
#[test]
fn abusive_uploads_are_refused() {
    let s3 = S3::start();
    s3.create_bucket(BUCKET);
    let tmp = tempfile::tempdir().unwrap();
    let server =
        s3_server(&tmp.path().join("data"), &s3, "abuse", &["--max-object-size", "1000000"]);
    let (alice, bob) =
        (Api::new(&server, &server.token("alice")), Api::new(&server, &server.token("bob")));

    // Oversize session: abandoned.
    alice.start("big-1").expect_ok("start");
    alice.part("big-1", 0, &random(600_000)).expect_ok("part 0");
    let message = alice.part("big-1", 1, &random(400_001)).expect_error(
        "past the limit",
        413,
        "PayloadTooLarge",
    );
    assert!(message.contains("1000000 bytes"), "{message}");
    alice.part("big-1", 1, b"x").expect_error("part of an abandoned upload", 404, "NotFound");
    alice.complete("big-1").expect_error("complete an abandoned upload", 404, "NotFound");
    assert!(s3.list(BUCKET, "abuse/").is_empty(), "{:?}", s3.list(BUCKET, "abuse/"));
    bob.start("big-1").expect_ok("the ID is free again");
    assert_eq!(bob.abort("big-1").status, 204);
    // Oversize single PUT: refused, nothing stored, the ID free.
    alice.put("big-2", &random(1_000_001)).expect_error(
        "PUT past the limit",
        413,
        "PayloadTooLarge",
    );
    assert!(s3.list(BUCKET, "abuse/").is_empty(), "{:?}", s3.list(BUCKET, "abuse/"));
    bob.put("big-2", b"small").expect_ok("the ID is free again");
    // Exactly the limit, both ways.
    alice.put("max-1", &random(1_000_000)).expect_ok("PUT of exactly the limit");
    alice.upload("max-2", &[&random(600_000), &random(400_000)]);

    // Malformed IDs, on every route.
    let long = "a".repeat(65);
    for id in ["..%2Fx", "..", long.as_str(), "a.b", "a%00b", "a%20b", "%C3%A9"] {
        let answers = [
            ("PUT", alice.put(id, b"x")),
            ("GET", alice.get(id)),
            ("DELETE", alice.delete(id)),
            ("PUT meta", alice.put_meta(id, b"x")),
            ("GET meta", alice.get_meta(id)),
            ("start", alice.start(id)),
            ("part", alice.part(id, 0, b"x")),
            ("complete", alice.complete(id)),
            ("abort", alice.abort(id)),
        ];
        for (what, answer) in answers {
            answer.expect_error(&format!("{what} {id}"), 400, "InvalidRequest");
        }
    }
    alice.put(&"a".repeat(64), b"x").expect_ok("a 64-character ID");

    // Another principal's session.
    alice.start("own-1").expect_ok("start");
    bob.part("own-1", 0, b"bob's part").expect_error("bob's part", 403, "AccessDenied");
    bob.complete("own-1").expect_error("bob's complete", 403, "AccessDenied");
    bob.abort("own-1").expect_error("bob's abort", 403, "AccessDenied");
    // Unfinished: not readable, not deletable, not overwritable, no record.
    alice.get("own-1").expect_error("GET unfinished", 404, "NotFound");
    bob.get("own-1").expect_error("GET unfinished", 404, "NotFound");
    alice.get_meta("own-1").expect_error("GET meta unfinished", 404, "NotFound");
    alice.delete("own-1").expect_error("DELETE unfinished", 404, "NotFound");
    alice.put("own-1", b"over it").expect_error("PUT over a session", 409, "InvalidState");
    alice.put_meta("own-1", b"early").expect_error("meta unfinished", 409, "InvalidState");
    assert!(listed(&alice, "own-1").is_none());
    // Parts in order only.
    let message = alice.part("own-1", 1, b"x").expect_error("part 1 first", 400, "InvalidRequest");
    assert!(message.contains("expected part 0"), "{message}");
    alice.part("own-1", -1, b"x").expect_error("part -1", 400, "InvalidRequest");
    let before = archive_audit(&server).len();
    let first = alice.send("PUT", "/own-1/upload/first", Some(b"x"));
    first.expect_error("part `first`", 400, "InvalidRequest");
    assert!(audited_since(&server, before, ("alice", "UploadPart", "Error", "InvalidRequest")));
    alice.part("own-1", 0, b"alice's part").expect_ok("alice's part 0");
    assert_eq!(alice.complete("own-1").expect_ok("complete")["size"], 12);
    assert_eq!(bob.get("own-1").body, b"alice's part");

    // Metadata records: at most 64 KiB.
    let message = alice.put_meta("own-1", &random(64 * 1024 + 1)).expect_error(
        "65537-byte record",
        413,
        "PayloadTooLarge",
    );
    assert!(message.contains("65536"), "{message}");
    assert_eq!(listed(&alice, "own-1").unwrap()["hasMeta"], false);
    alice.get_meta("own-1").expect_error("no record yet", 404, "NotFound");
    // Past the server's body limit (1 MiB): refused as JSON too, and audited.
    let before = archive_audit(&server).len();
    match alice.try_send("PUT", "/own-1/meta", Some(&random(2 << 20))) {
        Ok(answer) => drop(answer.expect_error("2 MiB record", 413, "PayloadTooLarge")),
        Err(e) => assert!(e.contains("Broken pipe") || e.contains("reset"), "{e}"),
    }
    assert!(audited_since(&server, before, ("alice", "PutObjectMeta", "Error", "PayloadTooLarge")));
    assert_eq!(listed(&alice, "own-1").unwrap()["hasMeta"], false);
    let record = random(64 * 1024);
    alice.put_meta("own-1", &record).expect_ok("64 KiB record");
    assert!(bob.get_meta("own-1").body == record);

    // No token.
    let anonymous = Api { token: String::new(), ..alice.clone() };
    anonymous.send("GET", "", None).expect_error("list without a token", 401, "Unauthorized");
    anonymous.put("anon-1", b"x").expect_error("PUT without a token", 401, "Unauthorized");
    assert!(listed(&alice, "anon-1").is_none());
    assert!(s3.list(BUCKET, "abuse/uploads/").is_empty());
}

/// An upload aborted while one of its parts is still being stored leaves no staged part
/// behind (the abort removes the parts it knows; the part that lands after it is removed by
/// its own request). Seen first as a leftover part after a cancel in the demo on S3.
#[test]
fn an_abort_racing_a_part_leaves_no_staged_part() {
    let tmp = tempfile::tempdir().unwrap();
    let archive = tmp.path().join("archive");
    let server = file_server(&tmp.path().join("data"), &archive, &[]);
    let alice = server.token("alice");
    let part = random(4 << 20);
    for round in 0..12 {
        let id = format!("race-abort-{round}");
        let api = Api::new(&server, &alice);
        api.start(&id).expect_ok("start");
        let barrier = Barrier::new(2);
        std::thread::scope(|s| {
            s.spawn(|| {
                let api = Api::new(&server, &alice);
                barrier.wait();
                let _ = api.part(&id, 0, &part);
            });
            s.spawn(|| {
                let api = Api::new(&server, &alice);
                barrier.wait();
                std::thread::sleep(Duration::from_millis(round * 3));
                let _ = api.abort(&id);
            });
        });
        let _ = api.abort(&id);
        let staged = archive.join("uploads").join(&id);
        let left: Vec<_> =
            std::fs::read_dir(&staged).map(|d| d.flatten().count()).into_iter().collect();
        assert!(
            left.iter().all(|n| *n == 0),
            "round {round}: {left:?} staged parts in {}",
            staged.display()
        );
    }
}
