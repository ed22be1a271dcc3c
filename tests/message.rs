//! Message round trips, streaming behaviour and rejection of damaged messages, through the
//! public API only.
#![cfg(not(target_arch = "wasm32"))]
#![allow(clippy::unwrap_used, clippy::cast_possible_truncation)]

use cipherdrop::{
    AlgorithmSuite, DecryptError, DecryptOptions, DecryptState, Decryptor, EncryptError,
    EncryptOptions, EncryptionContext, Encryptor, Keyring, Limits, MultiKeyring, OaepHash,
    PUBLIC_KEY_ENTRY, PendingEncryptor, RawRsaKeyring, Section, decrypt, encrypt, message_suite,
};

const PEM: &[u8] = include_bytes!("data/rsa-2048.pem");
const SIGNED: AlgorithmSuite = AlgorithmSuite::AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384;
const UNSIGNED: AlgorithmSuite = AlgorithmSuite::AES_256_GCM_HKDF_SHA512_COMMIT_KEY;

fn keyring() -> RawRsaKeyring {
    RawRsaKeyring::from_pem("test", "key-1", PEM, OaepHash::Sha256).unwrap()
}

fn options(suite: AlgorithmSuite, frame_length: u32) -> EncryptOptions {
    let mut encryption_context = EncryptionContext::new();
    encryption_context.insert("owner".into(), "alice".into());
    EncryptOptions { suite, frame_length, encryption_context }
}

fn plaintext(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 % 251) as u8).collect()
}

/// Streams `message` into a decryptor in chunks of `chunk` bytes; returns the plaintext and
/// the sequence of states seen.
fn stream_decrypt(
    keyring: &dyn Keyring,
    message: &[u8],
    chunk: usize,
    options: DecryptOptions,
) -> Result<(Vec<u8>, Vec<DecryptState>), DecryptError> {
    let mut decryptor = Decryptor::new(options);
    let mut out = Vec::new();
    let mut states = Vec::new();
    for mut piece in message.chunks(chunk) {
        loop {
            let progress = decryptor.update(piece, &mut out)?;
            if states.last() != Some(&progress.state) {
                states.push(progress.state);
            }
            piece = &piece[progress.consumed..];
            match progress.state {
                DecryptState::NeedDataKey => decryptor.unwrap_with(keyring)?,
                _ if piece.is_empty() => break,
                _ => {}
            }
        }
    }
    decryptor.finish()?;
    Ok((out, states))
}

#[test]
fn round_trips_every_size_around_frame_boundaries() {
    let keyring = keyring();
    for suite in [SIGNED, UNSIGNED] {
        for frame in [1u32, 7, 128] {
            let f = frame as usize;
            for len in [0, 1, f.saturating_sub(1), f, f + 1, 3 * f + 7] {
                let pt = plaintext(len);
                let message = encrypt(&keyring, &pt, &options(suite, frame)).unwrap();
                let (out, header) = decrypt(&keyring, &message, DecryptOptions::default()).unwrap();
                assert_eq!(out, pt, "suite {suite} frame {frame} len {len}");
                assert_eq!(header.suite(), suite);
                assert_eq!(header.frame_length(), frame);
                assert_eq!(header.encryption_context()["owner"], "alice");
                assert_eq!(
                    suite.is_signed(),
                    header.encryption_context().contains_key("aws-crypto-public-key")
                );
            }
        }
    }
}

