//! Keys derived by the caller (as the npm package's lite module does with WebCrypto or
//! node:crypto): the core names the recipe, the caller runs HKDF and AES-GCM, the core checks
//! the commit key and the header tag. The bytes are those of the core's own derivation, and a
//! wrong commit key or tag fails exactly as a wrong data key does.
#![cfg(not(target_arch = "wasm32"))]
#![allow(clippy::unwrap_used, clippy::cast_possible_truncation)]

use aes_gcm::aead::array::Array;
use aes_gcm::{AeadInOut, Aes256Gcm, KeyInit};
use cipherdrop::{
    AlgorithmSuite, DataKey, DecryptError, DecryptOptions, DecryptState, Decryptor, EncryptError,
    EncryptOptions, EncryptedDataKey, EncryptionContext, Encryptor, KdfHash, KeyDerivation,
    PendingEncryptor,
};
use hkdf::Hkdf;
use sha2::Sha512;

mod support;

const SIGNED: AlgorithmSuite = AlgorithmSuite::AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384;
const UNSIGNED: AlgorithmSuite = AlgorithmSuite::AES_256_GCM_HKDF_SHA512_COMMIT_KEY;
const FRAME: usize = 1000;
const DATA_KEY: [u8; 32] = [0x42; 32];
const MESSAGE_ID: [u8; 32] = [0x24; 32];

fn options(suite: AlgorithmSuite) -> EncryptOptions {
    let mut encryption_context = EncryptionContext::new();
    encryption_context.insert("owner".into(), "alice".into());
    EncryptOptions { suite, frame_length: FRAME as u32, encryption_context }
}

fn edks() -> Vec<EncryptedDataKey> {
    vec![EncryptedDataKey {
        provider_id: "fixed".into(),
        provider_info: b"key".to_vec(),
        ciphertext: vec![0xAB; 32],
    }]
}

fn pending(suite: AlgorithmSuite) -> PendingEncryptor {
    let mut signing_key = [7u8; 48];
    signing_key[0] = 1;
    PendingEncryptor::dangerous_with_fixed_secrets(
        &options(suite),
        &DataKey::from_slice(&DATA_KEY),
        MESSAGE_ID,
        Some(&signing_key),
    )
    .unwrap()
}

/// The caller's HKDF, written from the specification ("HKDF Encryption Key", "HKDF Commit
/// Key"), not from the recipe: the recipe must say the same.
fn spec_keys(suite: AlgorithmSuite, data_key: &[u8], message_id: &[u8]) -> ([u8; 32], [u8; 32]) {
    let hkdf = Hkdf::<Sha512>::new(Some(message_id), data_key);
    let mut key = [0u8; 32];
    let mut commit = [0u8; 32];
    hkdf.expand_multi_info(&[&suite.id().to_be_bytes(), b"DERIVEKEY"], &mut key).unwrap();
    hkdf.expand(b"COMMITKEY", &mut commit).unwrap();
    (key, commit)
}

/// What a caller does with a recipe (WebCrypto's HKDF with its parameters).
fn run_recipe(recipe: &KeyDerivation, data_key: &[u8]) -> ([u8; 32], Option<[u8; 32]>) {
    assert_eq!(recipe.hash, Some(KdfHash::Sha512));
    let hkdf = Hkdf::<Sha512>::new(Some(recipe.salt.as_deref().unwrap_or(&[])), data_key);
    let mut key = [0u8; 32];
    hkdf.expand(&recipe.key_info, &mut key[..recipe.key_len]).unwrap();
    let commit = recipe.commit_info.map(|info| {
        let mut commit = [0u8; 32];
        hkdf.expand(info, &mut commit).unwrap();
        commit
    });
    (key, commit)
}

fn tag(cipher: &Aes256Gcm, iv: &[u8; 12], aad: &[u8]) -> [u8; 16] {
    cipher.encrypt_inout_detached(&Array::from(*iv), aad, (&mut [][..]).into()).unwrap().into()
}

