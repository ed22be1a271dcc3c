//! End to end: `cipherdrop backup` of a serving key server and `cipherdrop restore` into an
//! empty database of the other backend (SQLite → PostgreSQL, PostgreSQL → SQLite), run as an
//! operator runs them; and the restores that must be refused.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use cipherdrop_server::client::Client;
use cipherdrop_server::domain::audit::ChainedRecord;
use common::services::Postgres;
use common::{Server, backend, cli, failure, json, success};
use serde_json::{Value, json};

/// Runs `cipherdrop ARGS` (no key server in its environment); returns the output.
fn run(args: &[&str]) -> std::process::Output {
    cli(None, None, args, None)
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// `sqlite://DIR/cipherdrop.db?mode=rwc`, the default database of data directory `dir`.
fn sqlite_url(dir: &Path) -> String {
    format!("sqlite://{}?mode=rwc", dir.join("cipherdrop.db").display())
}

/// What a source server holds before its backup, and how to check a restored copy.
struct Fixture {
    admin: String,
    alice: String,
    /// Messages encrypted before the backup, with their plaintexts.
    messages: Vec<(PathBuf, Vec<u8>)>,
    /// The one alice's policy lets her open.
    alices: PathBuf,
    /// Key described by alice (her policy grants DescribeKey).
    key: String,
    /// `alias/backup` targets `key`.
    alias_target: String,
    /// `key describe` of every key, by key ID.
    described: Vec<Value>,
}

/// Two keys (the second rotated, with messages for both versions), an alias, a policy that
/// lets alice describe and unwrap with the first key, a token for alice, and messages.
fn populate(server: &Server, tmp: &Path) -> Fixture {
    let (k1, k2) = (server.create_key(), server.create_key());
    server.admin_json(&["alias", "create", "backup", &k1]);
    let policy = json!({ "Statement": [
        { "Effect": "Allow", "Principal": "admin", "Action": "*" },
        { "Effect": "Allow", "Principal": "alice", "Action": ["DescribeKey", "Unwrap"] },
    ]});
    server.admin().put_policy(&k1, policy).unwrap();
    let alice = server.token("alice");
    let mut messages = Vec::new();
    let mut encrypt = |name: &str, key: &str| {
        let (pt, ct) = (tmp.join(format!("{name}.pt")), tmp.join(format!("{name}.ct")));
        let text = format!("message {name} for {key}").into_bytes();
        std::fs::write(&pt, &text).unwrap();
        let out = server.cli(
            Some(&server.admin),
            &["encrypt", "-i", path(&pt), "-o", path(&ct), "--server-key", key],
        );
        success(&out);
        messages.push((ct, text));
    };
    encrypt("via-alias", "alias/backup");
    encrypt("k2-v1", &k2);
    server.admin_json(&["key", "rotate", &k2]);
    encrypt("k2-v2", &k2);
    let described = [&k1, &k2].iter().map(|k| server.admin_json(&["key", "describe", k])).collect();
    assert_eq!(described_version(&server.admin_json(&["key", "describe", &k2])), 2);
    Fixture {
        admin: server.admin.clone(),
        alice,
        alices: messages[0].0.clone(),
        messages,
        key: k1.clone(),
        alias_target: k1,
        described,
    }
}

fn described_version(described: &Value) -> i64 {
    described["currentVersion"].as_i64().unwrap_or(0)
}

/// Background requests while a backup runs: one thread creates keys (each a key row and its
/// audit record), one describes, lists and reads the audit log.
struct Load {
    stop: Arc<AtomicBool>,
    /// Requests of either thread.
    done: Arc<AtomicUsize>,
    /// Keys created.
    keys: Arc<AtomicUsize>,
    threads: Vec<std::thread::JoinHandle<Vec<String>>>,
}

impl Load {
    fn start(server: &Server, key: &str) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let done = Arc::new(AtomicUsize::new(0));
        let keys = Arc::new(AtomicUsize::new(0));
        let creator = {
            let (client, stop) = (server.admin(), Arc::clone(&stop));
            let (done, keys) = (Arc::clone(&done), Arc::clone(&keys));
            std::thread::spawn(move || {
                let mut created = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    let key = client.create_key(Some("RSA_2048"), None, &[], None).unwrap();
                    created.push(key["keyId"].as_str().unwrap().to_string());
                    done.fetch_add(1, Ordering::Relaxed);
                    keys.fetch_add(1, Ordering::Relaxed);
                }
                created
            })
        };
        let reader = {
            let (client, stop, done) = (server.admin(), Arc::clone(&stop), Arc::clone(&done));
            let key = key.to_string();
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    client.describe_key(&key).unwrap();
                    client.list_keys().unwrap();
                    client.audit_page(0, Some(10)).unwrap();
                    done.fetch_add(1, Ordering::Relaxed);
                }
                Vec::new()
            })
        };
        Self { stop, done, keys, threads: vec![creator, reader] }
    }

    /// Waits until `requests` more requests finished, `keys` more of them key creations.
    fn wait_for(&self, requests: usize, keys: usize) {
        let target = (
            self.done.load(Ordering::Relaxed) + requests,
            self.keys.load(Ordering::Relaxed) + keys,
        );
        let deadline = Instant::now() + Duration::from_secs(60);
        while self.done.load(Ordering::Relaxed) < target.0
            || self.keys.load(Ordering::Relaxed) < target.1
        {
            assert!(Instant::now() < deadline, "the background requests stalled");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Stops the threads; returns the keys they created.
    fn finish(self) -> Vec<String> {
        self.stop.store(true, Ordering::Relaxed);
        self.threads.into_iter().flat_map(|t| t.join().unwrap()).collect()
    }
}

/// Runs `cipherdrop backup --out OUT DB_ARGS`; it must succeed with its one summary line and
/// write a 0600 file. Returns the keys and audit records it reports.
fn backup(out: &Path, db_args: &[&str]) -> (usize, usize) {
    let mut args = vec!["backup", "--out", path(out)];
    args.extend_from_slice(db_args);
    let stdout = String::from_utf8(success(&run(&args))).unwrap();
    let mode = std::fs::metadata(out).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "backup file mode {mode:o}");
    let counts = stdout
        .trim_end()
        .strip_prefix(&format!("backup {}: ", out.display()))
        .and_then(|rest| rest.strip_suffix(" audit records"))
        .and_then(|rest| rest.split_once(" keys, "))
        .unwrap_or_else(|| panic!("unexpected backup output {stdout:?}"));
    (counts.0.parse().unwrap(), counts.1.parse().unwrap())
}

