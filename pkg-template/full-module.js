// The full message module (cipherdrop.js and its .wasm: every suite, the signed ones' ECDSA
// P-384 and SHA-384): the default entry's only one (index.js and node.js import this file),
// which the lite entry (lite.js) `import()`s the first time a message needs it: a signed
// suite, or `init()`. It sits beside index.js so that its URLs below are the same
// relative to a bundle that inlines it (esbuild, Rollup) as to the package; bundlers that
// split chunks (Vite, webpack) ship the .wasm files with this chunk only. Both URLs are
// written out so that bundlers ship both; only one is fetched.
import initBindings, * as bindings from './cipherdrop.js';
import { compileModule, hasSimd, instantiate } from './lib/wasm.js';

/** Compiles and instantiates the module from `source`, or from next to this file. */
export async function loadFull(source) {
    const compiled = await compileModule(source, () => (hasSimd()
        ? new URL('./cipherdrop_bg.wasm', import.meta.url)
        : new URL('./cipherdrop_nosimd_bg.wasm', import.meta.url)),
    'If your bundler did not ship it, copy cipherdrop_bg.wasm and cipherdrop_nosimd_bg.wasm from the ' +
        'cipherdrop package beside the bundle, or call init(url) with where it is served');
    return instantiate('full', initBindings, bindings, compiled);
}
