// Loads the WebAssembly module once, lazily: the first call that needs it (or an explicit
// `init()`) starts it. Each entry point (index.js for browsers and bundlers, node.js for
// Node) says where the .wasm comes from by default: cipherdrop_bg.wasm, built with
// WebAssembly SIMD (faster SHA-384 and AES-GCM fallback), or cipherdrop_nosimd_bg.wasm where
// the engine has no SIMD (same code, same bytes out).
import initBindings, * as bindings from '../cipherdrop.js';
import { LoadError } from './errors.js';
// Written by scripts/build-pkg.sh (the crate's version, which it checks package.json has).
import { VERSION } from './version.js';

let locate = null;
let read = null;
let ready = null;
let loaded = false;
let exports = null;
let compiled = null;

/**
 * Called by an entry point: `locateFn(simd)` returns the URL `init()` loads by default, and
 * `readFn(url)` its bytes or a Response.
 */
export function setDefaultSource(locateFn, readFn) {
    locate = locateFn;
    read = readFn;
}

/** A module with one SIMD instruction (i8x16.popcnt of a splat): valid only with SIMD. */
const SIMD_PROBE = new Uint8Array([
    0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 10, 1, 8, 0, 65, 0, 253, 15, 253, 98, 11,
]);

/** Whether this engine runs WebAssembly SIMD. */
export function hasSimd() {
    try {
        return WebAssembly.validate(SIMD_PROBE);
    } catch {
        return false;
    }
}

/**
 * Compiles what `init` was given (URL or string, Response or a promise of one, BufferSource,
 * WebAssembly.Module): the compiled module is kept, for workers to instantiate (./hash.js).
 */
async function compile(input) {
    if (input instanceof WebAssembly.Module) return input;
    if (typeof input === 'string' || input instanceof URL) input = fetch(input);
    input = await input;
    if (typeof Response === 'function' && input instanceof Response) {
        if (!input.ok) throw Object.assign(new Error(`HTTP ${input.status}`), { status: input.status });
        const type = input.headers.get('content-type') ?? '';
        if (WebAssembly.compileStreaming && type.startsWith('application/wasm')) {
            return WebAssembly.compileStreaming(input);
        }
        return WebAssembly.compile(await input.arrayBuffer());
    }
    return WebAssembly.compile(input);
}

/**
 * A LoadError for a .wasm of the package that did not load from `url` (`null`: a source the
 * caller gave): a bundler that did not ship it shows up only here, at run time (a 404, or a
 * dev server's HTML page in its place), so the message says the way out, `advice`.
 */
function loadError(url, err, advice) {
    const from = url ? `from ${url}` : 'from next to the package';
    const reason = err.status ? `HTTP ${err.status}` : err.message;
    return new LoadError(`cipherdrop: loading the WebAssembly module ${from} failed (${reason}). ${advice}`,
        'WASM_LOAD_FAILED', { url, ...(err.status && { status: err.status }) }, { cause: err });
}

/** `compile`, from the entry point's default URL if `source` is undefined; a LoadError on failure. */
async function load(source) {
    let url = typeof source === 'string' || source instanceof URL ? String(source) : null;
    try {
        if (source === undefined) {
            // Throws where import.meta.url is empty (a bundle that is not an ES module).
            const where = locate(hasSimd());
            url = String(where);
            source = read(where);
        }
        return await compile(source);
    } catch (err) {
        throw loadError(url, err, 'If your bundler did not ship it, copy cipherdrop_bg.wasm and ' +
            'cipherdrop_nosimd_bg.wasm from the cipherdrop package beside the bundle, or call init(url) ' +
            'with where it is served');
    }
}

/**
 * The compiled KMS module (../kms-module.js) from `locateFn()`'s URL, read the way the entry
 * point reads the main one (fetch in browsers, from disk in Node); a LoadError on failure.
 */
export async function compileKmsModule(locateFn) {
    let url = null;
    try {
        const where = locateFn();
        url = String(where);
        return await compile(read(where));
    } catch (err) {
        throw loadError(url, err, 'If your bundler did not ship it, copy cipherdrop_kms_bg.wasm from the ' +
            'cipherdrop package beside the bundle (an app with KmsKeyring, KmsRsaKeyring or KeyServerKeyring needs it)');
    }
}

/**
 * Loads the WebAssembly module. Optional: every function that needs it calls it. Pass a
 * URL, Response, BufferSource or WebAssembly.Module to load it from elsewhere than next to
 * this file; only the first successful call loads anything.
 */
export function init(source = undefined) {
    ready ??= (async () => {
        compiled = await load(source);
        exports = await initBindings({ module_or_path: compiled });
        loaded = true;
    })().catch((err) => {
        ready = null; // let a later call try again (a network error, say)
        throw err;
    });
    return ready;
}

/** The version of the cipherdrop core: the module's once loaded, the one it was built with before. */
export function version() {
    return loaded ? bindings.version() : VERSION;
}

/** The compiled module (after `init()`), for workers to instantiate. */
export function wasmModule() {
    return compiled;
}

/** The module's memory (after `init()`), for copying frames in and out of its buffers. */
export function memory() {
    return exports.memory;
}

export { bindings as wasm };
