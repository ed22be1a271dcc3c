//! External services for end-to-end tests, run as real processes on loopback:
//!
//! - [`Postgres`]: a throwaway PostgreSQL cluster (`initdb` + `pg_ctl`) in a directory of the
//!   test, on a free port of 127.0.0.1, with `trust` authentication for the superuser
//!   `cipherdrop`. PostgreSQL refuses to run as root, so when the tests run as root every
//!   `initdb`/`pg_ctl` runs as the `postgres` user (`runuser -u postgres --`) in a directory
//!   chowned to it; the directories above it get `o+x` so that user can reach it.
//!   [`shared_cluster`] shares one running cluster per directory within a test binary.
//! - [`S3`]: moto's S3 server (`build/venv/bin/moto_server`, installed by `make setup` from
//!   tests/interop/requirements.txt), driven from the tests with boto3 in the same venv.
#![allow(clippy::unwrap_used, dead_code)]

use std::collections::HashMap;
use std::fmt;
use std::io::Write;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, Weak};
use std::time::{Duration, Instant};

/// The repository root.
pub const REPO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/..");

/// A port of 127.0.0.1 that was free a moment ago (bound to port 0, read, released).
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// A program of the repository's venv (build/venv/bin/NAME); panics if `make setup` has not
/// installed it.
pub fn venv_bin(name: &str) -> PathBuf {
    let path = Path::new(REPO).join("build/venv/bin").join(name);
    assert!(
        path.exists(),
        "{} is missing: run `make setup` (it installs tests/interop/requirements.txt there)",
        path.display()
    );
    path
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn wait_for_port(port: u16, deadline: Instant) -> bool {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    while Instant::now() < deadline {
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

// --- PostgreSQL ------------------------------------------------------------------------------

/// Whether this process runs as root (then PostgreSQL runs as the `postgres` user).
fn is_root() -> bool {
    static ROOT: OnceLock<bool> = OnceLock::new();
    *ROOT.get_or_init(|| {
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        let uid = status.lines().find_map(|l| l.strip_prefix("Uid:")).unwrap_or("");
        uid.split_whitespace().nth(1) == Some("0")
    })
}

/// The uid and gid of the `postgres` user, from /etc/passwd.
fn postgres_ids() -> (u32, u32) {
    static IDS: OnceLock<(u32, u32)> = OnceLock::new();
    *IDS.get_or_init(|| {
        let passwd = std::fs::read_to_string("/etc/passwd").unwrap();
        let line = passwd
            .lines()
            .find(|l| l.starts_with("postgres:"))
            .expect("no `postgres` user in /etc/passwd: PostgreSQL cannot run as root");
        let fields: Vec<&str> = line.split(':').collect();
        (fields[2].parse().unwrap(), fields[3].parse().unwrap())
    })
}

/// `program` as PostgreSQL's owner: through `runuser -u postgres --` when we are root. Runs in
/// `cwd` (a directory the postgres user can enter: the tools fail in an unreadable one).
fn pg_tool(program: &str, cwd: &Path) -> Command {
    let mut cmd = if is_root() {
        let mut cmd = Command::new("runuser");
        cmd.args(["-u", "postgres", "--", program]);
        cmd
    } else {
        Command::new(program)
    };
    cmd.current_dir(cwd).env("LC_ALL", "C").stdin(Stdio::null());
    cmd
}

/// Environment variables of libpq that would change where psql connects or how.
const PG_ENV: [&str; 8] = [
    "PGHOST",
    "PGHOSTADDR",
    "PGPORT",
    "PGUSER",
    "PGDATABASE",
    "PGPASSWORD",
    "PGSERVICE",
    "PGOPTIONS",
];

/// Runs `sql` (a script on stdin: several statements, psql meta-commands and `:'name'`
/// interpolation of `vars` allowed) with psql on `url`, with `ON_ERROR_STOP` and unaligned
/// tuples-only output (`-At`); panics with psql's stderr on failure. Returns stdout without
/// its final newline.
pub fn psql_url(url: &str, sql: &str, vars: &[(&str, &str)]) -> String {
    let mut cmd = psql_command();
    cmd.args(["-X", "-q", "-At", "-v", "ON_ERROR_STOP=1"]);
    for (name, value) in vars {
        cmd.arg("-v").arg(format!("{name}={value}"));
    }
    let mut child = cmd
        .arg("-d")
        .arg(url)
        .args(["-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run psql: {e}"));
    let mut stdin = child.stdin.take().unwrap();
    let script = sql.to_string();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(script.as_bytes());
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    assert!(
        out.status.success(),
        "psql on {url} failed ({}): {}\nSQL: {sql}",
        out.status,
        stderr(&out)
    );
    let mut stdout = String::from_utf8(out.stdout).unwrap();
    if stdout.ends_with('\n') {
        stdout.pop();
    }
    stdout
}

/// `psql` without the libpq environment of the caller, with a connect timeout.
fn psql_command() -> Command {
    let mut cmd = Command::new("psql");
    for var in PG_ENV {
        cmd.env_remove(var);
    }
    cmd.env("PGCONNECT_TIMEOUT", "10");
    cmd
}

/// Rewrites the `?` placeholders of `sql` (outside '…' literals, "…" identifiers) to psql's
/// `:'p1'`, `:'p2'`… in order; returns the SQL and the variables for [`psql_url`].
pub fn bind_params<'a>(sql: &str, params: &[&'a str]) -> (String, Vec<(String, &'a str)>) {
    let mut out = String::with_capacity(sql.len() + 8 * params.len());
    let mut quote: Option<char> = None;
    let mut n = 0;
    for c in sql.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"') => quote = Some(c),
            (None, '?') => {
                n += 1;
                out.push_str(&format!(":'p{n}'"));
                continue;
            }
            (None, _) => {}
        }
        out.push(c);
    }
    assert_eq!(n, params.len(), "{n} placeholders, {} parameters: {sql}", params.len());
    let vars = params.iter().enumerate().map(|(i, p)| (format!("p{}", i + 1), *p)).collect();
    (out, vars)
}

