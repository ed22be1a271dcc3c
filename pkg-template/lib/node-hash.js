// A signed message's hash on a worker thread in Node (the Node entry registers it): the
// running SHA-384 is one sequential pass, about 2.5x as long as node:crypto's AES-GCM of the
// same bytes, so on the JS thread it bounded a signed stream by the sum of both. On a worker,
// with node:crypto's native hash, it overlaps the frames' AES-GCM, as the browsers' hash
// worker does (./hash.js speaks the same messages to both). The worker holds the event loop
// only while the JS thread waits on it, so it never keeps a process alive.

// The worker's script: node:crypto hashes, fed the batches ./hash.js transfers, in order.
// Evaluated as CommonJS or, if the process runs with --input-type=module (which workers
// inherit), as a module: dynamic imports work in both. Messages wait for the listener.
const SOURCE = `
(async () => {
const { parentPort } = await import('node:worker_threads');
const { createHash } = await import('node:crypto');
const hashes = new Map();
parentPort.on('message', (m) => {
    if (m.type === 'hash-start') {
        hashes.set(m.id, createHash(m.algorithm.replace('-', '').toLowerCase()));
        return;
    }
    const hash = hashes.get(m.id);
    if (!hash) return;
    try {
        if (m.type === 'hash') {
            hash.update(new Uint8Array(m.buf, 0, m.length));
            parentPort.postMessage({ type: 'hash-ack', id: m.id, buf: m.buf }, [m.buf]);
        } else if (m.type === 'hash-end') {
            hashes.delete(m.id);
            const digest = new Uint8Array(hash.digest());
            parentPort.postMessage({ type: 'hash-digest', id: m.id, digest }, [digest.buffer]);
        } else if (m.type === 'hash-drop') {
            hashes.delete(m.id);
        }
    } catch (err) {
        hashes.delete(m.id);
        parentPort.postMessage({ id: m.id, error: err?.message ?? String(err) });
    }
});
})();
`;

/**
 * A node:worker_threads Worker of SOURCE with the Web Worker surface ./hash.js uses
 * (postMessage, onmessage, onerror, terminate), plus hold/letGo: the worker holds the event
 * loop only while at least one wait on it is under way.
 */
class NodeHashWorker {
    #worker;
    #ended = false;
    #holds = 0;

    constructor(Worker) {
        this.#worker = new Worker(SOURCE, { eval: true, name: 'cipherdrop-hash' });
        this.#worker.on('message', (data) => this.onmessage?.({ data }));
        this.#worker.on('error', (err) => this.#fail(err?.message ?? String(err)));
        // A worker that ends without an error (process.exit in it, say) fails its hashes too.
        this.#worker.on('exit', (code) => this.#fail(`the hash worker exited (code ${code})`));
        // After the listeners: a 'message' listener refs the worker's port again.
        this.#worker.unref();
    }

    postMessage(message, transfer) {
        this.#worker.postMessage(message, transfer);
    }

    terminate() {
        this.#ended = true;
        this.#worker.terminate();
    }

    hold() {
        if (this.#holds++ === 0) this.#worker.ref();
    }

    letGo() {
        if (--this.#holds === 0) this.#worker.unref();
    }

    #fail(message) {
        if (this.#ended) return;
        this.#ended = true;
        this.onerror?.({ message });
    }
}

/**
 * Node's hash workers for ./hash.js (`setHashWorkers`): usable with 2 or more cores, as in
 * browsers; from node:worker_threads' `Worker` and os' `availableParallelism()`.
 */
export function nodeHashWorkers({ Worker, cores }) {
    const usable = typeof Worker === 'function' && cores >= 2;
    return { usable: async () => usable, make: () => new NodeHashWorker(Worker) };
}
