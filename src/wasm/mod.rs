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
//!
//! Two binding sets, each behind a feature (both by default): `wasm-message` (encrypt,
//! decrypt, hashing: the package's main module) and `wasm-kms` (the AWS KMS keyrings' rules
//! and the key server's JWE: the package's `cipherdrop_kms` module, which its JS glue loads
//! only when a KmsKeyring, KmsRsaKeyring or KeyServerKeyring first needs it). The two sets
//! share no object: what crosses between them (data keys, encryption contexts, suite IDs,
//! serialized headers) crosses as JS values.
//!
//! A module built without `signing` (the package's lite module) refuses every signed suite,
//! so it also leaves out the calls that only a signed message makes (delegated hashing, the
//! sealed bytes and frame bodies passed in for the signature): 1.1 KB of its 56 KB app,
//! gzipped. Without `builtin-crypto` there is no non-detached mode either.

// Each binding set uses part of the conversions; a module built with one set leaves the rest.
#[cfg_attr(not(all(feature = "wasm-message", feature = "wasm-kms")), allow(dead_code))]
mod convert;
#[cfg(feature = "wasm-message")]
mod decrypt;
#[cfg(feature = "wasm-message")]
mod encrypt;
pub mod error;
#[cfg(feature = "wasm-message")]
mod hash;
#[cfg(feature = "wasm-kms")]
mod jwe;
#[cfg(feature = "wasm-kms")]
mod kms;

use wasm_bindgen::prelude::*;

/// The modules' allocator: talc instead of Rust's default dlmalloc, 2.2 KB less of the lite
/// module gzipped (38.2 against 40.4 KB), which matters most there. Nothing allocates per
/// byte (per frame only the few bytes of its head passed in), so its speed is not at stake.
/// Realloc in place is left out (0.1 KB): only header and context buffers ever grow.
#[global_allocator]
static ALLOCATOR: talc::wasm::WasmDynamicTalc = talc::wasm::new_wasm_dynamic_allocator();

#[cfg(feature = "wasm-message")]
pub use decrypt::{Decryptor, FirstAnswer};
#[cfg(feature = "wasm-message")]
pub use encrypt::{Encryptor, PendingEncryptor};
#[cfg(feature = "wasm-message")]
pub use hash::message_is_signed;
#[cfg(all(feature = "wasm-message", feature = "signing"))]
pub use hash::{MessageHasher, signature_hash};
#[cfg(feature = "wasm-kms")]
pub use jwe::{jwe_protected_header, open_jwe};
#[cfg(feature = "wasm-kms")]
pub use kms::{KmsRsaRules, KmsSymmetricRules};

/// Runs once when the module is instantiated: panics (bugs: no input should cause one) print
/// their message and place to the console, not just the trap's "unreachable". A hook of our
/// own: the `console_error_panic_hook` crate's (which adds a JS stack, as the trap's own
/// error has) cost 0.5 KB of the gzipped module. The lite module is built to trap at once on
/// a panic (`-Cpanic=immediate-abort`, scripts/build-pkg.sh): it has no message to print.
#[wasm_bindgen(start)]
pub fn start() {
    #[cfg(not(panic = "immediate-abort"))]
    std::panic::set_hook(alloc::boxed::Box::new(|info| {
        console_error(&alloc::string::ToString::to_string(info));
    }));
}

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_namespace = console, js_name = error)]
    fn console_error(message: &str);
}

/// The version of the cipherdrop core inside this module.
#[wasm_bindgen]
pub fn version() -> String {
    crate::VERSION.into()
}
