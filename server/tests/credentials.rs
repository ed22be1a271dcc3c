//! End to end: access keys for AWS Signature Version 4 (`cipherdrop credential`). The admin
//! creates them (generated like AWS's, or fixed for local tools), lists them without their
//! secrets and revokes them; the secret is shown once and otherwise only ever stored sealed
//! under the root key: never in the server's log, the audit records or the database in the
//! clear. Backups carry them and `root rotate` re-seals them.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::{Path, PathBuf};

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use base64::Engine as _;
use cipherdrop_server::client::Method;
use common::{Server, cli, failure, json, success};
use serde_json::{Value, json};

/// The AWS documentation's example credentials, as a local tool would fix them.
const FIXED_ID: &str = "AKIAIOSFODNN7EXAMPLE";
const FIXED_SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// `credential create --principal P [--access-key-id ID --secret-access-key S]` as the admin.
fn create(server: &Server, principal: &str, fixed: Option<(&str, &str)>) -> std::process::Output {
    let mut args = vec!["credential", "create", "--principal", principal];
    if let Some((id, secret)) = fixed {
        args.extend_from_slice(&["--access-key-id", id, "--secret-access-key", secret]);
    }
    server.cli(Some(&server.admin), &args)
}

/// Every file under `dirs` that holds `needle`.
fn files_with(dirs: &[&Path], needle: &[u8]) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack: Vec<PathBuf> = dirs.iter().map(|d| d.to_path_buf()).collect();
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for entry in entries.flatten() {
            let p = entry.path();
            if p.is_dir() {
                stack.push(p);
            } else if std::fs::read(&p).is_ok_and(|b| b.windows(needle.len()).any(|w| w == needle))
            {
                found.push(p);
            }
        }
    }
    found
}

/// The sealed secret of access key `id` in the backup `file`.
fn sealed_in_backup(file: &Path, id: &str) -> Vec<u8> {
    let doc: Value = serde_json::from_slice(&std::fs::read(file).unwrap()).unwrap();
    let row = doc["access_keys"].as_array().unwrap().iter().find(|k| k["access_key_id"] == id);
    let sealed = row.unwrap_or_else(|| panic!("{id} is not in the backup"))["secret_sealed"]
        .as_str()
        .unwrap();
    base64::engine::general_purpose::STANDARD.decode(sealed).unwrap()
}

/// Opens `sealed` (`nonce || ciphertext || tag`, AES-256-GCM, the row's label as AAD) with a
/// root key file's 32 bytes, as the server's root key does.
fn open_with(root_key: &[u8], id: &str, sealed: &[u8]) -> Option<Vec<u8>> {
    let key = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, root_key).unwrap());
    let (nonce, body) = sealed.split_at(NONCE_LEN);
    let nonce = Nonce::try_assume_unique_for_key(nonce).unwrap();
    let mut buf = body.to_vec();
    let label = format!("access-key/{id}");
    key.open_in_place(nonce, Aad::from(label.as_bytes()), &mut buf).ok().map(|p| p.to_vec())
}

