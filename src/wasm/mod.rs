//! JavaScript bindings: convert and delegate, no logic of their own.

use wasm_bindgen::prelude::*;

/// The version of the cipherdrop core inside this module.
#[wasm_bindgen]
pub fn version() -> String {
    crate::VERSION.into()
}
