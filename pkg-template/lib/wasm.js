// Loads the package's two message modules, each once, lazily (issue 18):
//   - the lite module (../lite-module.js: cipherdrop_lite.js, cipherdrop_lite_bg.wasm), the
//     core without ECDSA P-384: it writes and reads unsigned messages and refuses every signed
//     suite with UNSUPPORTED_SUITE before any key is made or unwrapped. Built with SIMD only:
//     an engine without SIMD runs every message on the full module;
//   - the full module (../full-module.js: cipherdrop.js, cipherdrop_bg.wasm, built with
//     WebAssembly SIMD, or cipherdrop_nosimd_bg.wasm where the engine has none: same code,
//     same bytes out), which reads and writes every suite and hashes signed messages.
// Which one a message uses is lib/modules.js's choice (`startModule`, `fullModule`); the format
// rules stay in the modules: the glue only reacts to the lite module's refusal. Each loader
// file sits beside index.js. The entry points give them (`setLoader`), so that a bundle holds
// only the modules its entry may use: the default entry (index.js for browsers and bundlers,
// node.js for Node) the full one, imported statically, as its only message module; the lite
// entry (lite.js, lite-node.js, lib/lite.js) both: the lite one's loader imported, the full
// one's `import()`ed on first use, each .wasm fetched on first use. Each
// entry point also says how a .wasm is read: `fetch`, or from disk.
import { LoadError } from './errors.js';
// Written by scripts/build-pkg.sh (the crate's version, which it checks package.json has).
import { VERSION } from './version.js';

let read = null;
/** `name` → `load(source)`, resolving to that module (`instantiate`); no 'lite' in the default entry. */
const loaders = { full: null, lite: null };

/** Called by an entry point: `readFn(url)` returns a .wasm's bytes or a Response. */
export function setReader(readFn) {
    read = readFn;
}

/** Called by an entry point: `loadFn(source)` loads message module `name` ('full' or 'lite'). */
export function setLoader(name, loadFn) {
    loaders[name] = loadFn;
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
 * Compiles a .wasm of the package: `source` (what the caller gave `init`) or, if undefined,
 * the entry point's read of `locate()`'s URL. A bundler that did not ship the file shows up
 * only here, at run time (a 404, or a dev server's HTML page in its place), so the LoadError
 * names the URL and says the way out, `advice`.
 */
export async function compileModule(source, locate, advice) {
    let url = typeof source === 'string' || source instanceof URL ? String(source) : null;
    try {
        if (source === undefined) {
            // Throws where import.meta.url is empty (a bundle that is not an ES module).
            const where = locate();
            url = String(where);
            source = read(where);
        }
        return await compile(source);
    } catch (err) {
        const from = url ? `from ${url}` : 'from next to the package';
        const reason = err.status ? `HTTP ${err.status}` : err.message;
        throw new LoadError(`cipherdrop: loading the WebAssembly module ${from} failed (${reason}). ${advice}`,
            'WASM_LOAD_FAILED', { url, ...(err.status && { status: err.status }) }, { cause: err });
    }
}

/**
 * A loaded message module: `wasm` its bindings, `memory` (for copying frames in and out of
 * its buffers), `compiled` (for workers to instantiate), `full` whether it reads signed
 * suites, `callerDerives` whether the glue derives the keys and runs every AES-GCM (the lite
 * module has neither: ./aes.js derivedAes), `name` ('lite' or 'full', for the test build's
 * observers).
 */
export async function instantiate(name, initBindings, bindings, compiled) {
    const exports = await initBindings({ module_or_path: compiled });
    loadedBindings = bindings;
    const callerDerives = typeof bindings.Decryptor.prototype.provideDerivedKeys === 'function';
    return Object.freeze({ name, full: name === 'full', callerDerives, wasm: bindings, memory: exports.memory, compiled });
}

/** Promises of the modules, once asked for (a failed load is tried again next time). */
const loading = { lite: null, full: null };
let loadedBindings = null;

function load(name, start) {
    loading[name] ??= start().catch((err) => {
        loading[name] = null;
        throw err;
    });
    return loading[name];
}

/** The full module (every suite; the signed ones' hashing), loaded once. */
export function fullModule(source = undefined) {
    return load('full', () => loaders.full(source));
}

/**
 * The lite module (unsigned suites only; no SIMD build needed), loaded once; the full module
 * where there is no lite module (an app of the default entry only).
 */
export function liteModule() {
    if (!loaders.lite) return fullModule();
    return load('lite', () => loaders.lite());
}

/**
 * The module a message starts on when the glue cannot tell which it needs: the full one if it
 * is loaded or loading (it reads every message: no second module to fetch), else the lite one.
 */
export function startModule() {
    return loading.full ?? liteModule();
}

/**
 * Loads the full module, which reads and writes every message (the public `init`; optional:
 * every function loads what it needs). `source`: where its .wasm is, if not next to the
 * package; only the first successful call loads anything.
 */
export async function init(source = undefined) {
    await fullModule(source);
}

/** The version of the cipherdrop core: a loaded module's, the one it was built with before. */
export function version() {
    return loadedBindings ? loadedBindings.version() : VERSION;
}
