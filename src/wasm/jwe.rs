//! The key server's JWE answer ([`crate::jwe`]): the JS glue makes the ephemeral ECDH key and
//! derives Z in WebCrypto (the private key never extractable), parses the header's JSON, and
//! hands the rest here.

use wasm_bindgen::prelude::*;

use super::error::js_error;
use crate::jwe::{self, JweError, Protected};

fn jwe_error(err: &JweError) -> JsValue {
    let code = match err {
        JweError::Malformed => "JWE_MALFORMED",
        JweError::Unsupported(_) => "JWE_UNSUPPORTED",
        JweError::WrongKey => "JWE_WRONG_KEY",
        JweError::Failed => "JWE_FAILED",
    };
    js_error("key", code, &err.to_string(), &[])
}

/// The protected header of a compact JWE, as JSON text.
#[wasm_bindgen(js_name = jweProtectedHeader)]
pub fn jwe_protected_header(compact: &str) -> Result<String, JsValue> {
    let bytes = jwe::protected_header(compact).map_err(|e| jwe_error(&e))?;
    String::from_utf8(bytes).map_err(|_| jwe_error(&JweError::Malformed))
}

/// Opens the key server's JWE with the ECDH secret `z`; `alg`, `enc`, `crv` (of `epk`) and
/// `kid` are what the caller read from its protected header, `expected_kid` the key name
/// of the EDK it asked to unwrap.
#[wasm_bindgen(js_name = openJwe)]
pub fn open_jwe(
    compact: &str,
    alg: &str,
    enc: &str,
    crv: &str,
    kid: &str,
    expected_kid: &str,
    z: &[u8],
) -> Result<js_sys::Uint8Array, JsValue> {
    let header = Protected { alg, enc, crv, kid };
    let key = jwe::open(compact, &header, expected_kid, z).map_err(|e| jwe_error(&e))?;
    // Copied straight into JS memory: the module's copy is zeroized when `key` drops.
    Ok(js_sys::Uint8Array::from(&key[..]))
}