/// Generated and fixed keys; the list shows IDs, principals and states, never a secret; a
/// duplicate ID, a malformed one, half a fixed pair and a non-admin are refused; a revoked
/// key shows Revoked and a second revoke is 404. The secrets reach neither the server's log
/// nor the audit records, which name the access key IDs.
#[test]
fn credentials_are_created_listed_and_revoked() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let server = Server::start(&dir);
    let made = json(&create(&server, "alice", None));
    let (id, secret) =
        (made["accessKeyId"].as_str().unwrap(), made["secretAccessKey"].as_str().unwrap());
    assert!(id.len() == 20 && id.starts_with("AKIA"), "{made}");
    assert!(id[4..].bytes().all(|b| b.is_ascii_uppercase() || (b'2'..=b'7').contains(&b)));
    assert_eq!(secret.len(), 40, "{made}");
    assert!(secret.bytes().all(|b| b.is_ascii_alphanumeric() || b"+/".contains(&b)));
    assert_eq!(made["principal"], "alice");
    assert!(made["createdAt"].is_string(), "{made}");

    let fixed = json(&create(&server, "admin", Some((FIXED_ID, FIXED_SECRET))));
    assert_eq!(
        (fixed["accessKeyId"].as_str(), fixed["principal"].as_str()),
        (Some(FIXED_ID), Some("admin"))
    );
    assert_eq!(fixed["secretAccessKey"], FIXED_SECRET);

    let line = failure(&create(&server, "bob", Some((FIXED_ID, "another-secret-0123456789"))));
    assert!(line.contains("already exists"), "{line}");
    let err = server
        .admin()
        .create_credential("bob", Some((FIXED_ID, "another-secret-0123456789")))
        .unwrap_err();
    assert_eq!(err.status(), Some(409), "{err}");
    for (bad_id, bad_secret) in [("akiaiosfodnn7example", FIXED_SECRET), ("SHORT", FIXED_SECRET)] {
        let err = server.admin().create_credential("bob", Some((bad_id, bad_secret))).unwrap_err();
        assert_eq!(err.status(), Some(400), "{bad_id}: {err}");
    }
    let err = server
        .admin()
        .create_credential("bob", Some(("AKIAOTHER0123456789", "has a space in it")))
        .unwrap_err();
    assert_eq!(err.status(), Some(400), "{err}");
    assert!(!err.to_string().contains("has a space"), "the refusal repeats the secret: {err}");
    let half = json!({ "principal": "bob", "accessKeyId": "AKIAOTHER0123456789" });
    let err = server.admin().call(Method::Post, "/v0/credentials", Some(&half)).unwrap_err();
    assert_eq!(err.status(), Some(400), "{err}");
    let err = server.admin().create_credential("system", None).unwrap_err();
    assert_eq!(err.status(), Some(400), "{err}");
    let alice = server.client(Some(&server.token("alice")));
    for refused in [
        alice.create_credential("alice", None),
        alice.list_credentials(),
        alice.revoke_credential(id),
    ] {
        assert_eq!(refused.unwrap_err().status(), Some(403));
    }

    let list = json(&server.cli(Some(&server.admin), &["credential", "list"]));
    let entries = list["credentials"].as_array().unwrap();
    assert_eq!(entries.len(), 2, "{list}");
    assert!(entries.iter().all(|k| k["state"] == "Active" && k["revokedAt"].is_null()), "{list}");
    let text = list.to_string();
    assert!(
        !text.contains(secret) && !text.contains(FIXED_SECRET) && !text.contains("ecret"),
        "{text}"
    );

    let revoked = json(&server.cli(Some(&server.admin), &["credential", "revoke", id]));
    assert_eq!(revoked, json!({ "accessKeyId": id, "state": "Revoked" }));
    assert_eq!(server.admin().revoke_credential(id).unwrap_err().status(), Some(404));
    let list = server.admin().list_credentials().unwrap();
    let entry = list["credentials"].as_array().unwrap().iter().find(|k| k["accessKeyId"] == id);
    assert_eq!(entry.unwrap()["state"], "Revoked", "{list}");
    // A revoked ID stays taken: an access key ID names one credential for good.
    let line = failure(&create(&server, "alice", Some((id, FIXED_SECRET))));
    assert!(line.contains("already exists"), "{line}");

    let records = server.admin().audit_all().unwrap();
    let all = serde_json::to_string(&records).unwrap();
    assert!(!all.contains(secret) && !all.contains(FIXED_SECRET), "a secret reached the audit log");
    assert!(all.contains(&format!("principal=alice accessKeyId={id}")), "{all}");
    assert!(all.contains(&format!("accessKeyId={FIXED_ID}")), "{all}");
    let actions: Vec<&str> = records.iter().map(|r| r.record.action.as_str()).collect();
    for action in ["CreateCredential", "ListCredentials", "RevokeCredential"] {
        assert!(actions.contains(&action), "{action} not recorded: {actions:?}");
    }
    let log = std::fs::read_to_string(dir.with_extension("log")).unwrap_or_default();
    assert!(!log.contains(secret) && !log.contains(FIXED_SECRET), "a secret reached the log");
}

/// The database's files hold the access key IDs but no secret in the clear.
#[test]
fn the_database_holds_no_plaintext_secret() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let mut server = Server::start(&dir);
    let made = json(&create(&server, "alice", None));
    let secret = made["secretAccessKey"].as_str().unwrap().to_string();
    json(&create(&server, "admin", Some((FIXED_ID, FIXED_SECRET))));
    let pg = server.postgres().cloned();
    server.stop();
    // PostgreSQL writes pages out lazily: a checkpoint first, so the scan sees what it holds.
    if let Some(pg) = &pg {
        drop(pg.psql("postgres", "CHECKPOINT"));
    }
    let mut scan = vec![dir.as_path()];
    if let Some(pg) = &pg {
        scan.push(pg.dir());
    }
    assert!(!files_with(&scan, FIXED_ID.as_bytes()).is_empty(), "the scan finds the ID");
    for s in [secret.as_bytes(), FIXED_SECRET.as_bytes()] {
        let found = files_with(&scan, s);
        assert!(found.is_empty(), "a secret in the clear in {found:?}");
    }
}

