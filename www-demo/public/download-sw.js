// The archive demo's download service worker (www-demo/src/save.js registers it with scope
// /demo-download/, so it controls no page and sees only those navigations). Where the page
// cannot write to a file the user picked (no File System Access API), it saves a decrypted
// download as a stream through this worker: the page posts `{ type: 'download', id, name,
// mime, size }` with a MessagePort (and the plaintext ReadableStream itself where the engine
// can transfer streams), then navigates a hidden iframe to /demo-download/ID; the worker
// answers that navigation once, with an attachment Response whose body is the stream. The
// browser's download manager writes it to disk as it arrives, so the file never sits whole
// in memory. Without transferable streams the chunks come over the port one per request
// (`pull`), which is the backpressure. If the page errors the stream (a frame failed its
// check), the Response body errors and the browser marks the download failed.
//
// The file lives in public/, so `vite build` copies it verbatim to dist/download-sw.js: a
// stable URL, and no import (a classic worker script).

/** Unclaimed downloads wait this long for their navigation before they are dropped (ms). */
const CLAIM_TIMEOUT = 60_000;
/** Bytes the chunk fallback asks the page for ahead of the download manager. */
const FALLBACK_HIGH_WATER = 1 << 20;

/** id → { stream, name, mime, size, timer } of downloads posted but not yet navigated to. */
const pending = new Map();

self.addEventListener('install', () => self.skipWaiting());
self.addEventListener('activate', (event) => event.waitUntil(self.clients.claim()));

/** The stream fed over `port` by the page: one `pull` message per chunk wanted. */
function streamFromPort(port) {
    let waiting = null;
    port.onmessage = ({ data }) => {
        const resolve = waiting;
        waiting = null;
        resolve?.(data);
    };
    return new ReadableStream(
        {
            async pull(controller) {
                const answer = new Promise((resolve) => {
                    waiting = resolve;
                });
                port.postMessage({ type: 'pull' });
                const data = await answer;
                if (data.type === 'chunk') controller.enqueue(new Uint8Array(data.chunk));
                else if (data.type === 'done') {
                    controller.close();
                    port.close();
                } else {
                    port.close();
                    controller.error(new Error(data.message || 'the page stopped the download'));
                }
            },
            cancel(reason) {
                port.postMessage({ type: 'cancel', message: String(reason ?? 'cancelled') });
                port.close();
            },
        },
        { highWaterMark: FALLBACK_HIGH_WATER, size: (chunk) => chunk.byteLength },
    );
}

self.addEventListener('message', (event) => {
    const msg = event.data;
    if (msg?.type !== 'download') return; // pings only keep the worker awake
    const [port] = event.ports;
    if (!port || typeof msg.id !== 'string') return;
    const stream = msg.stream ?? streamFromPort(port);
    const timer = setTimeout(() => {
        pending.delete(msg.id);
        stream.cancel('the download was never opened').catch(() => {});
    }, CLAIM_TIMEOUT);
    pending.set(msg.id, { stream, name: msg.name, mime: msg.mime, size: msg.size, timer });
    // With a transferred stream the port carries this acknowledgement only.
    port.postMessage({ type: 'ready' });
});

/** RFC 6266 / RFC 8187: `attachment` with the UTF-8 name, and an ASCII fallback. */
function disposition(name) {
    const ascii = name.replace(/[^\x20-\x7e]|["\\]/g, '_');
    const encoded = encodeURIComponent(name).replace(/['()*]/g, (c) =>
        `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
    );
    return `attachment; filename="${ascii}"; filename*=UTF-8''${encoded}`;
}

self.addEventListener('fetch', (event) => {
    const url = new URL(event.request.url);
    const scope = new URL(self.registration.scope);
    if (url.origin !== scope.origin || !url.pathname.startsWith(scope.pathname)) return;
    const id = url.pathname.slice(scope.pathname.length);
    const entry = pending.get(id);
    if (!entry) return; // not (or no longer) ours: the network answers (404)
    pending.delete(id);
    clearTimeout(entry.timer);
    const headers = {
        'content-type': entry.mime || 'application/octet-stream',
        'content-disposition': disposition(entry.name),
        'x-content-type-options': 'nosniff',
        'cache-control': 'no-store',
    };
    if (Number.isSafeInteger(entry.size)) headers['content-length'] = String(entry.size);
    event.respondWith(new Response(entry.stream, { headers }));
});
