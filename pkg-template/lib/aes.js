// The AES-GCM engines of frame bodies (./frames.js runs them, ./engines.js chooses):
//   - WebCrypto (`crypto.subtle`, native AES; Chromium runs it on the calling thread),
//     several frames in flight, results written in frame order: the default in browsers;
//   - in Node, node:crypto's synchronous ciphers (NodeAes): native AES without WebCrypto's
//     thread-pool round trip per call; and node:crypto's hash for signed messages (NodeHash).
// The core's own AES-GCM in wasm (the fallback) and the worker pool (./pool.js) are the others.

/** node:crypto's cipher functions, registered by the Node entry (node.js); null elsewhere. */
let nodeCrypto = null;

/** Called by the Node entry: `{ createCipheriv, createDecipheriv, createSecretKey, createHash, hkdfSync }`. */
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
     * Ciphertext and tag as node:crypto gives them, apart: joining them (and the frame's
     * head) would copy every byte, 13% of a 64 KiB-frame stream's encrypt in a profile;
     * FrameEncryptor hands them out as they are.
     */
    seal(job, plaintext) {
        const cipher = nodeCrypto.createCipheriv(this.algorithm, this.key, job.iv, { authTagLength: 16 });
        cipher.setAAD(job.aad);
        const body = cipher.update(plaintext);
        cipher.final();
        return Promise.resolve(new SealedParts(body, cipher.getAuthTag()));
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

/** Whether this environment has a native AES-GCM (node:crypto or WebCrypto): the lite module has no other. */
export function hasNativeAes() {
    return Boolean(nodeCrypto || globalThis.crypto?.subtle);
}

/** The native engine of the content key `keyBytes` (zero-filled here), or null if there is none. */
export async function nativeAes(keyBytes) {
    try {
        return NodeAes.create(keyBytes) ?? (await WebCryptoAes.create(keyBytes));
    } finally {
        keyBytes?.fill(0);
    }
}

/** Key lengths → whether the native AES-GCM takes them (Chromium's WebCrypto has no AES-192). */
const supported = new Map();

/** Whether the native AES-GCM takes keys of `keyLength` bytes (asked once per length). */
export function nativeAesSupports(keyLength) {
    if (nodeCrypto) return Promise.resolve(true);
    if (!supported.has(keyLength)) {
        const probe = globalThis.crypto.subtle.importKey('raw', new Uint8Array(keyLength), 'AES-GCM', false, ['encrypt']);
        supported.set(keyLength, probe.then(() => true, () => false));
    }
    return supported.get(keyLength);
}

const EMPTY = new Uint8Array(0);

/**
 * The caller's half of the key schedule (the lite module has no HKDF and no AES-GCM): from
 * `dataKey`, by the core's `recipe` ({ hash, salt, keyInfo, commitInfo, keyLength }: the
 * suite's rule), the content key's engine and the commit key (committing suites). Node: its
 * hkdfSync, the key bytes zero-filled once in the engine; elsewhere WebCrypto's HKDF straight
 * into a non-extractable AES-GCM key, so that the content key never exists as bytes in JS.
 * Resolves to `{ aes, commitKey }`; rejects if the engine refuses (never with a key left).
 */
export async function derivedAes(dataKey, recipe) {
    const { hash, salt = EMPTY, keyInfo, commitInfo, keyLength } = recipe;
    if (nodeCrypto) {
        const digest = hash?.replace('-', '').toLowerCase();
        const hkdf = (info, length) => new Uint8Array(nodeCrypto.hkdfSync(digest, dataKey, salt, info, length));
        const key = hash ? hkdf(keyInfo, keyLength) : dataKey.slice();
        const aes = NodeAes.create(key);
        key.fill(0);
        if (!aes) throw new TypeError(`node:crypto has no AES-${keyLength * 8}-GCM`);
        return { aes, commitKey: commitInfo ? hkdf(commitInfo, 32) : undefined };
    }
    const { subtle } = globalThis.crypto;
    const AES = { name: 'AES-GCM', length: keyLength * 8 };
    const uses = ['encrypt', 'decrypt'];
    if (!hash) return { aes: new WebCryptoAes(subtle, await subtle.importKey('raw', dataKey, AES, false, uses)) };
    const base = await subtle.importKey('raw', dataKey, 'HKDF', false, ['deriveKey', 'deriveBits']);
    const params = (info) => ({ name: 'HKDF', hash, salt, info });
    const key = await subtle.deriveKey(params(keyInfo), base, AES, false, uses);
    const commitKey = commitInfo ? new Uint8Array(await subtle.deriveBits(params(commitInfo), base, 256)) : undefined;
    return { aes: new WebCryptoAes(subtle, key), commitKey };
}

/** A sealed frame's ciphertext and tag in two arrays (NodeAes's seal). */
export class SealedParts {
    constructor(body, tag) {
        this.body = body;
        this.tag = tag;
    }

    get length() {
        return this.body.length + this.tag.length;
    }

    joined() {
        const out = new Uint8Array(this.length);
        out.set(this.body);
        out.set(this.tag, this.body.length);
        return out;
    }
}

/** Result bytes of an engine, in one array (WebCrypto gives ArrayBuffers, NodeAes parts). */
export function bytesOf(r) {
    if (r instanceof ArrayBuffer) return new Uint8Array(r);
    return r instanceof SealedParts ? r.joined() : r;
}

/** The AES-GCM tag of an empty plaintext under `iv` and `aad`: a header's tag. */
export async function headerTag(aes, iv, aad) {
    return bytesOf(await aes.seal({ iv, aad }, EMPTY));
}