#[test]
fn pending_encryptor_takes_edks_wrapped_elsewhere() {
    // The wasm bindings' path: the data key first, the EDKs from the caller (WebCrypto
    // there, the keyring here), then the header.
    for suite in [SIGNED, UNSIGNED] {
        let pending = PendingEncryptor::new(&options(suite, 100)).unwrap();
        assert_eq!(pending.suite(), suite);
        assert_eq!(pending.data_key().len(), 32);
        let context = pending.encryption_context();
        assert_eq!(context.get("owner").map(String::as_str), Some("alice"));
        assert_eq!(context.contains_key(PUBLIC_KEY_ENTRY), suite.is_signed());
        let edks = keyring().wrap(pending.data_key(), context).unwrap();
        let mut encryptor = pending.with_encrypted_data_keys(edks).unwrap();
        let mut message = Vec::new();
        encryptor.update(&plaintext(250), &mut message).unwrap();
        encryptor.finish(&mut message).unwrap();
        let (got, header) = decrypt(&keyring(), &message, DecryptOptions::default()).unwrap();
        assert_eq!(got, plaintext(250));
        assert_eq!(header.encryption_context().get("owner").map(String::as_str), Some("alice"));
    }
    let pending = PendingEncryptor::new(&options(UNSIGNED, 100)).unwrap();
    let err = pending.with_encrypted_data_keys(Vec::new()).unwrap_err();
    assert!(matches!(err, EncryptError::EncryptedDataKeyCount(0)), "{err:?}");
    // A wrong key in an EDK is found by the reader, not the writer: the header commits to
    // the data key, and no other key unwraps to it.
    let pending = PendingEncryptor::new(&options(UNSIGNED, 100)).unwrap();
    let other = PendingEncryptor::new(&options(UNSIGNED, 100)).unwrap();
    let edks = keyring().wrap(other.data_key(), other.encryption_context()).unwrap();
    let encryptor = pending.with_encrypted_data_keys(edks).unwrap();
    let mut message = Vec::new();
    encryptor.finish(&mut message).unwrap();
    let err = decrypt(&keyring(), &message, DecryptOptions::default()).unwrap_err();
    assert!(matches!(err, DecryptError::CommitmentMismatch), "{err:?}");
    let formatted = format!("{:?}", PendingEncryptor::new(&options(SIGNED, 100)).unwrap());
    assert!(!formatted.contains("data_key"), "no secrets in Debug: {formatted}");
}

#[test]
fn an_oversized_edk_field_is_named_as_such() {
    let pending = PendingEncryptor::new(&options(UNSIGNED, 100)).unwrap();
    let mut edks = keyring().wrap(pending.data_key(), pending.encryption_context()).unwrap();
    edks[0].provider_info = vec![0; usize::from(u16::MAX) + 1];
    let err = pending.with_encrypted_data_keys(edks).unwrap_err();
    assert_eq!(err, EncryptError::EncryptedDataKeyTooLarge);
}

#[test]
fn message_suite_reads_the_first_bytes_only() {
    for suite in [SIGNED, UNSIGNED] {
        let message = encrypt(&keyring(), b"x", &options(suite, 100)).unwrap();
        assert_eq!(message_suite(&message[..4]), Some(suite));
        assert_eq!(message_suite(&message[..3]), Some(suite), "format 2.0 needs 3 bytes");
        assert_eq!(message_suite(&message[..2]), None);
    }
    let legacy = AlgorithmSuite::from_id(0x0378).unwrap();
    assert_eq!(message_suite(&[1, 0x80, 0x03, 0x78]), Some(legacy));
    assert_eq!(message_suite(&[1, 0x81, 0x03, 0x78]), None, "format 1.0 type byte");
    assert_eq!(message_suite(&[2, 0x12, 0x34, 0]), None, "unknown suite");
    assert_eq!(message_suite(&[3, 0x04, 0x78, 0]), None, "unknown version");
}

#[test]
fn chunking_does_not_change_output() {
    let keyring = keyring();
    let pt = plaintext(1000);
    let message = encrypt(&keyring, &pt, &options(SIGNED, 64)).unwrap();
    for chunk in [1, 2, 13, 64, 100, 4096] {
        let (out, states) =
            stream_decrypt(&keyring, &message, chunk, DecryptOptions::default()).unwrap();
        assert_eq!(out, pt, "chunk {chunk}");
        use DecryptState::*;
        let expected: &[_] = if chunk >= message.len() {
            &[NeedDataKey, Done]
        } else {
            &[NeedInput, NeedDataKey, NeedInput, Done]
        };
        assert_eq!(states, expected, "chunk {chunk}");
    }
    // Encrypting in pieces gives a message that decrypts to the same plaintext.
    let mut encryptor = Encryptor::new(&keyring, &options(UNSIGNED, 64)).unwrap();
    let mut message = Vec::new();
    for piece in pt.chunks(17) {
        encryptor.update(piece, &mut message).unwrap();
    }
    encryptor.finish(&mut message).unwrap();
    assert_eq!(decrypt(&keyring, &message, DecryptOptions::default()).unwrap().0, pt);
}