/// A throwaway PostgreSQL 15 cluster: data in `DIR/data`, log in `DIR/log`, Unix socket in
/// `DIR`, TCP on 127.0.0.1:[`Postgres::port`]; superuser `cipherdrop` without password.
/// Stopped (`-m fast`) on drop if running.
pub struct Postgres {
    dir: PathBuf,
    port: u16,
    running: Mutex<bool>,
}

impl fmt::Debug for Postgres {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Postgres").field("dir", &self.dir).field("port", &self.port).finish()
    }
}

/// A directory's cluster as [`shared_cluster`] knows it, and the lock held while a cluster
/// starts or stops on that directory, so that one going away and one coming up never overlap.
#[derive(Default)]
struct Entry {
    lock: Arc<Mutex<()>>,
    pg: Weak<Postgres>,
}

/// By directory. Held only briefly: starting and stopping hold the directory's own lock.
static CLUSTERS: Mutex<Option<HashMap<PathBuf, Entry>>> = Mutex::new(None);

fn with_clusters<T>(f: impl FnOnce(&mut HashMap<PathBuf, Entry>) -> T) -> T {
    let mut guard = CLUSTERS.lock().unwrap_or_else(|e| e.into_inner());
    f(guard.get_or_insert_with(HashMap::new))
}

/// The lock of directory `key` (absolute).
fn dir_lock(key: &Path) -> Arc<Mutex<()>> {
    with_clusters(|map| Arc::clone(&map.entry(key.to_path_buf()).or_default().lock))
}

fn lock(lock: &Mutex<()>) -> MutexGuard<'_, ()> {
    lock.lock().unwrap_or_else(|e| e.into_inner())
}

/// The running cluster of `dir`, shared: a second call with the same `dir` while an `Arc` of the
/// first is alive returns the same cluster (same port and data); it stops when the last `Arc`
/// drops. A later call on the same `dir` starts it again on its existing data.
pub fn shared_cluster(dir: &Path) -> Arc<Postgres> {
    let key = absolute(dir);
    let shared = |map: &mut HashMap<PathBuf, Entry>| map.get(&key).and_then(|e| e.pg.upgrade());
    if let Some(pg) = with_clusters(shared) {
        return pg;
    }
    let dir_lock = dir_lock(&key);
    let _guard = lock(&dir_lock);
    if let Some(pg) = with_clusters(shared) {
        return pg;
    }
    let pg = Arc::new(Postgres::start_locked(&key));
    with_clusters(|map| map.entry(key.clone()).or_default().pg = Arc::downgrade(&pg));
    pg
}

fn absolute(dir: &Path) -> PathBuf {
    if dir.is_absolute() { dir.to_path_buf() } else { std::env::current_dir().unwrap().join(dir) }
}

