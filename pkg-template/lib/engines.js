// Which AES-GCM seals and opens the frames of one message, and where a signed message is
// hashed: the engines of ./aes.js and ./pool.js, chosen from the options and the input size.
import { NodeAes, NodeHash, nativeAes } from './aes.js';
import { HASH_MIN_BYTES, RemoteHash } from './hash.js';
import { POOL_MIN_BYTES, poolAvailable, poolByDefault, poolEngine } from './pool.js';
import { testHooks } from './test-hooks.js';
import { workerScriptRuns } from './workers.js';

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
    /** Whether the pool's workers can run (./workers.js), once `start` asked. */
    #poolRuns = false;
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
        if (this.#aes && this.#mode !== 'off' && poolAvailable()) this.#poolRuns = await workerScriptRuns();
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

    #maybePool(total) {
        if (!this.#poolRuns || !this.#frames || this.#closed) return;
        if (this.#mode === 'on' || (this.#mode === 'auto' && total >= POOL_MIN_BYTES)) {
            this.#pool = poolEngine(this.#aes);
            if (this.#pool) this.#frames.setEngine(this.#pool);
        }
    }
}