/// Runs `cipherdrop restore FILE DB_ARGS`; it must succeed; returns the audit records it
/// reports (the backup's plus its own).
fn restore(file: &Path, db_args: &[&str]) -> usize {
    let mut args = vec!["restore", path(file)];
    args.extend_from_slice(db_args);
    let stdout = String::from_utf8(success(&run(&args))).unwrap();
    let rest = stdout
        .trim_end()
        .strip_prefix(&format!("restored {}: ", file.display()))
        .and_then(|rest| rest.strip_suffix(" audit records"))
        .unwrap_or_else(|| panic!("unexpected restore output {stdout:?}"));
    rest.split_once(" keys, ").unwrap().1.parse().unwrap()
}

/// Key IDs of the keys an admin client lists.
fn key_ids(client: &Client) -> BTreeSet<String> {
    client.list_keys().unwrap()["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["keyId"].as_str().unwrap().to_string())
        .collect()
}

/// Backs `source` up while it serves requests, restores the file with `restore_args` into
/// an empty database, starts a server on it (`database_url`, new data directory, the source's
/// root key) and checks that it is the source as of the backup.
fn backup_under_load_and_restore(
    source: &Server,
    fx: &Fixture,
    backup_args: &[&str],
    restore_args: &[&str],
    new_dir: &Path,
    database_url: &str,
) {
    let file = new_dir.with_extension("backup.json");
    let load = Load::start(source, &fx.key);
    load.wait_for(5, 2);
    let (keys, records) = backup(&file, backup_args);
    load.wait_for(5, 2);
    let created = load.finish();
    let before_backup = key_ids(&source.admin());
    assert_eq!(restore(&file, restore_args), records + 1);

    let root_key = source.dir.join("root-key");
    let mut restored = Server::start_replica(new_dir, database_url, &root_key, &[]);
    assert!(!new_dir.join("admin-token").exists(), "the restored database has its admin token");
    restored.admin = fx.admin.clone();

    // The chain: the backup's records, then the Restore record; later ones are this test's
    // own reads of the log.
    let chain = restored.admin().audit_all().unwrap();
    let restore_record = &chain[records].record;
    assert_eq!(
        (restore_record.seq, restore_record.action.as_str(), restore_record.result.as_str()),
        (i64::try_from(records).unwrap() + 1, "Restore", "Allowed"),
    );
    assert!(restore_record.detail.starts_with("backup of "), "{restore_record:?}");
    assert!(chain[records + 1..].iter().all(|r| r.record.action == "ListAudit"), "{chain:?}");
    let source_chain = source.admin().audit_all().unwrap();
    assert_eq!(chain[..records], source_chain[..records], "the restored chain is the source's");
    let out = success(&restored.cli(Some(&fx.admin), &["audit", "verify"]));
    assert!(String::from_utf8(out).unwrap().starts_with("audit chain OK: "));
    // The digests signed before the backup came along, and the restored chain is checked
    // against them.
    let backed_up: Vec<String> = content(&file)["digests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d[2].as_str().unwrap().to_string())
        .collect();
    assert!(!backed_up.is_empty(), "the source had signed a digest");
    let digests = restored.admin().audit_digests().unwrap();
    assert_eq!(digests[..backed_up.len()], backed_up[..]);

    // One point in time: exactly the keys whose creation the backed-up chain records.
    let restored_keys = key_ids(&restored.admin());
    assert_eq!(restored_keys.len(), keys);
    let recorded: BTreeSet<String> = created_keys(&chain[..records]);
    assert_eq!(restored_keys, recorded, "keys and audit chain are not from one snapshot");
    assert!(restored_keys.is_subset(&before_backup));
    assert!(created.iter().any(|k| restored_keys.contains(k)), "no key of the load was backed up");
    assert!(
        created.iter().any(|k| !restored_keys.contains(k)),
        "no key was created after the backup"
    );

    // Keys, versions, alias, policy and tokens came along.
    for described in &fx.described {
        let key = described["keyId"].as_str().unwrap();
        assert_eq!(&restored.admin_json(&["key", "describe", key]), described);
    }
    assert_eq!(restored.admin_json(&["key", "describe", "alias/backup"])["keyId"], fx.alias_target);
    for (ct, text) in &fx.messages {
        let out =
            restored.cli(Some(&fx.admin), &["decrypt", "-i", path(ct), "--server-key", "any"]);
        assert_eq!(&success(&out), text, "{}", ct.display());
    }
    let out =
        restored.cli(Some(&fx.alice), &["decrypt", "-i", path(&fx.alices), "--server-key", "any"]);
    assert_eq!(success(&out), fx.messages[0].1);
    assert_eq!(
        json(&restored.cli(Some(&fx.alice), &["key", "describe", &fx.key]))["keyId"],
        fx.key
    );
    let line = failure(&restored.cli(Some(&fx.alice), &["key", "create", "--spec", "RSA_2048"]));
    assert!(line.contains("AccessDenied"), "{line}");

    // The restored server carries on: new keys, new records, a chain that still verifies.
    let key = restored.create_key();
    let (pt, ct) = (new_dir.with_extension("pt"), new_dir.with_extension("ct"));
    std::fs::write(&pt, b"after the restore").unwrap();
    success(&restored.cli(
        Some(&fx.admin),
        &["encrypt", "-i", path(&pt), "-o", path(&ct), "--server-key", &key],
    ));
    let out = restored.cli(Some(&fx.admin), &["decrypt", "-i", path(&ct), "--server-key", "any"]);
    assert_eq!(success(&out), b"after the restore");
    let out = success(&restored.cli(Some(&fx.admin), &["audit", "verify"]));
    assert!(String::from_utf8(out).unwrap().starts_with("audit chain OK: "));
    restored.stop();
}

/// Key IDs that the records' allowed CreateKey entries name.
fn created_keys(records: &[ChainedRecord]) -> BTreeSet<String> {
    records
        .iter()
        .filter(|r| r.record.action == "CreateKey" && r.record.result == "Allowed")
        .map(|r| r.record.key_id.clone().unwrap())
        .collect()
}

/// A backup of a SQLite server taken while other threads create keys and read, restored
/// into a fresh PostgreSQL database and served with the old root key from a new data
/// directory: every old message (both versions of a rotated key, through an alias) opens
/// with the old admin token, alice's token and policy work, the chain is the source's plus a
/// last `Restore` record and verifies, and the keys are exactly those the backed-up chain
/// created (one snapshot). The file is mode 0600.
#[test]
fn sqlite_backup_while_serving_restores_into_postgres() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    let db = sqlite_url(&src);
    let source = Server::start_with(&src, &["--database-url", &db, "--rate-limit", "100000"]);
    let fx = populate(&source, tmp.path());
    let pg = Postgres::start(&tmp.path().join("dst.pg"));
    let url = pg.create_database("restored");
    let new_dir = tmp.path().join("restored");
    backup_under_load_and_restore(
        &source,
        &fx,
        &["--data-dir", path(&src)],
        &["--data-dir", path(&new_dir), "--database-url", &url],
        &new_dir,
        &url,
    );
    // The source was not disturbed.
    let out = success(&source.cli(Some(&fx.admin), &["audit", "verify"]));
    assert!(String::from_utf8(out).unwrap().starts_with("audit chain OK: "));
}

/// The other direction: a PostgreSQL server's backup, taken while it serves, restored into
/// the SQLite database of a new data directory, with the same checks.
#[test]
fn postgres_backup_while_serving_restores_into_sqlite() {
    let tmp = tempfile::tempdir().unwrap();
    let pg = Postgres::start(&tmp.path().join("src.pg"));
    let url = pg.create_database("source");
    let src = tmp.path().join("src");
    let source = Server::start_with(&src, &["--database-url", &url, "--rate-limit", "100000"]);
    let fx = populate(&source, tmp.path());
    let new_dir = tmp.path().join("restored");
    // `restore` does not create the data directory (SQLite then fails with "unable to open
    // database file"), unlike `serve`.
    std::fs::create_dir_all(&new_dir).unwrap();
    backup_under_load_and_restore(
        &source,
        &fx,
        &["--data-dir", path(&src), "--database-url", &url],
        &["--data-dir", path(&new_dir)],
        &new_dir,
        &sqlite_url(&new_dir),
    );
}

/// The database arguments of `server`'s database (backend of `CIPHERDROP_TEST_BACKEND`).
fn db_args(server: &Server) -> Vec<String> {
    match server.database_url() {
        Some(url) => vec!["--database-url".into(), url],
        None => vec!["--data-dir".into(), path(&server.dir).into()],
    }
}

/// The backup file's JSON without its creation time.
fn content(file: &Path) -> Value {
    let mut doc: Value = serde_json::from_slice(&std::fs::read(file).unwrap()).unwrap();
    doc.as_object_mut().unwrap().remove("created");
    doc
}

/// A restore into a database that already holds a key server's data fails with one clear
/// line (exit 1) and changes nothing: a backup of that database before and after is the
/// same, and the server on it carries on with a chain that verifies and has no Restore
/// record.
#[test]
fn restore_refuses_a_database_that_is_not_empty() {
    let tmp = tempfile::tempdir().unwrap();
    let other = Server::start(&tmp.path().join("other"));
    other.create_key();
    let file = tmp.path().join("other.backup.json");
    backup(&file, &db_args(&other).iter().map(String::as_str).collect::<Vec<_>>());
    drop(other);

    let target = Server::start(&tmp.path().join("target"));
    let key = target.create_key();
    let args = db_args(&target);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let before = tmp.path().join("before.json");
    backup(&before, &args);
    let mut restore_args = vec!["restore", path(&file)];
    restore_args.extend_from_slice(&args);
    let line = failure(&run(&restore_args));
    assert!(line.contains("not empty"), "{line}");
    let after = tmp.path().join("after.json");
    backup(&after, &args);
    assert_eq!(content(&before), content(&after), "the refused restore changed the database");

    let records = target.admin().audit_all().unwrap();
    assert!(records.iter().all(|r| r.record.action != "Restore"));
    assert_eq!(key_ids(&target.admin()), BTreeSet::from([key]));
    let out = success(&target.cli(Some(&target.admin), &["audit", "verify"]));
    assert!(String::from_utf8(out).unwrap().starts_with("audit chain OK: "));
}

/// A backup file whose audit chain was edited (a record's result, a hash, a removed record)
/// or that is not a backup at all is refused with one line before anything is written: the
/// intact file then restores into the same database.
#[test]
fn restore_refuses_a_corrupted_backup() {
    let tmp = tempfile::tempdir().unwrap();
    let source = Server::start(&tmp.path().join("src"));
    let key = source.create_key();
    source.token("alice");
    let file = tmp.path().join("good.json");
    let (_, records) =
        backup(&file, &db_args(&source).iter().map(String::as_str).collect::<Vec<_>>());
    assert!(records >= 3);
    let good: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();

    // The target: an empty database of the test backend.
    let new_dir = tmp.path().join("restored");
    std::fs::create_dir_all(&new_dir).unwrap();
    let pg = (backend() == "postgres").then(|| Postgres::start(&tmp.path().join("dst.pg")));
    let url = match &pg {
        Some(pg) => pg.create_database("restored"),
        None => sqlite_url(&new_dir),
    };
    let target = ["--data-dir", path(&new_dir), "--database-url", &url];

    let seq_of = |action: &str| {
        good["audit"]
            .as_array()
            .unwrap()
            .iter()
            .position(|r| r[1].as_str().unwrap().contains(&format!("\"action\":\"{action}\"")))
            .unwrap()
    };
    let create_key = seq_of("CreateKey");
    let mut cases: Vec<(&str, Vec<u8>, String)> = Vec::new();
    let mut edited = good.clone();
    let record = edited["audit"][create_key][1]
        .as_str()
        .unwrap()
        .replace(r#""result":"Allowed""#, r#""result":"Denied""#);
    edited["audit"][create_key][1] = Value::String(record);
    cases.push((
        "edited record",
        serde_json::to_vec(&edited).unwrap(),
        format!("audit chain broken at {}", create_key + 1),
    ));
    let mut edited = good.clone();
    edited["audit"][create_key][3] = json!("0".repeat(64));
    cases.push((
        "edited hash",
        serde_json::to_vec(&edited).unwrap(),
        format!("audit chain broken at {}", create_key + 1),
    ));
    let mut edited = good.clone();
    edited["audit"].as_array_mut().unwrap().remove(0);
    cases.push((
        "removed record",
        serde_json::to_vec(&edited).unwrap(),
        "audit chain broken at 2".into(),
    ));
    let text = std::fs::read(&file).unwrap();
    cases.push(("truncated", text[..text.len() / 2].to_vec(), "not a backup".into()));
    let mut edited = good.clone();
    edited["version"] = json!(2);
    cases.push(("other version", serde_json::to_vec(&edited).unwrap(), "version 2".into()));

    for (what, bytes, expected) in cases {
        let bad = tmp.path().join(format!("{}.json", what.replace(' ', "-")));
        std::fs::write(&bad, bytes).unwrap();
        let mut args = vec!["restore", path(&bad)];
        args.extend_from_slice(&target);
        let line = failure(&run(&args));
        assert!(line.contains(&expected), "{what}: {line}");
    }

    // Nothing was written: the intact file restores into the same database.
    assert_eq!(restore(&file, &target), records + 1);
    let mut restored = Server::start_replica(&new_dir, &url, &source.dir.join("root-key"), &[]);
    restored.admin = source.admin.clone();
    assert_eq!(key_ids(&restored.admin()), BTreeSet::from([key]));
    let out = success(&restored.cli(Some(&source.admin), &["audit", "verify"]));
    assert!(String::from_utf8(out).unwrap().starts_with("audit chain OK: "));
    restored.stop();
    drop(pg);
}

/// Archive object rows are part of the backup: after a restore, alice still owns her object
/// (bob's PUT to its ID is refused with 409 and the stored bytes stay hers), and the listing
/// shows it. On the code before this test, the restored listing was empty and bob's PUT took
/// the ID and overwrote alice's data.
#[test]
fn archive_ownership_survives_backup_and_restore() {
    let tmp = tempfile::tempdir().unwrap();
    let archive = tmp.path().join("archive");
    let archive_arg = ["--archive-dir", path(&archive)];
    let source = Server::start_with(&tmp.path().join("src"), &archive_arg);
    let (alice, bob) = (source.token("alice"), source.token("bob"));
    let put = |server: &Server, token: &str, body: &'static [u8]| {
        ureq::put(format!("{}/v0/archive/objects/o-1", server.addr))
            .header("Authorization", &format!("Bearer {token}"))
            .config()
            .http_status_as_error(false)
            .build()
            .send(body)
            .unwrap()
            .status()
            .as_u16()
    };
    assert_eq!(put(&source, &alice, b"alice's ciphertext"), 200);
    let file = tmp.path().join("src.backup");
    let src_args = db_args(&source);
    backup(&file, &src_args.iter().map(String::as_str).collect::<Vec<_>>());
    drop(source);

    let dir = tmp.path().join("restored");
    let root_key = tmp.path().join("src").join("root-key");
    let pg = Postgres::start(&tmp.path().join("pg"));
    let url = pg.create_database("restored");
    restore(&file, &["--data-dir", path(&dir), "--database-url", &url]);
    let restored = Server::start_replica(&dir, &url, &root_key, &archive_arg);
    assert_eq!(put(&restored, &bob, b"bob's"), 409);
    let listed = Client::new(&restored.addr, Some(alice.clone()))
        .unwrap()
        .call(cipherdrop_server::client::Method::Get, "/v0/archive/objects", None)
        .unwrap();
    assert_eq!(listed["objects"][0]["id"], "o-1", "{listed}");
    assert_eq!(listed["objects"][0]["owner"], "alice", "{listed}");
    let stored = std::fs::read(archive.join("objects/o-1/data")).unwrap();
    assert_eq!(stored, b"alice's ciphertext");
}

/// `restore` creates a data directory that does not exist yet (as `serve` does), and
/// `backup` of a data directory without a database is an error that creates nothing, not an
/// empty backup.
#[test]
fn restore_makes_its_data_dir_and_backup_needs_a_database() {
    let tmp = tempfile::tempdir().unwrap();
    let source = Server::start(&tmp.path().join("src"));
    let key = source.create_key();
    let file = tmp.path().join("src.backup");
    backup(&file, &db_args(&source).iter().map(String::as_str).collect::<Vec<_>>());

    let fresh = tmp.path().join("new/data");
    restore(&file, &["--data-dir", path(&fresh)]);
    assert!(fresh.join("cipherdrop.db").exists());
    let root = tmp.path().join("src").join("root-key");
    let restored = Server::start_replica(&fresh, &sqlite_url(&fresh), &root, &[]);
    assert!(key_ids(&restored.client(Some(&source.admin))).contains(&key));

    let empty = tmp.path().join("typo");
    std::fs::create_dir(&empty).unwrap();
    let out_file = tmp.path().join("typo.backup");
    let line = failure(&run(&["backup", "--out", path(&out_file), "--data-dir", path(&empty)]));
    assert!(line.contains("no database to back up"), "{line}");
    assert!(!out_file.exists(), "a backup file was written");
    assert!(!empty.join("cipherdrop.db").exists(), "an empty database was created");
}
