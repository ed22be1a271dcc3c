//! The AWS KMS API suite (tests/kms/run.py: boto3, the AWS CLI, the official Encryption
//! SDKs) against a server this kit starts, so that it runs on PostgreSQL too
//! (`CIPHERDROP_TEST_BACKEND=postgres`, the `server-postgres` suite): regional aliases,
//! grants and the rest through the other backend's SQL.

mod common;

use std::path::Path;
use std::process::Command;

use common::Server;

#[test]
fn the_kms_api_suite_passes_on_this_backend() {
    let tmp = tempfile::tempdir().expect("a temporary directory");
    let dir = tmp.path().join("data");
    let server = Server::start_with(&dir, &["--rate-limit", "100000"]);
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let out = Command::new(common::python())
        .arg(root.join("tests/kms/run.py"))
        .args(["--cli", env!("CARGO_BIN_EXE_cipherdrop"), "--server", &server.addr])
        .args(["--admin-token", &server.admin])
        // The npm package's cases need target/npm/*.tgz, which `make test` packs after the
        // cargo suites: the `kms` suite runs them.
        .arg("--no-npm")
        .arg("--log")
        .arg(dir.with_extension("log"))
        .output()
        .expect("tests/kms/run.py runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("test result: ok."),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
