//! wasm32 tests in a browser: `wasm-pack test --headless --chrome -- --test web`.
//!
//! Browser-only on purpose: `wasm-pack test --node` silently skips a file that has
//! `run_in_browser`, so Node tests live in `tests/node.rs`. Both run the bindings tests of
//! `tests/bindings/`.
#![cfg(target_arch = "wasm32")]

mod bindings;

use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};

wasm_bindgen_test_configure!(run_in_browser);

#[wasm_bindgen_test]
fn runs_in_a_browser() {
    let global = js_sys::global();
    assert!(js_sys::Reflect::has(&global, &"document".into()).unwrap_or(false));
}
