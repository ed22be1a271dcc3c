//! The `cipherdrop encrypt` / `decrypt` commands, run as a user runs them.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::process::{Command, Output};

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/data");

/// The CLI with no key server in its environment.
fn run(args: &[&str], stdin: Option<&[u8]>) -> Output {
    common::cli(None, None, args, stdin)
}

fn key(name: &str, file: &str) -> String {
    format!("test/{name}={DATA}/{file}")
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

#[test]
fn round_trip_through_files_and_pipes() {
    let dir = tempfile::tempdir().unwrap();
    let pt: Vec<u8> = (0..200_000u32).map(|i| (i % 253) as u8).collect();
    let (pt_path, ct_path, out_path) =
        (dir.path().join("pt"), dir.path().join("ct"), dir.path().join("out"));
    std::fs::write(&pt_path, &pt).unwrap();
    let enc = run(
        &[
            "encrypt",
            "-i",
            pt_path.to_str().unwrap(),
            "-o",
            ct_path.to_str().unwrap(),
            "--rsa-key",
            &key("a", "rsa-2048.pub.pem"),
            "--rsa-key",
            &key("b", "rsa-3072.pem"),
            "--context",
            "owner=alice",
            "--frame-length",
            "4096",
            "--suite",
            "0x0478",
        ],
        None,
    );
    assert!(enc.status.success(), "{}", String::from_utf8_lossy(&enc.stderr));
    // Only the second key's private half: its EDK opens the message.
    let dec = run(
        &[
            "decrypt",
            "-o",
            out_path.to_str().unwrap(),
            "--rsa-key",
            &key("b", "rsa-3072.pem"),
            "--context",
            "owner=alice",
        ],
        Some(&std::fs::read(&ct_path).unwrap()),
    );
    assert!(dec.status.success(), "{}", String::from_utf8_lossy(&dec.stderr));
    assert_eq!(std::fs::read(&out_path).unwrap(), pt);
    // stdin to stdout with `-`.
    let dec = run(
        &["decrypt", "-i", "-", "-o", "-", "--rsa-key", &key("a", "rsa-2048.pem")],
        Some(&std::fs::read(&ct_path).unwrap()),
    );
    assert!(dec.status.success());
    assert_eq!(dec.stdout, pt);
}

#[test]
fn failed_decrypt_leaves_no_output_and_says_why_in_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let pt = vec![7u8; 10_000];
    let enc = run(
        &["encrypt", "--rsa-key", &key("a", "rsa-2048.pem"), "--frame-length", "1024"],
        Some(&pt),
    );
    assert!(enc.status.success());
    let mut ct = enc.stdout;
    let last = ct.len() - 1;
    ct[last] ^= 1; // the signature
    let out_path = dir.path().join("out");
    let dec = run(
        &["decrypt", "-o", out_path.to_str().unwrap(), "--rsa-key", &key("a", "rsa-2048.pem")],
        Some(&ct),
    );
    assert_eq!(dec.status.code(), Some(1));
    let stderr = String::from_utf8(dec.stderr).unwrap();
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("signature does not verify"), "{stderr}");
    assert!(files_in(dir.path()).is_empty(), "left behind: {:?}", files_in(dir.path()));
}

#[test]
fn wrong_key_and_bad_arguments_are_clear_errors() {
    let enc = run(&["encrypt", "--rsa-key", &key("a", "rsa-2048.pem")], Some(b"x"));
    let dec = run(&["decrypt", "--rsa-key", &key("other", "rsa-2048.pem")], Some(&enc.stdout));
    assert!(!dec.status.success());
    assert!(
        String::from_utf8_lossy(&dec.stderr).contains("no encrypted data key could be unwrapped")
    );
    assert!(dec.stdout.is_empty());

    for (args, says) in [
        (
            vec!["encrypt", "--oaep", "pkcs1", "--rsa-key", &key("a", "rsa-2048.pem")] as Vec<&str>,
            "PKCS#1 v1.5",
        ),
        (vec!["encrypt", "--rsa-key", "nokey"], "NAMESPACE/NAME=PEM"),
        (vec!["encrypt", "--rsa-key", "a/b=/nonexistent.pem"], "cannot read key"),
        (vec!["encrypt", "--suite", "0x0178", "--rsa-key", &key("a", "rsa-2048.pem")], "--suite"),
        (
            vec!["encrypt", "--context", "aws-crypto-x=1", "--rsa-key", &key("a", "rsa-2048.pem")],
            "reserved",
        ),
        (
            vec!["encrypt", "--frame-length", "0", "--rsa-key", &key("a", "rsa-2048.pem")],
            "frame length",
        ),
    ] {
        let out = run(&args, Some(b"x"));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && stderr.contains(says), "{args:?}: {stderr}");
    }
}

