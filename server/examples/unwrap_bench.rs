//! Load generator for the key-server benchmark (driven by scripts/bench_keyserver.py).
//!
//! - `unwrap_bench raw SECONDS THREADS KEY_SPEC`: raw aws-lc-rs RSA-OAEP-SHA256 decryptions
//!   per second, the baseline.
//! - `unwrap_bench http ADDRS TOKEN KEY_ID SECONDS CLIENTS [RATE]`: unwraps over HTTP, each
//!   client with its own keep-alive connection, requests spread round-robin over ADDRS
//!   (comma-separated: replicas). Without RATE, closed loop (as fast as answers come); with
//!   RATE, open loop at RATE requests/s in all, each latency measured from the moment its
//!   request was due, so that a stalled server cannot hide its queue.
//!
//! Prints one JSON object.
#![allow(clippy::unwrap_used, clippy::cast_possible_truncation, missing_docs)]

use std::time::{Duration, Instant};

use aws_lc_rs::rsa::{
    KeySize, OAEP_SHA256_MGF1SHA256, OaepPrivateDecryptingKey, OaepPublicEncryptingKey,
    PrivateDecryptingKey,
};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use cipherdrop::{AlgorithmSuite, EncryptOptions, Encryptor, OaepHash, RawRsaKeyring};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("raw") => raw(args[2].parse().unwrap(), args[3].parse().unwrap(), &args[4]),
        Some("http") => http(
            &args[2],
            &args[3],
            &args[4],
            args[5].parse().unwrap(),
            args[6].parse().unwrap(),
            args.get(7).map(|r| r.parse().unwrap()),
        ),
        _ => panic!("usage: unwrap_bench raw|http ..."),
    }
}

fn raw(seconds: f64, threads: usize, spec: &str) {
    let size = match spec {
        "RSA_2048" => KeySize::Rsa2048,
        "RSA_4096" => KeySize::Rsa4096,
        _ => KeySize::Rsa3072,
    };
    let private = PrivateDecryptingKey::generate(size).unwrap();
    let public = OaepPublicEncryptingKey::new(private.public_key()).unwrap();
    let mut ct = vec![0u8; public.ciphertext_size()];
    let ct = public.encrypt(&OAEP_SHA256_MGF1SHA256, &[7u8; 32], &mut ct, None).unwrap().to_vec();
    let private = OaepPrivateDecryptingKey::new(private).unwrap();
    let deadline = Instant::now() + Duration::from_secs_f64(seconds);
    let ops: usize = std::thread::scope(|s| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    let mut out = vec![0u8; private.min_output_size()];
                    let mut n = 0;
                    while Instant::now() < deadline {
                        private.decrypt(&OAEP_SHA256_MGF1SHA256, &ct, &mut out, None).unwrap();
                        n += 1;
                    }
                    n
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).sum()
    });
    println!(
        "{}",
        serde_json::json!({ "decrypts_per_s": ops as f64 / seconds, "threads": threads })
    );
}

