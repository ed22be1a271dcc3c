// A pool of Web Workers that seal and open frames with WebCrypto, so that large inputs use
// several cores (Chromium runs WebCrypto's AES-GCM on the calling thread). The page keeps
// everything else: the wasm core numbers the frames and builds their IVs and AADs, hashes
// signed messages (overlapping the workers' AES) and gets the results back in frame order
// (./frames.js). Only browsers: Node has no Web Workers, and its WebCrypto already runs on
// libuv's thread pool, so frames in flight use several cores there without this pool.
import { WebCryptoAes } from './aes.js';

/** Idle time after which the workers are stopped. */
const IDLE_MS = 10_000;

let shared = null;
let sessions = 0;

/** Bytes of frames sent to a worker in one message. */
const BATCH_BYTES = 1 << 20;
/** Most frames in one message. */
const BATCH_FRAMES = 256;
/** Metadata bytes per frame at most: IV (12) and AAD (at most 79). */
const META_BYTES = 96;
/** Batch buffers kept for reuse (allocating large ArrayBuffers is slow). */
const SPARE_BUFFERS = 8;

class WorkerPool {
    #workers = [];
    #pending = new Map();
    #next = 1;
    #turn = 0;
    #idleTimer = null;
    #spare = [];
    /** Set once a worker failed: requests then reject at once (lib/frames.js falls back). */
    #failure = null;

    /** Throws if a worker cannot be made (the ones already made are stopped). */
    constructor(size) {
        try {
            for (let i = 0; i < size; i++) {
                const worker = new Worker(new URL('./worker.js', import.meta.url), { type: 'module', name: 'cipherdrop' });
                worker.onmessage = ({ data }) => this.#settle(data);
                worker.onerror = (event) => {
                    event.preventDefault?.();
                    this.#fail(event.message || 'a worker failed');
                };
                this.#workers.push(worker);
            }
        } catch (err) {
            for (const w of this.#workers) w.terminate();
            throw err;
        }
    }

    get size() {
        return this.#workers.length;
    }

    broadcast(message) {
        for (const w of this.#workers) w.postMessage(message);
    }

    /** A batch buffer of at least `size` bytes (a spare one if it fits). */
    buffer(size) {
        const i = this.#spare.findIndex((b) => b.byteLength >= size);
        if (i >= 0) return this.#spare.splice(i, 1)[0];
        return new ArrayBuffer(Math.max(size, BATCH_BYTES));
    }

    /** Sends a batch (its buffer transferred) to the next worker; resolves to the results. */
    request(message) {
        if (this.#failure) return Promise.reject(this.#failure);
        const id = this.#next++;
        const worker = this.#workers[this.#turn];
        this.#turn = (this.#turn + 1) % this.#workers.length;
        return new Promise((resolve, reject) => {
            this.#pending.set(id, { resolve, reject });
            worker.postMessage({ ...message, id }, [message.buf, message.meta]);
        });
    }

    hold() {
        clearTimeout(this.#idleTimer);
    }

    release() {
        this.#idleTimer = setTimeout(() => {
            if (sessions === 0 && shared === this) this.#fail('the pool stopped');
        }, IDLE_MS);
    }

    #settle({ id, buf, results }) {
        if (buf && this.#spare.length < SPARE_BUFFERS && buf.byteLength <= BATCH_BYTES) this.#spare.push(buf);
        const p = this.#pending.get(id);
        if (!p) return;
        this.#pending.delete(id);
        p.resolve(results);
    }

    /** Stops every worker and rejects every request, now and later; the next message makes a new pool. */
    #fail(reason) {
        if (shared === this) shared = null;
        this.#failure ??= new Error(`worker: ${reason}`);
        for (const w of this.#workers) w.terminate();
        for (const p of this.#pending.values()) p.reject(this.#failure);
        this.#pending.clear();
        this.#spare = [];
    }
}

let nextSession = 1;

/**
 * An engine (seal/open, as WebCryptoAes, plus flush) that runs on the pool with `aes`'s
 * CryptoKey: frames are copied into a reused batch buffer (no allocation per frame) and sent
 * in batches of about 1 MiB; `flushFor(job)` sends a partial batch before the caller
 * waits for a result in it. Call close() when the message is done.
 */
export function poolEngine(aes) {
    // ./engines.js loads this module only where the pool can run (its poolAvailable).
    if (!(aes instanceof WebCryptoAes)) return null;
    try {
        shared ??= new WorkerPool(Math.max(2, Math.min(4, globalThis.navigator?.hardwareConcurrency ?? 2)));
    } catch {
        return null; // a Content Security Policy may forbid workers: one thread then
    }
    const pool = shared;
    pool.hold();
    sessions += 1;
    const session = nextSession++;
    pool.broadcast({ type: 'key', session, key: aes.key });
    let closed = false;
    let batch = null;

    const flush = () => {
        if (!batch) return;
        const { type, buf, frames, waiters, meta } = batch;
        batch = null;
        pool.request({ type, session, buf, frames, meta: meta.buffer }).then((results) => {
            results.forEach((r, i) => (r ? waiters[i].resolve(new Uint8Array(r)) : waiters[i].reject(new Error('worker: failed'))));
        }, (err) => {
            for (const w of waiters) w.reject(err);
        });
    };
    const add = (type, job, bytes) => {
        if (batch && (batch.type !== type || batch.used + bytes.length > batch.buf.byteLength
            || batch.waiters.length >= BATCH_FRAMES)) flush();
        batch ??= {
            type, buf: pool.buffer(bytes.length), used: 0, frames: [], waiters: [],
            meta: new Uint8Array(BATCH_FRAMES * META_BYTES), metaUsed: 0,
        };
        new Uint8Array(batch.buf, batch.used, bytes.length).set(bytes);
        // IV and AAD go into one metadata buffer: cheap to transfer, unlike small arrays.
        const m = batch.metaUsed;
        batch.meta.set(job.iv, m);
        batch.meta.set(job.aad, m + 12);
        batch.metaUsed += 12 + job.aad.length;
        batch.frames.push(batch.used, bytes.length, m, job.aad.length);
        batch.used += bytes.length;
        const promise = new Promise((resolve, reject) => batch.waiters.push({ resolve, reject }));
        job.batch = batch;
        if (batch.used >= BATCH_BYTES || batch.waiters.length >= BATCH_FRAMES) flush();
        return promise;
    };
    return {
        pool: true,
        /** Enough frames in flight for two batches per worker. */
        inFlightBytes: 2 * pool.size * BATCH_BYTES,
        maxDepth: 2 * pool.size * BATCH_FRAMES,
        seal: (job, plaintext) => add('seal', job, plaintext),
        open: (job, sealed) => add('open', job, sealed),
        /** Sends the partial batch if `job` (passed to seal or open) waits in it. */
        flushFor(job) {
            if (batch && job.batch === batch) flush();
        },
        close() {
            if (closed) return;
            closed = true;
            flush();
            pool.broadcast({ type: 'drop', session });
            sessions -= 1;
            if (sessions === 0) pool.release();
        },
    };
}
