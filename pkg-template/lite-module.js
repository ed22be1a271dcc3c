// The lite message module (cipherdrop_lite.js and its .wasm: the unsigned suites only, no
// ECDSA P-384), which the lite entry (lib/lite.js) imports: its .wasm is fetched the first time
// a message may do without the full module; the default entry never names it. Beside index.js for the same
// reason as ./full-module.js.
import initBindings, * as bindings from './cipherdrop_lite.js';
import { compileModule, instantiate } from './lib/wasm.js';

/** Compiles and instantiates the module from next to this file. */
export async function loadLite() {
    const compiled = await compileModule(undefined, () => new URL('./cipherdrop_lite_bg.wasm', import.meta.url),
        'If your bundler did not ship it, copy cipherdrop_lite_bg.wasm from the cipherdrop package beside ' +
        'the bundle, or call init(url) with where cipherdrop_bg.wasm is served (that module reads every message)');
    return instantiate('lite', initBindings, bindings, compiled);
}
