// The bytes that go in and out of a session: what input is (bytes, a Blob, a stream, an
// async iterable), the slices handed to the wasm core, the one-shot output buffer, progress
// reports, aborts, and the yields that give the event loop a turn during long one-shot work.

/** Most bytes handed to one wasm call: bounds the module's memory and the abort latency. */
const SLICE = 1 << 20;
/** Longest stretch of work between two yields to the event loop (ms). */
const YIELD_MS = 15;

export function throwIfAborted(signal) {
    if (signal?.aborted) throw signal.reason ?? new DOMException('aborted', 'AbortError');
}

/** A Uint8Array view of bytes, or null if `data` is not bytes. */
function asBytes(data) {
    if (data instanceof Uint8Array) return data;
    if (data instanceof ArrayBuffer) return new Uint8Array(data);
    if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    return null;
}

export function chunkBytes(chunk) {
    const bytes = asBytes(chunk);
    if (!bytes) throw new TypeError('stream chunks must be Uint8Array (or other byte views)');
    return bytes;
}

/**
 * `{ bytes }`, `{ blob, total }` (see `blobStream`), or `{ stream }` for a ReadableStream or
 * an async iterable of byte chunks (a Node `Readable`, an async generator).
 */
export function source(data) {
    const bytes = asBytes(data);
    if (bytes) return { bytes };
    if (typeof Blob !== 'undefined' && data instanceof Blob) return { blob: data, total: data.size };
    if (data && typeof data.getReader === 'function') return { stream: data };
    if (data && typeof data[Symbol.asyncIterator] === 'function') return { stream: iterableStream(data) };
    throw new TypeError(
        'data must be a Uint8Array, a Blob, a ReadableStream or an async iterable of Uint8Array');
}

/** A ReadableStream of an async iterable's chunks, pulled on demand (`ReadableStream.from`
 * needs Node 20.6 and recent browsers). */
function iterableStream(iterable) {
    const iterator = iterable[Symbol.asyncIterator]();
    return new ReadableStream({
        async pull(controller) {
            const { value, done } = await iterator.next();
            if (done) controller.close();
            else controller.enqueue(value);
        },
        async cancel(reason) {
            await iterator.return?.(reason);
        },
    }, { highWaterMark: 0 });
}

export function* slices(bytes) {
    if (bytes.length === 0) yield bytes;
    for (let at = 0; at < bytes.length; at += SLICE) yield bytes.subarray(at, at + SLICE);
}

/**
 * The one-shot output: chunks are copied in as they come (while the thread waits on the
 * engines anyway, and so that their buffers die young) into one buffer sized from an upper
 * bound, grown if the bound was short. The result is a view of it: its `buffer` may be a few
 * KB longer than the message (as Node's Buffers share slabs).
 */
export class Sink {
    #buf;
    #len = 0;

    constructor(capacity) {
        this.#buf = new Uint8Array(capacity);
    }

    push(chunks) {
        for (const c of chunks) {
            if (this.#len + c.length > this.#buf.length) {
                const grown = new Uint8Array(Math.max(this.#buf.length * 2, this.#len + c.length));
                grown.set(this.#buf.subarray(0, this.#len));
                this.#buf.fill(0);
                this.#buf = grown;
            }
            this.#buf.set(c, this.#len);
            this.#len += c.length;
        }
    }

    bytes() {
        return this.#buf.subarray(0, this.#len);
    }

    wipe() {
        this.#buf.fill(0);
    }
}


const yieldNow = typeof setImmediate === 'function'
    ? () => new Promise((resolve) => setImmediate(resolve))
    : () => new Promise((resolve) => {
        const { port1, port2 } = new MessageChannel();
        port1.onmessage = () => {
            port1.close();
            resolve();
        };
        port2.postMessage(null);
    });

/** Yields to the event loop when work has run for a while (so aborts and the UI get a turn). */
export class Pacer {
    #last = performance.now();
    async maybeYield() {
        if (performance.now() - this.#last < YIELD_MS) return;
        await yieldNow();
        this.#last = performance.now();
    }
}

export function progress(onProgress, bytesDone, bytesTotal) {
    if (!onProgress) return;
    onProgress(bytesTotal === undefined ? { bytesDone } : { bytesDone, bytesTotal });
}
