//! Unwraps per second over HTTP against a running key server, as a ratio to raw aws-lc-rs
//! RSA-OAEP decryptions per second of the same key size measured in the same run.
//!
//! Usage: `unwrap_bench ADDR TOKEN KEY_ID SECONDS THREADS` (driven by scripts/bench_native.py).
//! Prints one JSON object.
#![allow(clippy::unwrap_used, clippy::cast_possible_truncation)]

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
    let (addr, token, key_id) = (&args[1], &args[2], &args[3]);
    let seconds: u64 = args[4].parse().unwrap();
    let threads: usize = args[5].parse().unwrap();
    let agent = ureq::Agent::new_with_defaults();
    let auth = format!("Bearer {token}");

    // A message header wrapped to the server key.
    let doc: serde_json::Value = agent
        .get(format!("{addr}/v0/keys/{key_id}/public-key"))
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
    let body = serde_json::json!({ "header": header, "edkIndex": 0 }).to_string();

    // Unwraps over HTTP, `threads` clients for `seconds`.
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut latencies: Vec<Duration> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    let agent = ureq::Agent::new_with_defaults();
                    let mut lat = Vec::new();
                    while Instant::now() < deadline {
                        let t = Instant::now();
                        let r = agent
                            .post(format!("{addr}/v0/unwrap"))
                            .header("Authorization", &auth)
                            .header("Content-Type", "application/json")
                            .send(&body)
                            .unwrap();
                        assert_eq!(r.status(), 200);
                        lat.push(t.elapsed());
                    }
                    lat
                })
            })
            .collect();
        workers.into_iter().flat_map(|w| w.join().unwrap()).collect()
    });
    latencies.sort();
    let http_rate = latencies.len() as f64 / seconds as f64;
    let pct =
        |p: f64| latencies[((latencies.len() - 1) as f64 * p) as usize].as_secs_f64() * 1000.0;

    // Raw RSA-OAEP-SHA256 decryptions of the same size, same thread count.
    let bits =
        doc["keySpec"].as_str().unwrap().trim_start_matches("RSA_").parse::<usize>().unwrap();
    let size = match bits {
        2048 => KeySize::Rsa2048,
        4096 => KeySize::Rsa4096,
        _ => KeySize::Rsa3072,
    };
    let private = PrivateDecryptingKey::generate(size).unwrap();
    let public = OaepPublicEncryptingKey::new(private.public_key()).unwrap();
    let mut ct = vec![0u8; public.ciphertext_size()];
    let ct = public.encrypt(&OAEP_SHA256_MGF1SHA256, &[7u8; 32], &mut ct, None).unwrap().to_vec();
    let private = OaepPrivateDecryptingKey::new(private).unwrap();
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let raw_ops: usize = std::thread::scope(|s| {
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
    let raw_rate = raw_ops as f64 / seconds as f64;
    println!(
        "{}",
        serde_json::json!({
            "key_spec": doc["keySpec"], "threads": threads, "unwraps_per_s": http_rate,
            "p50_ms": pct(0.50), "p99_ms": pct(0.99), "raw_decrypts_per_s": raw_rate,
            "ratio": http_rate / raw_rate,
        })
    );
}
