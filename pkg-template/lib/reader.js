// Blob and File input read on a Web Worker. Chromium copies every chunk of `blob.stream()`
// (and of `slice().arrayBuffer()`) on the reading thread, at about the speed of WebCrypto's
// AES-GCM: on the page's thread that halves decryption from a Blob (make bench: 600 MB/s, and
// 800 with the reading on a worker). The worker reads and transfers the chunks (no copy).
// This module decides where a Blob is read; the worker's client (./blob-worker.js) loads the
// first time one is read on a worker, so that apps which never do that never ship it.
import { testHooks } from './test-hooks.js';
import { workerScriptRuns } from './workers.js';

/** Blobs at least this large are read on a worker by default. */
export const READER_MIN_BYTES = 8 << 20;
/**
 * Fewest logical cores for a signed message's Blob to be read on a worker by default: its
 * hash already has a worker of its own, and on 2 cores a third busy thread made 0x0578
 * decryption slower (400 → 370 MB/s), where 0x0478 gained a third.
 */
const SIGNED_MIN_CORES = 4;

/**
 * A ReadableStream of `blob`'s bytes, read on a worker where that pays: browsers with Web
 * Workers, Blobs of READER_MIN_BYTES or more, and for a signed message machines of
 * SIGNED_MIN_CORES or more. `isSigned(blob)` (or a promise of it): whether the message
 * written or read is signed, undefined if unknown; asked only when it matters. Option
 * `workers`: false never, true always (where a worker runs at all). A worker that fails
 * after its first chunk errors the stream with an `ErrorClass` of code WORKER_FAILED.
 */
export async function blobStream(blob, options, isSigned, ErrorClass) {
    const { workers = 'auto' } = options;
    const onReader = testHooks?.onReader(options);
    const where = (await onWorker(blob, workers, isSigned)) && (await workerScriptRuns()) ? 'worker' : 'page';
    onReader?.(where);
    if (where === 'page') return blob.stream();
    const { workerStream } = await import('./blob-worker.js');
    return workerStream(blob, ErrorClass);
}

/** `isSigned` of a message Blob, read from its first bytes by a message module's `bindings`. */
export function messageIsSigned(bindings) {
    return async (blob) => bindings.messageIsSigned(new Uint8Array(await blob.slice(0, 4).arrayBuffer()));
}

async function onWorker(blob, workers, isSigned) {
    if (workers === false || typeof Worker !== 'function' || typeof document === 'undefined') return false;
    if (workers === true) return true;
    if (blob.size < READER_MIN_BYTES) return false;
    if ((globalThis.navigator?.hardwareConcurrency ?? 1) >= SIGNED_MIN_CORES) return true;
    // Not a message start (undefined): the page reads it and the decryptor says what is wrong.
    return (await isSigned(blob)) === false;
}
