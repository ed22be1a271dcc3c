//! Detached frames (the AES-GCM of frame bodies done outside the core, as the npm package does
//! with WebCrypto): the bytes are exactly those of the pure-Rust `update` path, several jobs
//! may be open at once, and every rule (order, lengths, final frame, signature, tags) stays
//! in the core.
#![cfg(not(target_arch = "wasm32"))]
#![allow(clippy::unwrap_used, clippy::cast_possible_truncation)]

use aes_gcm::aead::array::Array;
use aes_gcm::{AeadInOut, Aes256Gcm, KeyInit};
use cipherdrop::{
    AlgorithmSuite, DataKey, DecryptError, DecryptOptions, DecryptState, Decryptor, EncryptError,
    EncryptOptions, EncryptedDataKey, EncryptionContext, Encryptor, FrameJob, Keyring,
    MessageHasher, OaepHash, RawRsaKeyring, decrypt,
};

mod support;

const PEM: &[u8] = include_bytes!("data/rsa-2048.pem");
const SIGNED: AlgorithmSuite = AlgorithmSuite::AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384;
const UNSIGNED: AlgorithmSuite = AlgorithmSuite::AES_256_GCM_HKDF_SHA512_COMMIT_KEY;
const FRAME: usize = 1000;

fn options(suite: AlgorithmSuite) -> EncryptOptions {
    let mut encryption_context = EncryptionContext::new();
    encryption_context.insert("owner".into(), "alice".into());
    EncryptOptions { suite, frame_length: FRAME as u32, encryption_context }
}

fn plaintext(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 % 251) as u8).collect()
}

/// An encryptor with fixed secrets: the same inputs give the same message.
fn fixed(suite: AlgorithmSuite) -> Encryptor {
    let edk = EncryptedDataKey {
        provider_id: "fixed".into(),
        provider_info: b"key".to_vec(),
        ciphertext: vec![0xAB; 32],
    };
    let mut signing_key = [7u8; 48];
    signing_key[0] = 1;
    Encryptor::dangerous_new_with_fixed_secrets(
        vec![edk],
        &options(suite),
        &DataKey::from_slice(&[0x42; 32]),
        [0x24; 32],
        Some(&signing_key),
    )
    .unwrap()
}

/// Unwraps nothing but the fixed data key, for decrypting `fixed` messages.
struct FixedKey;

impl Keyring for FixedKey {
    fn wrap(
        &self,
        _: &DataKey,
        _: &EncryptionContext,
    ) -> Result<Vec<EncryptedDataKey>, EncryptError> {
        Err(EncryptError::WrapFailed)
    }

    fn unwrap(
        &self,
        _: &EncryptedDataKey,
        _: &cipherdrop::Header,
    ) -> Option<Result<DataKey, DecryptError>> {
        Some(Ok(DataKey::from_slice(&[0x42; 32])))
    }
}

fn with_update(mut enc: Encryptor, data: &[u8], chunk: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for piece in data.chunks(chunk.max(1)) {
        enc.update(piece, &mut out).unwrap();
    }
    enc.finish(&mut out).unwrap();
    out
}

/// An external AES-256-GCM, as WebCrypto would be, keyed with the taken content key.
fn external(key: &[u8]) -> Aes256Gcm {
    Aes256Gcm::new(key.try_into().unwrap())
}

fn external_seal(cipher: &Aes256Gcm, job: &FrameJob, plaintext: &[u8]) -> Vec<u8> {
    let mut buf = plaintext.to_vec();
    let tag = cipher
        .encrypt_inout_detached(&Array::from(*job.iv()), job.aad(), buf.as_mut_slice().into())
        .unwrap();
    buf.extend_from_slice(&tag);
    buf
}

/// Who seals a detached frame.
#[derive(Clone, Copy, Debug)]
enum Sealer {
    /// The core's `seal_job`.
    Job,
    /// The aes-gcm crate keyed by the taken content key.
    External,
    /// The core's `FrameCipher`, on another thread.
    Thread,
}