#[test]
fn signed_plaintext_is_provisional_and_final_frame_waits_for_signature() {
    let keyring = keyring();
    let pt = plaintext(300);
    let message = encrypt(&keyring, &pt, &options(SIGNED, 128)).unwrap();
    let mut decryptor = Decryptor::new(DecryptOptions::default());
    let mut out = Vec::new();
    let header_len = {
        let p = decryptor.update(&message, &mut out).unwrap();
        assert_eq!(p.state, DecryptState::NeedDataKey);
        p.consumed
    };
    decryptor.unwrap_with(&keyring).unwrap();
    // Everything but the last byte of the signature: two regular frames are out, the final
    // frame's 44 bytes are held back.
    let p = decryptor.update(&message[header_len..message.len() - 1], &mut out).unwrap();
    assert!(p.provisional);
    assert_eq!(out, pt[..256]);
    let p = decryptor.update(&message[message.len() - 1..], &mut out).unwrap();
    assert_eq!((p.state, p.provisional), (DecryptState::Done, false));
    assert_eq!(out, pt);
    decryptor.finish().unwrap();
}

#[test]
fn unsigned_plaintext_is_not_provisional() {
    let keyring = keyring();
    let message = encrypt(&keyring, &plaintext(10), &options(UNSIGNED, 128)).unwrap();
    let mut decryptor = Decryptor::new(DecryptOptions::default());
    let mut out = Vec::new();
    let p = decryptor.update(&message, &mut out).unwrap();
    decryptor.unwrap_with(&keyring).unwrap();
    let p = decryptor.update(&message[p.consumed..], &mut out).unwrap();
    assert!(!p.provisional);
    assert_eq!(p.state, DecryptState::Done);
}

#[test]
fn multi_keyring_wraps_for_all_and_any_one_unwraps() {
    let gen_pem = std::fs::read("tests/data/rsa-3072.pem").unwrap();
    let generator =
        RawRsaKeyring::from_pem("escrow", "offline", &gen_pem, OaepHash::Sha512).unwrap();
    let multi = MultiKeyring::new(Box::new(generator), vec![Box::new(keyring())]);
    let message = encrypt(&multi, b"both", &EncryptOptions::default()).unwrap();
    let (out, header) = decrypt(&keyring(), &message, DecryptOptions::default()).unwrap();
    assert_eq!(out, b"both");
    let ids: Vec<_> = header.encrypted_data_keys().iter().map(|e| e.provider_id.as_str()).collect();
    assert_eq!(ids, ["escrow", "test"]);
    let escrow = RawRsaKeyring::from_pem("escrow", "offline", &gen_pem, OaepHash::Sha512).unwrap();
    assert_eq!(decrypt(&escrow, &message, DecryptOptions::default()).unwrap().0, b"both");
    // Same key material under the wrong hash: the EDK matches by name but cannot unwrap.
    let wrong_hash =
        RawRsaKeyring::from_pem("escrow", "offline", &gen_pem, OaepHash::Sha1).unwrap();
    let err = decrypt(&wrong_hash, &message, DecryptOptions::default()).unwrap_err();
    assert_eq!(err, DecryptError::NoDecryptableKey { failed_attempts: 1, notes: Vec::new() });
}

#[test]
fn public_key_only_keyring_encrypts_but_cannot_decrypt() {
    let public = RawRsaKeyring::from_pem(
        "test",
        "key-1",
        include_bytes!("data/rsa-2048.pub.pem"),
        OaepHash::Sha256,
    )
    .unwrap();
    let message = encrypt(&public, b"x", &EncryptOptions::default()).unwrap();
    assert!(matches!(
        decrypt(&public, &message, DecryptOptions::default()),
        Err(DecryptError::Keyring(_))
    ));
    assert_eq!(decrypt(&keyring(), &message, DecryptOptions::default()).unwrap().0, b"x");
}

#[test]
fn pkcs1_padding_is_refused_by_name() {
    assert_eq!("pkcs1".parse::<OaepHash>(), Err(cipherdrop::KeyError::Pkcs1v15Refused));
    assert_eq!("SHA-384".parse::<OaepHash>(), Ok(OaepHash::Sha384));
}

#[test]
fn reserved_context_keys_are_refused() {
    let mut opts = EncryptOptions::default();
    opts.encryption_context.insert("aws-crypto-public-key".into(), "x".into());
    assert!(matches!(
        encrypt(&keyring(), b"", &opts),
        Err(cipherdrop::EncryptError::ReservedContextKey(_))
    ));
}

