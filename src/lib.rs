#![doc = "cipherdrop: client-side envelope encryption in the AWS Encryption SDK message format."]
#![cfg_attr(not(feature = "std"), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

#[cfg(target_arch = "wasm32")]
mod wasm;

/// The crate version, as built.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