/// Detached encryption with `in_flight` jobs open at once, sealed by `sealer`.
fn with_jobs(mut enc: Encryptor, data: &[u8], in_flight: usize, sealer: Sealer) -> Vec<u8> {
    let frame_cipher = enc.frame_cipher().unwrap();
    assert!(enc.frame_cipher().is_none(), "the key is taken once");
    assert!(enc.dangerous_take_content_key().is_none(), "and only once");
    let cipher = external(&fixed(enc.header().suite()).dangerous_take_content_key().unwrap());
    let mut frames: Vec<(&[u8], bool)> =
        data.chunks(FRAME).filter(|c| c.len() == FRAME).map(|c| (c, false)).collect();
    frames.push((&data[frames.len() * FRAME..], true));
    let mut out = Vec::new();
    enc.update(&[], &mut out).unwrap(); // the header, as the JS glue does
    let mut open = std::collections::VecDeque::new();
    for (plain, is_final) in frames {
        let job = enc.frame_job(plain.len(), is_final).unwrap();
        let sealed = match sealer {
            Sealer::External => external_seal(&cipher, &job, plain),
            Sealer::Job | Sealer::Thread => {
                let mut buf = plain.to_vec();
                let tag = match sealer {
                    Sealer::Job => enc.seal_job(job.sequence(), &mut buf).unwrap(),
                    _ => std::thread::scope(|s| {
                        s.spawn(|| frame_cipher.seal(&job, &mut buf).unwrap()).join().unwrap()
                    }),
                };
                buf.extend_from_slice(&tag);
                buf
            }
        };
        open.push_back(sealed);
        if open.len() == in_flight {
            let sealed = open.pop_front().unwrap();
            enc.frame_sealed(Some(&sealed), &mut out).unwrap();
            out.extend_from_slice(&sealed);
        }
    }
    for sealed in open {
        enc.frame_sealed(Some(&sealed), &mut out).unwrap();
        out.extend_from_slice(&sealed);
    }
    enc.finish(&mut out).unwrap();
    out
}

#[test]
fn detached_encryption_writes_the_same_bytes_as_update() {
    for suite in [UNSIGNED, SIGNED] {
        for len in [0, 1, FRAME - 1, FRAME, FRAME + 1, 3 * FRAME + 17, 4 * FRAME] {
            let data = plaintext(len);
            let reference = with_update(fixed(suite), &data, 333);
            assert_eq!(reference, with_update(fixed(suite), &data, len), "fixed secrets repeat");
            for in_flight in [1, 3] {
                for sealer in [Sealer::Job, Sealer::External, Sealer::Thread] {
                    let got = with_jobs(fixed(suite), &data, in_flight, sealer);
                    let diff = got.iter().zip(&reference).position(|(a, b)| a != b);
                    assert!(
                        got == reference,
                        "{suite:?} {len} bytes {in_flight} {sealer:?}: {} vs {} bytes, first \
                         difference at {diff:?}",
                        got.len(),
                        reference.len()
                    );
                }
            }
            let (plain, _) = decrypt(&FixedKey, &reference, DecryptOptions::default()).unwrap();
            assert_eq!(plain, data);
        }
    }
}

#[test]
fn unsigned_detached_encryption_needs_no_sealed_bytes() {
    let data = plaintext(2 * FRAME + 5);
    let reference = with_update(fixed(UNSIGNED), &data, 4096);
    let mut enc = fixed(UNSIGNED);
    let cipher = external(&enc.dangerous_take_content_key().unwrap());
    let mut out = Vec::new();
    for (i, plain) in data.chunks(FRAME).enumerate() {
        let job = enc.frame_job(plain.len(), i == 2).unwrap();
        enc.frame_sealed(None, &mut out).unwrap(); // the header comes first, unasked
        out.extend_from_slice(&external_seal(&cipher, &job, plain));
    }
    enc.finish(&mut out).unwrap();
    assert!(out == reference);
}

