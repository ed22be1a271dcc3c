//! The decoder on arbitrary bytes. The first bytes choose how it is driven; then the message
//! is fed in chunks of a size the input chooses. It must never panic, and the chosen way of
//! streaming and the one-shot `decrypt` with the same options must agree: both succeed with
//! the same plaintext, or both fail.
//!
//! Input layout (fuzz/make_seeds.py writes seeds in it):
//!
//! - byte 0: chunk size for `Decryptor::update` (0 means 1);
//! - byte 1: flags:
//!   - bits 0-1, how frames are opened: 0 by the decryptor (`Decryptor::new`); detached
//!     (`Decryptor::with_detached_frames`) with 1 `open_job` one frame at a time, 2 an external
//!     AES-GCM on `dangerous_take_content_key` reported with `frame_opened`, up to three
//!     frames in flight, 3 `open_job` two in flight with delegated hashing
//!     (`delegate_hash`/`provide_digest`) for signed suites;
//!   - bit 2: `RequireEncryptRequireDecrypt` (else `RequireEncryptAllowDecrypt`, which reads
//!     format 1.0);
//!   - bit 3: `refuse_signed`;
//!   - bit 4: an expected encryption context follows;
//!   - bit 5: limits follow;
//!   - bit 6: keyring: a multi-keyring whose first keyring (RSA-3072) has the same namespace and
//!     name as the second (RSA-2048), so an EDK for the 2048-bit key fails its first unwrap
//!     (else the RSA-2048 keyring alone);
//!   - bit 7: detached: `frame_body(None)` where the core allows it (unsigned suites, or
//!     delegated hashing);
//! - if bit 4: a count byte (pairs = count % 4), then per pair a key and a value, each a length
//!   byte (key % 32, value % 64) and that many bytes (lossy UTF-8);
//! - if bit 5: 8 bytes of limits: EDKs (% 16), header length (u16 BE × 8), frame length
//!   (u24 BE), context length (u16 BE);
//! - the rest: the message.
//!
//! With `CIPHERDROP_FUZZ_VERBOSE` set, each input's outcome is printed (to check seeds).
#![no_main]

use std::collections::VecDeque;
use std::sync::LazyLock;

use aes_gcm::aead::array::Array;
use aes_gcm::aead::consts::U12;
use aes_gcm::aes::Aes192;
use aes_gcm::{AeadInOut, Aes128Gcm, Aes256Gcm, AesGcm, KeyInit};
use cipherdrop::{
    CommitmentPolicy, DecryptError, DecryptOptions, DecryptState, Decryptor, EncryptionContext,
    FrameJob, Keyring, Limits, MessageHasher, MultiKeyring, OaepHash, RawRsaKeyring, decrypt,
};
use libfuzzer_sys::fuzz_target;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Plain,
    OpenJob,
    External,
    Delegated,
}

struct Setup {
    chunk: usize,
    mode: Mode,
    multi: bool,
    none_body: bool,
    options: DecryptOptions,
}

fn take<'a>(rest: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
    let (head, tail) = rest.split_at_checked(n)?;
    *rest = tail;
    Some(head)
}

fn take_string(rest: &mut &[u8], modulus: u8) -> Option<String> {
    let len = take(rest, 1)?[0] % modulus;
    Some(String::from_utf8_lossy(take(rest, usize::from(len))?).into_owned())
}

