//! End to end: a tamper-evident audit trail (issue "Key server trust", finding 4). The server
//! signs digests of the chain's head and writes them, with the records they cover, to an
//! append-only directory; `cipherdrop audit verify` detects a cut tail and a rewrite of the
//! whole chain with every hash recomputed (both verified as "audit chain OK" before), and a
//! digest kept elsewhere (`--digest`) detects a rewrite even when the database's digests go.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{Server, failure, python, success};

/// Runs Python `code` on the SQLite database `db` (sqlite3 module, `db` as `sys.argv[1]`).
fn sqlite(db: &Path, code: &str) {
    let script = format!(
        "import sqlite3, sys, hashlib, json\ndb = sqlite3.connect(sys.argv[1])\n{code}\ndb.commit()\n"
    );
    let out = Command::new(python()).arg("-c").arg(script).arg(db).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

/// A server on SQLite signing a digest every 5 records, into `audit`.
fn start(dir: &Path, audit: &Path) -> Server {
    let db = format!("sqlite://{}?mode=rwc", dir.join("cipherdrop.db").display());
    if !dir.exists() {
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(dir.join("root-key"), [5u8; 32]).unwrap();
    }
    let args = ["--audit-digest-records", "5", "--audit-dir", audit.to_str().unwrap()];
    Server::start_replica(dir, &db, &dir.join("root-key"), &args)
}

/// Requests enough to make several digests; waits until one covers seq `at_least`.
fn busy(server: &Server, admin: &str, at_least: i64) {
    for i in 0..30 {
        server.client(Some(admin)).create_token(&format!("alice{i}")).unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let docs = server.client(Some(admin)).audit_digests().unwrap();
        let newest: Option<serde_json::Value> =
            docs.last().map(|d| serde_json::from_str(d).unwrap());
        if newest.is_some_and(|d| d["seq"].as_i64().unwrap() >= at_least) {
            return;
        }
        assert!(Instant::now() < deadline, "no digest covers seq {at_least}: {docs:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn verify(server: &Server, admin: &str, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["audit", "verify"];
    args.extend_from_slice(extra);
    server.cli(Some(admin), &args)
}

/// Deleting the 20 newest records (and moving the head back) is detected: a signed digest
/// covers records that are no longer there.
#[test]
fn a_cut_tail_is_detected() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, audit) = (tmp.path().join("data"), tmp.path().join("audit"));
    let mut server = start(&dir, &audit);
    let admin = server.admin.clone();
    busy(&server, &admin, 25);
    let out = String::from_utf8(success(&verify(&server, &admin, &[]))).unwrap();
    assert!(out.contains("signed digests OK: "), "{out}");
    server.stop();
    sqlite(
        &dir.join("cipherdrop.db"),
        "top = db.execute('SELECT max(seq) FROM audit').fetchone()[0]\n\
         db.execute('DELETE FROM audit WHERE seq > ?', (top - 20,))\n\
         seq, h = db.execute('SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1').fetchone()\n\
         db.execute('UPDATE audit_head SET seq = ?, hash = ?', (seq, h))",
    );
    let server = start(&dir, &audit);
    let line = failure(&verify(&server, &admin, &[]));
    assert!(line.contains("signed digest"), "{line}");
}

/// Renaming a principal in every record and recomputing every hash leaves a chain that
/// links: the signed digests (which the attacker cannot re-sign without the root key) do not
/// match it; with the database's digests deleted too, a digest kept elsewhere still does not.
#[test]
fn a_rewritten_chain_is_detected() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, audit) = (tmp.path().join("data"), tmp.path().join("audit"));
    let mut server = start(&dir, &audit);
    let admin = server.admin.clone();
    busy(&server, &admin, 25);
    server.stop();
    // The directory holds every digest and the records each covers.
    let digests: Vec<_> = std::fs::read_dir(audit.join("digests")).unwrap().flatten().collect();
    assert!(digests.len() >= 2, "{} digests", digests.len());
    let kept = tmp.path().join("kept-digest.json");
    std::fs::copy(audit.join("digests/00000002.json"), &kept).unwrap();
    let lines = std::fs::read_to_string(audit.join("records/00000001.jsonl")).unwrap();
    assert!(lines.lines().next().unwrap().contains("\"seq\":1"), "{lines}");
    let pem = tmp.path().join("audit.pem");
    {
        let server = start(&dir, &audit);
        let out = success(&server.cli(Some(&admin), &["audit", "public-key", "--pem"]));
        std::fs::write(&pem, out).unwrap();
        let pinned = ["--public-key", pem.to_str().unwrap(), "--digest", kept.to_str().unwrap()];
        success(&verify(&server, &admin, &pinned));
    }

    sqlite(
        &dir.join("cipherdrop.db"),
        "prev = '0' * 64\n\
         for seq, record in db.execute('SELECT seq, record FROM audit ORDER BY seq').fetchall():\n    \
             record = record.replace('\"principal\":\"admin\"', '\"principal\":\"mallory\"')\n    \
             h = hashlib.sha256((prev + '\\n' + record).encode()).hexdigest()\n    \
             db.execute('UPDATE audit SET record = ?, prev_hash = ?, hash = ? WHERE seq = ?', (record, prev, h, seq))\n    \
             prev = h\n\
         db.execute('UPDATE audit_head SET hash = ?', (prev,))",
    );
    let server = start(&dir, &audit);
    let line = failure(&verify(&server, &admin, &[]));
    assert!(line.contains("rewritten") || line.contains("signature"), "{line}");

    // Without the database's digests, the one kept elsewhere still finds it.
    drop(server);
    sqlite(&dir.join("cipherdrop.db"), "db.execute('DELETE FROM audit_digests')");
    let server = start(&dir, &audit);
    // The restarted server signs the rewritten chain anew (its first digest, at start); only
    // the digest kept elsewhere can tell.
    let deadline = Instant::now() + Duration::from_secs(20);
    while server.client(Some(&admin)).audit_digests().unwrap().is_empty() {
        assert!(Instant::now() < deadline, "no digest after the restart");
        std::thread::sleep(Duration::from_millis(100));
    }
    success(&verify(&server, &admin, &[]));
    let pinned = ["--public-key", pem.to_str().unwrap(), "--digest", kept.to_str().unwrap()];
    let line = failure(&verify(&server, &admin, &pinned));
    assert!(line.contains("rewritten"), "{line}");
}

/// A digest whose hash was edited to match a rewritten chain no longer verifies.
#[test]
fn an_edited_digest_is_detected() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, audit) = (tmp.path().join("data"), tmp.path().join("audit"));
    let mut server = start(&dir, &audit);
    let admin = server.admin.clone();
    busy(&server, &admin, 10);
    server.stop();
    sqlite(
        &dir.join("cipherdrop.db"),
        "n, doc = db.execute('SELECT n, document FROM audit_digests ORDER BY n LIMIT 1').fetchone()\n\
         d = json.loads(doc)\n\
         d['hash'] = 'f' * 64\n\
         db.execute('UPDATE audit_digests SET document = ? WHERE n = ?', (json.dumps(d, separators=(',', ':')), n))",
    );
    let server = start(&dir, &audit);
    let line = failure(&verify(&server, &admin, &[]));
    assert!(line.contains("signature does not verify"), "{line}");
}
