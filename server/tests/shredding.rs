//! End to end: crypto-shredding (issue "Key server trust", finding 1). When a key's deletion
//! date passes, with no request to trigger it, no copy of its sealed material remains in any
//! file of the data directory (SQLite) or of the PostgreSQL cluster. The server's clock is
//! moved past the date with libfaketime (Debian `faketime`, installed by `make setup`); the
//! binary has no test clock.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::services::Postgres;
use common::{Server, files_holding, sealed_versions};

const FAKETIME: &str = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1";

/// A clock eight days ahead, for the server process only (monotonic time untouched, so its
/// timers behave).
fn eight_days_later() -> Vec<(String, String)> {
    assert!(Path::new(FAKETIME).exists(), "{FAKETIME} is missing: run `make setup`");
    vec![
        ("LD_PRELOAD".into(), FAKETIME.into()),
        ("FAKETIME".into(), "+8d".into()),
        ("FAKETIME_DONT_FAKE_MONOTONIC".into(), "1".into()),
    ]
}

/// Creates a doomed key (rotated: two versions) and a kept one, schedules the first for
/// deletion in 7 days, checks that its material is on disk, restarts the server 8 days
/// later, and checks that the key is gone, recorded, and its material in no file, while
/// the kept key still works.
fn deleted_key_leaves_nothing(
    server: Server,
    db_args: &[&str],
    scan: &[&Path],
    tmp: &Path,
    flush: &dyn Fn(),
) {
    let doomed = server.create_key();
    server.admin_json(&["key", "rotate", &doomed]);
    let kept = server.create_key();
    for i in 0..20 {
        // Later writes, so the doomed rows are not simply the newest pages.
        server.admin().create_token(&format!("user{i}")).unwrap();
    }
    server.admin_json(&["key", "schedule-deletion", &doomed, "--days", "7"]);
    let sealed = sealed_versions(db_args, tmp, &doomed);
    assert_eq!(sealed.len(), 2);
    // PostgreSQL writes pages out lazily: a checkpoint first, so the scan sees what the
    // database holds.
    flush();
    assert!(!files_holding(scan, &sealed).is_empty(), "the scan finds the material before");

    let admin = server.admin.clone();
    let dir = server.dir.clone();
    let url = server.database_url();
    drop(server);
    let later = match &url {
        Some(url) => {
            Server::start_replica_env(&dir, url, &dir.join("root-key"), &[], &eight_days_later())
        }
        None => Server::start_with_env(&dir, &[], &eight_days_later()),
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let gone = later.client(Some(&admin)).describe_key(&doomed).is_err();
        let left = files_holding(scan, &sealed);
        if gone && left.is_empty() {
            break;
        }
        if Instant::now() >= deadline {
            let log = std::fs::read_to_string(dir.with_extension("log")).unwrap_or_default();
            let notes: Vec<&str> =
                log.lines().filter(|l| l.contains("WARN") || l.contains("ERROR")).collect();
            panic!("after the deletion date: gone={gone}, in {left:?}; server: {notes:#?}");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let records = later.client(Some(&admin)).audit_all().unwrap();
    let deleted = records
        .iter()
        .find(|r| r.record.action == "DeleteKey" && r.record.key_id.as_deref() == Some(&doomed));
    assert_eq!(deleted.unwrap().record.principal, "system");
    later.client(Some(&admin)).public_key(&kept).unwrap();
}

/// SQLite: `secure_delete` and a TRUNCATE checkpoint leave the material in neither the
/// database file nor its WAL.
#[test]
fn sqlite_deleted_key_material_is_in_no_file() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let db = format!("sqlite://{}?mode=rw", dir.join("cipherdrop.db").display());
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(dir.join("root-key"), [9u8; 32]).unwrap();
    let server =
        Server::start_replica(&dir, &db.replace("mode=rw", "mode=rwc"), &dir.join("root-key"), &[]);
    deleted_key_leaves_nothing(server, &["--database-url", &db], &[&dir], tmp.path(), &|| {});
}

/// PostgreSQL (with `wal_recycle = off`, as the README asks): VACUUM FULL, a WAL switch and
/// a checkpoint leave the material in no file of the cluster, WAL included.
#[test]
fn postgres_deleted_key_material_is_in_no_file() {
    let tmp = tempfile::tempdir().unwrap();
    let pg = Postgres::start(&tmp.path().join("pg"));
    pg.psql("postgres", "ALTER SYSTEM SET wal_recycle = off");
    pg.psql("postgres", "SELECT pg_reload_conf()");
    let url = pg.create_database("shred");
    let dir = tmp.path().join("data");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(dir.join("root-key"), [9u8; 32]).unwrap();
    let server = Server::start_replica(&dir, &url, &dir.join("root-key"), &[]);
    let checkpoint = || drop(pg.psql("postgres", "CHECKPOINT"));
    let scan = [dir.as_path(), pg.dir()];
    deleted_key_leaves_nothing(server, &["--database-url", &url], &scan, tmp.path(), &checkpoint);
}