#[test]
fn fixed_secrets_of_the_wrong_shape_are_named() {
    let edk = || EncryptedDataKey {
        provider_id: "fixed".into(),
        provider_info: Vec::new(),
        ciphertext: vec![0xAB; 32],
    };
    let fixed_with = |suite, data_key: &[u8], signing_key: Option<&[u8; 48]>| {
        Encryptor::dangerous_new_with_fixed_secrets(
            vec![edk()],
            &options(suite),
            &DataKey::from_slice(data_key),
            [0x24; 32],
            signing_key,
        )
        .unwrap_err()
    };
    assert_eq!(
        fixed_with(UNSIGNED, &[0x42; 16], None),
        EncryptError::DataKeyLength { expected: 32, actual: 16 }
    );
    assert_eq!(fixed_with(SIGNED, &[0x42; 32], None), EncryptError::InvalidSigningKey);
    // Zero is not a P-384 scalar.
    assert_eq!(fixed_with(SIGNED, &[0x42; 32], Some(&[0; 48])), EncryptError::InvalidSigningKey);
}

#[test]
fn detached_encryption_misuse_is_an_error() {
    // One misuse per encryptor: the first error spends it.
    let invalid = |r: Result<(), EncryptError>| matches!(r, Err(EncryptError::InvalidState(_)));
    let with_job = || {
        let mut enc = fixed(SIGNED);
        let job = enc.frame_job(FRAME, false).unwrap();
        (enc, job)
    };
    assert!(invalid(fixed(SIGNED).frame_job(FRAME - 1, false).map(drop)), "short regular frame");
    assert!(invalid(fixed(SIGNED).frame_job(FRAME + 1, true).map(drop)), "long final frame");
    assert!(invalid(fixed(SIGNED).frame_sealed(None, &mut Vec::new())), "nothing open");
    let (mut enc, _) = with_job();
    assert!(invalid(enc.update(b"x", &mut Vec::new())), "no update with plaintext");
    let (mut enc, job) = with_job();
    assert!(invalid(enc.seal_job(job.sequence() + 1, &mut [0; FRAME]).map(drop)), "no such job");
    let (mut enc, job) = with_job();
    assert!(invalid(enc.seal_job(job.sequence(), &mut [0; 10]).map(drop)), "wrong length");
    let (mut enc, _) = with_job();
    assert!(invalid(enc.frame_sealed(None, &mut Vec::new())), "signed: bytes required");
    let (mut enc, _) = with_job();
    assert!(invalid(enc.frame_sealed(Some(&[0; 10]), &mut Vec::new())), "wrong sealed length");
    let (mut enc, _) = with_job();
    enc.frame_job(0, true).unwrap();
    enc.frame_sealed(Some(&[0; FRAME + 16]), &mut Vec::new()).unwrap();
    assert!(invalid(enc.frame_job(0, true).map(drop)), "nothing after the final frame");
    let mut early = fixed(SIGNED);
    early.frame_job(0, true).unwrap();
    assert!(invalid(early.finish(&mut Vec::new())), "finish before the final frame is sealed");
    let mut mixed = fixed(SIGNED);
    mixed.update(b"some plaintext", &mut Vec::new()).unwrap();
    assert!(invalid(mixed.frame_job(FRAME, false).map(drop)), "no jobs after update");
    let mut whole = fixed(UNSIGNED);
    whole.update(&plaintext(FRAME), &mut Vec::new()).unwrap();
    assert!(invalid(whole.frame_job(0, true).map(drop)), "nor after update sealed a frame");
}

/// Detached decryption with an external AES-GCM: `(plaintext, states)`; `tamper` flips a
/// bit of the sealed bytes of that frame before opening.
fn detached_decrypt(
    message: &[u8],
    chunk: usize,
    tamper: Option<u32>,
) -> Result<(Vec<u8>, Vec<DecryptState>), DecryptError> {
    let mut dec = Decryptor::with_detached_frames(DecryptOptions::default());
    let mut cipher = None;
    let mut out = Vec::new();
    let mut held = Vec::new();
    let mut states = Vec::new();
    let mut at = 0;
    loop {
        let end = (at + chunk).min(message.len());
        let progress = dec.update(&message[at..end], &mut out)?;
        at += progress.consumed;
        if states.last() != Some(&progress.state) {
            states.push(progress.state);
        }
        match progress.state {
            DecryptState::NeedDataKey => {
                dec.unwrap_with(&FixedKey)?;
                cipher = Some(external(&dec.dangerous_take_content_key().unwrap()));
            }
            DecryptState::FrameBody => {
                let job = dec.frame_job().unwrap().clone();
                let Some(body) = message.get(at..at + job.sealed_len()) else {
                    break; // truncated: finish says so
                };
                let mut body = body.to_vec();
                at += job.sealed_len();
                dec.frame_body(Some(&body))?;
                if tamper == Some(job.sequence()) {
                    body[0] ^= 1;
                }
                let ok = support::open_job(cipher.as_ref().unwrap(), &job, &mut body);
                dec.frame_opened(job.sequence(), ok)?;
                let content = &body[..job.plaintext_len()];
                if job.hold() { &mut held } else { &mut out }.extend_from_slice(content);
            }
            DecryptState::Done => out.append(&mut held),
            _ => {}
        }
        if at == message.len() && progress.state != DecryptState::FrameBody {
            break;
        }
    }
    dec.finish()?;
    out.append(&mut held);
    Ok((out, states))
}