fn setup(data: &[u8]) -> Option<(Setup, &[u8])> {
    let mut rest = data;
    let chunk = usize::from(take(&mut rest, 1)?[0]).max(1);
    let flags = take(&mut rest, 1)?[0];
    let mut options = DecryptOptions {
        commitment_policy: match flags & 0x04 {
            0 => CommitmentPolicy::RequireEncryptAllowDecrypt,
            _ => CommitmentPolicy::RequireEncryptRequireDecrypt,
        },
        refuse_signed: flags & 0x08 != 0,
        ..DecryptOptions::default()
    };
    if flags & 0x10 != 0 {
        let pairs = take(&mut rest, 1)?[0] % 4;
        let mut context = EncryptionContext::new();
        for _ in 0..pairs {
            let key = take_string(&mut rest, 32)?;
            let value = take_string(&mut rest, 64)?;
            context.insert(key, value);
        }
        options.expected_context = context;
    }
    if flags & 0x20 != 0 {
        let b = take(&mut rest, 8)?;
        options.limits = Limits {
            max_encrypted_data_keys: usize::from(b[0] % 16),
            max_header_len: usize::from(u16::from_be_bytes([b[1], b[2]])) * 8,
            max_frame_len: usize::from(b[3]) << 16 | usize::from(b[4]) << 8 | usize::from(b[5]),
            max_context_len: usize::from(u16::from_be_bytes([b[6], b[7]])),
        };
    }
    let mode = match flags & 0x03 {
        0 => Mode::Plain,
        1 => Mode::OpenJob,
        2 => Mode::External,
        _ => Mode::Delegated,
    };
    let setup =
        Setup { chunk, mode, multi: flags & 0x40 != 0, none_body: flags & 0x80 != 0, options };
    Some((setup, rest))
}

fn rsa(bits: &[u8]) -> RawRsaKeyring {
    RawRsaKeyring::from_pem("fuzz", "key", bits, OaepHash::Sha256).expect("test key parses")
}

const RSA_2048: &[u8] = include_bytes!("../../tests/data/rsa-2048.pem");
const RSA_3072: &[u8] = include_bytes!("../../tests/data/rsa-3072.pem");

static VERBOSE: LazyLock<bool> =
    LazyLock::new(|| std::env::var_os("CIPHERDROP_FUZZ_VERBOSE").is_some());

thread_local! {
    static SINGLE: RawRsaKeyring = rsa(RSA_2048);
    static MULTI: MultiKeyring =
        MultiKeyring::new(Box::new(rsa(RSA_3072)), vec![Box::new(rsa(RSA_2048))]);
}

/// An external AES-GCM for detached frames, as the npm package's WebCrypto.
enum Gcm {
    A128(Aes128Gcm),
    A192(AesGcm<Aes192, U12>),
    A256(Aes256Gcm),
}

impl Gcm {
    fn new(key: &[u8]) -> Option<Self> {
        match key.len() {
            16 => Aes128Gcm::new_from_slice(key).ok().map(Self::A128),
            24 => AesGcm::<Aes192, U12>::new_from_slice(key).ok().map(Self::A192),
            32 => Aes256Gcm::new_from_slice(key).ok().map(Self::A256),
            _ => None,
        }
    }

    /// Opens `sealed` (ciphertext then tag) in place; whether the tag verified.
    fn open(&self, job: &FrameJob, sealed: &mut [u8]) -> bool {
        let (content, tag) = sealed.split_at_mut(job.plaintext_len());
        let nonce = Array::from(*job.iv());
        let Ok(tag) = Array::try_from(&*tag) else { return false };
        match self {
            Self::A128(c) => c.decrypt_inout_detached(&nonce, job.aad(), content.into(), &tag),
            Self::A192(c) => c.decrypt_inout_detached(&nonce, job.aad(), content.into(), &tag),
            Self::A256(c) => c.decrypt_inout_detached(&nonce, job.aad(), content.into(), &tag),
        }
        .is_ok()
    }
}

