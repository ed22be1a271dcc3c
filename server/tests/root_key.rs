//! End to end: the root of trust (issue "Key server trust"). The root key in a PKCS#11 token
//! (SoftHSM2, Debian `softhsm2`, installed by `make setup`) seals and opens inside the token
//! and never leaves it; `cipherdrop root rotate` re-seals every key version under a new root
//! key while the server keeps serving, and leaves no copy sealed under the old one.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use common::services::Postgres;
use common::{
    Server, cli_env, failure, files_holding, json, message_header, sealed_versions,
    serve_expecting_exit_env, success,
};
use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass};
use cryptoki::session::UserType;
use cryptoki::types::AuthPin;

const MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";
const PIN: &str = "4711-user-pin";

/// A SoftHSM2 token store of its own (SOFTHSM2_CONF), with one token, `cipherdrop`.
struct SoftHsm {
    conf: PathBuf,
    pin_file: PathBuf,
}

impl SoftHsm {
    fn new(dir: &Path) -> Self {
        assert!(Path::new(MODULE).exists(), "{MODULE} is missing: run `make setup`");
        let tokens = dir.join("tokens");
        std::fs::create_dir_all(&tokens).unwrap();
        let conf = dir.join("softhsm2.conf");
        std::fs::write(
            &conf,
            format!(
                "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
                tokens.display()
            ),
        )
        .unwrap();
        let pin_file = dir.join("pin");
        std::fs::write(&pin_file, format!("{PIN}\n")).unwrap();
        let out = std::process::Command::new("softhsm2-util")
            .env("SOFTHSM2_CONF", &conf)
            .args([
                "--init-token",
                "--free",
                "--label",
                "cipherdrop",
                "--pin",
                PIN,
                "--so-pin",
                "5678",
            ])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        Self { conf, pin_file }
    }

    /// The URI of the key labelled `object`, the PIN read from a file.
    fn uri(&self, object: &str) -> String {
        format!(
            "pkcs11:token=cipherdrop;object={object};type=secret-key?module-path={MODULE}&pin-source={}",
            self.pin_file.display()
        )
    }

    fn env(&self) -> Vec<(String, String)> {
        vec![("SOFTHSM2_CONF".into(), self.conf.display().to_string())]
    }

    /// `cipherdrop root init --root-key URI`.
    fn init(&self, uri: &str) -> std::process::Output {
        cli_env(None, None, &["root", "init", "--root-key", uri], None, &self.env())
    }

    /// The attributes the token reports for the key labelled `object`, CKA_VALUE asked for
    /// too, read through the token's own interface as any other application would: this test
    /// binary run again as a child with SOFTHSM2_CONF (which the module reads at load).
    fn attributes(&self, object: &str) -> String {
        self.probe(object, false)
    }

    /// Makes an AES-256 key labelled `object` that may leave the token (as a careless
    /// operator's tool would), through the probe.
    fn make_extractable(&self, object: &str) {
        self.probe(object, true);
    }

    fn probe(&self, object: &str, make_extractable: bool) -> String {
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "token_probe", "--ignored", "--nocapture", "--test-threads=1"])
            .env("SOFTHSM2_CONF", &self.conf)
            .env(PROBE, object)
            .env(PROBE_MAKE, if make_extractable { "1" } else { "" })
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(out.status.success(), "{text}{}", String::from_utf8_lossy(&out.stderr));
        // libtest prints "test token_probe ... " first, on the same line.
        let (_, attributes) = text.split_once("attributes: ").unwrap_or_else(|| panic!("{text}"));
        attributes.lines().next().unwrap().to_string()
    }
}

/// Names the object [`token_probe`] reads.
const PROBE: &str = "CIPHERDROP_TEST_TOKEN_PROBE";
/// Non-empty: [`token_probe`] first makes that object, extractable.
const PROBE_MAKE: &str = "CIPHERDROP_TEST_TOKEN_PROBE_MAKE";