/// The core's `FrameCipher` opens frames on other threads: what the tag verifies, and only
/// that; its key exists once the header is verified, once.
#[test]
fn frame_cipher_opens_frames_on_another_thread() {
    let data = plaintext(3 * FRAME + 17);
    let message = with_update(fixed(UNSIGNED), &data, 4096);
    let mut dec = Decryptor::with_detached_frames(DecryptOptions::default());
    let mut out = Vec::new();
    let mut at = dec.update(&message, &mut out).unwrap().consumed;
    assert!(dec.frame_cipher().is_none(), "no key before the header is verified");
    dec.unwrap_with(&FixedKey).unwrap();
    let cipher = dec.frame_cipher().unwrap();
    assert!(dec.frame_cipher().is_none(), "the key is taken once");
    let mut plain = Vec::new();
    while at < message.len() {
        at += dec.update(&message[at..], &mut out).unwrap().consumed;
        let job = dec.frame_job().unwrap().clone();
        let mut body = message[at..at + job.sealed_len()].to_vec();
        at += job.sealed_len();
        dec.frame_body(None).unwrap();
        assert!(matches!(cipher.open(&job, &mut body[1..]), Err(DecryptError::InvalidState(_))));
        let mut bad = body.clone();
        bad[job.plaintext_len()] ^= 1; // the tag
        let failed = cipher.open(&job, &mut bad);
        assert!(
            matches!(failed, Err(DecryptError::BadFrameTag { sequence }) if sequence == job.sequence())
        );
        std::thread::scope(|s| s.spawn(|| cipher.open(&job, &mut body).unwrap()).join().unwrap());
        dec.frame_opened(job.sequence(), true).unwrap();
        plain.extend_from_slice(&body[..job.plaintext_len()]);
    }
    dec.finish().unwrap();
    assert_eq!(plain, data);
}

#[test]
fn detached_decryption_reads_what_update_reads() {
    for suite in [UNSIGNED, SIGNED] {
        for len in [0, 1, FRAME, 3 * FRAME + 17] {
            let data = plaintext(len);
            let message = with_update(fixed(suite), &data, 4096);
            for chunk in [1, 7, 100, message.len()] {
                let (plain, states) = detached_decrypt(&message, chunk, None).unwrap();
                assert_eq!(plain, data, "{suite:?} {len} bytes, chunks of {chunk}");
                assert_eq!(states.last(), Some(&DecryptState::Done));
                assert!(states.contains(&DecryptState::FrameBody));
            }
            let frames = len / FRAME + 1;
            let err = detached_decrypt(&message, 100, Some(frames as u32)).unwrap_err();
            assert_eq!(err, DecryptError::BadFrameTag { sequence: frames as u32 });
            let err = detached_decrypt(&message[..message.len() - 1], 100, None).unwrap_err();
            assert!(matches!(err, DecryptError::Truncated(_)), "{err:?}");
        }
    }
}

