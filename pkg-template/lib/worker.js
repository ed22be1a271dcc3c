// The worker of the frame pool (./pool.js), of delegated hashing (./hash.js) and of Blob
// reading (./blob-worker.js, when ./reader.js decides so), and the probe of ./workers.js;
// exported as `cipherdrop/worker`. For
// the pool it runs WebCrypto AES-256-GCM on batches of frames, with the non-extractable
// CryptoKey of each message (structured-cloned from the page: its bytes never reach this
// worker). It knows nothing of
// the message format: IV and AAD come from the wasm core in the page, and the page writes
// the results in frame order. The batch buffer goes back to the page for reuse.
import initBindings, { MessageHasher } from '../cipherdrop.js';

const keys = new Map();

// Delegated hashing: the page's compiled WebAssembly module, instantiated here once; one
// MessageHasher per message, fed in order (a promise chain per message).
let instance = null;
const hashes = new Map();

function hashMessage(m) {
    if (m.type === 'hash-start') {
        instance ??= initBindings({ module_or_path: m.module });
        hashes.set(m.id, instance.then(() => new MessageHasher(m.suiteId)));
        return;
    }
    const chain = hashes.get(m.id);
    if (!chain) return;
    const fail = (err) => self.postMessage({ id: m.id, error: err?.message ?? String(err) });
    if (m.type === 'hash') {
        hashes.set(m.id, chain.then((hasher) => {
            hasher.update(new Uint8Array(m.buf, 0, m.length));
            self.postMessage({ type: 'hash-ack', id: m.id, buf: m.buf }, [m.buf]);
            return hasher;
        }));
        hashes.get(m.id).catch(fail);
    } else if (m.type === 'hash-end' || m.type === 'hash-drop') {
        hashes.delete(m.id);
        chain.then((hasher) => {
            if (m.type === 'hash-end') {
                const digest = hasher.finish();
                self.postMessage({ type: 'hash-digest', id: m.id, digest }, [digest.buffer]);
            }
            hasher.free();
        }, m.type === 'hash-end' ? fail : () => {});
    }
}

// Blob reading: one Blob per worker, at most `readAhead` chunks ahead of the page (each
// 'read-more' from the page allows one more); each chunk's buffer is transferred.
let readCredit = 0;
let readWake = null;

async function readBlob({ blob, readAhead }) {
    readCredit = readAhead;
    try {
        const reader = blob.stream().getReader();
        for (;;) {
            while (readCredit <= 0) await new Promise((resolve) => { readWake = resolve; });
            const { value, done } = await reader.read();
            if (done) break;
            readCredit -= 1;
            // A chunk may view part of a larger buffer: transfer only a buffer of its own.
            const own = value.byteOffset === 0 && value.byteLength === value.buffer.byteLength ? value : value.slice();
            self.postMessage({ type: 'read-chunk', buf: own.buffer }, [own.buffer]);
        }
        self.postMessage({ type: 'read-end' });
    } catch (err) {
        self.postMessage({ type: 'read-error', name: err?.name ?? 'Error', message: err?.message ?? String(err) });
    }
}

self.onmessage = async ({ data: m }) => {
    if (m.type === 'ping') {
        self.postMessage({ type: 'pong' });
        return;
    }
    if (m.type.startsWith('hash')) {
        hashMessage(m);
        return;
    }
    if (m.type === 'read') {
        readBlob(m);
        return;
    }
    if (m.type === 'read-more') {
        readCredit += 1;
        readWake?.();
        readWake = null;
        return;
    }
    if (m.type === 'key') {
        keys.set(m.session, m.key);
        return;
    }
    if (m.type === 'drop') {
        keys.delete(m.session);
        return;
    }
    const key = keys.get(m.session);
    const subtle = crypto.subtle;
    const run = m.type === 'seal' ? subtle.encrypt.bind(subtle) : subtle.decrypt.bind(subtle);
    // m.frames: offset and length in m.buf, then offset and AAD length in m.meta (IV, AAD).
    const meta = new Uint8Array(m.meta);
    const calls = [];
    for (let i = 0; i < m.frames.length; i += 4) {
        const [offset, length, at, aadLength] = m.frames.slice(i, i + 4);
        if (!key) {
            calls.push(Promise.reject(new Error('no key for this message')));
            continue;
        }
        const params = {
            name: 'AES-GCM', iv: meta.subarray(at, at + 12), additionalData: meta.subarray(at + 12, at + 12 + aadLength),
        };
        calls.push(run(params, key, new Uint8Array(m.buf, offset, length)));
    }
    const settled = await Promise.allSettled(calls);
    const results = settled.map((s) => (s.status === 'fulfilled' ? s.value : null));
    const transfer = [m.buf, ...results.filter(Boolean)];
    self.postMessage({ id: m.id, buf: m.buf, results }, transfer);
};
