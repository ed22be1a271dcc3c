//! Smoke test of the test kit's external services: a throwaway PostgreSQL cluster and moto's
//! S3 server (server/tests/common/services.rs).
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;

use common::services::{Postgres, S3, bind_params, shared_cluster};

#[test]
fn postgres_cluster_starts_restarts_and_is_shared() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("srv.pg");
    let pg = shared_cluster(&dir);
    let url = pg.create_database("app db");
    assert_eq!(url, format!("postgres://cipherdrop@127.0.0.1:{}/app db", pg.port()));
    assert_eq!(pg.ensure_database("app db"), url);
    assert_eq!(pg.psql("app db", "SELECT 1"), "1");
    pg.psql(
        "app db",
        "CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t VALUES (1, 'a');",
    );
    let (sql, vars) =
        bind_params("UPDATE t SET v = ? WHERE id = ? AND v <> '?'", &["it's \"x\"", "1"]);
    assert_eq!(sql, "UPDATE t SET v = :'p1' WHERE id = :'p2' AND v <> '?'");
    let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    pg.psql_vars("app db", &sql, &vars);

    // Same directory: same cluster.
    let again = shared_cluster(&dir);
    assert!(Arc::ptr_eq(&pg, &again));
    drop(again);

    // A restart keeps port and data; an immediate stop (crash) too.
    let port = pg.port();
    pg.restart();
    assert_eq!(pg.port(), port);
    assert_eq!(pg.psql("app db", "SELECT v FROM t"), "it's \"x\"");
    pg.kill();
    pg.start_again();
    assert_eq!(pg.psql("app db", "SELECT count(*) FROM t"), "1");

    // A role without a privilege.
    pg.create_role("app");
    pg.grant_all("app", "app db");
    pg.psql("app db", "REVOKE INSERT ON t FROM app");
    assert_eq!(pg.psql_as("app", "app db", "SELECT count(*) FROM t"), "1");
    let insert =
        std::panic::catch_unwind(|| pg.psql_as("app", "app db", "INSERT INTO t VALUES (2, 'b')"));
    assert!(insert.is_err(), "INSERT should be refused");

    // The last Arc stops it; a new start on the directory reuses the data.
    drop(pg);
    assert!(!dir.join("data/postmaster.pid").exists());
    let pg = Postgres::start(&dir);
    assert_eq!(pg.psql("app db", "SELECT count(*) FROM t"), "1");
    // A second start while it runs finds the running cluster.
    let twin = Postgres::start(&dir);
    assert_eq!(twin.port(), pg.port());
    std::mem::forget(twin);
}

#[test]
fn moto_s3_put_get_list() {
    let s3 = S3::start();
    s3.create_bucket("archive");
    s3.put("archive", "k/one", b"\x00\x01bytes");
    s3.put("archive", "k/two", b"");
    s3.put("archive", "other", b"x");
    assert_eq!(s3.get("archive", "k/one"), b"\x00\x01bytes");
    assert_eq!(s3.list("archive", "k/"), ["k/one", "k/two"]);
    s3.delete("archive", "k/two");
    assert_eq!(s3.list("archive", ""), ["k/one", "other"]);
    let env = s3.env();
    assert!(env.contains(&("AWS_ENDPOINT_URL".to_string(), s3.endpoint())));
}