#[test]
fn detached_decryption_rules_stay_in_the_core() {
    let data = plaintext(2 * FRAME);
    let message = with_update(fixed(SIGNED), &data, 4096);
    let mut dec = Decryptor::with_detached_frames(DecryptOptions::default());
    let mut out = Vec::new();
    assert!(dec.dangerous_take_content_key().is_none(), "no key before the header");
    let p = dec.update(&message, &mut out).unwrap();
    assert_eq!(p.state, DecryptState::NeedDataKey);
    let mut at = p.consumed;
    dec.unwrap_with(&FixedKey).unwrap();
    let key = dec.dangerous_take_content_key().unwrap();
    let p = dec.update(&message[at..], &mut out).unwrap();
    assert_eq!((p.state, p.provisional), (DecryptState::FrameBody, true));
    assert!(out.is_empty(), "detached mode releases no plaintext itself");
    at += p.consumed;
    let job = dec.frame_job().unwrap().clone();
    assert_eq!((job.sequence(), job.is_final(), job.hold()), (1, false, false));
    // Input while a body is awaited is not consumed.
    let p = dec.update(&message[at..], &mut out).unwrap();
    assert_eq!((p.consumed, p.state), (0, DecryptState::FrameBody));
    assert!(matches!(dec.frame_body(None), Err(DecryptError::InvalidState(_))));
    // An error is sticky; a fresh decryptor continues.
    let mut dec = Decryptor::with_detached_frames(DecryptOptions::default());
    let p = dec.update(&message, &mut out).unwrap();
    dec.unwrap_with(&FixedKey).unwrap();
    let mut at = p.consumed;
    let cipher = external(&key);
    let mut last = None;
    loop {
        let p = dec.update(&message[at..], &mut out).unwrap();
        at += p.consumed;
        if p.state != DecryptState::FrameBody {
            break;
        }
        let job = dec.frame_job().unwrap().clone();
        let mut body = message[at..at + job.sealed_len()].to_vec();
        at += job.sealed_len();
        dec.frame_body(Some(&body)).unwrap();
        if job.sequence() == 1 {
            // Confirming out of order is refused; the core's own AES-GCM opens in place.
            assert!(matches!(dec.frame_opened(2, true), Err(DecryptError::InvalidState(_))));
            break;
        }
        dec.open_job(job.sequence(), &mut body).unwrap();
        last = Some((job, cipher.clone()));
    }
    assert!(last.is_none());
    assert!(matches!(dec.finish(), Err(DecryptError::InvalidState(_))));
    // Unconfirmed frames make finish fail even once the signature verified.
    let mut dec = Decryptor::with_detached_frames(DecryptOptions::default());
    let mut at = 0;
    loop {
        let p = dec.update(&message[at..], &mut out).unwrap();
        at += p.consumed;
        match p.state {
            DecryptState::NeedDataKey => dec.unwrap_with(&FixedKey).unwrap(),
            DecryptState::FrameBody => {
                let job = dec.frame_job().unwrap().clone();
                dec.frame_body(Some(&message[at..at + job.sealed_len()])).unwrap();
                at += job.sealed_len();
                assert_eq!(job.hold(), job.is_final(), "signed: the final frame is held");
            }
            DecryptState::Done => break,
            _ => panic!("unexpected state"),
        }
    }
    assert_eq!(
        dec.finish().unwrap_err(),
        DecryptError::InvalidState("frames were not confirmed opened")
    );
}

#[test]
fn the_taken_key_opens_messages_of_the_update_path() {
    let keyring = RawRsaKeyring::from_pem("test", "key-1", PEM, OaepHash::Sha256).unwrap();
    let data = plaintext(5 * FRAME + 3);
    let message = cipherdrop::encrypt(&keyring, &data, &options(SIGNED)).unwrap();
    let mut dec = Decryptor::with_detached_frames(DecryptOptions::default());
    let mut out = Vec::new();
    let mut at = 0;
    let mut held = Vec::new();
    loop {
        let p = dec.update(&message[at..], &mut out).unwrap();
        at += p.consumed;
        match p.state {
            DecryptState::NeedDataKey => dec.unwrap_with(&keyring).unwrap(),
            DecryptState::FrameBody => {
                let job = dec.frame_job().unwrap().clone();
                let mut body = message[at..at + job.sealed_len()].to_vec();
                at += job.sealed_len();
                dec.frame_body(Some(&body)).unwrap();
                dec.open_job(job.sequence(), &mut body).unwrap();
                let plain = &body[..job.plaintext_len()];
                if job.hold() { &mut held } else { &mut out }.extend_from_slice(plain);
            }
            DecryptState::Done => break,
            _ => panic!("unexpected state"),
        }
    }
    dec.finish().unwrap();
    out.append(&mut held);
    assert_eq!(out, data);
}

