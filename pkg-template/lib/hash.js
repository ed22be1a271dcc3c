// Delegated hashing of signed messages (suite 0x0578): the running SHA-384 over the whole
// message is one sequential pass, as long as the AES-GCM of all frames together. Here it runs
// on a Web Worker, with its own instance of the page's full WebAssembly module (the core's
// MessageHasher; the lite module has none), or in Node on a worker thread with node:crypto's
// hash (./node-hash.js), while this thread seals or opens frames: the two overlap. The page sends
// the message bytes in order, in batches of about 1 MiB (reused buffers, transferred), at
// most MAX_IN_FLIGHT batches ahead; the wasm core signs or verifies with the digest.
// The bytes sent are gone (transferred): once the core delegated its hash there is no falling
// back, so a worker that fails mid-message fails it with code WORKER_FAILED.
import { workerScriptRuns } from './workers.js';

/** Bytes per batch sent to the hash worker. */
const BATCH_BYTES = 1 << 20;
/**
 * Batches sent and not yet hashed, at most: bounds the memory the worker's queue holds. With
 * 4, a pause of this thread longer than the worker's 4 ms of queued work left it idle: Node
 * 0x0578 encrypt of 1 GiB, 500 to 755 MB/s against 748 to 819 with 8 (alternated processes).
 */
const MAX_IN_FLIGHT = 8;
/** Idle time after which the hash worker is stopped. */
const IDLE_MS = 10_000;

let worker = null;
let users = 0;
let idleTimer = null;
let nextId = 1;
const waiting = new Map();
/**
 * Where hash workers come from: `usable()` resolves to whether one runs here, `make()` makes
 * one. By default browsers' Web Workers of ./worker.js (2 or more cores, and the script runs:
 * ./workers.js); the Node entry gives worker threads instead (./node-hash.js).
 */
let workers = {
    usable: async () => typeof Worker === 'function' && typeof document !== 'undefined'
        && (globalThis.navigator?.hardwareConcurrency ?? 1) >= 2 && workerScriptRuns(),
    make: () => new Worker(new URL('./worker.js', import.meta.url), { type: 'module', name: 'cipherdrop-hash' }),
};

/** Called by the Node entry: `{ usable, make }` as above (see ./node-hash.js). */
export function setHashWorkers(source) {
    workers = source;
}

function hashWorker() {
    clearTimeout(idleTimer);
    if (!worker) {
        worker = workers.make();
        const w = worker;
        w.onmessage = ({ data }) => waiting.get(data.id)?.(data);
        w.onerror = (event) => {
            event.preventDefault?.();
            // Dead for good: the next message starts a new worker.
            if (worker === w) worker = null;
            w.terminate();
            for (const settle of waiting.values()) settle({ error: event.message || 'the worker failed' });
        };
    }
    users += 1;
    return worker;
}

function release() {
    users -= 1;
    if (users > 0) return;
    idleTimer = setTimeout(() => {
        if (users === 0 && worker) {
            worker.terminate();
            worker = null;
        }
    }, IDLE_MS);
    idleTimer.unref?.(); // Node: nor for this timer
}

/** The running hash of one message, computed on the hash worker. */
export class RemoteHash {
    /**
     * Starts a hash of suite `suiteId` (whose signature hashes with `algorithm`, 'SHA-384')
     * on the worker: a browser's instantiates `module` (the full module, compiled), Node's
     * uses node:crypto. Resolves to null if no worker runs here (the caller hashes then).
     * Its failures are `ErrorClass` errors.
     */
    static async start(module, suiteId, algorithm, ErrorClass) {
        if (!(await workers.usable())) return null;
        let w;
        try {
            w = hashWorker();
        } catch {
            return null;
        }
        return new RemoteHash(w, { module, suiteId, algorithm }, ErrorClass);
    }

    #worker;
    #id = nextId++;
    #batch = null;
    #used = 0;
    #spare = [];
    #inFlight = 0;
    #acked = null;
    #digest = null;
    #error = null;
    #closed = false;
    #ErrorClass;

    constructor(w, { module, suiteId, algorithm }, ErrorClass) {
        this.#worker = w;
        this.#ErrorClass = ErrorClass;
        waiting.set(this.#id, (m) => this.#message(m));
        w.postMessage({ type: 'hash-start', id: this.#id, module, suiteId, algorithm });
    }

    /**
     * Hashes the next message bytes (copied: the caller keeps them). Returns a promise to
     * await before the next call when the worker is behind, else undefined.
     */
    update(bytes) {
        if (this.#error) throw this.#error;
        let at = 0;
        while (at < bytes.length) {
            this.#batch ??= this.#spare.pop() ?? new Uint8Array(BATCH_BYTES);
            const take = Math.min(bytes.length - at, BATCH_BYTES - this.#used);
            // Most chunks (a frame, its head) fit whole: no view to make.
            this.#batch.set(take === bytes.length ? bytes : bytes.subarray(at, at + take), this.#used);
            this.#used += take;
            at += take;
            if (this.#used === BATCH_BYTES) this.#send();
        }
        if (this.#inFlight >= MAX_IN_FLIGHT) return this.#nextAck();
        return undefined;
    }

    /** The digest of every byte passed to `update`. */
    async digest() {
        if (this.#error) throw this.#error;
        if (this.#used) this.#send();
        const done = new Promise((resolve, reject) => {
            this.#digest = this.#held({ resolve, reject });
        });
        this.#worker.postMessage({ type: 'hash-end', id: this.#id });
        return done;
    }

    close() {
        if (this.#closed) return;
        this.#closed = true;
        waiting.delete(this.#id);
        this.#worker.postMessage({ type: 'hash-drop', id: this.#id });
        this.#digest?.reject(new Error('the hash was stopped'));
        this.#acked?.resolve();
        release();
    }

    #send() {
        const buf = this.#batch.buffer;
        this.#worker.postMessage({ type: 'hash', id: this.#id, buf, length: this.#used }, [buf]);
        this.#batch = null;
        this.#used = 0;
        this.#inFlight += 1;
    }

    #nextAck() {
        if (!this.#acked) {
            let settle;
            const promise = new Promise((resolve) => { settle = this.#held({ resolve }); });
            this.#acked = { promise, resolve: settle.resolve };
        }
        return this.#acked.promise;
    }

    /**
     * `settle`'s functions, each of which ends a wait of this thread on the worker: Node's
     * event loop keeps running for the worker only while a caller waits on it (so neither an
     * idle worker nor an abandoned message keeps a process alive).
     */
    #held(settle) {
        const w = this.#worker;
        w.hold?.();
        let held = true;
        const end = (fn) => (value) => {
            if (held) w.letGo?.();
            held = false;
            fn?.(value);
        };
        return { resolve: end(settle.resolve), reject: end(settle.reject) };
    }

    #message({ type, buf, digest, error }) {
        if (error !== undefined) {
            this.#error = new this.#ErrorClass(`the hash worker failed: ${error}`, 'WORKER_FAILED');
            this.#digest?.reject(this.#error);
            this.#acked?.resolve();
            this.#acked = null;
            return;
        }
        if (type === 'hash-ack') {
            this.#inFlight -= 1;
            // Every buffer acked is kept: at most MAX_IN_FLIGHT + 1 are ever allocated.
            if (this.#spare.length < MAX_IN_FLIGHT) this.#spare.push(new Uint8Array(buf));
            const acked = this.#acked;
            this.#acked = null;
            acked?.resolve();
        } else if (type === 'hash-digest') {
            this.#digest?.resolve(new Uint8Array(digest));
        }
    }
}