#[test]
fn invalid_frame_lengths_are_refused() {
    for frame_length in [0, 1 << 31] {
        let opts = EncryptOptions { frame_length, ..EncryptOptions::default() };
        assert!(matches!(
            encrypt(&keyring(), b"", &opts),
            Err(cipherdrop::EncryptError::InvalidFrameLength(_))
        ));
    }
}

#[test]
fn expected_context_must_match() {
    let keyring = keyring();
    let message = encrypt(&keyring, b"x", &options(UNSIGNED, 128)).unwrap();
    for (k, v) in [("owner", "bob"), ("tenant", "acme")] {
        let mut o = DecryptOptions::default();
        o.expected_context.insert(k.into(), v.into());
        assert_eq!(
            decrypt(&keyring, &message, o).unwrap_err(),
            DecryptError::ContextMismatch(k.into())
        );
    }
    let mut o = DecryptOptions::default();
    o.expected_context.insert("owner".into(), "alice".into());
    assert!(decrypt(&keyring, &message, o).is_ok());
}

#[test]
fn refuse_signed_fails_right_after_the_header() {
    let message = encrypt(&keyring(), b"x", &options(SIGNED, 128)).unwrap();
    let o = DecryptOptions { refuse_signed: true, ..DecryptOptions::default() };
    assert_eq!(decrypt(&keyring(), &message, o).unwrap_err(), DecryptError::SignedMessageRefused);
}

#[test]
fn edk_count_above_the_limit_is_refused_before_any_unwrap() {
    let many: Vec<Box<dyn Keyring>> =
        (0..3).map(|_| Box::new(keyring()) as Box<dyn Keyring>).collect();
    let multi = MultiKeyring::new(Box::new(keyring()), many);
    let message = encrypt(&multi, b"x", &EncryptOptions::default()).unwrap();
    let limits = Limits { max_encrypted_data_keys: 3, ..Limits::default() };
    let o = DecryptOptions { limits, ..DecryptOptions::default() };
    assert_eq!(
        decrypt(&keyring(), &message, o).unwrap_err(),
        DecryptError::TooManyEncryptedDataKeys { count: 4, max: 3 }
    );
}

#[test]
fn truncation_anywhere_is_an_error() {
    let keyring = keyring();
    for suite in [SIGNED, UNSIGNED] {
        let message = encrypt(&keyring, &plaintext(300), &options(suite, 128)).unwrap();
        for len in 0..message.len() {
            let err = decrypt(&keyring, &message[..len], DecryptOptions::default()).unwrap_err();
            assert!(matches!(err, DecryptError::Truncated(_)), "suite {suite} len {len}: {err:?}");
            // Streaming: nothing is released past what is authenticated, and finish fails.
            assert!(
                stream_decrypt(&keyring, &message[..len], 7, DecryptOptions::default()).is_err()
            );
        }
    }
}

#[test]
fn trailing_bytes_are_an_error() {
    let keyring = keyring();
    for suite in [SIGNED, UNSIGNED] {
        let mut message = encrypt(&keyring, b"abc", &options(suite, 128)).unwrap();
        message.push(0);
        let err = decrypt(&keyring, &message, DecryptOptions::default()).unwrap_err();
        assert_eq!(err, DecryptError::TrailingBytes);
    }
}

#[test]
fn every_header_bit_flip_is_rejected() {
    let keyring = keyring();
    let message = encrypt(&keyring, b"secret", &options(UNSIGNED, 128)).unwrap();
    let header_len =
        decrypt(&keyring, &message, DecryptOptions::default()).unwrap().1.as_bytes().len();
    for bit in 0..header_len * 8 {
        let mut m = message.clone();
        m[bit / 8] ^= 1 << (bit % 8);
        let err = decrypt(&keyring, &m, DecryptOptions::default()).unwrap_err();
        // The commit key and the header tag cover every header byte; parse errors come first.
        assert!(
            !matches!(err, DecryptError::BadFrameTag { .. } | DecryptError::TrailingBytes),
            "bit {bit}: {err:?}"
        );
    }
}