/// Gives `dir` (created if missing) to the postgres user and makes the directories above it
/// traversable (`o+x`) by that user.
fn prepare_dir(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    if !is_root() {
        return;
    }
    let (uid, gid) = postgres_ids();
    std::os::unix::fs::chown(dir, Some(uid), Some(gid)).unwrap();
    for parent in dir.ancestors().skip(1) {
        let Ok(meta) = std::fs::metadata(parent) else { continue };
        let mode = meta.permissions().mode();
        if mode & 0o001 == 0 {
            std::fs::set_permissions(parent, std::fs::Permissions::from_mode(mode | 0o001))
                .unwrap();
        }
    }
}

/// Waits until the cluster of `dir` on `port` answers `SELECT 1` over TCP.
fn wait_ready(dir: &Path, port: u16) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let out = psql_command()
            .args([
                "-X",
                "-At",
                "-h",
                "127.0.0.1",
                "-U",
                "cipherdrop",
                "-d",
                "postgres",
                "-c",
                "SELECT 1",
            ])
            .arg("-p")
            .arg(port.to_string())
            .env("PGCONNECT_TIMEOUT", "2")
            .stdin(Stdio::null())
            .output()
            .unwrap();
        if out.status.success() {
            return;
        }
        let log = std::fs::read_to_string(dir.join("log")).unwrap_or_default();
        assert!(
            Instant::now() < deadline,
            "PostgreSQL on {port} never became ready: {}\n{log}",
            stderr(&out)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Single-quotes `s` for the shell that pg_ctl runs `postgres` with.
fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

impl Postgres {
    /// Starts (or reuses) the cluster in `dir`: `initdb` if `dir/data` does not exist yet,
    /// else its existing data; if that cluster is already running (postmaster.pid names a live
    /// process), that running cluster and its port. Waits until it accepts connections.
    pub fn start(dir: &Path) -> Self {
        let dir = absolute(dir);
        let dir_lock = dir_lock(&dir);
        let _guard = lock(&dir_lock);
        Self::start_locked(&dir)
    }

    /// [`Postgres::start`] with the directory's lock held by the caller.
    fn start_locked(dir: &Path) -> Self {
        prepare_dir(dir);
        let data = dir.join("data");
        if let Some(port) = Self::running_port(&data) {
            wait_ready(dir, port);
            return Self { dir: dir.to_path_buf(), port, running: Mutex::new(true) };
        }
        if !data.exists() {
            let out = pg_tool("initdb", dir)
                .arg("-D")
                .arg(&data)
                .args(["-A", "trust", "-U", "cipherdrop", "-E", "UTF8", "--no-instructions"])
                // Its final fsync of the whole directory takes seconds on a busy disk, and
                // only an OS crash would need it.
                .arg("--no-sync")
                .output()
                .unwrap_or_else(|e| panic!("cannot run initdb: {e}"));
            assert!(
                out.status.success(),
                "initdb failed: {}{}",
                String::from_utf8_lossy(&out.stdout),
                stderr(&out)
            );
        }
        // The port was free a moment ago; another process may take it first: try a few.
        let mut last = String::new();
        for _ in 0..5 {
            let port = free_port();
            match Self::pg_ctl_start(dir, port) {
                Ok(()) => {
                    // No `Self` before it is ready: its Drop takes the lock held here.
                    wait_ready(dir, port);
                    return Self { dir: dir.to_path_buf(), port, running: Mutex::new(true) };
                }
                Err(e) if e.contains("already in use") => last = e,
                Err(e) => panic!("{e}"),
            }
        }
        panic!("PostgreSQL found no free port: {last}");
    }

    /// The port of the cluster running on `data`, if postmaster.pid names a live postmaster.
    fn running_port(data: &Path) -> Option<u16> {
        let pid_file = std::fs::read_to_string(data.join("postmaster.pid")).ok()?;
        let mut lines = pid_file.lines();
        let pid: u32 = lines.next()?.trim().parse().ok()?;
        let port: u16 = lines.nth(2)?.trim().parse().ok()?;
        let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).ok()?;
        (comm.trim() == "postgres").then_some(port)
    }

    /// `pg_ctl start -w` on `port`; Err(message with the log's new lines) if it failed.
    fn pg_ctl_start(dir: &Path, port: u16) -> Result<(), String> {
        let log = dir.join("log");
        let before = std::fs::metadata(&log).map(|m| m.len()).unwrap_or(0);
        let dir_str = dir.to_str().expect("UTF-8 directory");
        let options =
            format!("-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=on", sh_quote(dir_str));
        let out = pg_tool("pg_ctl", dir)
            .arg("-D")
            .arg(dir.join("data"))
            .args(["-w", "-t", "60", "-o", &options, "-l"])
            .arg(&log)
            .arg("start")
            .output()
            .unwrap_or_else(|e| panic!("cannot run pg_ctl: {e}"));
        if out.status.success() {
            return Ok(());
        }
        let text = std::fs::read(&log).unwrap_or_default();
        let new =
            String::from_utf8_lossy(&text[usize::try_from(before).unwrap().min(text.len())..])
                .into_owned();
        Err(format!(
            "pg_ctl start on port {port} failed: {}{}\nlog:\n{new}",
            String::from_utf8_lossy(&out.stdout),
            stderr(&out)
        ))
    }

    /// The cluster's directory (data in `data/`, log in `log`).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The TCP port on 127.0.0.1 (the same across [`Postgres::restart`]).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The server log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("log")).unwrap_or_default()
    }

    /// Whether the cluster is running (as far as this handle knows: started, not stopped).
    pub fn is_running(&self) -> bool {
        *self.running.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `postgres://cipherdrop@127.0.0.1:PORT/DB` (the superuser).
    pub fn url(&self, db: &str) -> String {
        self.url_as("cipherdrop", db)
    }

    /// `postgres://ROLE@127.0.0.1:PORT/DB` (trust authentication: no password).
    pub fn url_as(&self, role: &str, db: &str) -> String {
        format!("postgres://{role}@127.0.0.1:{}/{db}", self.port)
    }

    /// `psql -c 'CREATE DATABASE "name"'` as the superuser.
    fn run_create_database(&self, name: &str) -> Output {
        psql_command()
            .args([
                "-X",
                "-q",
                "-h",
                "127.0.0.1",
                "-U",
                "cipherdrop",
                "-d",
                "postgres",
                "-v",
                "ON_ERROR_STOP=1",
            ])
            .arg("-p")
            .arg(self.port.to_string())
            .arg("-c")
            .arg(format!("CREATE DATABASE \"{}\"", name.replace('"', "\"\"")))
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }

    /// `CREATE DATABASE "name"`; returns its URL. Panics if it exists.
    pub fn create_database(&self, name: &str) -> String {
        let out = self.run_create_database(name);
        assert!(out.status.success(), "CREATE DATABASE {name} failed: {}", stderr(&out));
        self.url(name)
    }

    /// Creates database `name` unless it exists; returns its URL.
    pub fn ensure_database(&self, name: &str) -> String {
        let sql = "SELECT count(*) FROM pg_database WHERE datname = :'name'";
        if self.psql_vars("postgres", sql, &[("name", name)]) != "1" {
            let out = self.run_create_database(name);
            // Another thread may have created it meanwhile.
            let err = stderr(&out);
            assert!(
                out.status.success()
                    || err.contains("already exists")
                    || err.contains("duplicate key"),
                "CREATE DATABASE {name} failed: {err}"
            );
        }
        self.url(name)
    }

    /// Runs `sql` (a psql script on stdin) on `db` as the superuser; see [`psql_url`].
    pub fn psql(&self, db: &str, sql: &str) -> String {
        psql_url(&self.url(db), sql, &[])
    }

    /// Like [`Postgres::psql`], with psql variables (`-v name=value`) that the script uses as
    /// `:'name'` (a quoted literal), `:"name"` (a quoted identifier) or `:name` (verbatim).
    pub fn psql_vars(&self, db: &str, sql: &str, vars: &[(&str, &str)]) -> String {
        psql_url(&self.url(db), sql, vars)
    }

    /// Like [`Postgres::psql`], connected as `role`.
    pub fn psql_as(&self, role: &str, db: &str, sql: &str) -> String {
        psql_url(&self.url_as(role, db), sql, &[])
    }

    /// `CREATE ROLE "name" LOGIN` (not a superuser, owns nothing); returns nothing: connect
    /// with [`Postgres::url_as`] after [`Postgres::grant_all`].
    pub fn create_role(&self, name: &str) {
        self.psql_vars(
            "postgres",
            "CREATE ROLE :\"name\" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE",
            &[("name", name)],
        );
    }

    /// Grants `role` everything on `db`'s public schema: connect, usage and create on the
    /// schema, all privileges on its tables and sequences now and on those the superuser
    /// `cipherdrop` creates later (default privileges). A test can then take one away, e.g.
    /// `REVOKE INSERT ON audit FROM app`.
    pub fn grant_all(&self, role: &str, db: &str) {
        self.psql_vars(
            db,
            "GRANT CONNECT, TEMPORARY ON DATABASE :\"db\" TO :\"role\";\n\
             GRANT USAGE, CREATE ON SCHEMA public TO :\"role\";\n\
             GRANT ALL ON ALL TABLES IN SCHEMA public TO :\"role\";\n\
             GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO :\"role\";\n\
             ALTER DEFAULT PRIVILEGES FOR ROLE cipherdrop IN SCHEMA public GRANT ALL ON TABLES TO :\"role\";\n\
             ALTER DEFAULT PRIVILEGES FOR ROLE cipherdrop IN SCHEMA public GRANT ALL ON SEQUENCES TO :\"role\";\n",
            &[("db", db), ("role", role)],
        );
    }

    fn pg_ctl_stop(&self, mode: &str) -> Result<(), String> {
        let out = pg_tool("pg_ctl", &self.dir)
            .arg("-D")
            .arg(self.dir.join("data"))
            .args(["-w", "-t", "60", "-m", mode, "stop"])
            .output()
            .map_err(|e| format!("cannot run pg_ctl: {e}"))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "pg_ctl stop -m {mode} failed: {}{}",
                String::from_utf8_lossy(&out.stdout),
                stderr(&out)
            ))
        }
    }

    fn stop_mode(&self, mode: &str) {
        let mut running = self.running.lock().unwrap_or_else(|e| e.into_inner());
        assert!(*running, "PostgreSQL on {} is not running", self.port);
        self.pg_ctl_stop(mode).unwrap();
        *running = false;
    }

    /// `pg_ctl stop -m fast`: disconnects clients, checkpoints, exits.
    pub fn stop(&self) {
        self.stop_mode("fast");
    }

    /// `pg_ctl stop -m immediate`: exits at once, without a checkpoint (crash recovery at the
    /// next start), as after a crash or a power cut of the database host.
    pub fn kill(&self) {
        self.stop_mode("immediate");
    }

    /// Same as [`Postgres::kill`].
    pub fn stop_immediate(&self) {
        self.kill();
    }

    /// Starts a stopped cluster again on the same port and data.
    pub fn start_again(&self) {
        let mut running = self.running.lock().unwrap_or_else(|e| e.into_inner());
        assert!(!*running, "PostgreSQL on {} is already running", self.port);
        // The port was ours until a moment ago; a client's ephemeral port may hold it briefly.
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match Self::pg_ctl_start(&self.dir, self.port) {
                Ok(()) => break,
                Err(e) if e.contains("already in use") && Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(200));
                }
                Err(e) => panic!("{e}"),
            }
        }
        *running = true;
        drop(running);
        wait_ready(&self.dir, self.port);
    }

    /// [`Postgres::stop`] (if running), then [`Postgres::start_again`] on the same port.
    pub fn restart(&self) {
        if self.is_running() {
            self.stop();
        }
        self.start_again();
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let running = self.running.get_mut().map(|r| *r).unwrap_or(true);
        if running {
            // So that no cluster starts on this directory while this one stops.
            let dir_lock = dir_lock(&self.dir);
            let _guard = lock(&dir_lock);
            let _ = self.pg_ctl_stop("fast");
        }
    }
}