/// OUT that is not a regular file (a pipe here; /dev/null alike) is written in place: the
/// temporary-file-and-rename of regular files would replace it.
#[test]
fn special_files_are_written_in_place_not_replaced() {
    use std::os::unix::fs::FileTypeExt;
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("fifo");
    let made = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success());
    let reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || std::fs::read(fifo).unwrap())
    };
    let enc = run(
        &["encrypt", "-o", fifo.to_str().unwrap(), "--rsa-key", &key("a", "rsa-2048.pem")],
        Some(b"through a pipe"),
    );
    assert!(enc.status.success(), "{}", String::from_utf8_lossy(&enc.stderr));
    // Checked before joining: had the pipe been replaced, its reader would wait forever.
    assert!(std::fs::metadata(&fifo).unwrap().file_type().is_fifo(), "the pipe was replaced");
    let message = reader.join().unwrap();
    let dec = run(&["decrypt", "--rsa-key", &key("a", "rsa-2048.pem")], Some(&message));
    assert_eq!(dec.stdout, b"through a pipe");
}

/// Encrypt and decrypt seal and open frames on every core (`frames.rs`): whatever the sizes,
/// the message is cut as the core's own `update` and `finish` cut it (whole frames, then a
/// final frame of the rest, empty for a multiple of the frame length), the core's own
/// decryptor reads it, and a frame that fails deep in the message, or a cut body, fails the
/// decryption with the core's error and leaves no output.
#[test]
fn frames_on_every_core_are_cut_and_checked_as_the_core_does() {
    use cipherdrop::{DecryptOptions, OaepHash, RawRsaKeyring};
    let pem = std::fs::read(format!("{DATA}/rsa-2048.pem")).unwrap();
    let keyring = RawRsaKeyring::from_pem("test", "a", &pem, OaepHash::Sha256).unwrap();
    let key = key("a", "rsa-2048.pem");
    // 256 KiB batches: sizes below, at and across them; a frame larger than a batch.
    for (suite, frame) in
        [("0x0478", 4096), ("0x0478", 1000), ("0x0478", 300_000), ("0x0578", 4096)]
    {
        for size in [0, 1, frame - 1, frame, 3 * frame + 1, 64 * 4096, 700_001] {
            let pt: Vec<u8> = (0..u32::try_from(size).unwrap())
                .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
                .collect();
            let frame_arg = frame.to_string();
            let enc = run(
                &["encrypt", "--rsa-key", &key, "--suite", suite, "--frame-length", &frame_arg],
                Some(&pt),
            );
            assert!(enc.status.success(), "{}", String::from_utf8_lossy(&enc.stderr));
            let ct = enc.stdout;
            let (plain, header) =
                cipherdrop::decrypt(&keyring, &ct, DecryptOptions::default()).unwrap();
            assert_eq!(plain, pt, "{suite} frame {frame} size {size}");
            if suite == "0x0478" {
                // Regular frames: sequence, IV, content, tag; the final one adds its marker
                // and length; no footer.
                let (whole, rest) = (size / frame, size % frame);
                let len = header.as_bytes().len() + whole * (4 + 12 + frame + 16) + 24 + rest + 16;
                assert_eq!(ct.len(), len, "frame {frame} size {size}");
            }
            let dec = run(&["decrypt", "--rsa-key", &key], Some(&ct));
            assert!(dec.status.success(), "{}", String::from_utf8_lossy(&dec.stderr));
            assert_eq!(dec.stdout, pt, "{suite} frame {frame} size {size}");
        }
    }

    // The largest frame length: a short input costs only its own bytes (the CLI's decrypt
    // keeps the core's 64 MiB bound on frames).
    let enc = run(&["encrypt", "--rsa-key", &key, "--frame-length", "2147483647"], Some(b"short"));
    assert!(enc.status.success(), "{}", String::from_utf8_lossy(&enc.stderr));
    let dec = run(&["decrypt", "--rsa-key", &key], Some(&enc.stdout));
    assert!(String::from_utf8_lossy(&dec.stderr).contains("larger than the maximum 67108864"));
    let limits = cipherdrop::Limits { max_frame_len: usize::MAX, ..Default::default() };
    let options = DecryptOptions { limits, ..Default::default() };
    assert_eq!(cipherdrop::decrypt(&keyring, &enc.stdout, options).unwrap().0, b"short");

    // A bad tag in frame 100 of 171 (4 KiB frames: the second batch) and a cut body.
    let dir = tempfile::tempdir().unwrap();
    let out_path = dir.path().join("out");
    let out = out_path.to_str().unwrap();
    let pt = vec![5u8; 700_001];
    for suite in ["0x0478", "0x0578"] {
        let enc = run(
            &["encrypt", "--rsa-key", &key, "--suite", suite, "--frame-length", "4096"],
            Some(&pt),
        );
        let ct = enc.stdout;
        let header_len = cipherdrop::Header::parse(&ct, &Default::default()).unwrap().1;
        let mut bad = ct.clone();
        bad[header_len + 99 * (4 + 12 + 4096 + 16) + 16 + 7] ^= 1;
        for (message, says) in [
            (&bad[..], "authentication tag of frame 100 does not verify"),
            (&ct[..header_len + 120 * (4 + 12 + 4096 + 16) + 16 + 9], "truncated in its body"),
        ] {
            let dec = run(&["decrypt", "-o", out, "--rsa-key", &key], Some(message));
            let stderr = String::from_utf8_lossy(&dec.stderr);
            assert_eq!(dec.status.code(), Some(1), "{stderr}");
            assert!(stderr.contains(says), "{suite}: {stderr}");
            assert!(files_in(dir.path()).is_empty(), "left behind: {:?}", files_in(dir.path()));
        }
    }
}