/// Run only by [`SoftHsm::attributes`], as a child process.
#[test]
#[ignore = "run by the PKCS#11 test as a child process"]
fn token_probe() {
    let Ok(object) = std::env::var(PROBE) else { return };
    let ctx = Pkcs11::new(MODULE).unwrap();
    ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)).unwrap();
    let slot = ctx
        .get_slots_with_token()
        .unwrap()
        .into_iter()
        .find(|s| ctx.get_token_info(*s).unwrap().label() == "cipherdrop")
        .unwrap();
    let session = ctx.open_rw_session(slot).unwrap();
    session.login(UserType::User, Some(&AuthPin::from(PIN))).unwrap();
    if std::env::var(PROBE_MAKE).is_ok_and(|m| !m.is_empty()) {
        let template = [
            Attribute::Token(true),
            Attribute::Label(object.as_bytes().to_vec()),
            Attribute::KeyType(KeyType::AES),
            Attribute::ValueLen(32.into()),
            Attribute::Sensitive(false),
            Attribute::Extractable(true),
            Attribute::Encrypt(true),
            Attribute::Decrypt(true),
        ];
        session.generate_key(&Mechanism::AesKeyGen, &template).unwrap();
    }
    let found = session
        .find_objects(&[
            Attribute::Class(ObjectClass::SECRET_KEY),
            Attribute::Label(object.as_bytes().to_vec()),
        ])
        .unwrap();
    assert_eq!(found.len(), 1);
    let attributes = session
        .get_attributes(
            found[0],
            &[
                AttributeType::Sensitive,
                AttributeType::Extractable,
                AttributeType::NeverExtractable,
                AttributeType::Value,
            ],
        )
        .unwrap();
    println!("attributes: {attributes:?}");
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Encrypts a file through `server` for `key`; returns the ciphertext's path and its header.
fn encrypt(server: &Server, key: &str, tmp: &Path, name: &str) -> (PathBuf, Vec<u8>) {
    let ct = server.encrypt_file(tmp, name, key, &[]);
    let header = message_header(&ct);
    (ct, header)
}

fn decrypt(server: &Server, ct: &Path) -> String {
    let out = server.cli(Some(&server.admin), &["decrypt", "-i", path(ct), "--server-key", "any"]);
    String::from_utf8(success(&out)).unwrap()
}

#[test]
fn pkcs11_root_key_seals_inside_the_token_and_never_leaves_it() {
    let tmp = tempfile::tempdir().unwrap();
    let hsm = SoftHsm::new(&tmp.path().join("hsm"));
    let uri = hsm.uri("root");
    let dir = tmp.path().join("data");
    // One database for every start, whichever backend the suite runs on: the refused starts
    // below must meet the database the first start sealed.
    let db = format!("sqlite://{}?mode=rwc", dir.join("cipherdrop.db").display());

    // No key in the token yet: the server refuses to start and says what to do.
    let (status, log) = serve_expecting_exit_env(
        &dir,
        &["--database-url", &db, "--root-key", &uri],
        &hsm.env(),
        Duration::from_secs(20),
    );
    assert!(!status.unwrap().success());
    assert!(log.contains("cipherdrop root init"), "{log}");

    let made = hsm.init(&uri);
    let said = String::from_utf8(success(&made)).unwrap();
    assert!(said.contains("pkcs11:token=cipherdrop;object=root"), "{said}");
    let again = failure(&hsm.init(&uri));
    assert!(again.contains("has that key already"), "{again}");
    for said in [said, again] {
        assert!(!said.contains(PIN), "the PIN must never be shown: {said}");
    }
    // The token says the key is sensitive and never extractable, and will not give its value.
    let attributes = hsm.attributes("root");
    for expected in ["Sensitive(true)", "Extractable(false)", "NeverExtractable(true)"] {
        assert!(attributes.contains(expected), "{attributes}");
    }
    assert!(!attributes.contains("Value("), "{attributes}");

    let server =
        Server::start_with_env(&dir, &["--database-url", &db, "--root-key", &uri], &hsm.env());
    assert!(!dir.join("root-key").exists(), "no root key file beside the database");
    let key = server.create_key();
    server.admin_json(&["key", "rotate", &key]);
    let (ct, _) = encrypt(&server, &key, tmp.path(), "hsm");
    assert_eq!(decrypt(&server, &ct), "plaintext of hsm");
    let admin = server.admin.clone();
    drop(server);

    // Restarted, the token opens what it sealed.
    let server =
        Server::start_with_env(&dir, &["--database-url", &db, "--root-key", &uri], &hsm.env());
    assert_eq!(server.admin, admin);
    assert_eq!(decrypt(&server, &ct), "plaintext of hsm");
    drop(server);

    // Another key of the same token does not open this database; a wrong PIN never logs in
    // (and is not echoed).
    success(&hsm.init(&hsm.uri("other")));
    let (status, log) = serve_expecting_exit_env(
        &dir,
        &["--database-url", &db, "--root-key", &hsm.uri("other")],
        &hsm.env(),
        Duration::from_secs(20),
    );
    assert!(!status.unwrap().success());
    assert!(log.contains("does not open this database"), "{log}");
    hsm.make_extractable("loose");
    let (status, log) = serve_expecting_exit_env(
        &dir,
        &["--database-url", &db, "--root-key", &hsm.uri("loose")],
        &hsm.env(),
        Duration::from_secs(20),
    );
    assert!(!status.unwrap().success());
    assert!(log.contains("the key may leave the token"), "{log}");
    let wrong = format!(
        "pkcs11:token=cipherdrop;object=root?module-path={MODULE}&pin-value=wrong-pin-9921"
    );
    let (status, log) = serve_expecting_exit_env(
        &dir,
        &["--database-url", &db, "--root-key", &wrong],
        &hsm.env(),
        Duration::from_secs(20),
    );
    assert!(!status.unwrap().success());
    assert!(log.contains("PKCS#11 login"), "{log}");
    assert!(!log.contains("wrong-pin-9921"), "{log}");
}

