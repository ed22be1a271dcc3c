// The AES-GCM engines of frame bodies (./frames.js runs them, ./engines.js chooses):
//   - WebCrypto (`crypto.subtle`, native AES; Chromium runs it on the calling thread),
//     several frames in flight, results written in frame order: the default in browsers;
//   - in Node, node:crypto's synchronous ciphers (NodeAes): native AES without WebCrypto's
//     thread-pool round trip per call; and node:crypto's hash for signed messages (NodeHash).
// The core's own AES-GCM in wasm (the fallback) and the worker pool (./pool.js) are the others.

/** NodeAes's free bytes before each sealed frame (see its headRoom). */
const HEAD_ROOM = 24;

/** node:crypto's cipher functions, registered by the Node entry (node.js); null elsewhere. */
let nodeCrypto = null;

/** Called by the Node entry: `{ createCipheriv, createDecipheriv, createSecretKey, createHash }`. */
export function setNodeCrypto(api) {
    nodeCrypto = api;
}

/**
 * AES-GCM through node:crypto's synchronous ciphers (Node only). Node's WebCrypto sends
 * every call through its thread pool; for frames of 4 to 64 KiB the round trip costs more
 * than the AES, so in Node this engine is about twice as fast. Same bytes.
 */
export class NodeAes {
    /** An engine keyed with `keyBytes` (the caller zero-fills them), or null outside Node. */
    static create(keyBytes) {
        if (!nodeCrypto || !keyBytes) return null;
        try {
            return new NodeAes(nodeCrypto.createSecretKey(keyBytes), keyBytes.length);
        } catch {
            return null;
        }
    }

    constructor(key, length) {
        this.key = key;
        this.algorithm = `aes-${length * 8}-gcm`;
    }

    /**
     * Free bytes before each sealed frame in its buffer (a frame head is at most 24): the
     * encryptor writes the head there and hands out head and body as one chunk. Half the
     * chunks made a Node stream piped into a file about 2x slower (every chunk costs a
     * stream hop and a write).
     */
    get headRoom() {
        return HEAD_ROOM;
    }

    seal(job, plaintext) {
        const cipher = nodeCrypto.createCipheriv(this.algorithm, this.key, job.iv, { authTagLength: 16 });
        cipher.setAAD(job.aad);
        const body = cipher.update(plaintext);
        cipher.final();
        const out = new Uint8Array(HEAD_ROOM + body.length + 16);
        out.set(body, HEAD_ROOM);
        out.set(cipher.getAuthTag(), HEAD_ROOM + body.length);
        return Promise.resolve(out.subarray(HEAD_ROOM));
    }

    /** Throws (a Failed frame: the core decides) if the tag does not verify. */
    open(job, sealed) {
        const n = sealed.length - 16;
        const decipher = nodeCrypto.createDecipheriv(this.algorithm, this.key, job.iv, { authTagLength: 16 });
        decipher.setAAD(job.aad);
        decipher.setAuthTag(sealed.subarray(n));
        const out = decipher.update(sealed.subarray(0, n));
        decipher.final();
        // Small Buffers share a pool slab: never hand out a view of memory beyond the frame.
        const own = out.byteOffset === 0 && out.buffer.byteLength === out.length;
        return Promise.resolve(own ? new Uint8Array(out.buffer) : new Uint8Array(out));
    }
}

/**
 * A signed message's running hash through node:crypto's native `createHash` (Node only): the
 * core delegates its hash (as to the browsers' hash worker, ./hash.js) and signs or verifies
 * with the digest. Native SHA-384 is about 1.4x the module's here.
 */
export class NodeHash {
    /** A hash of `algorithm` ('SHA-384' or 'SHA-256'), or null outside Node. */
    static start(algorithm) {
        if (!nodeCrypto?.createHash || !algorithm) return null;
        return new NodeHash(nodeCrypto.createHash(algorithm.replace('-', '').toLowerCase()));
    }

    #hash;

    constructor(hash) {
        this.#hash = hash;
    }

    /** Never makes the caller wait (same shape as RemoteHash.update). */
    update(bytes) {
        this.#hash.update(bytes);
        return undefined;
    }

    async digest() {
        return new Uint8Array(this.#hash.digest());
    }

    close() {}
}

/** AES-GCM through WebCrypto with a non-extractable key. */
export class WebCryptoAes {
    /**
     * Imports the content key `keyBytes` (the caller zero-fills them); resolves to an
     * engine, or null if this environment has no usable WebCrypto AES-GCM.
     */
    static async create(keyBytes) {
        try {
            const subtle = globalThis.crypto?.subtle;
            if (!subtle || !keyBytes) return null;
            const key = await subtle.importKey('raw', keyBytes, { name: 'AES-GCM' }, false, ['encrypt', 'decrypt']);
            return new WebCryptoAes(subtle, key);
        } catch {
            return null;
        }
    }

    constructor(subtle, key) {
        this.subtle = subtle;
        this.key = key;
    }

    /** Ciphertext and tag of `plaintext` (copied by WebCrypto before this returns). */
    seal(job, plaintext) {
        return this.subtle.encrypt({ name: 'AES-GCM', iv: job.iv, additionalData: job.aad }, this.key, plaintext);
    }

    /** Plaintext of `sealed` (ciphertext then tag); rejects if the tag does not verify. */
    open(job, sealed) {
        return this.subtle.decrypt({ name: 'AES-GCM', iv: job.iv, additionalData: job.aad }, this.key, sealed);
    }

    close() {}
}