/// Streams `message` as `setup` says; the plaintext if `finish` succeeds.
fn stream(message: &[u8], setup: &Setup, keyring: &dyn Keyring) -> Result<Vec<u8>, DecryptError> {
    let detached = setup.mode != Mode::Plain;
    let mut dec = match detached {
        true => Decryptor::with_detached_frames(setup.options.clone()),
        false => Decryptor::new(setup.options.clone()),
    };
    let in_flight = match setup.mode {
        Mode::External => 3,
        Mode::Delegated => 2,
        _ => 1,
    };
    let mut out = Vec::new();
    // Detached: plaintext of `hold()` frames, released at Done; frames not yet opened.
    let mut held = Vec::new();
    let mut pending: VecDeque<(FrameJob, Vec<u8>)> = VecDeque::new();
    let mut external = None;
    let mut delegated: Option<MessageHasher> = None;
    let mut footer_at = None;
    let mut at = 0;
    loop {
        let input = &message[at..(at + setup.chunk).min(message.len())];
        let p = dec.update(input, &mut out)?;
        assert!(p.consumed <= input.len() && p.hashed <= p.consumed);
        if let Some(hasher) = &mut delegated {
            hasher.update(&input[..p.hashed]);
        }
        at += p.consumed;
        match p.state {
            DecryptState::NeedDataKey => {
                let header = dec.header().expect("a header waits for its key");
                let suite = header.suite();
                if setup.mode == Mode::Delegated && suite.is_signed() {
                    let mut hasher = MessageHasher::for_suite(suite).expect("signed suite");
                    hasher.update(dec.delegate_hash()?);
                    delegated = Some(hasher);
                }
                dec.unwrap_with(keyring)?;
                if setup.mode == Mode::External {
                    let key = dec.dangerous_take_content_key().expect("a verified header's key");
                    external = Some(Gcm::new(&key).expect("AES-128, -192 or -256"));
                }
            }
            DecryptState::FrameBody => {
                let job = dec.frame_job().expect("a frame body is awaited").clone();
                let Some(body) = at.checked_add(job.sealed_len()).and_then(|e| message.get(at..e))
                else {
                    break; // truncated: finish says so
                };
                at += job.sealed_len();
                if let Some(hasher) = &mut delegated {
                    hasher.update(body);
                }
                let signed = dec.header().expect("body after header").suite().is_signed();
                let none = setup.none_body && (!signed || delegated.is_some());
                dec.frame_body((!none).then_some(body))?;
                if job.is_final() {
                    footer_at = Some(at);
                }
                pending.push_back((job, body.to_vec()));
                // Open the oldest frames once `in_flight` wait, and all after the final one.
                while pending.len() >= in_flight
                    || pending.back().is_some_and(|(j, _)| j.is_final())
                {
                    let (job, mut sealed) = pending.pop_front().expect("not empty");
                    match &external {
                        Some(gcm) => {
                            dec.frame_opened(job.sequence(), gcm.open(&job, &mut sealed))?
                        }
                        None => dec.open_job(job.sequence(), &mut sealed)?,
                    }
                    sealed.truncate(job.plaintext_len());
                    match job.hold() {
                        true => held.extend_from_slice(&sealed),
                        false => out.extend_from_slice(&sealed),
                    }
                }
            }
            DecryptState::NeedDigest => {
                // The bytes the core named are exactly those before the footer.
                let digest = delegated.take().expect("only delegated hashing waits").finalize();
                let suite = dec.header().expect("body after header").suite();
                let mut reference = MessageHasher::for_suite(suite).expect("signed suite");
                reference
                    .update(&message[..footer_at.expect("the footer follows the final frame")]);
                assert_eq!(digest, reference.finalize(), "the named ranges cover the body");
                dec.provide_digest(&digest)?;
            }
            DecryptState::NeedInput | DecryptState::Done => {
                assert!(p.consumed > 0 || input.is_empty() || p.state == DecryptState::Done);
                if at == message.len() {
                    break;
                }
            }
            _ => break,
        }
    }
    dec.finish()?;
    assert!(pending.is_empty(), "finish succeeded with frames not opened");
    out.append(&mut held);
    Ok(out)
}

fn run(message: &[u8], setup: &Setup, keyring: &dyn Keyring) {
    let streamed = stream(message, setup, keyring);
    let one_shot = decrypt(keyring, message, setup.options.clone());
    if *VERBOSE {
        eprintln!(
            "streamed: {:?}; one-shot: {:?}",
            streamed.as_ref().map(Vec::len),
            one_shot.as_ref().map(|(p, h)| (p.len(), h.suite().id()))
        );
    }
    match (&streamed, &one_shot) {
        (Ok(streamed), Ok((plaintext, _))) => assert!(streamed == plaintext, "plaintexts differ"),
        (Err(_), Err(_)) => {}
        _ => panic!(
            "streaming and one-shot disagree: streamed {:?}, one-shot {:?}",
            streamed.as_ref().map(Vec::len),
            one_shot.as_ref().map(|(p, _)| p.len())
        ),
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((setup, message)) = setup(data) else { return };
    match setup.multi {
        true => MULTI.with(|k| run(message, &setup, k)),
        false => SINGLE.with(|k| run(message, &setup, k)),
    }
});
