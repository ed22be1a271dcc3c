//! Test kit for end-to-end key-server tests: the real `cipherdrop serve` binary on a port the
//! OS picks (`--listen 127.0.0.1:0` unless the test gives `--listen`; the server prints its
//! address), a temporary data directory, the CLI run as a user runs it, and an HTTP client.
//! A server may serve HTTPS with a certificate from a test CA ([`tls`]), which the kit's
//! clients and CLI runs then trust.
//!
//! The storage backend is chosen by `CIPHERDROP_TEST_BACKEND`: `sqlite` (the default: the
//! server's database in its data directory) or `postgres` (a throwaway PostgreSQL cluster per
//! data directory, see [`services::Postgres`], passed to the server as `--database-url`).
#![allow(clippy::unwrap_used, dead_code)]

pub mod services;
pub mod tls;

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Output, Stdio};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use services::{Postgres, bind_params, psql_url, shared_cluster};
use tls::TlsFiles;

use base64::Engine as _;
use cipherdrop_server::client::Client;
use serde_json::Value;

/// The `cipherdrop` binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_cipherdrop");
/// The repository's test keys.
pub const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/data");
/// Environment variables of the CLI and server that the tests set themselves.
const ENV: [&str; 19] = [
    "CIPHERDROP_ADDR",
    "CIPHERDROP_TOKEN",
    "CIPHERDROP_DATA_DIR",
    "CIPHERDROP_LISTEN",
    "CIPHERDROP_ROOT_KEY",
    "CIPHERDROP_CORS_ORIGINS",
    "CIPHERDROP_RATE_LIMIT",
    "CIPHERDROP_DATABASE_URL",
    "CIPHERDROP_ROOT_KEY_FILE",
    "CIPHERDROP_ARCHIVE_URL",
    "CIPHERDROP_ARCHIVE_DIR",
    "CIPHERDROP_ROOT_KEY_URI",
    "CIPHERDROP_PREVIOUS_ROOT_KEY",
    "CIPHERDROP_PKCS11_PIN",
    "CIPHERDROP_PKCS11_MODULE",
    "CIPHERDROP_TLS_CERT",
    "CIPHERDROP_TLS_KEY",
    "CIPHERDROP_INSECURE_HTTP",
    "CIPHERDROP_CA_FILE",
];

/// The storage backend of [`Server::start`]: `"sqlite"` (default) or `"postgres"`, from
/// `CIPHERDROP_TEST_BACKEND`.
pub fn backend() -> &'static str {
    static BACKEND: OnceLock<&'static str> = OnceLock::new();
    BACKEND.get_or_init(|| match std::env::var("CIPHERDROP_TEST_BACKEND").as_deref() {
        Err(_) | Ok("" | "sqlite") => "sqlite",
        Ok("postgres") => "postgres",
        Ok(other) => panic!("CIPHERDROP_TEST_BACKEND={other:?}: expected `sqlite` or `postgres`"),
    })
}

/// A running `cipherdrop serve`; killed (SIGKILL) on drop if still running.
pub struct Server {
    child: Option<Child>,
    /// Kept open so that the server never writes to a closed pipe.
    _stdout: Option<BufReader<ChildStdout>>,
    /// `http://127.0.0.1:PORT`, or `https://`; a server listening on every address is
    /// reached through 127.0.0.1.
    pub addr: String,
    /// The data directory.
    pub dir: PathBuf,
    /// The admin token the server wrote on first start (empty for a replica whose data
    /// directory has none).
    pub admin: String,
    /// The PostgreSQL cluster of `dir` (backend `postgres`); shared by every server started on
    /// the same `dir` while one of them is alive, so a restart finds the same data.
    pg: Option<Arc<Postgres>>,
    /// The `--database-url` the server was given, if any.
    database_url: Option<String>,
    /// The CA of its TLS certificate, which the kit's clients trust.
    ca: Option<PathBuf>,
}

impl Server {
    /// Starts a server on `dir` (created on first start) and waits for `/healthz`.
    pub fn start(dir: &Path) -> Self {
        Self::start_with(dir, &[])
    }

    /// Like [`Server::start`], with more `serve` arguments.
    pub fn start_with(dir: &Path, args: &[&str]) -> Self {
        Self::start_with_env(dir, args, &[])
    }

