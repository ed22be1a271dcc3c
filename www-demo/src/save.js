// Saving a decrypted download as a stream, so that a multi-GB file never sits whole in memory:
//
// - File System Access API (Chromium): `showSaveFilePicker()` at the click (it needs the
//   user's gesture), then the plaintext is piped into the file's FileSystemWritableFileStream.
//   Chromium writes to a temporary file beside it and moves it into place only on close(),
//   which comes only after the whole message verified; on a failure the pipe aborts the
//   writable (`abort()`), which discards the temporary file.
// - Otherwise a service-worker download (public/download-sw.js, scope /demo-download/): the
//   stream goes to the worker (transferred where the engine can transfer streams, else chunk
//   by chunk over a MessagePort, one chunk per request of the worker), and a hidden iframe
//   navigates to /demo-download/ID, which the worker answers with an attachment Response
//   whose body is that stream. On a failure the stream errors, and the browser marks the
//   download failed (the partial file is not kept under its name).

/** Service worker script (copied verbatim from public/) and the scope it answers in. */
const WORKER_URL = '/download-sw.js';
const WORKER_SCOPE = '/demo-download/';
/** Interval of the keep-alive messages to the worker while a download streams (ms). */
const PING_MS = 10_000;
/** Bytes gathered into one write (one disk write, or one message to the worker). */
const WRITE_CHUNK = 1 << 20;

let registration = null;

/** Registers the download worker (at page start, so it is active by the first click). */
export function registerDownloadWorker() {
    if (!('serviceWorker' in navigator)) return null;
    registration ??= navigator.serviceWorker
        .register(WORKER_URL, { scope: WORKER_SCOPE })
        .catch((err) => {
            registration = null;
            throw err;
        });
    registration.catch(() => {});
    return registration;
}

/** The active download worker (it controls no page: `ready` never resolves for it). */
async function activeWorker() {
    const reg = await registerDownloadWorker();
    if (!reg) throw new Error('this browser has no service workers to save a download with');
    if (reg.active) return reg.active;
    const worker = reg.installing ?? reg.waiting;
    await new Promise((resolve, reject) => {
        worker.addEventListener('statechange', () => {
            if (worker.state === 'activated') resolve();
            if (worker.state === 'redundant') reject(new Error('the download worker failed'));
        });
    });
    return reg.active;
}

/** Whether ReadableStreams can be transferred through postMessage (Chromium, Firefox). */
function canTransferStreams() {
    try {
        const stream = new ReadableStream();
        const { port1 } = new MessageChannel();
        port1.postMessage(stream, [stream]);
        port1.close();
        return true;
    } catch {
        return false;
    }
}

/** Whether the page writes to a file of the user's choice (File System Access API). */
export function canPickFile() {
    return typeof window.showSaveFilePicker === 'function';
}

/**
 * Starts a save of `name`. MUST be called in the click handler, before any `await`: the
 * file picker needs the user's gesture. Resolves (once a file is picked, or at once for the
 * worker) to `{ how, write(stream, { size, mime }) }`: `write` pipes the stream there and
 * resolves once it is written, or rejects (after aborting the file or failing the download)
 * with the stream's error. Rejects with an AbortError if the user closes the picker.
 */
export function startSave(name) {
    if (canPickFile()) {
        const picked = window.showSaveFilePicker({ suggestedName: name });
        return picked.then((handle) => ({
            how: 'file',
            write: (stream) => writeFile(handle, stream),
        }));
    }
    registerDownloadWorker();
    return Promise.resolve({
        how: 'download',
        write: (stream, { size, mime } = {}) => writeDownload(name, stream, { size, mime }),
    });
}

/** Gathers chunks into writes of about WRITE_CHUNK bytes (the last may be shorter). */
function batched() {
    let parts = [];
    let held = 0;
    const flushTo = (controller) => {
        if (held === 0) return;
        const out = new Uint8Array(held);
        let at = 0;
        for (const part of parts) {
            out.set(part, at);
            at += part.length;
        }
        parts = [];
        held = 0;
        controller.enqueue(out);
    };
    return new TransformStream({
        transform(chunk, controller) {
            parts.push(chunk);
            held += chunk.length;
            if (held >= WRITE_CHUNK) flushTo(controller);
        },
        flush: flushTo,
    });
}

async function writeFile(handle, stream) {
    let writable;
    try {
        writable = await handle.createWritable();
    } catch (err) {
        await stream.cancel(err).catch(() => {});
        throw err;
    }
    // pipeTo aborts the writable if the stream errors, and cancels the stream if a write
    // fails; close() (the file moved into place) only after the stream closed.
    await stream.pipeThrough(batched()).pipeTo(writable);
}

async function writeDownload(name, stream, { size, mime }) {
    const worker = await activeWorker();
    const id = crypto.randomUUID();
    const { port1, port2 } = new MessageChannel();
    const source = stream.pipeThrough(batched());
    let done;
    const message = { type: 'download', id, name, mime, size };
    if (canTransferStreams()) {
        // The worker holds the readable end; the pipe into it tells us when all is handed on.
        const pass = new TransformStream();
        done = source.pipeTo(pass.writable);
        worker.postMessage({ ...message, stream: pass.readable }, [port2, pass.readable]);
    } else {
        done = feedPort(port1, source);
        worker.postMessage(message, [port2]);
    }
    done.catch(() => {});
    const ping = setInterval(() => worker.postMessage({ type: 'ping' }), PING_MS);
    const frame = document.createElement('iframe');
    frame.hidden = true;
    try {
        await new Promise((resolve, reject) => {
            const listener = ({ data }) => {
                if (data?.type !== 'ready') return;
                port1.removeEventListener('message', listener);
                resolve();
            };
            port1.addEventListener('message', listener);
            port1.start();
            done.catch(reject);
        });
        frame.src = `${WORKER_SCOPE}${id}`;
        document.body.append(frame);
        await done;
    } finally {
        clearInterval(ping);
        // The download manager has the response by now; the frame can go a little later.
        setTimeout(() => frame.remove(), 1_000);
    }
}

/**
 * The chunk fallback: answers each `pull` of the worker with the next chunk (its buffer
 * transferred), `done` at the end, or `error`; a `cancel` (the user cancelled the download)
 * cancels the stream. Resolves once the last chunk was handed on.
 */
function feedPort(port, stream) {
    const reader = stream.getReader();
    return new Promise((resolve, reject) => {
        port.addEventListener('message', async ({ data }) => {
            if (data?.type === 'cancel') {
                const reason = new DOMException(data.message, 'AbortError');
                reader.cancel(reason).catch(() => {});
                reject(reason);
                return;
            }
            if (data?.type !== 'pull') return;
            try {
                const { value, done } = await reader.read();
                if (done) {
                    port.postMessage({ type: 'done' });
                    resolve();
                    return;
                }
                const chunk =
                    value.byteOffset === 0 && value.byteLength === value.buffer.byteLength
                        ? value.buffer
                        : value.slice().buffer;
                port.postMessage({ type: 'chunk', chunk }, [chunk]);
            } catch (err) {
                port.postMessage({ type: 'error', message: String(err?.message ?? err) });
                reject(err);
            }
        });
        port.start();
    });
}
