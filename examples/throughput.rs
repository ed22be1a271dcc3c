//! In-memory encrypt/decrypt throughput of the core (no I/O): `cargo run --release --example
//! throughput [MiB]`. Native only: the raw RSA keyring is not in the wasm build.
#![allow(clippy::unwrap_used)]

#[cfg(target_arch = "wasm32")]
fn main() {}

#[cfg(not(target_arch = "wasm32"))]
fn main() {
    use std::time::Instant;

    use cipherdrop::{
        AlgorithmSuite, DecryptOptions, EncryptOptions, Encryptor, OaepHash, RawRsaKeyring, decrypt,
    };

    let mib: usize = std::env::args().nth(1).map_or(256, |a| a.parse().unwrap());
    let keyring = RawRsaKeyring::from_pem(
        "b",
        "k",
        include_bytes!("../tests/data/rsa-2048.pem"),
        OaepHash::Sha256,
    )
    .unwrap();
    let plain = vec![7u8; mib << 20];
    for suite in [
        AlgorithmSuite::AES_256_GCM_HKDF_SHA512_COMMIT_KEY,
        AlgorithmSuite::AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384,
    ] {
        let options = EncryptOptions { suite, ..EncryptOptions::default() };
        let t = Instant::now();
        let mut enc = Encryptor::new(&keyring, &options).unwrap();
        let mut message = Vec::with_capacity(plain.len() + (1 << 20));
        for chunk in plain.chunks(1 << 20) {
            enc.update(chunk, &mut message).unwrap();
        }
        enc.finish(&mut message).unwrap();
        let e = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let (out, _) = decrypt(&keyring, &message, DecryptOptions::default()).unwrap();
        let d = t.elapsed().as_secs_f64();
        assert_eq!(out.len(), plain.len());
        let mb = plain.len() as f64 / 1e6;
        println!("{suite}: encrypt {:.0} MB/s, decrypt {:.0} MB/s", mb / e, mb / d);
    }
}
