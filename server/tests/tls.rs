//! `cipherdrop serve --tls-cert --tls-key`, end to end: real processes, a CA made at test time.
//! The CLI, Node's fetch and curl (HTTP/2) connect; the certificate reloads on SIGHUP; plain
//! HTTP leaves loopback only with `--insecure-http`.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::tls::{TestCa, TlsFiles, handshake};
use common::{Server, cli, failure, json, serve_expecting_exit};

/// Node's fetch of `URL/healthz`, trusting `ca` (`NODE_EXTRA_CA_CERTS`): its stdout, or
/// stderr on failure.
fn node_fetch(url: &str, ca: &Path) -> Result<String, String> {
    let code = "fetch(process.argv[1] + '/healthz').then(r => r.text()).then(console.log)";
    let out = Command::new("node")
        .args(["-e", code, url])
        .env("NODE_EXTRA_CA_CERTS", ca)
        .output()
        .unwrap();
    match out.status.success() {
        true => Ok(String::from_utf8_lossy(&out.stdout).trim().to_string()),
        false => Err(String::from_utf8_lossy(&out.stderr).into_owned()),
    }
}

/// The HTTP version curl used for `GET URL/healthz` with `flag` (`--http2`, `--http1.1`).
fn curl_http_version(url: &str, ca: &Path, flag: &str) -> String {
    let out = Command::new("curl")
        .args(["-sS", flag, "-o", "/dev/null", "-w", "%{http_version}", "--cacert"])
        .arg(ca)
        .arg(format!("{url}/healthz"))
        .output()
        .unwrap();
    assert!(out.status.success(), "curl: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// Waits until the server presents `certificate` to a new connection.
fn wait_for_certificate(server: &Server, ca: &Path, certificate: &[u8]) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while handshake(&server.addr, ca).unwrap().certificate != certificate {
        assert!(Instant::now() < deadline, "the server never presented the new certificate");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Waits until the server's log holds `text` `n` times.
fn wait_for_log(server: &Server, text: &str, n: usize) {
    let log = server.dir.with_extension("log");
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::fs::read_to_string(&log).unwrap_or_default().matches(text).count() < n {
        assert!(Instant::now() < deadline, "{text:?} never logged {n} times");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn hup(server: &Server) {
    let status = Command::new("kill").arg("-HUP").arg(server.pid().to_string()).status();
    assert!(status.unwrap().success());
}

fn tls_server(tmp: &Path) -> (TestCa, TlsFiles, Server) {
    let ca = TestCa::new(tmp, "ca");
    let files = ca.server(tmp, "server", "server-1");
    let server = Server::start_tls(&tmp.join("data"), &files, &[]);
    (ca, files, server)
}

#[test]
fn clients_that_trust_the_ca_connect_over_http2_and_http1() {
    let tmp = tempfile::tempdir().unwrap();
    let (_ca, files, server) = tls_server(tmp.path());
    assert!(server.addr.starts_with("https://127.0.0.1:"), "{}", server.addr);

    // The kit's CLI runs trust the CA through CIPHERDROP_CA_FILE; --ca-file does the same.
    assert_eq!(server.admin_json(&["key", "list"])["keys"], serde_json::json!([]));
    let ca = files.ca.to_str().unwrap();
    for args in [["--ca-file", ca, "key", "list"], ["key", "list", "--ca-file", ca]] {
        json(&cli(Some(&server.addr), Some(&server.admin), &args, None));
    }

    assert_eq!(node_fetch(&server.addr, &files.ca).unwrap(), "ok");
    let negotiated = handshake(&server.addr, &files.ca).unwrap();
    assert_eq!(negotiated.alpn.as_deref(), Some(&b"h2"[..]));
    assert_eq!(negotiated.certificate, files.certificate());
    assert_eq!(curl_http_version(&server.addr, &files.ca, "--http2"), "2");
    assert_eq!(curl_http_version(&server.addr, &files.ca, "--http1.1"), "1.1");
}

#[test]
fn a_certificate_from_an_unknown_ca_is_refused_by_name() {
    let tmp = tempfile::tempdir().unwrap();
    let (_ca, files, server) = tls_server(tmp.path());
    let other = TestCa::new(tmp.path(), "other-ca");
    let other = other.cert.to_str().unwrap();
    let without = cli(Some(&server.addr), Some(&server.admin), &["key", "list"], None);
    let wrong =
        cli(Some(&server.addr), Some(&server.admin), &["--ca-file", other, "key", "list"], None);
    for out in [without, wrong] {
        let line = failure(&out);
        assert!(line.contains("TLS certificate refused"), "{line}");
        assert!(line.contains("UnknownIssuer"), "{line}");
    }
    let missing = tmp.path().join("missing.pem");
    let line = failure(&cli(
        Some(&server.addr),
        None,
        &["--ca-file", missing.to_str().unwrap(), "key", "list"],
        None,
    ));
    assert!(line.contains("CA file") && line.contains("missing.pem"), "{line}");
    let line = failure(&cli(
        Some(&server.addr),
        None,
        &["--ca-file", files.key.to_str().unwrap(), "key", "list"],
        None,
    ));
    assert!(line.contains("no certificate"), "{line}");
    let err = node_fetch(&server.addr, Path::new(other)).unwrap_err();
    assert!(err.contains("certificate"), "{err}");
}

#[test]
fn sighup_reloads_the_certificate_and_a_broken_pair_keeps_the_old_one() {
    let tmp = tempfile::tempdir().unwrap();
    let (ca, files, mut server) = tls_server(tmp.path());
    assert_eq!(handshake(&server.addr, &files.ca).unwrap().certificate, files.certificate());

    ca.reissue(&files, "server-2");
    let second = files.certificate();
    hup(&server);
    wait_for_certificate(&server, &files.ca, &second);
    server.admin_json(&["key", "list"]);

    // A key that is not the certificate's, then a certificate file that is not PEM.
    let stray = ca.server(tmp.path(), "stray", "stray");
    std::fs::copy(&stray.key, &files.key).unwrap();
    hup(&server);
    wait_for_log(&server, "TLS certificate reload failed", 1);
    std::fs::write(&files.cert, "not a certificate").unwrap();
    hup(&server);
    wait_for_log(&server, "TLS certificate reload failed", 2);
    assert!(server.is_running());
    assert_eq!(handshake(&server.addr, &files.ca).unwrap().certificate, second);
    server.admin_json(&["key", "list"]);

    // Still listening for the next good pair.
    ca.reissue(&files, "server-3");
    hup(&server);
    wait_for_certificate(&server, &files.ca, &files.certificate());
    server.stop();
}

#[test]
fn plain_http_leaves_loopback_only_with_insecure_http() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    for (args, flag) in [
        (&["--listen", "0.0.0.0:0"][..], "--listen 0.0.0.0:0"),
        (&["--metrics-listen", "0.0.0.0:0"][..], "--metrics-listen 0.0.0.0:0"),
    ] {
        let (status, stderr) = serve_expecting_exit(&dir, args, Duration::from_secs(20));
        assert_eq!(status.and_then(|s| s.code()), Some(1), "{stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
        assert!(stderr.contains(&format!("refusing plain HTTP on {flag}")), "{stderr}");
        assert!(stderr.contains("not a loopback address"), "{stderr}");
        assert!(stderr.contains("--insecure-http"), "{stderr}");
    }

    let demo = ["demo", "--listen", "0.0.0.0:0", "--data-dir", dir.to_str().unwrap()];
    let line = failure(&cli(None, None, &demo, None));
    assert!(line.contains("the demo serves loopback only"), "{line}");

    let mut plain = Server::start_with(&dir, &["--listen", "0.0.0.0:0", "--insecure-http"]);
    assert!(plain.addr.starts_with("http://"), "{}", plain.addr);
    plain.admin_json(&["key", "list"]);
    plain.stop();

    // TLS on every address, with the certificate from the environment fallbacks.
    let ca = TestCa::new(tmp.path(), "ca");
    let files = ca.server(tmp.path(), "server", "server-1");
    let env = [
        ("CIPHERDROP_TLS_CERT".to_string(), files.cert.display().to_string()),
        ("CIPHERDROP_TLS_KEY".to_string(), files.key.display().to_string()),
    ];
    let tls = Server::start_trusting(&dir, &["--listen", "0.0.0.0:0"], &env, Some(&files.ca));
    assert!(tls.addr.starts_with("https://"), "{}", tls.addr);
    tls.admin_json(&["key", "list"]);
}

#[test]
fn plain_http_or_silence_on_the_tls_port_harms_no_one_else() {
    let tmp = tempfile::tempdir().unwrap();
    let (_ca, _files, mut server) = tls_server(tmp.path());
    let host_port = server.addr.strip_prefix("https://").unwrap().to_string();

    // A client that connects and says nothing holds no one else up (the server waits 10 s
    // for a handshake).
    let _silent = TcpStream::connect(&host_port).unwrap();
    let started = Instant::now();
    server.admin_json(&["key", "list"]);
    assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());

    let mut tcp = TcpStream::connect(&host_port).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    tcp.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n").unwrap();
    let mut answer = Vec::new();
    // The server closes the connection at once (after a TLS alert); no HTTP answer.
    if let Err(e) = tcp.read_to_end(&mut answer) {
        assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset, "{e}");
    }
    assert!(!answer.starts_with(b"HTTP/"), "{:?}", String::from_utf8_lossy(&answer));
    let http = format!("http://{host_port}");
    let line = failure(&cli(Some(&http), Some(&server.admin), &["key", "list"], None));
    assert!(line.contains("cannot reach the key server"), "{line}");

    assert!(server.is_running());
    server.admin_json(&["key", "list"]);
    server.stop();
}
