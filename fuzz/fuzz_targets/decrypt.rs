//! The decoder on arbitrary bytes, fed in chunks of a size the input chooses. It must never
//! panic, and streaming and one-shot decryption must agree.
#![no_main]

use cipherdrop::{
    CommitmentPolicy, DecryptOptions, DecryptState, Decryptor, OaepHash, RawRsaKeyring, decrypt,
};
use libfuzzer_sys::fuzz_target;

fn options() -> DecryptOptions {
    DecryptOptions {
        commitment_policy: CommitmentPolicy::RequireEncryptAllowDecrypt,
        ..DecryptOptions::default()
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&chunk, message)) = data.split_first() else { return };
    let chunk = usize::from(chunk).max(1);
    let keyring = RawRsaKeyring::from_pem(
        "fuzz",
        "key",
        include_bytes!("../../tests/data/rsa-2048.pem"),
        OaepHash::Sha256,
    )
    .expect("test key parses");

    let mut decryptor = Decryptor::new(options());
    let mut streamed = Vec::new();
    let mut result = Ok(());
    'feed: for mut piece in message.chunks(chunk) {
        while !piece.is_empty() {
            match decryptor.update(piece, &mut streamed) {
                Ok(p) => {
                    piece = &piece[p.consumed..];
                    if p.state == DecryptState::NeedDataKey {
                        if let Err(e) = decryptor.unwrap_with(&keyring) {
                            result = Err(e);
                            break 'feed;
                        }
                    }
                }
                Err(e) => {
                    result = Err(e);
                    break 'feed;
                }
            }
        }
    }
    let streamed_ok = result.and_then(|()| decryptor.finish().map(|_| ())).is_ok();
    let one_shot = decrypt(&keyring, message, options());
    assert_eq!(streamed_ok, one_shot.is_ok());
    if let Ok((plaintext, _)) = one_shot {
        assert_eq!(plaintext, streamed);
    }
});