/// Delegated hashing: the caller hashes what the encryptor writes (another thread could) and
/// passes the digest back; the bytes are those of the core's own hashing.
/// With `early_header`, the header is written before any frame job, as the JS glue does (the
/// first bytes of a stream leave before any frame is sealed).
fn with_delegated_hash(mut enc: Encryptor, data: &[u8], early_header: bool) -> (Vec<u8>, usize) {
    enc.delegate_hash().unwrap();
    let cipher = external(&enc.dangerous_take_content_key().unwrap());
    let mut hasher = MessageHasher::for_suite(SIGNED).unwrap();
    let mut out = Vec::new();
    if early_header {
        enc.update(&[], &mut out).unwrap();
        assert_eq!(out, enc.header().as_bytes(), "the header alone");
        hasher.update(&out);
    }
    let frames: Vec<&[u8]> = data.chunks(FRAME).collect();
    let regular = data.len() / FRAME;
    let mut jobs = Vec::new();
    for i in 0..=regular {
        let plain: &[u8] =
            frames.get(i).copied().filter(|_| i < regular).unwrap_or(&data[regular * FRAME..]);
        jobs.push((enc.frame_job(plain.len(), i == regular).unwrap(), plain));
    }
    for (job, plain) in jobs {
        let sealed = external_seal(&cipher, &job, plain);
        let at = out.len();
        enc.frame_sealed(None, &mut out).unwrap(); // no sealed bytes: the core hashes nothing
        out.extend_from_slice(&sealed);
        hasher.update(&out[at..]);
    }
    let body_end = out.len();
    enc.finish_with_digest(&hasher.finalize(), &mut out).unwrap();
    (out, body_end)
}

#[test]
fn delegated_hashing_writes_and_reads_the_same_bytes() {
    for len in [0, 1, FRAME, 3 * FRAME + 17] {
        let data = plaintext(len);
        let reference = with_update(fixed(SIGNED), &data, 4096);
        let (message, body_end) = with_delegated_hash(fixed(SIGNED), &data, false);
        assert!(message == reference, "{len} bytes");
        let (early, _) = with_delegated_hash(fixed(SIGNED), &data, true);
        assert!(early == reference, "{len} bytes, the header written first");
        // Reading: the caller hashes everything before the footer.
        for (digest_of, expect_ok) in [(body_end, true), (body_end - 1, false)] {
            let mut dec = Decryptor::with_detached_frames(DecryptOptions::default());
            let mut at = 0;
            let mut out = Vec::new();
            loop {
                let p = dec.update(&message[at..], &mut out).unwrap();
                at += p.consumed;
                match p.state {
                    DecryptState::NeedDataKey => {
                        dec.delegate_hash().unwrap();
                        dec.unwrap_with(&FixedKey).unwrap();
                    }
                    DecryptState::FrameBody => {
                        let job = dec.frame_job().unwrap().clone();
                        let mut body = message[at..at + job.sealed_len()].to_vec();
                        at += job.sealed_len();
                        dec.frame_body(None).unwrap(); // the core needs no body to hash
                        dec.open_job(job.sequence(), &mut body).unwrap();
                    }
                    DecryptState::NeedDigest => {
                        assert!(matches!(
                            dec.update(b"x", &mut out),
                            Err(DecryptError::TrailingBytes)
                        ));
                        break;
                    }
                    _ => panic!("unexpected state {:?}", p.state),
                }
            }
            // A fresh run to the digest (the trailing byte above failed the first).
            let mut dec = Decryptor::with_detached_frames(DecryptOptions::default());
            let mut at = 0;
            loop {
                let p = dec.update(&message[at..], &mut out).unwrap();
                at += p.consumed;
                match p.state {
                    DecryptState::NeedDataKey => {
                        dec.delegate_hash().unwrap();
                        dec.unwrap_with(&FixedKey).unwrap();
                    }
                    DecryptState::FrameBody => {
                        let job = dec.frame_job().unwrap().clone();
                        let mut body = message[at..at + job.sealed_len()].to_vec();
                        at += job.sealed_len();
                        dec.frame_body(None).unwrap();
                        dec.open_job(job.sequence(), &mut body).unwrap();
                    }
                    DecryptState::NeedDigest => break,
                    _ => panic!("unexpected state {:?}", p.state),
                }
            }
            let mut hasher = MessageHasher::for_suite(SIGNED).unwrap();
            hasher.update(&message[..digest_of]);
            let verified = dec.provide_digest(&hasher.finalize());
            assert_eq!(verified.is_ok(), expect_ok, "{len} bytes, digest of {digest_of}");
            if expect_ok {
                dec.finish().unwrap();
            } else {
                assert_eq!(verified.unwrap_err(), DecryptError::BadSignature);
            }
        }
    }
}