    /// Like [`Server::start_with`], with more environment variables for the server (e.g.
    /// [`services::S3::env`]).
    pub fn start_with_env(dir: &Path, args: &[&str], env: &[(String, String)]) -> Self {
        Self::start_trusting(dir, args, env, None)
    }

    /// Like [`Server::start_with`], serving HTTPS with the certificate and key of `tls`.
    pub fn start_tls(dir: &Path, tls: &TlsFiles, args: &[&str]) -> Self {
        let (cert, key) = (tls.cert.to_str().unwrap(), tls.key.to_str().unwrap());
        let mut all = vec!["--tls-cert", cert, "--tls-key", key];
        all.extend_from_slice(args);
        Self::start_trusting(dir, &all, &[], Some(&tls.ca))
    }

    /// Like [`Server::start_with_env`]; the kit's clients of the server trust the CA
    /// certificate `ca` (for a server that `args` or `env` make serve HTTPS).
    pub fn start_trusting(
        dir: &Path,
        args: &[&str],
        env: &[(String, String)],
        ca: Option<&Path>,
    ) -> Self {
        if backend() != "postgres" || args.contains(&"--database-url") {
            return Self::spawn(dir, args, env, None, None, true, ca);
        }
        let pg = shared_cluster(&dir.with_extension("pg"));
        let url = pg.ensure_database("cipherdrop");
        Self::spawn(dir, args, env, Some(pg), Some(url), true, ca)
    }

    /// A replica: a server on `dir` (its own data directory) with an explicit
    /// `--database-url URL --root-key-file FILE`, for tests running several servers on one
    /// database. Its `admin` is the data directory's admin token if there is one, else empty.
    pub fn start_replica(
        dir: &Path,
        database_url: &str,
        root_key_file: &Path,
        args: &[&str],
    ) -> Self {
        Self::start_replica_env(dir, database_url, root_key_file, args, &[])
    }

    /// Like [`Server::start_replica`], with more environment variables for the server.
    pub fn start_replica_env(
        dir: &Path,
        database_url: &str,
        root_key_file: &Path,
        args: &[&str],
        env: &[(String, String)],
    ) -> Self {
        let key = root_key_file.to_str().expect("UTF-8 path");
        let mut all = vec!["--root-key-file", key];
        all.extend_from_slice(args);
        Self::spawn(dir, &all, env, None, Some(database_url.to_string()), false, None)
    }

