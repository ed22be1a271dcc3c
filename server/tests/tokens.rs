//! End to end: the token lifecycle (issue "Key server trust", finding 5). Tokens have IDs,
//! an optional expiry, can be listed and revoked; a revoked or expired token is refused at
//! its next request, through any replica; losing the admin-token file mints no second admin
//! token; audit records name the token ID, never the token.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::services::Postgres;
use common::{Server, failure, json};

/// A token with a lifetime works until it ends and is refused after, and `token list`
/// shows it Expired; the list never holds a token or its hash.
#[test]
fn tokens_expire() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(&tmp.path().join("data"));
    let made = server.admin_json(&["token", "create", "--principal", "alice", "--ttl", "2"]);
    let (token, id) = (made["token"].as_str().unwrap(), made["tokenId"].as_str().unwrap());
    assert!(id.starts_with("tok_") && made["expiresAt"].is_string(), "{made}");
    server.client(Some(token)).list_keys().unwrap();
    std::thread::sleep(Duration::from_millis(2500));
    let err = server.client(Some(token)).list_keys().unwrap_err();
    assert_eq!(err.status(), Some(401), "{err}");
    let list = server.admin_json(&["token", "list"]);
    let entry = list["tokens"].as_array().unwrap().iter().find(|t| t["tokenId"] == id).unwrap();
    assert_eq!(entry["state"], "Expired", "{entry}");
    let text = list.to_string();
    assert!(!text.contains(token) && !text.contains("Hash") && !text.contains("hash"), "{text}");
    // Refused by the CLI (usage, exit 2) or by the server (over a year, exit 1).
    for bad in ["0", "5x", "3w", "400d"] {
        let out = server
            .cli(Some(&server.admin), &["token", "create", "--principal", "alice", "--ttl", bad]);
        let stderr = String::from_utf8_lossy(&out.stderr).to_lowercase();
        assert!(!out.status.success() && stderr.contains("ttl"), "{bad}: {stderr}");
    }
    let line =
        failure(&server.cli(
            Some(&server.admin),
            &["token", "create", "--principal", "alice", "--ttl", "400d"],
        ));
    assert!(line.contains("ttlSeconds"), "{line}");
}

/// Revoking a token on one replica refuses it at its very next request on the other; the
/// records of its calls name its ID and never the token; a second revoke is 404.
#[test]
fn revoked_tokens_are_refused_through_every_replica() {
    let tmp = tempfile::tempdir().unwrap();
    let pg = Postgres::start(&tmp.path().join("pg"));
    let url = pg.create_database("tokens");
    let root = tmp.path().join("root-key");
    std::fs::write(&root, [7u8; 32]).unwrap();
    let a = Server::start_replica(&tmp.path().join("a"), &url, &root, &[]);
    let b = Server::start_replica(&tmp.path().join("b"), &url, &root, &[]);
    let admin = a.admin.clone();
    let made = json(&a.cli(Some(&admin), &["token", "create", "--principal", "bob"]));
    let (token, id) = (made["token"].as_str().unwrap(), made["tokenId"].as_str().unwrap());
    b.client(Some(token)).list_keys().unwrap();
    let revoked = json(&b.cli(Some(&admin), &["token", "revoke", id]));
    assert_eq!(revoked["state"], "Revoked");
    let err = a.client(Some(token)).list_keys().unwrap_err();
    assert_eq!(err.status(), Some(401), "{err}");
    let err = b.client(Some(&admin)).revoke_token(id).unwrap_err();
    assert_eq!(err.status(), Some(404), "{err}");

    let records = a.client(Some(&admin)).audit_all().unwrap();
    let bobs: Vec<_> = records.iter().filter(|r| r.record.principal == "bob").collect();
    assert!(!bobs.is_empty());
    assert!(bobs.iter().all(|r| r.record.token_id.as_deref() == Some(id)), "{bobs:?}");
    let all = serde_json::to_string(&records).unwrap();
    assert!(!all.contains(token), "a token reached the audit log");
    assert!(all.contains(&format!("tokenId={id}")), "create and revoke name the token ID");
}

/// Deleting the admin-token file and restarting mints no second admin token (it did: the
/// file's absence was the signal), and the first admin token keeps working.
#[test]
fn losing_the_admin_token_file_mints_no_second_admin() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let mut server = Server::start(&dir);
    let admin = server.admin.clone();
    server.stop();
    std::fs::remove_file(dir.join("admin-token")).unwrap();
    let server = Server::start_replica(
        &dir,
        &server.database_url().unwrap_or_else(|| {
            format!("sqlite://{}?mode=rwc", dir.join("cipherdrop.db").display())
        }),
        &dir.join("root-key"),
        &[],
    );
    assert!(!dir.join("admin-token").exists(), "a second admin token was written");
    let list = json(&server.cli(Some(&admin), &["token", "list"]));
    let admins = list["tokens"].as_array().unwrap().iter().filter(|t| t["principal"] == "admin");
    assert_eq!(admins.count(), 1, "{list}");
}