/// A backup holds the access keys sealed (no secret in the clear), and a restore into a new
/// database brings them back under the same root key.
#[test]
fn backup_and_restore_carry_access_keys() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let db = format!("sqlite://{}?mode=rwc", dir.join("cipherdrop.db").display());
    let server = Server::start_with(&dir, &["--database-url", &db]);
    let admin = server.admin.clone();
    json(&create(&server, "alice", Some((FIXED_ID, FIXED_SECRET))));
    server.admin().revoke_credential(FIXED_ID).unwrap();
    let made = json(&create(&server, "bob", None));
    let id = made["accessKeyId"].as_str().unwrap().to_string();
    drop(server);

    let file = tmp.path().join("backup.json");
    success(&cli(None, None, &["backup", "--out", path(&file), "--database-url", &db], None));
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(!text.contains(FIXED_SECRET), "a secret in the clear in the backup");
    let root = std::fs::read(dir.join("root-key")).unwrap();
    let sealed = sealed_in_backup(&file, FIXED_ID);
    assert_eq!(open_with(&root, FIXED_ID, &sealed).as_deref(), Some(FIXED_SECRET.as_bytes()));

    let restored = tmp.path().join("restored");
    let db2 = format!("sqlite://{}?mode=rwc", restored.join("cipherdrop.db").display());
    let restore = ["restore", path(&file), "--data-dir", path(&restored), "--database-url", &db2];
    success(&cli(None, None, &restore, None));
    let server = Server::start_replica(&restored, &db2, &dir.join("root-key"), &[]);
    let list = server.client(Some(&admin)).list_credentials().unwrap();
    let states: Vec<(&str, &str)> = list["credentials"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| (k["accessKeyId"].as_str().unwrap(), k["state"].as_str().unwrap()))
        .collect();
    assert_eq!(states, [(FIXED_ID, "Revoked"), (id.as_str(), "Active")], "{list}");
}

/// `root rotate` re-seals every access key (revoked ones too) under the new root key: the old
/// key no longer opens any of them, the new one opens each to its secret; running it again
/// finds nothing left to do.
#[test]
fn root_rotate_reseals_access_keys() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let db = format!("sqlite://{}?mode=rwc", dir.join("cipherdrop.db").display());
    let (old, new) = (tmp.path().join("old-root"), tmp.path().join("new-root"));
    std::fs::write(&old, [0x11u8; 32]).unwrap();
    std::fs::write(&new, [0x22u8; 32]).unwrap();
    let server = Server::start_with(&dir, &["--database-url", &db, "--root-key-file", path(&old)]);
    json(&create(&server, "alice", Some((FIXED_ID, FIXED_SECRET))));
    let made = json(&create(&server, "bob", None));
    let (id, secret) = (
        made["accessKeyId"].as_str().unwrap().to_string(),
        made["secretAccessKey"].as_str().unwrap().to_string(),
    );
    server.admin().revoke_credential(&id).unwrap();
    drop(server);

    let rotate = [
        "root",
        "rotate",
        "--database-url",
        &db,
        "--root-key-file",
        path(&new),
        "--previous-root-key",
        path(&old),
    ];
    let done = json(&cli(None, None, &rotate, None));
    assert_eq!(done["access_keys"], 2, "{done}");
    let again = json(&cli(None, None, &rotate, None));
    assert_eq!(again["access_keys"], 0, "{again}");

    let file = tmp.path().join("backup.json");
    success(&cli(None, None, &["backup", "--out", path(&file), "--database-url", &db], None));
    let old_key = std::fs::read(&old).unwrap();
    let new_key = std::fs::read(&new).unwrap();
    for (key_id, plain) in [(FIXED_ID, FIXED_SECRET), (id.as_str(), secret.as_str())] {
        let sealed = sealed_in_backup(&file, key_id);
        assert!(open_with(&old_key, key_id, &sealed).is_none(), "the old root key opens {key_id}");
        assert_eq!(open_with(&new_key, key_id, &sealed).as_deref(), Some(plain.as_bytes()));
    }
    let server = Server::start_replica(&dir, &db, &new, &[]);
    let records = server.client(Some(&server.admin)).audit_all().unwrap();
    let resealed = records
        .iter()
        .filter(|r| r.record.action == "RotateRootKey" && r.record.detail.contains("accessKeyId="))
        .count();
    assert_eq!(resealed, 2);
}