// --- S3 (moto) ------------------------------------------------------------------------------

/// boto3 operations for [`S3`]: `python -c S3_PY ENDPOINT OP ARGS…`.
const S3_PY: &str = r#"
import json, sys
import boto3
s3 = boto3.client("s3", endpoint_url=sys.argv[1], region_name="us-east-1",
                  aws_access_key_id="test", aws_secret_access_key="test")
op, args = sys.argv[2], sys.argv[3:]
if op == "create_bucket":
    s3.create_bucket(Bucket=args[0])
elif op == "list":
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=args[0], Prefix=args[1])
    print(json.dumps([o["Key"] for page in pages for o in page.get("Contents", [])]))
elif op == "get":
    sys.stdout.buffer.write(s3.get_object(Bucket=args[0], Key=args[1])["Body"].read())
elif op == "put":
    s3.put_object(Bucket=args[0], Key=args[1], Body=sys.stdin.buffer.read())
elif op == "delete":
    s3.delete_object(Bucket=args[0], Key=args[1])
else:
    sys.exit(f"unknown op {op}")
"#;

/// A moto S3 server on 127.0.0.1 (all in memory; gone when it stops). Killed on drop.
pub struct S3 {
    child: Child,
    port: u16,
    log: tempfile::NamedTempFile,
}