/// Unwraps `headers` through `server` in a loop until stopped; counts successes and failures.
struct Unwrapping {
    stop: Arc<AtomicBool>,
    ok: Arc<AtomicUsize>,
    thread: std::thread::JoinHandle<Vec<String>>,
}

impl Unwrapping {
    fn start(server: &Server, headers: Vec<Vec<u8>>) -> Self {
        let client = server.admin();
        let stop = Arc::new(AtomicBool::new(false));
        let ok = Arc::new(AtomicUsize::new(0));
        let thread = {
            let (stop, ok) = (stop.clone(), ok.clone());
            std::thread::spawn(move || {
                let mut failed = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    for header in &headers {
                        match client.unwrap(header, 0) {
                            Ok(_) => drop(ok.fetch_add(1, Ordering::Relaxed)),
                            Err(e) => failed.push(e.to_string()),
                        }
                    }
                }
                failed
            })
        };
        Self { stop, ok, thread }
    }

    fn finish(self) -> (usize, Vec<String>) {
        self.stop.store(true, Ordering::Relaxed);
        let failed = self.thread.join().unwrap();
        (self.ok.load(Ordering::Relaxed), failed)
    }
}

/// Keys sealed under a root key in a file, moved online into a PKCS#11 token: servers run
/// with the new key and the previous one while `root rotate` re-seals, then with the new
/// one alone; the old one no longer opens the database, and no file holds an old copy.
fn rotation_moves_everything_to_the_new_key(db_args: &[&str], scan: &[&Path], tmp: &Path) {
    let hsm = SoftHsm::new(&tmp.join("hsm"));
    let uri = hsm.uri("root-2");
    success(&hsm.init(&uri));
    let old = tmp.join("old-root-key");
    std::fs::write(&old, [0x5au8; 32]).unwrap();
    let dir = tmp.join("data");
    let with = |extra: &[&str]| {
        let mut args = db_args.to_vec();
        args.extend_from_slice(extra);
        args.into_iter().map(String::from).collect::<Vec<_>>()
    };
    let start = |extra: &[&str]| {
        let args = with(extra);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        Server::start_with_env(&dir, &args, &hsm.env())
    };

    let server = start(&["--root-key-file", path(&old)]);
    let rotated = server.create_key();
    let (ct1, h1) = encrypt(&server, &rotated, tmp, "v1");
    server.admin_json(&["key", "rotate", &rotated]);
    let (ct2, h2) = encrypt(&server, &rotated, tmp, "v2");
    let other = server.create_key();
    let (ct3, h3) = encrypt(&server, &other, tmp, "other");
    let mut old_sealed = sealed_versions(db_args, tmp, &rotated);
    old_sealed.extend(sealed_versions(db_args, tmp, &other));
    assert_eq!(old_sealed.len(), 3);
    drop(server);

    // Step 1: the server holds both keys. What the old key sealed still opens; new keys are
    // sealed under the token's.
    let both = ["--root-key", uri.as_str(), "--previous-root-key", path(&old)];
    let server = start(&both);
    assert_eq!(decrypt(&server, &ct1), "plaintext of v1");
    let fresh = server.create_key();
    let (ct4, h4) = encrypt(&server, &fresh, tmp, "fresh");

    // Step 2: re-seal while unwraps keep coming; not one may fail.
    let load = Unwrapping::start(&server, vec![h1, h2, h3, h4]);
    std::thread::sleep(Duration::from_millis(300));
    let rotate_args = with(&both);
    let mut args = vec!["root", "rotate"];
    args.extend(rotate_args.iter().map(String::as_str));
    let done = json(&cli_env(None, None, &args, None, &hsm.env()));
    assert_eq!(done["versions"], 3, "{done}");
    assert_eq!(done["already"], 1, "{done}");
    assert_eq!(done["server_values"], 2, "{done}");
    assert_eq!(done["shredded"], true, "{done}");
    std::thread::sleep(Duration::from_millis(300));
    let (ok, failed) = load.finish();
    assert!(failed.is_empty(), "unwraps failed during the rotation: {failed:?}");
    assert!(ok >= 8, "too few unwraps ran during the rotation: {ok}");
    // Run again: nothing left to do.
    let again = json(&cli_env(None, None, &args, None, &hsm.env()));
    assert_eq!((again["versions"].as_u64(), again["already"].as_u64()), (Some(0), Some(4)));
    assert_eq!(again["server_values"], 0, "{again}");
    let records = server.admin().audit_all().unwrap();
    let rotations: Vec<_> =
        records.iter().filter(|r| r.record.action == "RotateRootKey").map(|r| &r.record).collect();
    assert_eq!(rotations.len(), 5, "three versions and two server-wide values");
    assert!(rotations.iter().all(|r| r.principal == "system"));
    assert_eq!(rotations.iter().filter(|r| r.key_id.as_deref() == Some(&rotated)).count(), 2);
    drop(server);

    // Step 3: the token's key alone opens everything; the old key opens nothing, and no file
    // holds a copy sealed under it.
    let server = start(&["--root-key", &uri]);
    for (ct, text) in [(&ct1, "v1"), (&ct2, "v2"), (&ct3, "other"), (&ct4, "fresh")] {
        assert_eq!(decrypt(&server, ct), format!("plaintext of {text}"));
    }
    let mut new_sealed = sealed_versions(db_args, tmp, &rotated);
    new_sealed.extend(sealed_versions(db_args, tmp, &other));
    assert!(new_sealed.iter().all(|s| !old_sealed.contains(s)));
    drop(server);
    let left = files_holding(scan, &old_sealed);
    assert!(left.is_empty(), "copies sealed under the old root key remain in {left:?}");
    let old_args = with(&["--root-key-file", path(&old)]);
    let old_args: Vec<&str> = old_args.iter().map(String::as_str).collect();
    let (status, log) =
        serve_expecting_exit_env(&dir, &old_args, &hsm.env(), Duration::from_secs(20));
    assert!(!status.unwrap().success());
    assert!(log.contains("does not open this database"), "{log}");
}

