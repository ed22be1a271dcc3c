// Which message module (./wasm.js) runs a session: the full one, or for the lite entry the
// lite one, and the move to the full module when the lite one refuses a signed suite.
import { hasNativeAes } from './aes.js';
import { CipherdropError } from './errors.js';
import { AlgorithmSuite } from './options.js';
import { testHooks } from './test-hooks.js';
import { fullModule, liteModule, startModule } from './wasm.js';

/**
 * Suites `encrypt` starts on the full module: the default (left out) and the signed one the
 * package names. Only a shortcut past a lite module that would refuse them; any other suite
 * starts where decrypt does, and the lite module's refusal decides.
 */
export const FULL_FIRST = new Set([undefined, AlgorithmSuite.AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384]);

/**
 * The mark of the lite entry (lib/lite.js passes it to the public functions as a last
 * argument, which the default entry's callers never have): its sessions may start on the lite
 * module. The default entry's run on the full module only, as if there were no other.
 */
export const LITE_ENTRY = Symbol('cipherdrop/lite');

/**
 * Whether a session needs the core's own AES-GCM, which only the full module has (the lite
 * one leaves key derivation and AES-GCM to node:crypto or WebCrypto): on request
 * (`webCrypto: false`), on the test build's reference path, or with no native AES-GCM here.
 */
function needsCoreAes(options) {
    return options.webCrypto === false || Boolean(testHooks?.reference(options)) || !hasNativeAes();
}

/**
 * The module a session starts on: the full module if `full`, if not `lite` (the lite entry's
 * call) or if the session needs the core's AES-GCM; else the test build's choice (its MODULE
 * hook) or `startModule()` (the full one if loaded or loading, else the lite one).
 */
export async function firstModule(options, full, lite) {
    const forced = testHooks?.module(options);
    const choice = needsCoreAes(options) ? 'full' : forced ?? (full || !lite ? 'full' : null);
    const module = await (choice === 'full' ? fullModule() : choice === 'lite' ? liteModule() : startModule());
    testHooks?.onModule(options)?.(module.name);
    return module;
}

/** Whether `err` is the lite `module`'s refusal of a signed suite, which the full module reads. */
export function refusedByLite(module, err) {
    return !module.full && err instanceof CipherdropError && err.code === 'UNSUPPORTED_SUITE';
}

/** The full module, for a session the lite module refused (reported to the test build). */
export async function moveToFull(options) {
    const full = await fullModule();
    testHooks?.onModule(options)?.(full.name);
    return full;
}

/**
 * `[module, make(module)]`, or if the lite `module` refuses (see refusedByLite) `[full,
 * make(full)]`: what `make` builds is the full module's then.
 */
export async function onModule(module, options, make) {
    try {
        return [module, make(module)];
    } catch (err) {
        if (!refusedByLite(module, err)) throw err;
    }
    const full = await moveToFull(options);
    return [full, make(full)];
}