/// The caller hashes exactly what the core names: the header bytes from `delegate_hash`, the
/// `hashed` prefix of each update's input, every frame body; fed in slices that split heads.
#[test]
fn delegated_hashing_covers_the_ranges_the_core_names() {
    for len in [0, 1, FRAME, 3 * FRAME + 17] {
        let (message, body_end) = with_delegated_hash(fixed(SIGNED), &plaintext(len), false);
        for slice in [1, 7, message.len()] {
            let mut dec = Decryptor::with_detached_frames(DecryptOptions::default());
            let mut hasher = MessageHasher::for_suite(SIGNED).unwrap();
            let mut covered = 0;
            let (mut at, mut out) = (0, Vec::new());
            loop {
                let end = (at + slice).min(message.len());
                let p = dec.update(&message[at..end], &mut out).unwrap();
                hasher.update(&message[at..at + p.hashed]);
                covered += p.hashed;
                at += p.consumed;
                match p.state {
                    DecryptState::NeedInput => {}
                    DecryptState::NeedDataKey => {
                        let header = dec.delegate_hash().unwrap();
                        hasher.update(header);
                        covered += header.len();
                        dec.unwrap_with(&FixedKey).unwrap();
                    }
                    DecryptState::FrameBody => {
                        let job = dec.frame_job().unwrap().clone();
                        let mut body = message[at..at + job.sealed_len()].to_vec();
                        hasher.update(&body);
                        covered += body.len();
                        at += job.sealed_len();
                        dec.frame_body(None).unwrap();
                        dec.open_job(job.sequence(), &mut body).unwrap();
                    }
                    DecryptState::NeedDigest if at == message.len() => break,
                    state => panic!("unexpected state {state:?}"),
                }
            }
            assert_eq!(covered, body_end, "{len} bytes in slices of {slice}: all but the footer");
            dec.provide_digest(&hasher.finalize()).unwrap();
            dec.finish().unwrap();
        }
    }
}

#[test]
fn delegated_hashing_refuses_plaintext_through_update() {
    // Frames sealed by `update` could never be finished: `finish` refuses a delegated hash and
    // `finish_with_digest` needs a detached final frame.
    let mut enc = fixed(SIGNED);
    enc.delegate_hash().unwrap();
    let mut out = Vec::new();
    let err = enc.update(b"abc", &mut out).unwrap_err();
    assert!(matches!(err, EncryptError::InvalidState(m) if m.contains("delegated")), "{err:?}");
    assert!(out.is_empty());
    // The other order is refused as well.
    let mut late = fixed(SIGNED);
    late.update(b"abc", &mut Vec::new()).unwrap();
    assert!(matches!(late.delegate_hash(), Err(EncryptError::InvalidState(_))));
    // A delegated encryptor may still write its header through `update`, as in detached mode,
    // and completes with detached frames.
    let mut enc = fixed(SIGNED);
    enc.delegate_hash().unwrap();
    let mut message = Vec::new();
    enc.update(&[], &mut message).unwrap();
    let cipher = external(&enc.dangerous_take_content_key().unwrap());
    let job = enc.frame_job(3, true).unwrap();
    enc.frame_sealed(None, &mut message).unwrap();
    message.extend_from_slice(&external_seal(&cipher, &job, b"abc"));
    let mut hasher = MessageHasher::for_suite(SIGNED).unwrap();
    hasher.update(&message);
    enc.finish_with_digest(&hasher.finalize(), &mut message).unwrap();
    assert_eq!(decrypt(&FixedKey, &message, DecryptOptions::default()).unwrap().0, b"abc");
}