#[test]
fn sqlite_root_rotate_reseals_online_into_the_token() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let db = format!("sqlite://{}?mode=rwc", dir.join("cipherdrop.db").display());
    rotation_moves_everything_to_the_new_key(&["--database-url", &db], &[&dir], tmp.path());
}

#[test]
fn postgres_root_rotate_reseals_online_into_the_token() {
    let tmp = tempfile::tempdir().unwrap();
    let pg = Postgres::start(&tmp.path().join("pg"));
    pg.psql("postgres", "ALTER SYSTEM SET wal_recycle = off");
    pg.psql("postgres", "SELECT pg_reload_conf()");
    let url = pg.create_database("rotate");
    rotation_moves_everything_to_the_new_key(&["--database-url", &url], &[pg.dir()], tmp.path());
}

#[test]
fn root_rotate_refuses_what_cannot_work() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let db = format!("sqlite://{}?mode=rwc", dir.join("cipherdrop.db").display());
    let old = tmp.path().join("old");
    std::fs::write(&old, [1u8; 32]).unwrap();
    let server = Server::start_with(&dir, &["--database-url", &db, "--root-key-file", path(&old)]);
    server.create_key();
    drop(server);
    let new = tmp.path().join("new");
    let stranger = tmp.path().join("stranger");
    std::fs::write(&new, [2u8; 32]).unwrap();
    std::fs::write(&stranger, [3u8; 32]).unwrap();
    let rotate = |extra: &[&str]| {
        let mut args = vec!["root", "rotate", "--database-url", &db];
        args.extend_from_slice(extra);
        cli_env(None, None, &args, None, &[])
    };
    // Without the key being replaced, nothing is done.
    let err = failure(&rotate(&["--root-key-file", path(&new)]));
    assert!(err.contains("--previous-root-key"), "{err}");
    // Neither key belongs to the database: refused before anything is written.
    let err =
        failure(&rotate(&["--root-key-file", path(&new), "--previous-root-key", path(&stranger)]));
    assert!(err.contains("does not open this database"), "{err}");
    let server = Server::start_with(&dir, &["--database-url", &db, "--root-key-file", path(&old)]);
    assert!(server.admin().list_keys().is_ok(), "the old key still opens the database");
}