fn http(addrs: &str, token: &str, key_id: &str, seconds: f64, clients: usize, rate: Option<f64>) {
    let addrs: Vec<&str> = addrs.split(',').collect();
    let auth = format!("Bearer {token}");
    let agent = ureq::Agent::new_with_defaults();
    // A message header wrapped to the server key.
    let doc: serde_json::Value = agent
        .get(format!("{}/v0/keys/{key_id}/public-key", addrs[0]))
        .header("Authorization", &auth)
        .call()
        .unwrap()
        .body_mut()
        .read_json()
        .unwrap();
    let spki = STANDARD.decode(doc["publicKey"].as_str().unwrap()).unwrap();
    let keyring = RawRsaKeyring::from_public_der(
        "cipherdrop",
        doc["keyName"].as_str().unwrap(),
        &spki,
        OaepHash::Sha256,
    )
    .unwrap();
    let options = EncryptOptions {
        suite: AlgorithmSuite::AES_256_GCM_HKDF_SHA512_COMMIT_KEY,
        ..EncryptOptions::default()
    };
    let header = STANDARD.encode(Encryptor::new(&keyring, &options).unwrap().header().as_bytes());
    // One recipient key for the run: the server still makes a fresh key per answer (its
    // cost is part of what is measured); the bench never opens the answers.
    let recipient = cipherdrop_server::client::EphemeralKey::new().unwrap().jwk();
    let body =
        serde_json::json!({ "header": header, "edkIndex": 0, "recipient": recipient }).to_string();

    // The load generator must cost the shared cores as little as it can: one thread, one
    // task per client connection, requests written from one prepared buffer, answers read
    // just far enough to check the status and skip the body (as wrk does).
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let start = Instant::now();
    let deadline = start + Duration::from_secs_f64(seconds);
    let interval = rate.map(|r| Duration::from_secs_f64(clients as f64 / r));
    let requests: Vec<(String, Vec<u8>)> = addrs
        .iter()
        .map(|addr| {
            let host = addr.trim_start_matches("http://").to_string();
            let request = format!(
                "POST /v0/unwrap HTTP/1.1\r\nHost: {host}\r\nAuthorization: {auth}\r\n\
                 Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            );
            (host, request.into_bytes())
        })
        .collect();
    let (mut latencies, errors) = runtime.block_on(async {
        let tasks: Vec<_> = (0..clients)
            .map(|i| {
                let requests = requests.clone();
                tokio::spawn(async move {
                    let mut conns = Vec::new();
                    for (host, _) in &requests {
                        conns.push(tokio::net::TcpStream::connect(host).await.unwrap());
                    }
                    let (mut lat, mut errors) = (Vec::new(), 0usize);
                    let mut due = start
                        + interval
                            .map_or(Duration::ZERO, |iv| iv.mul_f64(i as f64 / clients as f64));
                    let mut buf = vec![0u8; 64 * 1024];
                    let mut n = i;
                    loop {
                        match interval {
                            Some(_) => tokio::time::sleep_until(due.into()).await,
                            None => due = Instant::now(),
                        }
                        if due >= deadline {
                            break;
                        }
                        let which = n % requests.len();
                        let ok = exchange(&mut conns[which], &requests[which].1, &mut buf).await;
                        if ok {
                            lat.push(due.elapsed());
                        } else {
                            errors += 1;
                            conns[which] =
                                tokio::net::TcpStream::connect(&requests[which].0).await.unwrap();
                        }
                        n += 1;
                        if let Some(iv) = interval {
                            due += iv;
                        }
                    }
                    (lat, errors)
                })
            })
            .collect();
        let mut all = (Vec::new(), 0);
        for t in tasks {
            let (lat, errors) = t.await.unwrap();
            all.0.extend(lat);
            all.1 += errors;
        }
        all
    });
    latencies.sort();
    let pct = |p: f64| match latencies.len() {
        0 => f64::NAN,
        n => latencies[((n - 1) as f64 * p) as usize].as_secs_f64() * 1000.0,
    };
    println!(
        "{}",
        serde_json::json!({
            "unwraps_per_s": latencies.len() as f64 / seconds, "errors": errors,
            "p50_ms": pct(0.50), "p99_ms": pct(0.99), "clients": clients, "rate": rate,
            "replicas": addrs.len(),
        })
    );
}

/// One request and its answer on a keep-alive connection: whether it was a 200.
async fn exchange(conn: &mut tokio::net::TcpStream, request: &[u8], buf: &mut [u8]) -> bool {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    if conn.write_all(request).await.is_err() {
        return false;
    }
    let mut have = 0;
    let head_end = loop {
        match conn.read(&mut buf[have..]).await {
            Ok(0) | Err(_) => return false,
            Ok(n) => have += n,
        }
        if let Some(p) = buf[..have].windows(4).position(|w| w == b"\r\n\r\n") {
            break p + 4;
        }
        if have == buf.len() {
            return false;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
    let ok = head.starts_with("http/1.1 200");
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    let mut rest = (head_end + length).saturating_sub(have);
    while rest > 0 {
        let want = rest.min(buf.len());
        match conn.read(&mut buf[..want]).await {
            Ok(0) | Err(_) => return false,
            Ok(n) => rest -= n,
        }
    }
    ok
}