    fn spawn(
        dir: &Path,
        args: &[&str],
        env: &[(String, String)],
        pg: Option<Arc<Postgres>>,
        database_url: Option<String>,
        require_admin: bool,
        ca: Option<&Path>,
    ) -> Self {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.with_extension("log"))
            .unwrap();
        let mut cmd = serve_command(dir, args, env);
        if let Some(url) = &database_url {
            cmd.args(["--database-url", url]);
        }
        let mut child = cmd.stdout(Stdio::piped()).stderr(log).spawn().unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        let Some(addr) = line.trim().strip_prefix("cipherdrop key server on ") else {
            let _ = child.kill();
            let _ = child.wait();
            let log = std::fs::read_to_string(dir.with_extension("log")).unwrap_or_default();
            let pg_log = pg
                .as_ref()
                .map(|pg| format!("\nPostgreSQL log:\n{}", pg.log()))
                .unwrap_or_default();
            panic!("server did not start: {line:?}\n{log}{pg_log}");
        };
        let addr = addr.replace("://0.0.0.0:", "://127.0.0.1:");
        let client = Client::with_ca_file(&addr, None, ca).unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        while client.health().is_err() {
            assert!(Instant::now() < deadline, "server at {addr} never became healthy");
            std::thread::sleep(Duration::from_millis(20));
        }
        let admin = match std::fs::read_to_string(dir.join("admin-token")) {
            Ok(token) => token.trim().to_string(),
            Err(e) if require_admin => panic!("{}: {e}", dir.join("admin-token").display()),
            Err(_) => String::new(),
        };
        Self {
            child: Some(child),
            _stdout: Some(stdout),
            addr,
            dir: dir.to_path_buf(),
            admin,
            pg,
            database_url,
            ca: ca.map(Path::to_path_buf),
        }
    }

    /// Encrypts `plaintext of NAME` (written to `DIR/NAME.pt`) to `key` through this server as
    /// the admin, with `context` pairs (`k=v`); returns the message's path, `DIR/NAME.ct`.
    pub fn encrypt_file(&self, dir: &Path, name: &str, key: &str, context: &[&str]) -> PathBuf {
        let (pt, ct) = (dir.join(format!("{name}.pt")), dir.join(format!("{name}.ct")));
        std::fs::write(&pt, format!("plaintext of {name}")).unwrap();
        let (pt_arg, ct_arg) = (pt.to_str().unwrap(), ct.to_str().unwrap());
        let mut args = vec!["encrypt", "-i", pt_arg, "-o", ct_arg, "--server-key", key];
        for pair in context {
            args.extend_from_slice(&["--context", pair]);
        }
        success(&self.cli(Some(&self.admin), &args));
        ct
    }

    /// The server's process ID; panics if it was stopped.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("server is running").id()
    }

    /// The `--database-url` the server was given (backend `postgres`, or a replica).
    pub fn database_url(&self) -> Option<String> {
        self.database_url.clone()
    }

    /// The PostgreSQL cluster the kit started for this server (backend `postgres`).
    pub fn postgres(&self) -> Option<&Arc<Postgres>> {
        self.pg.as_ref()
    }

    /// Runs one SQL statement with `?` parameters on the server's database, whichever the
    /// backend; exactly one row must change. SQLite: `DIR/cipherdrop.db` through
    /// [`run_sqlite`] (stop the server first). PostgreSQL: psql, the `?` bound as `:'p1'`,
    /// `:'p2'`… (quoted literals: PostgreSQL casts them to the column's type).
    pub fn sql(&self, sql: &str, params: &[&str]) {
        let Some(url) = self.database_url.as_deref().filter(|u| u.starts_with("postgres")) else {
            let db = match self.database_url.as_deref().and_then(|u| u.strip_prefix("sqlite:")) {
                Some(path) => {
                    let path = path.strip_prefix("//").unwrap_or(path);
                    PathBuf::from(path.split('?').next().unwrap())
                }
                None => self.dir.join("cipherdrop.db"),
            };
            return run_sqlite(&db, sql, params);
        };
        let (sql, vars) = bind_params(sql.trim_end().trim_end_matches(';'), params);
        let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        let out = psql_url(url, &format!("{sql};\n\\echo ROW_COUNT=:ROW_COUNT\n"), &vars);
        let count = out.lines().last().and_then(|l| l.strip_prefix("ROW_COUNT=")).unwrap_or("?");
        assert_eq!(count, "1", "{count} rows changed: {sql}");
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

    /// Whether the server process is still running (it has not exited on its own).
    pub fn is_running(&mut self) -> bool {
        self.child.as_mut().is_some_and(|c| c.try_wait().unwrap().is_none())
    }

    /// SIGKILL (kill -9), then reaps the process.
    pub fn kill9(&mut self) {
        let mut child = self.child.take().expect("server is running");
        child.kill().unwrap();
        child.wait().unwrap();
    }

    /// A client with `token` (none: unauthenticated).
    pub fn client(&self, token: Option<&str>) -> Client {
        Client::with_ca_file(&self.addr, token.map(String::from), self.ca.as_deref()).unwrap()
    }

    /// A client with the admin token.
    pub fn admin(&self) -> Client {
        self.client(Some(&self.admin))
    }

    /// Runs the CLI against this server with `token`.
    pub fn cli(&self, token: Option<&str>, args: &[&str]) -> Output {
        let ca = self.ca.iter().map(|ca| ("CIPHERDROP_CA_FILE".into(), ca.display().to_string()));
        cli_env(Some(&self.addr), token, args, None, &ca.collect::<Vec<_>>())
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

/// Runs `cipherdrop serve` on `dir` with `args` (as [`Server`] does: `--listen 127.0.0.1:0`
/// unless `args` has `--listen`, and stderr appended to `DIR.log`) for a start that should fail, and waits up to `timeout`
/// for it to exit. Returns its exit status (`None`: it was still running, and is killed) and
/// what it wrote to stderr.
pub fn serve_expecting_exit(
    dir: &Path,
    args: &[&str],
    timeout: Duration,
) -> (Option<std::process::ExitStatus>, String) {
    serve_expecting_exit_env(dir, args, &[], timeout)
}

/// Like [`serve_expecting_exit`], with more environment variables for the server.
pub fn serve_expecting_exit_env(
    dir: &Path,
    args: &[&str],
    env: &[(String, String)],
    timeout: Duration,
) -> (Option<std::process::ExitStatus>, String) {
    let log_path = dir.with_extension("log");
    let before = std::fs::metadata(&log_path).map(|m| m.len()).unwrap_or(0);
    let log = std::fs::OpenOptions::new().create(true).append(true).open(&log_path).unwrap();
    let mut child =
        serve_command(dir, args, env).stdout(Stdio::null()).stderr(log).spawn().unwrap();
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let text = std::fs::read(&log_path).unwrap_or_default();
    let start = usize::try_from(before).unwrap().min(text.len());
    (status, String::from_utf8_lossy(&text[start..]).into_owned())
}

/// `cipherdrop serve --data-dir DIR ARGS` in a clean environment plus `env`, on
/// `--listen 127.0.0.1:0` unless `args` says otherwise, logging warnings and errors.
fn serve_command(dir: &Path, args: &[&str], env: &[(String, String)]) -> Command {
    let mut cmd = Command::new(BIN);
    for var in ENV {
        cmd.env_remove(var);
    }
    cmd.arg("serve");
    if !args.contains(&"--listen") {
        cmd.args(["--listen", "127.0.0.1:0"]);
    }
    cmd.arg("--data-dir").arg(dir).args(args);
    cmd.env("RUST_LOG", "warn").envs(env.iter().map(|(k, v)| (k, v))).stdin(Stdio::null());
    cmd
}

/// Runs the CLI with `CIPHERDROP_ADDR` and `CIPHERDROP_TOKEN` set (or unset) and `stdin`.
pub fn cli(addr: Option<&str>, token: Option<&str>, args: &[&str], stdin: Option<&[u8]>) -> Output {
    cli_env(addr, token, args, stdin, &[])
}

/// Like [`cli`], with more environment variables.
pub fn cli_env(
    addr: Option<&str>,
    token: Option<&str>,
    args: &[&str],
    stdin: Option<&[u8]>,
    env: &[(String, String)],
) -> Output {
    let mut cmd = Command::new(BIN);
    for var in ENV {
        cmd.env_remove(var);
    }
    cmd.envs(env.iter().map(|(k, v)| (k, v)));
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

/// Every version's sealed private key of `key_id`, read from a backup of the database.
pub fn sealed_versions(db_args: &[&str], tmp: &Path, key_id: &str) -> Vec<Vec<u8>> {
    let out = tmp.join(format!("sealed-{key_id}.backup"));
    let mut args = vec!["backup", "--out", out.to_str().unwrap()];
    args.extend_from_slice(db_args);
    success(&cli(None, None, &args, None));
    let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    std::fs::remove_file(&out).unwrap();
    doc["versions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|v| v["key_id"] == key_id)
        .map(|v| {
            base64::engine::general_purpose::STANDARD
                .decode(v["private_sealed"].as_str().unwrap())
                .unwrap()
        })
        .collect()
}

/// Files under `dirs` holding a 48-byte window from the middle of any of `secrets`.
pub fn files_holding(dirs: &[&Path], secrets: &[Vec<u8>]) -> Vec<String> {
    let windows: Vec<&[u8]> = secrets.iter().map(|s| &s[s.len() / 2..s.len() / 2 + 48]).collect();
    let mut found = Vec::new();
    let mut stack: Vec<PathBuf> = dirs.iter().map(|d| d.to_path_buf()).collect();
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if let Ok(bytes) = std::fs::read(&path)
                && windows.iter().any(|w| bytes.windows(w.len()).any(|b| b == *w))
            {
                found.push(path.display().to_string());
            }
        }
    }
    found
}

/// The serialized header of the message in `ct`.
pub fn message_header(ct: &Path) -> Vec<u8> {
    let bytes = std::fs::read(ct).unwrap();
    let (header, _) = cipherdrop::Header::parse(&bytes, &cipherdrop::Limits::default()).unwrap();
    header.as_bytes().to_vec()
}