#[test]
fn delegated_hashing_misuse_is_an_error() {
    let mut unsigned = fixed(UNSIGNED);
    assert!(matches!(unsigned.delegate_hash(), Err(EncryptError::InvalidState(_))));
    let mut late = fixed(SIGNED);
    late.update(&[], &mut Vec::new()).unwrap();
    assert!(matches!(late.delegate_hash(), Err(EncryptError::InvalidState(_))), "after the header");
    let mut enc = fixed(SIGNED);
    enc.delegate_hash().unwrap();
    enc.frame_job(0, true).unwrap();
    enc.frame_sealed(None, &mut Vec::new()).unwrap();
    assert!(matches!(enc.finish(&mut Vec::new()), Err(EncryptError::InvalidState(_))));
    let mut enc = fixed(SIGNED);
    enc.delegate_hash().unwrap();
    enc.frame_job(0, true).unwrap();
    enc.frame_sealed(None, &mut Vec::new()).unwrap();
    assert!(matches!(
        enc.finish_with_digest(&[0; 47], &mut Vec::new()),
        Err(EncryptError::InvalidState(_))
    ));
    // Reading: only in detached mode, before the key.
    let message = with_update(fixed(SIGNED), b"abc", 4096);
    let mut dec = Decryptor::new(DecryptOptions::default());
    let _ = dec.update(&message, &mut Vec::new()).unwrap();
    assert!(matches!(dec.delegate_hash(), Err(DecryptError::InvalidState(_))), "not detached");
    let mut dec = Decryptor::with_detached_frames(DecryptOptions::default());
    let _ = dec.update(&message, &mut Vec::new()).unwrap();
    dec.unwrap_with(&FixedKey).unwrap();
    assert!(matches!(dec.delegate_hash(), Err(DecryptError::InvalidState(_))), "after the key");
    let unsigned = with_update(fixed(UNSIGNED), b"abc", 4096);
    let mut dec = Decryptor::with_detached_frames(DecryptOptions::default());
    let _ = dec.update(&unsigned, &mut Vec::new()).unwrap();
    assert!(matches!(dec.delegate_hash(), Err(DecryptError::InvalidState(_))), "unsigned");
}

/// A frame whose tag fails in `open_job` leaves no unauthenticated plaintext in the caller's
/// buffer: natively the AES-GCM (aws-lc) decrypts while it hashes, and zeroes the content
/// when the tag fails. The error names the frame and is sticky.
#[test]
fn a_frame_that_fails_in_open_job_is_wiped() {
    let data = plaintext(2 * FRAME + 10);
    let message = with_update(fixed(UNSIGNED), &data, 4096);
    for flip in [0, FRAME - 1, FRAME + 15] {
        let mut dec = Decryptor::with_detached_frames(DecryptOptions::default());
        let mut out = Vec::new();
        let mut at = dec.update(&message, &mut out).unwrap().consumed;
        dec.unwrap_with(&FixedKey).unwrap();
        at += dec.update(&message[at..], &mut out).unwrap().consumed;
        let job = dec.frame_job().unwrap().clone();
        assert_eq!((job.sequence(), job.plaintext_len()), (1, FRAME));
        let mut body = message[at..at + job.sealed_len()].to_vec();
        dec.frame_body(Some(&body)).unwrap();
        body[flip] ^= 1;
        let err = dec.open_job(1, &mut body).unwrap_err();
        assert_eq!(err, DecryptError::BadFrameTag { sequence: 1 }, "byte {flip} changed");
        assert!(body[..FRAME].iter().all(|&b| b == 0), "byte {flip}: the content is wiped");
        assert_eq!(dec.frame_opened(1, true), Err(DecryptError::BadFrameTag { sequence: 1 }));
    }
}
