//! Throughput of the `aes-gcm` crate itself, natively (AES-NI and CLMUL where the CPU has
//! them), on 64 KiB frames: the reference `make bench` compares the WebAssembly fallback
//! with. `cargo run --release --example aes_gcm_speed [MiB]` prints one JSON line.
#![allow(clippy::unwrap_used)]

use std::time::Instant;

use aes_gcm::aead::array::Array;
use aes_gcm::{AeadInOut, Aes256Gcm, KeyInit};

fn main() {
    let mib: usize = std::env::args().nth(1).map_or(1024, |a| a.parse().unwrap());
    let cipher = Aes256Gcm::new(&Array::from([7u8; 32]));
    let aad = [1u8; 79];
    let mut frame = vec![0x5au8; 64 * 1024];
    let frames = mib * 16;
    let mut best = f64::MAX;
    for _ in 0..3 {
        let t = Instant::now();
        for i in 0..frames {
            let mut iv = [0u8; 12];
            let sequence = u32::try_from(i + 1).unwrap();
            iv[8..].copy_from_slice(&sequence.to_be_bytes());
            let tag = cipher
                .encrypt_inout_detached(&Array::from(iv), &aad, frame.as_mut_slice().into())
                .unwrap();
            std::hint::black_box(tag);
        }
        best = best.min(t.elapsed().as_secs_f64());
    }
    let mb = (frames * frame.len()) as f64 / 1e6;
    println!("{{\"mb_per_s\": {:.1}}}", mb / best);
}