impl fmt::Debug for S3 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3").field("port", &self.port).field("pid", &self.child.id()).finish()
    }
}

impl S3 {
    /// Starts `moto_server -H 127.0.0.1 -p PORT` on a free port; waits until it answers.
    pub fn start() -> Self {
        let moto = venv_bin("moto_server");
        let mut last = String::new();
        for _ in 0..5 {
            let port = free_port();
            let log = tempfile::Builder::new()
                .prefix("cipherdrop-moto-")
                .suffix(".log")
                .tempfile()
                .unwrap();
            let mut child = Command::new(&moto)
                .args(["-H", "127.0.0.1", "-p", &port.to_string()])
                .stdin(Stdio::null())
                .stdout(log.reopen().unwrap())
                .stderr(log.reopen().unwrap())
                .spawn()
                .unwrap_or_else(|e| panic!("cannot run {}: {e}", moto.display()));
            let deadline = Instant::now() + Duration::from_secs(30);
            loop {
                if let Some(status) = child.try_wait().unwrap() {
                    last = format!(
                        "moto_server exited with {status}: {}",
                        std::fs::read_to_string(log.path()).unwrap_or_default()
                    );
                    break;
                }
                if wait_for_port(port, (Instant::now() + Duration::from_millis(100)).min(deadline))
                {
                    return Self { child, port, log };
                }
                if Instant::now() >= deadline {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!(
                        "moto_server on {port} never answered: {}",
                        std::fs::read_to_string(log.path()).unwrap_or_default()
                    );
                }
            }
            if !last.contains("already in use") {
                break;
            }
        }
        panic!("{last}");
    }

