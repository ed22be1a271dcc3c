//! Test kit for end-to-end key-server tests: the real `cipherdrop serve` binary on a port the
//! OS picks (`--listen 127.0.0.1:0`; the server prints its address), a temporary data
//! directory, the CLI run as a user runs it, and an HTTP client.
#![allow(clippy::unwrap_used, dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Output, Stdio};
use std::time::{Duration, Instant};

use cipherdrop_server::client::Client;
use serde_json::Value;

/// The `cipherdrop` binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_cipherdrop");
/// The repository's test keys.
pub const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/data");
/// Environment variables of the CLI and server that the tests set themselves.
const ENV: [&str; 7] = [
    "CIPHERDROP_ADDR",
    "CIPHERDROP_TOKEN",
    "CIPHERDROP_DATA_DIR",
    "CIPHERDROP_LISTEN",
    "CIPHERDROP_ROOT_KEY",
    "CIPHERDROP_CORS_ORIGINS",
    "CIPHERDROP_RATE_LIMIT",
];

/// A running `cipherdrop serve`; killed (SIGKILL) on drop if still running.
pub struct Server {
    child: Option<Child>,
    /// Kept open so that the server never writes to a closed pipe.
    _stdout: Option<BufReader<ChildStdout>>,
    /// `http://127.0.0.1:PORT`.
    pub addr: String,
    /// The data directory.
    pub dir: PathBuf,
    /// The admin token the server wrote on first start.
    pub admin: String,
}

impl Server {
    /// Starts a server on `dir` (created on first start) and waits for `/healthz`.
    pub fn start(dir: &Path) -> Self {
        Self::start_with(dir, &[])
    }

    /// Like [`Server::start`], with more `serve` arguments.
    pub fn start_with(dir: &Path, args: &[&str]) -> Self {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.with_extension("log"))
            .unwrap();
        let mut cmd = Command::new(BIN);
        for var in ENV {
            cmd.env_remove(var);
        }
        let mut child = cmd
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(dir)
            .args(args)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        let Some(addr) = line.trim().strip_prefix("cipherdrop key server on ") else {
            let _ = child.kill();
            let _ = child.wait();
            let log = std::fs::read_to_string(dir.with_extension("log")).unwrap_or_default();
            panic!("server did not start: {line:?}\n{log}");
        };
        let addr = addr.to_string();
        let client = Client::new(&addr, None).unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        while client.health().is_err() {
            assert!(Instant::now() < deadline, "server at {addr} never became healthy");
            std::thread::sleep(Duration::from_millis(20));
        }
        let admin = std::fs::read_to_string(dir.join("admin-token")).unwrap().trim().to_string();
        Self { child: Some(child), _stdout: Some(stdout), addr, dir: dir.to_path_buf(), admin }
    }

    /// SIGTERM, then waits; the server must exit cleanly.
    pub fn stop(&mut self) {
        let mut child = self.child.take().expect("server is running");
        let status = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status();
        assert!(status.unwrap().success());
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                assert!(status.success(), "server exited with {status} after SIGTERM");
                return;
            }
            assert!(Instant::now() < deadline, "server did not stop after SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGKILL (kill -9), then reaps the process.
    pub fn kill9(&mut self) {
        let mut child = self.child.take().expect("server is running");
        child.kill().unwrap();
        child.wait().unwrap();
    }

    /// A client with `token` (none: unauthenticated).
    pub fn client(&self, token: Option<&str>) -> Client {
        Client::new(&self.addr, token.map(String::from)).unwrap()
    }

    /// A client with the admin token.
    pub fn admin(&self) -> Client {
        self.client(Some(&self.admin))
    }

    /// Runs the CLI against this server with `token`.
    pub fn cli(&self, token: Option<&str>, args: &[&str]) -> Output {
        cli(Some(&self.addr), token, args, None)
    }

    /// Runs the CLI with the admin token; it must succeed; returns its stdout as JSON.
    pub fn admin_json(&self, args: &[&str]) -> Value {
        json(&self.cli(Some(&self.admin), args))
    }

    /// Creates an RSA_2048 key with the admin CLI; returns its key ID.
    pub fn create_key(&self) -> String {
        let key = self.admin_json(&["key", "create", "--spec", "RSA_2048"]);
        key["keyId"].as_str().unwrap().to_string()
    }

    /// Creates a token for `principal` with the admin CLI.
    pub fn token(&self, principal: &str) -> String {
        let answer = self.admin_json(&["token", "create", "--principal", principal]);
        answer["token"].as_str().unwrap().to_string()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Runs the CLI with `CIPHERDROP_ADDR` and `CIPHERDROP_TOKEN` set (or unset) and `stdin`.
pub fn cli(addr: Option<&str>, token: Option<&str>, args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut cmd = Command::new(BIN);
    for var in ENV {
        cmd.env_remove(var);
    }
    if let Some(addr) = addr {
        cmd.env("CIPHERDROP_ADDR", addr);
    }
    if let Some(token) = token {
        cmd.env("CIPHERDROP_TOKEN", token);
    }
    let mut child = cmd
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let input = stdin.unwrap_or_default().to_vec();
    let mut pipe = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || {
        let _ = pipe.write_all(&input);
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    out
}

/// The stdout of a successful run, as JSON.
pub fn json(out: &Output) -> Value {
    assert!(out.status.success(), "command failed: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Asserts that a run failed with exit code 1 and one line on stderr; returns that line.
pub fn failure(out: &Output) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(1), "expected exit 1, stderr: {stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "expected one line: {stderr:?}");
    stderr.trim_end().to_string()
}

/// Asserts success; returns stdout.
pub fn success(out: &Output) -> Vec<u8> {
    assert!(out.status.success(), "command failed: {}", String::from_utf8_lossy(&out.stderr));
    out.stdout.clone()
}

/// The repository's Python virtualenv with the official AWS Encryption SDK.
pub fn python() -> PathBuf {
    let python = Path::new(env!("CARGO_MANIFEST_DIR")).join("../build/venv/bin/python");
    assert!(
        python.exists(),
        "{} is missing: run `make setup` (it installs aws-encryption-sdk there)",
        python.display()
    );
    python
}

/// Runs `code` with the venv's Python and `args`; it must succeed; returns stdout.
pub fn run_python(code: &str, args: &[&str]) -> Vec<u8> {
    let out = Command::new(python()).arg("-c").arg(code).args(args).output().unwrap();
    assert!(out.status.success(), "python failed: {}", String::from_utf8_lossy(&out.stderr));
    out.stdout
}

/// Runs one SQL statement with parameters on `db` through Python's sqlite3 module (no SQLite
/// crate for the tests): the venv's Python, else `python3`. Exactly one row must change.
pub fn run_sqlite(db: &Path, sql: &str, params: &[&str]) {
    const CODE: &str = "import sqlite3, sys\n\
        db = sqlite3.connect(sys.argv[1])\n\
        n = db.execute(sys.argv[2], sys.argv[3:]).rowcount\n\
        db.commit()\n\
        assert n == 1, f'{n} rows changed'\n";
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("../build/venv/bin/python");
    let python = if venv.exists() { venv } else { PathBuf::from("python3") };
    let out = Command::new(&python).arg("-c").arg(CODE).arg(db).arg(sql).args(params).output();
    let out = out.unwrap_or_else(|e| panic!("cannot run {}: {e}", python.display()));
    assert!(out.status.success(), "sqlite edit failed: {}", String::from_utf8_lossy(&out.stderr));
}