#[test]
fn flips_in_frames_and_signature_name_the_part() {
    let keyring = keyring();
    let message = encrypt(&keyring, &plaintext(300), &options(SIGNED, 128)).unwrap();
    let header_len =
        decrypt(&keyring, &message, DecryptOptions::default()).unwrap().1.as_bytes().len();
    let frame = 4 + 12 + 128 + 16;
    let flip = |at: usize| {
        let mut m = message.clone();
        m[at] ^= 0x01;
        decrypt(&keyring, &m, DecryptOptions::default()).unwrap_err()
    };
    // Content byte of frames 1, 2 and of the final frame.
    assert_eq!(flip(header_len + 20), DecryptError::BadFrameTag { sequence: 1 });
    assert_eq!(flip(header_len + frame + 20), DecryptError::BadFrameTag { sequence: 2 });
    assert_eq!(flip(header_len + 2 * frame + 30), DecryptError::BadFrameTag { sequence: 3 });
    // A frame's IV and sequence number.
    assert_eq!(flip(header_len + frame + 10), DecryptError::FrameSequence { expected: 2 });
    assert_eq!(flip(header_len + 3), DecryptError::FrameSequence { expected: 1 });
    // The signature's last byte.
    assert_eq!(flip(message.len() - 1), DecryptError::BadSignature);
}

#[test]
fn errors_are_sticky_and_release_no_plaintext() {
    let keyring = keyring();
    let mut message = encrypt(&keyring, &plaintext(10), &options(UNSIGNED, 128)).unwrap();
    let last = message.len() - 1;
    message[last] ^= 1;
    let mut decryptor = Decryptor::new(DecryptOptions::default());
    let mut out = Vec::new();
    let p = decryptor.update(&message, &mut out).unwrap();
    decryptor.unwrap_with(&keyring).unwrap();
    let err = decryptor.update(&message[p.consumed..], &mut out).unwrap_err();
    assert_eq!(err, DecryptError::BadFrameTag { sequence: 1 });
    assert!(out.is_empty());
    assert_eq!(decryptor.update(&[], &mut out).unwrap_err(), err);
    assert_eq!(decryptor.finish().unwrap_err(), err);
}

#[test]
fn random_bytes_are_rejected() {
    let keyring = keyring();
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    for len in [0usize, 1, 2, 50, 1000] {
        for _ in 0..50 {
            let bytes: Vec<u8> = (0..len)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    seed as u8
                })
                .collect();
            assert!(decrypt(&keyring, &bytes, DecryptOptions::default()).is_err());
        }
    }
    assert_eq!(
        decrypt(&keyring, &[], DecryptOptions::default()).unwrap_err(),
        DecryptError::Truncated(Section::Header)
    );
}

#[test]
fn secrets_stay_out_of_debug_output() {
    let key = cipherdrop::DataKey::from_slice(&[0xAB; 32]);
    let printed = format!("{key:?}");
    assert!(!printed.to_lowercase().contains("ab, ") && !printed.contains("171"), "{printed}");
}

#[test]
fn a_header_alone_parses_and_verifies_with_its_data_key() {
    // What a key server does: parse the header bytes, unwrap, verify.
    let keyring = keyring();
    let message = encrypt(&keyring, b"body", &options(SIGNED, 128)).unwrap();
    let header_len =
        decrypt(&keyring, &message, DecryptOptions::default()).unwrap().1.as_bytes().len();
    let (header, len) =
        cipherdrop::Header::parse(&message[..header_len], &Limits::default()).unwrap();
    assert_eq!(len, header_len);
    let data_key = keyring.unwrap_any(&header).unwrap();
    header.verify(&data_key).unwrap();
    assert_eq!(
        header.verify(&cipherdrop::DataKey::from_slice(&[0; 32])).unwrap_err(),
        DecryptError::CommitmentMismatch
    );
    assert_eq!(
        cipherdrop::Header::parse(&message[..header_len - 1], &Limits::default()).unwrap_err(),
        DecryptError::Truncated(Section::Header)
    );
}

#[test]
fn the_first_refusal_is_reported() {
    let public = include_bytes!("data/rsa-2048.pub.pem");
    let make = |name: &str| -> Box<dyn Keyring> {
        Box::new(RawRsaKeyring::from_pem("test", name, public, OaepHash::Sha256).unwrap())
    };
    let both = MultiKeyring::new(make("first"), vec![make("second")]);
    let message = encrypt(&both, b"x", &EncryptOptions::default()).unwrap();
    let err = decrypt(&both, &message, DecryptOptions::default()).unwrap_err();
    assert!(matches!(&err, DecryptError::Keyring(m) if m.contains("test/first")), "{err:?}");
}
