// Test hooks of the package: none in this build. This file is what build/pkg and the packed
// npm package ship; scripts/build-pkg.sh --test-hooks (the test build in build/pkg-test, for
// the tests that compare bytes and engines) replaces it with pkg-template/test-hooks/lib/
// test-hooks.js and builds the wasm module with the crate's `test-hooks` feature. The
// functions of lib/api.js and lib/reader.js ignore every option not documented in index.d.ts.
export const testHooks = null;