/// Encrypts `data` with the caller's derivation and AES-GCM (detached frames).
fn encrypt_derived(suite: AlgorithmSuite, data: &[u8]) -> Vec<u8> {
    let pending = pending(suite);
    let recipe = pending.key_derivation();
    let (key, commit) = run_recipe(&recipe, &DATA_KEY);
    let cipher = Aes256Gcm::new(&key.into());
    let header = pending.header_to_seal(edks(), &commit.unwrap()).unwrap();
    let header_tag = tag(&cipher, &[0; 12], header.aad());
    let mut enc = header.seal(&header_tag).unwrap();
    assert!(enc.dangerous_take_content_key().is_none(), "the core never had the key");
    let mut out = Vec::new();
    let mut frames: Vec<(&[u8], bool)> =
        data.chunks(FRAME).filter(|c| c.len() == FRAME).map(|c| (c, false)).collect();
    frames.push((&data[frames.len() * FRAME..], true));
    for (plain, is_final) in frames {
        let job = enc.frame_job(plain.len(), is_final).unwrap();
        let mut sealed = plain.to_vec();
        let t = cipher
            .encrypt_inout_detached(
                &Array::from(*job.iv()),
                job.aad(),
                sealed.as_mut_slice().into(),
            )
            .unwrap();
        sealed.extend_from_slice(&t);
        enc.frame_sealed(Some(&sealed), &mut out).unwrap();
        out.extend_from_slice(&sealed);
    }
    enc.finish(&mut out).unwrap();
    out
}

fn reference(suite: AlgorithmSuite, data: &[u8]) -> Vec<u8> {
    let mut enc = pending(suite).with_encrypted_data_keys(edks()).unwrap();
    let mut out = Vec::new();
    enc.update(data, &mut out).unwrap();
    enc.finish(&mut out).unwrap();
    out
}

/// Decrypts with the caller's derivation: `commit`/`tag` rewrite what the caller passes.
fn decrypt_derived(
    message: &[u8],
    options: DecryptOptions,
    bad_commit: bool,
    bad_tag: bool,
) -> Result<Vec<u8>, DecryptError> {
    let mut dec = Decryptor::with_detached_frames(options);
    let mut cipher = None;
    let (mut out, mut held) = (Vec::new(), Vec::new());
    let mut at = 0;
    loop {
        let progress = dec.update(&message[at..], &mut out)?;
        at += progress.consumed;
        match progress.state {
            DecryptState::NeedDataKey => {
                let auth = dec.header_auth()?;
                let (key, commit) = run_recipe(&auth.derivation, &DATA_KEY);
                let c = Aes256Gcm::new(&key.into());
                let mut commit = commit.unwrap();
                let mut t = tag(&c, &auth.iv, &auth.aad);
                commit[0] ^= u8::from(bad_commit);
                t[15] ^= u8::from(bad_tag);
                dec.provide_derived_keys(Some(&commit), &t)?;
                assert!(dec.is_header_verified());
                cipher = Some(c);
            }
            DecryptState::FrameBody => {
                let job = dec.frame_job().unwrap().clone();
                let mut body = message[at..at + job.sealed_len()].to_vec();
                at += job.sealed_len();
                dec.frame_body(Some(&body))?;
                let ok = support::open_job(cipher.as_ref().unwrap(), &job, &mut body);
                dec.frame_opened(job.sequence(), ok)?;
                let content = &body[..job.plaintext_len()];
                if job.hold() { &mut held } else { &mut out }.extend_from_slice(content);
            }
            _ => {}
        }
        if at == message.len() && progress.state != DecryptState::FrameBody {
            break;
        }
    }
    dec.finish()?;
    out.append(&mut held);
    Ok(out)
}

#[test]
fn the_recipe_is_the_specifications_derivation() {
    for suite in [UNSIGNED, SIGNED] {
        let recipe = pending(suite).key_derivation();
        assert_eq!(recipe.key_len, 32);
        assert_eq!(recipe.salt.as_deref(), Some(&MESSAGE_ID[..]));
        let (key, commit) = run_recipe(&recipe, &DATA_KEY);
        assert_eq!((key, commit.unwrap()), spec_keys(suite, &DATA_KEY, &MESSAGE_ID));
    }
}

#[test]
fn caller_derived_keys_write_and_read_the_cores_bytes() {
    for suite in [UNSIGNED, SIGNED] {
        for len in [0, 999, 1000, 4321] {
            let data: Vec<u8> = (0..len).map(|i| (i * 31 % 251) as u8).collect();
            let message = encrypt_derived(suite, &data);
            assert_eq!(message, reference(suite, &data), "{suite:?} {len}: same bytes");
            let read = decrypt_derived(&message, DecryptOptions::default(), false, false);
            assert_eq!(read.unwrap(), data, "{suite:?} {len}: read back");
        }
    }
}

