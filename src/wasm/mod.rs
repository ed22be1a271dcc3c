//! JavaScript bindings (wasm32 only): convert and delegate, no logic of their own.
//!
//! These are the internal layer of the npm package `cipherdrop`: its JS glue
//! (`pkg-template/lib/`) wraps them in the public API (`encrypt`, `decrypt`, streams,
//! keyrings) and turns the errors thrown here into its `Error` subclasses. Every error thrown
//! here is a JS `Error` with a `kind` (`"encrypt"`, `"decrypt"` or `"key"`) and a stable
//! `code` string per core error variant (see [`error`]).
//!
//! RSA happens in JS, through WebCrypto (native and constant-time, and it keeps big-integer
//! code out of this module): JS wraps the data key of a [`PendingEncryptor`] and unwraps
//! (WebCrypto or a key server) the ones it reports to [`Decryptor::report_key`].

mod convert;
mod decrypt;
mod encrypt;
pub mod error;
mod hash;
mod jwe;
mod kms;

use wasm_bindgen::prelude::*;

pub use decrypt::{Decryptor, FirstAnswer};
pub use encrypt::{Encryptor, PendingEncryptor};
pub use hash::{MessageHasher, message_is_signed, signature_hash};
pub use jwe::{jwe_protected_header, open_jwe};
pub use kms::KmsRsaRules;

/// Runs once when the module is instantiated: panics print their message to the console.
#[wasm_bindgen(start)]
pub fn start() {
    console_error_panic_hook::set_once();
}

/// The version of the cipherdrop core inside this module.
#[wasm_bindgen]
pub fn version() -> String {
    crate::VERSION.into()
}
