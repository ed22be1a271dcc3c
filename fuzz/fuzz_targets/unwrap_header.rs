//! A message header from arbitrary bytes, as the key server's Unwrap gets one
//! (domain/service.rs `unwrap_inner`): `Header::parse` with the default limits, then, for a
//! header that parses, `Header::verify` with a data key. Nothing may panic, and:
//!
//! - the parsed header is a prefix of the input, `as_bytes()` is exactly that prefix, and the
//!   prefix alone parses to the same header (the server requires the header and nothing else);
//! - `message_suite` of the input names the parsed suite;
//! - the limits are exact: the header parses with limits equal to its own EDK count and
//!   length, and fails with one less of either;
//! - `verify` with an all-zero data key of 32 bytes (the brief's key), of the suite's key
//!   length, and an empty one never panics; where one verifies (the seeds include headers
//!   made under an all-zero data key, fuzz/make_seeds.py), the header flipped in any one of
//!   several bytes (commitment, tag, EDKs, context, message ID) either fails to parse or fails
//!   to verify under that key: every header byte is authenticated.
//!
//! With `CIPHERDROP_FUZZ_VERBOSE` set, each header that verifies is reported (to check seeds).
#![no_main]

use cipherdrop::{DataKey, Header, Limits, message_suite};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let defaults = Limits::default();
    let Ok((header, len)) = Header::parse(data, &defaults) else { return };
    assert!(len <= data.len(), "header of {len} bytes from {} bytes", data.len());
    assert_eq!(header.as_bytes(), &data[..len], "as_bytes is not the parsed prefix");
    let (alone, alone_len) = Header::parse(&data[..len], &defaults).expect("the prefix parses");
    assert_eq!(alone_len, len);
    assert_eq!(alone.as_bytes(), header.as_bytes());
    assert_eq!(message_suite(data), Some(header.suite()), "message_suite disagrees");

    let edks = header.encrypted_data_keys().len();
    let exact = Limits { max_encrypted_data_keys: edks, max_header_len: len, ..defaults.clone() };
    assert!(Header::parse(data, &exact).is_ok(), "limits equal to the header's own refuse it");
    if edks > 0 {
        let fewer = Limits { max_encrypted_data_keys: edks - 1, ..exact.clone() };
        assert!(Header::parse(data, &fewer).is_err(), "{edks} EDKs pass a limit of {}", edks - 1);
    }
    let shorter = Limits { max_header_len: len - 1, ..exact };
    assert!(Header::parse(data, &shorter).is_err(), "{len} bytes pass a limit of {}", len - 1);

    let _ = format!("{header:?}");
    let key_len = header.suite().key_len();
    let keys: &[usize] = if key_len == 32 { &[32, 0] } else { &[32, key_len, 0] };
    for &n in keys {
        let key = DataKey::from_slice(&vec![0u8; n]);
        if header.verify(&key).is_err() {
            continue;
        }
        if std::env::var_os("CIPHERDROP_FUZZ_VERBOSE").is_some() {
            eprintln!(
                "suite {:#06x} verifies under a zero key of {} bytes",
                header.suite().id(),
                key.len()
            );
        }
        let mut flipped = data[..len].to_vec();
        for i in (0..len).step_by(len.div_ceil(16).max(1)).chain([len - 1]) {
            flipped[i] ^= 0x01;
            if let Ok((forged, _)) = Header::parse(&flipped, &defaults) {
                assert!(forged.verify(&key).is_err(), "byte {i} of {len} is not authenticated");
            }
            flipped[i] ^= 0x01;
        }
    }
});