#[test]
fn a_wrong_commit_key_or_tag_fails_as_a_wrong_data_key_does() {
    let message = reference(UNSIGNED, b"secret");
    let err = decrypt_derived(&message, DecryptOptions::default(), true, false).unwrap_err();
    assert!(matches!(err, DecryptError::CommitmentMismatch), "{err:?}");
    let err = decrypt_derived(&message, DecryptOptions::default(), false, true).unwrap_err();
    assert!(matches!(err, DecryptError::BadHeaderTag), "{err:?}");
    // An expected pair the header does not store joins the tag's AAD: the tag then fails
    // on that pair, by name.
    let mut expected = EncryptionContext::new();
    expected.insert("purpose".into(), "backup".into());
    let options = DecryptOptions { expected_context: expected, ..DecryptOptions::default() };
    let err = decrypt_derived(&message, options, false, false).unwrap_err();
    assert!(matches!(&err, DecryptError::ContextMismatch(k) if k == "purpose"), "{err:?}");
}

#[test]
fn caller_derived_keys_misuse_is_an_error() {
    let message = reference(UNSIGNED, b"secret");
    // Not in detached mode: the core would have to open the frames without a key.
    let mut dec = Decryptor::new(DecryptOptions::default());
    let state = dec.update(&message, &mut Vec::new()).unwrap().state;
    assert_eq!(state, DecryptState::NeedDataKey);
    assert!(matches!(dec.header_auth(), Err(DecryptError::InvalidState(_))));
    let err = dec.provide_derived_keys(Some(&[0; 32]), &[0; 16]).unwrap_err();
    assert!(matches!(err, DecryptError::InvalidState(_)), "{err:?}");
    // Before the header, and a missing commit key for a committing suite.
    let mut dec = Decryptor::with_detached_frames(DecryptOptions::default());
    assert!(matches!(dec.header_auth(), Err(DecryptError::InvalidState(_))));
    let _ = dec.update(&message, &mut Vec::new()).unwrap();
    let err = dec.provide_derived_keys(None, &[0; 16]).unwrap_err();
    assert!(matches!(err, DecryptError::CommitmentMismatch), "{err:?}");
    // The core has no key of the message: it cannot open a frame itself.
    let mut dec = Decryptor::with_detached_frames(DecryptOptions::default());
    let at = dec.update(&message, &mut Vec::new()).unwrap().consumed;
    let auth = dec.header_auth().unwrap();
    let (key, commit) = run_recipe(&auth.derivation, &DATA_KEY);
    let cipher = Aes256Gcm::new(&key.into());
    dec.provide_derived_keys(commit.as_ref().map(|c| &c[..]), &tag(&cipher, &auth.iv, &auth.aad))
        .unwrap();
    assert!(dec.dangerous_take_content_key().is_none());
    let progress = dec.update(&message[at..], &mut Vec::new()).unwrap();
    assert_eq!(progress.state, DecryptState::FrameBody);
    let job = dec.frame_job().unwrap().clone();
    dec.frame_body(None).unwrap();
    let err = dec.open_job(job.sequence(), &mut vec![0; job.sealed_len()]).unwrap_err();
    assert!(matches!(err, DecryptError::InvalidState(_)), "{err:?}");

    // Encrypt: a commit key or a tag of the wrong length, and the core's own AES-GCM.
    let err = pending(UNSIGNED).header_to_seal(edks(), &[0; 31]).unwrap_err();
    assert!(matches!(err, EncryptError::InvalidState(_)), "{err:?}");
    let err = pending(UNSIGNED).header_to_seal(Vec::new(), &[0; 32]).unwrap_err();
    assert!(matches!(err, EncryptError::EncryptedDataKeyCount(0)), "{err:?}");
    let header = pending(UNSIGNED).header_to_seal(edks(), &[0; 32]).unwrap();
    assert!(matches!(header.seal(&[0; 15]), Err(EncryptError::InvalidState(_))));
    let mut enc: Encryptor =
        pending(UNSIGNED).header_to_seal(edks(), &[0; 32]).unwrap().seal(&[0; 16]).unwrap();
    let err = enc.update(&[1; 2000], &mut Vec::new()).unwrap_err();
    assert!(matches!(err, EncryptError::InvalidState(_)), "{err:?}");
    let mut enc =
        pending(UNSIGNED).header_to_seal(edks(), &[0; 32]).unwrap().seal(&[0; 16]).unwrap();
    let job = enc.frame_job(10, true).unwrap();
    let err = enc.seal_job(job.sequence(), &mut [0; 10]).unwrap_err();
    assert!(matches!(err, EncryptError::InvalidState(_)), "{err:?}");
}
