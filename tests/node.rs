//! wasm32 tests in Node: `wasm-pack test --node -- --test node`.
//!
//! No `run_in_browser` here (browser tests are in `tests/web.rs`). Both run the bindings
//! tests of `tests/bindings/`.
#![cfg(target_arch = "wasm32")]

mod bindings;

use wasm_bindgen_test::wasm_bindgen_test;

#[wasm_bindgen_test]
fn runs_in_node() {
    let global = js_sys::global();
    assert!(js_sys::Reflect::has(&global, &"process".into()).unwrap_or(false));
    assert!(!js_sys::Reflect::has(&global, &"document".into()).unwrap_or(true));
}