    /// The TCP port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The process ID of moto_server.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The server's request log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log.path()).unwrap_or_default()
    }

    /// The environment a server process needs to reach this S3 with object_store's
    /// `AmazonS3Builder::from_env` (path-style requests, plain HTTP, dummy credentials).
    pub fn env(&self) -> Vec<(String, String)> {
        [
            ("AWS_ACCESS_KEY_ID", "test".to_string()),
            ("AWS_SECRET_ACCESS_KEY", "test".to_string()),
            ("AWS_REGION", "us-east-1".to_string()),
            ("AWS_DEFAULT_REGION", "us-east-1".to_string()),
            ("AWS_ENDPOINT_URL", self.endpoint()),
            ("AWS_ALLOW_HTTP", "true".to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }

    fn boto(&self, args: &[&str], stdin: &[u8]) -> Vec<u8> {
        let python = venv_bin("python");
        let mut child = Command::new(&python)
            .arg("-c")
            .arg(S3_PY)
            .arg(self.endpoint())
            .args(args)
            .env("AWS_CONFIG_FILE", "/dev/null")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
            .env_remove("AWS_PROFILE")
            .envs(self.env())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut pipe = child.stdin.take().unwrap();
        let input = stdin.to_vec();
        let writer = std::thread::spawn(move || {
            let _ = pipe.write_all(&input);
        });
        let out = child.wait_with_output().unwrap();
        writer.join().unwrap();
        assert!(out.status.success(), "boto3 {args:?} failed: {}", stderr(&out));
        out.stdout
    }

    /// Creates bucket `name` (3 to 63 characters: moto checks S3's naming rules).
    pub fn create_bucket(&self, name: &str) {
        self.boto(&["create_bucket", name], b"");
    }

    /// The keys under `prefix` in `bucket`, in S3's (lexicographic) order.
    pub fn list(&self, bucket: &str, prefix: &str) -> Vec<String> {
        serde_json::from_slice(&self.boto(&["list", bucket, prefix], b"")).unwrap()
    }

    /// The object `key` of `bucket`; panics if it does not exist.
    pub fn get(&self, bucket: &str, key: &str) -> Vec<u8> {
        self.boto(&["get", bucket, key], b"")
    }

    /// Writes the object `key` of `bucket`.
    pub fn put(&self, bucket: &str, key: &str, bytes: &[u8]) {
        self.boto(&["put", bucket, key], bytes);
    }

    /// Deletes the object `key` of `bucket` (no error if it does not exist).
    pub fn delete(&self, bucket: &str, key: &str) {
        self.boto(&["delete", bucket, key], b"");
    }
}

impl Drop for S3 {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
