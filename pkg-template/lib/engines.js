// Which AES-GCM seals and opens the frames of one message, and where a signed message is
// hashed: the engines of ./aes.js and ./pool.js, chosen from the options and the input size.
import { NodeAes, NodeHash, nativeAes } from './aes.js';
import { testHooks } from './test-hooks.js';
import { workerScriptRuns } from './workers.js';

// The pool (./pool.js) and the hash worker's client (./hash.js) load on first use: an app of
// small or unsigned messages never fetches them.

/** Inputs at least this large use the pool by default (streams: once this much was read). */
const POOL_MIN_BYTES = 8 << 20;
/**
 * Fewest logical cores for the pool to be used by default. Measured on a 2-core machine
 * (make bench): two workers' WebCrypto together (about 0.9 GB/s at 64 KiB) did not beat
 * the page's own thread (about 1.2 GB/s), so there the default stays on one thread.
 */
const POOL_MIN_CORES = 4;
/** Signed inputs at least this large (or of unknown size) hash on a worker by default. */
const HASH_MIN_BYTES = 1 << 20;

/** Whether this environment can run the pool. */
function poolAvailable() {
    return typeof Worker === 'function' && typeof document !== 'undefined' && Boolean(globalThis.crypto?.subtle);
}

/** Whether large inputs use the pool when the caller did not say (option `workers`). */
function poolByDefault() {
    return poolAvailable() && (globalThis.navigator?.hardwareConcurrency ?? 1) >= POOL_MIN_CORES;
}

/**
 * The AES-GCM of one message: native AES by default (WebCrypto on this thread; in Node,
 * node:crypto's ciphers), the wasm core's (option `webCrypto: false`, or no usable native
 * AES), and for large inputs in browsers a worker pool (option `workers`: default
 * automatic, from POOL_MIN_BYTES of input on machines of POOL_MIN_CORES or more; false
 * never; true always).
 */
export class Engines {
    #aes = null;
    #pool = null;
    #mode;
    #seen = 0;
    #frames = null;
    #onEngine;

    #workers;
    #onHash;
    /** EncryptError or DecryptError: what a worker's failure is reported as. */
    #ErrorClass;
    /** ./pool.js, once `start` found that the pool's workers can run (./workers.js). */
    #poolModule = null;
    /** Set by close(): a `start` still under way then makes no pool. */
    #closed = false;

    /** The message module of the session (./wasm.js). */
    #module;

    constructor(module, options, ErrorClass) {
        const { webCrypto = true, workers = 'auto' } = options;
        this.#module = module;
        this.#workers = workers;
        this.#ErrorClass = ErrorClass;
        this.#onHash = testHooks?.onHash(options);
        if (webCrypto === false) this.#mode = 'wasm';
        else if (workers === true) this.#mode = 'on';
        else this.#mode = workers === false || !poolByDefault() ? 'off' : 'auto';
        this.#onEngine = testHooks?.onEngine(options);
    }

    /**
     * The first engine, from `content`: the content key's bytes (the core derived it; zero-
     * filled here), or the engine of the key the caller derived (the lite module, ./aes.js
     * derivedAes). No engine: the wasm core's AES-GCM.
     */
    async start(content, frames, total) {
        this.#frames = frames;
        if (!(content instanceof Uint8Array)) this.#aes = content;
        else if (this.#mode !== 'wasm') this.#aes = await nativeAes(content);
        else content.fill(0);
        frames.setEngine(this.#aes);
        // A stream of unknown size may reach the pool's threshold later (`saw`).
        if (this.#aes && this.#wantsPool(total ?? Infinity) && poolAvailable() && (await workerScriptRuns())) {
            this.#poolModule = await import('./pool.js');
        }
        this.#maybePool(total ?? 0);
        this.#onEngine?.(this.name);
    }

    /**
     * Where a signed message of suite `suiteId` is hashed, if not in the core: a hash worker
     * (./hash.js: in browsers with the module's hash, in Node with node:crypto's), unless
     * `workers: false`, for inputs of unknown size or HASH_MIN_BYTES or more; else in Node
     * node:crypto's native hash on this thread; else null.
     */
    async hashFor(suiteId, total) {
        // Only the full module runs signed suites.
        const { wasm, compiled } = this.#module;
        const algorithm = wasm.signatureHash(suiteId);
        const large = total === undefined || total >= HASH_MIN_BYTES;
        if (this.#workers === true || (this.#workers !== false && large)) {
            const { RemoteHash } = await import('./hash.js');
            const hash = await RemoteHash.start(compiled, suiteId, algorithm, this.#ErrorClass);
            if (hash) {
                this.#onHash?.();
                return hash;
            }
        }
        return NodeHash.start(algorithm);
    }

    /** Counts input; moves to the pool once a stream is large enough. */
    saw(bytes) {
        this.#seen += bytes;
        if (!this.#pool && this.#mode === 'auto' && this.#seen >= POOL_MIN_BYTES) {
            this.#maybePool(this.#seen);
            if (this.#pool) this.#onEngine?.(this.name);
        }
    }

    /** The engine of this thread (the pool's are in workers), for what the pool fails on. */
    get aes() {
        return this.#aes;
    }

    get name() {
        if (this.#pool) return 'pool';
        if (this.#aes instanceof NodeAes) return 'node';
        return this.#aes ? 'webcrypto' : 'wasm';
    }

    close() {
        this.#closed = true;
        this.#pool?.close();
    }

    /** Whether a message of `total` bytes runs on the pool, where it can. */
    #wantsPool(total) {
        return this.#mode === 'on' || (this.#mode === 'auto' && total >= POOL_MIN_BYTES);
    }

    #maybePool(total) {
        if (!this.#poolModule || !this.#frames || this.#closed) return;
        if (this.#wantsPool(total)) {
            this.#pool = this.#poolModule.poolEngine(this.#aes);
            if (this.#pool) this.#frames.setEngine(this.#pool);
        }
    }
}
