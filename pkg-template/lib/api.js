// encrypt / decrypt / encryptStream / decryptStream: the package's public functions. They move
// bytes between JS and the wasm Encryptor/Decryptor (which hold all the format logic), ask
// keyrings for wrapping keys and unwrapped data keys, and handle streams, progress and aborts.
import { CipherdropError, DecryptError, EncryptError, call } from './errors.js';
import { FrameDecryptor, FrameEncryptor, NodeAes, NodeHash, WebCryptoAes } from './frames.js';
import { generateDataKey, isKeyring, wrapDataKey } from './keyrings.js';
import { HASH_MIN_BYTES, RemoteHash } from './hash.js';
import { POOL_MIN_BYTES, poolAvailable, poolByDefault, poolEngine } from './pool.js';
import { blobStream, messageIsSigned } from './reader.js';
// null in the released package; only the test build of the package (scripts/build-pkg.sh
// --test-hooks) has hooks there (fixed secrets, the reference path, engine observers).
import { testHooks } from './test-hooks.js';
import { fullModule, liteModule, startModule } from './wasm.js';
import { workerScriptRuns } from './workers.js';

/** Most bytes handed to one wasm call: bounds the module's memory and the abort latency. */
const SLICE = 1 << 20;
/** Longest stretch of work between two yields to the event loop (ms). */
const YIELD_MS = 15;

/** Suite IDs `encrypt` can write (the `suite` option). */
export const AlgorithmSuite = Object.freeze({
    /** 0x0578, the default: AES-256-GCM, HKDF-SHA512, key commitment, ECDSA P-384. */
    AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384: 0x0578,
    /** 0x0478: AES-256-GCM, HKDF-SHA512, key commitment, unsigned. */
    AES_256_GCM_HKDF_SHA512_COMMIT_KEY: 0x0478,
});

/** Values of the `commitmentPolicy` option of `decrypt`. */
export const CommitmentPolicy = Object.freeze({
    /** The default: read only key-committing (format 2.0) messages. */
    REQUIRE_ENCRYPT_REQUIRE_DECRYPT: 'REQUIRE_ENCRYPT_REQUIRE_DECRYPT',
    /** Also read legacy non-committing (format 1.0) messages. */
    REQUIRE_ENCRYPT_ALLOW_DECRYPT: 'REQUIRE_ENCRYPT_ALLOW_DECRYPT',
});

// --- small helpers -------------------------------------------------------------------------

function checkKeyring(keyring) {
    if (!isKeyring(keyring)) {
        throw new TypeError('keyring must be a keyring (RawRsaKeyring, MultiKeyring, ...)');
    }
}

/** Option names of each operation (symbol keys, the test build's hooks, are not checked). */
const ENCRYPT_OPTIONS = new Set(['encryptionContext', 'frameLength', 'suite', 'onProgress', 'signal',
    'webCrypto', 'workers']);
const DECRYPT_OPTIONS = new Set(['expectedContext', 'commitmentPolicy', 'refuseSigned',
    'maxEncryptedDataKeys', 'onProgress', 'signal', 'webCrypto', 'workers']);
/** Names of the AWS Encryption SDK's options that are spelled differently here. */
const ENCRYPT_RENAMED = { suiteId: 'suite' };
const DECRYPT_RENAMED = { encryptionContext: 'expectedContext' };

/**
 * Refuses an option this operation does not know (a misspelling, or another SDK's name,
 * would otherwise be ignored without a word) with code INVALID_OPTION.
 */
function checkOptions(options, known, renamed, ErrorClass) {
    if (options === null || typeof options !== 'object') throw new TypeError('options must be an object');
    for (const option of Object.keys(options)) {
        if (known.has(option)) continue;
        const hint = Object.hasOwn(renamed, option)
            ? `: the AWS Encryption SDK's \`${option}\` is \`${renamed[option]}\` here`
            : ` (known: ${[...known].join(', ')})`;
        throw new ErrorClass(`unknown option \`${option}\`${hint}`, 'INVALID_OPTION', { option });
    }
}

const checkEncryptOptions = (options) => checkOptions(options, ENCRYPT_OPTIONS, ENCRYPT_RENAMED, EncryptError);
const checkDecryptOptions = (options) => checkOptions(options, DECRYPT_OPTIONS, DECRYPT_RENAMED, DecryptError);

function throwIfAborted(signal) {
    if (signal?.aborted) throw signal.reason ?? new DOMException('aborted', 'AbortError');
}

/** A Uint8Array view of bytes, or null if `data` is not bytes. */
function asBytes(data) {
    if (data instanceof Uint8Array) return data;
    if (data instanceof ArrayBuffer) return new Uint8Array(data);
    if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    return null;
}

function chunkBytes(chunk) {
    const bytes = asBytes(chunk);
    if (!bytes) throw new TypeError('stream chunks must be Uint8Array (or other byte views)');
    return bytes;
}

/**
 * `{ bytes }`, `{ blob, total }` (see `blobStream`), or `{ stream }` for a ReadableStream or
 * an async iterable of byte chunks (a Node `Readable`, an async generator).
 */
function source(data) {
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

function* slices(bytes) {
    if (bytes.length === 0) yield bytes;
    for (let at = 0; at < bytes.length; at += SLICE) yield bytes.subarray(at, at + SLICE);
}

/**
 * The one-shot output: chunks are copied in as they come (while the thread waits on the
 * engines anyway, and so that their buffers die young) into one buffer sized from an upper
 * bound, grown if the bound was short. The result is a view of it: its `buffer` may be a few
 * KB longer than the message (as Node's Buffers share slabs).
 */
class Sink {
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

/** Bytes of a message of `plaintextLength` bytes at most: frame heads and tags, the header
 * (its EDKs, RSA-8192 at most, and context), the footer; a short guess only costs a regrow. */
function messageBound(plaintextLength, header) {
    const frames = Math.floor(plaintextLength / header.frameLength) + 1;
    const edks = header.encryptedDataKeys.reduce(
        (n, e) => n + 6 + (e.providerId.length + e.providerInfo.length) * 3 + 1024, 0);
    const context = Object.entries(header.encryptionContext)
        .reduce((n, [k, v]) => n + 4 + (k.length + v.length) * 3, 0);
    return plaintextLength + frames * 36 + edks + context + 512;
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
class Pacer {
    #last = performance.now();
    async maybeYield() {
        if (performance.now() - this.#last < YIELD_MS) return;
        await yieldNow();
        this.#last = performance.now();
    }
}

/** The public messageHeader: only the fields the docs promise. */
function publicHeader(h) {
    return {
        encryptionContext: h.encryptionContext,
        suiteId: h.suiteId,
        frameLength: h.frameLength,
        encryptedDataKeys: h.encryptedDataKeys.map(({ providerId, providerInfo }) => ({ providerId, providerInfo })),
    };
}

function progress(onProgress, bytesDone, bytesTotal) {
    if (!onProgress) return;
    onProgress(bytesTotal === undefined ? { bytesDone } : { bytesDone, bytesTotal });
}

// --- engines: which AES-GCM seals and opens the frames of one message -----------------------

/**
 * The AES-GCM of one message: native AES by default (WebCrypto on this thread; in Node,
 * node:crypto's ciphers), the wasm core's (option `webCrypto: false`, or no usable native
 * AES), and for large inputs in browsers a worker pool (option `workers`: default
 * automatic, from POOL_MIN_BYTES of input on machines of POOL_MIN_CORES or more; false
 * never; true always).
 */
class Engines {
    #aes = null;
    #pool = null;
    #mode;
    #seen = 0;
    #frames = null;
    #onEngine;

    #workers;
    #onHash;
    /** EncryptError or DecryptError: what a worker's failure is reported as. */
    #ErrorClass;
    /** Whether the pool's workers can run (./workers.js), once `start` asked. */
    #poolRuns = false;
    /** Set by close(): a `start` still under way then makes no pool. */
    #closed = false;

    /** The message module of the session (./wasm.js). */
    #module;

    constructor(module, options, ErrorClass) {
        const { webCrypto = true, workers = 'auto' } = options;
        this.#module = module;
        this.#workers = workers;
        this.#ErrorClass = ErrorClass;
        this.#onHash = testHooks?.onHash(options);
        if (webCrypto === false) this.#mode = 'wasm';
        else if (workers === true) this.#mode = 'on';
        else this.#mode = workers === false || !poolByDefault() ? 'off' : 'auto';
        this.#onEngine = testHooks?.onEngine(options);
    }

    /** The first engine, from the content key (zero-filled here); null: the wasm core. */
    async start(keyBytes, frames, total) {
        this.#frames = frames;
        try {
            if (this.#mode !== 'wasm') {
                this.#aes = NodeAes.create(keyBytes) ?? (await WebCryptoAes.create(keyBytes));
            }
        } finally {
            keyBytes?.fill(0);
        }
        frames.setEngine(this.#aes);
        if (this.#aes && this.#mode !== 'off' && poolAvailable()) this.#poolRuns = await workerScriptRuns();
        this.#maybePool(total ?? 0);
        this.#onEngine?.(this.name);
    }

    /**
     * Where a signed message of suite `suiteId` is hashed, if not in the core: in Node,
     * node:crypto's native hash (always); in browsers a hash worker (./hash.js), unless
     * `workers: false`, for inputs of unknown size or HASH_MIN_BYTES or more; else null.
     */
    async hashFor(suiteId, total) {
        // Only the full module runs signed suites.
        const { wasm, compiled } = this.#module;
        const native = NodeHash.start(wasm.signatureHash(suiteId));
        if (native) return native;
        if (this.#workers === false) return null;
        if (this.#workers !== true && total !== undefined && total < HASH_MIN_BYTES) return null;
        const hash = await RemoteHash.start(compiled, suiteId, this.#ErrorClass);
        if (hash) this.#onHash?.();
        return hash;
    }

    /** Counts input; moves to the pool once a stream is large enough. */
    saw(bytes) {
        this.#seen += bytes;
        if (!this.#pool && this.#mode === 'auto' && this.#seen >= POOL_MIN_BYTES) {
            this.#maybePool(this.#seen);
            if (this.#pool) this.#onEngine?.(this.name);
        }
    }

    get name() {
        if (this.#pool) return 'pool';
        if (this.#aes instanceof NodeAes) return 'node';
        return this.#aes ? 'webcrypto' : 'wasm';
    }

    close() {
        this.#closed = true;
        this.#pool?.close();
    }

    #maybePool(total) {
        if (!this.#poolRuns || !this.#frames || this.#closed) return;
        if (this.#mode === 'on' || (this.#mode === 'auto' && total >= POOL_MIN_BYTES)) {
            this.#pool = poolEngine(this.#aes);
            if (this.#pool) this.#frames.setEngine(this.#pool);
        }
    }
}

// --- modules: which message module (./wasm.js) runs a session -----------------------------

/**
 * Suites `encrypt` starts on the full module: the default (left out) and the signed one the
 * package names. Only a shortcut past a lite module that would refuse them; any other suite
 * starts where decrypt does, and the lite module's refusal decides.
 */
const FULL_FIRST = new Set([undefined, AlgorithmSuite.AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384]);

/**
 * The mark of the lite entry (lib/lite.js passes it to the public functions as a last
 * argument, which the default entry's callers never have): its sessions may start on the lite
 * module. The default entry's run on the full module only, as if there were no other.
 */
export const LITE_ENTRY = Symbol('cipherdrop/lite');

/**
 * The module a session starts on: the test build's choice (its MODULE hook), the full module
 * if `full` or not `lite` (the lite entry's call), else `startModule()` (the full one if loaded
 * or loading, else the lite one).
 */
async function firstModule(options, full, lite) {
    const forced = testHooks?.module(options);
    const module = await (forced ? (forced === 'full' ? fullModule() : liteModule())
        : (full || !lite ? fullModule() : startModule()));
    testHooks?.onModule(options)?.(module.name);
    return module;
}

/** Whether `err` is the lite `module`'s refusal of a signed suite, which the full module reads. */
function refusedByLite(module, err) {
    return !module.full && err instanceof CipherdropError && err.code === 'UNSUPPORTED_SUITE';
}

/** The full module, for a session the lite module refused (reported to the test build). */
async function moveToFull(options) {
    const full = await fullModule();
    testHooks?.onModule(options)?.(full.name);
    return full;
}

/**
 * `[module, make(module)]`, or if the lite `module` refuses (see refusedByLite) `[full,
 * make(full)]`: what `make` builds is the full module's then.
 */
async function onModule(module, options, make) {
    try {
        return [module, make(module)];
    } catch (err) {
        if (!refusedByLite(module, err)) throw err;
    }
    const full = await moveToFull(options);
    return [full, make(full)];
}

// --- sessions: one wasm Encryptor/Decryptor each, freed exactly once -----------------------

class EncryptSession {
    static async open(keyring, options, total, lite) {
        checkKeyring(keyring);
        checkEncryptOptions(options);
        const { encryptionContext, frameLength, suite, signal } = options;
        if (suite !== undefined && !(Number.isInteger(suite) && suite >= 0 && suite <= 0xffff)) {
            throw new TypeError('suite must be a suite ID such as 0x0578 (see AlgorithmSuite)');
        }
        if (frameLength !== undefined && typeof frameLength !== 'number') {
            throw new TypeError('frameLength must be a number');
        }
        throwIfAborted(signal);
        let module = await firstModule(options, FULL_FIRST.has(suite), lite);
        let encryptor;
        [module, encryptor] = await onModule(module, options,
            (m) => testHooks?.fixedEncryptor(m.wasm, options, { suite, frameLength, encryptionContext }));
        if (!encryptor) {
            const keys = await keyring.wrappingKeys();
            throwIfAborted(signal);
            let pending;
            [module, pending] = await onModule(module, options,
                (m) => call(() => new m.wasm.PendingEncryptor(suite, frameLength, encryptionContext)));
            try {
                // A symmetric AWS KMS key first makes the data key (GenerateDataKey); RSA keys
                // wrap the encryptor's random one.
                const generated = keys.length > 0 ? await generateDataKey(keys[0], pending, signal) : null;
                throwIfAborted(signal);
                const dataKey = pending.dataKey();
                let edks;
                try {
                    edks = await Promise.all((generated ? keys.slice(1) : keys)
                        .map((key) => wrapDataKey(key, dataKey, pending, signal)));
                } finally {
                    dataKey.fill(0);
                }
                if (generated) edks.unshift(generated);
                throwIfAborted(signal);
                encryptor = call(() => pending.withEncryptedDataKeys(edks));
            } finally {
                pending.free();
            }
        }
        const session = new EncryptSession(module, encryptor);
        try {
            await session.#start(options, total);
        } catch (err) {
            session.close();
            throw err;
        }
        return session;
    }

    #module;
    #encryptor;
    /** The detached-frame pipeline, or null on the reference path. */
    #frames = null;
    #engines = null;
    /** The engines' start (`Engines.start`), awaited before the first frame. */
    #started = null;

    constructor(module, encryptor) {
        this.#module = module;
        this.#encryptor = encryptor;
        this.messageHeader = publicHeader(encryptor.header());
        this.signed = encryptor.isSigned;
    }

    /** Chooses how frames are sealed (see Engines). */
    async #start(options, total) {
        if (testHooks?.reference(options)) {
            testHooks.onEngine(options)?.('reference');
            return;
        }
        const enc = this.#live();
        this.#engines = new Engines(this.#module, options, EncryptError);
        const hash = enc.isSigned ? await this.#engines.hashFor(this.messageHeader.suiteId, total) : null;
        if (hash) call(() => enc.delegateHash());
        this.#frames = new FrameEncryptor(enc, {
            memory: this.#module.memory, frameLength: this.messageHeader.frameLength, signed: enc.isSigned,
            engine: null, hash,
        });
        // The header needs no engine: a stream hands it out (`written`) while the engines
        // start (the worker pool's can take tens of ms); the frames wait for them.
        this.#frames.writeHeader();
        this.#started = this.#engines.start(call(() => enc.takeContentKey()), this.#frames, total);
        this.#started.catch(() => {}); // reported by the push or end that awaits it
    }

    /** The message bytes already complete before any plaintext (the header), if any. */
    written() {
        return this.#frames ? this.#frames.written().filter((out) => out.length) : [];
    }

    /** Ciphertext chunks completed by one slice (at most SLICE bytes) of plaintext. */
    async push(bytes) {
        if (!this.#frames) return [call(() => this.#live().update(bytes))];
        await this.#started;
        this.#live();
        this.#engines.saw(bytes.length);
        return this.#frames.push(bytes);
    }

    /** The rest of the message: final frame, frames still in flight, footer. */
    async end() {
        try {
            if (!this.#frames) return [call(() => this.#live().finish())];
            await this.#started;
            this.#live();
            return await this.#frames.end();
        } finally {
            this.close();
        }
    }

    close() {
        this.#engines?.close();
        this.#frames?.close();
        this.#encryptor?.free();
        this.#encryptor = null;
    }

    #live() {
        if (!this.#encryptor) throw new EncryptError('the encryption was stopped', 'INVALID_STATE');
        return this.#encryptor;
    }
}

class DecryptSession {
    static async open(keyring, options, total, lite) {
        checkKeyring(keyring);
        checkDecryptOptions(options);
        const { expectedContext, commitmentPolicy = CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT,
            refuseSigned = false, maxEncryptedDataKeys, signal } = options;
        if (!Object.values(CommitmentPolicy).includes(commitmentPolicy)) {
            throw new TypeError(`commitmentPolicy must be one of ${Object.values(CommitmentPolicy).join(', ')}`);
        }
        if (maxEncryptedDataKeys !== undefined &&
            !(Number.isInteger(maxEncryptedDataKeys) && maxEncryptedDataKeys > 0 && maxEncryptedDataKeys < 2 ** 32)) {
            throw new TypeError('maxEncryptedDataKeys must be a positive integer');
        }
        throwIfAborted(signal);
        const module = await firstModule(options, false, lite);
        const allowLegacy = commitmentPolicy === CommitmentPolicy.REQUIRE_ENCRYPT_ALLOW_DECRYPT;
        const args = [expectedContext, allowLegacy, Boolean(refuseSigned), maxEncryptedDataKeys];
        return new DecryptSession(module, args, keyring, signal, { options, total });
    }

    /** The Decryptor's constructor arguments, for a move to the full module. */
    #args;
    #keyring;
    #signal;
    #options;
    #total;
    #reference;
    #module = null;
    #decryptor = null;
    /** The detached-frame pipeline, or null on the reference path. */
    #frames = null;
    #engines = null;
    /**
     * On the lite module until it took the header: copies of every byte pushed so far, which
     * the full module reads from the start if the lite one refuses a signed suite.
     */
    #replay = null;
    #closed = false;
    /** Set once a data key verified the header. */
    messageHeader = null;
    /** True while released plaintext still awaits the message signature. */
    provisional = false;
    /** True once the whole message was read (only the end of the input is still to come). */
    done = false;

    constructor(module, args, keyring, signal, { options, total }) {
        this.#args = args;
        this.#keyring = keyring;
        this.#signal = signal;
        this.#options = options;
        this.#total = total;
        this.#reference = Boolean(testHooks?.reference(options));
        this.#bind(module);
        if (!module.full) this.#replay = [];
    }

    /** The module's bindings (for what else reads the message: ./reader.js). */
    get wasm() {
        return this.#module.wasm;
    }

    /** A Decryptor of `module` and, but on the reference path, its frame pipeline. */
    #bind(module) {
        const { wasm } = module;
        const decryptor = call(() => (this.#reference
            ? new wasm.Decryptor(...this.#args) : wasm.Decryptor.newDetached(...this.#args)));
        this.#module = module;
        this.#decryptor = decryptor;
        if (this.#reference) {
            testHooks.onEngine(this.#options)?.('reference');
            return;
        }
        const engines = new Engines(module, this.#options, DecryptError);
        this.#engines = engines;
        const total = this.#total;
        const frames = new FrameDecryptor(decryptor, {
            memory: module.memory,
            unwrap: () => this.#unwrap(),
            keyed: async (key) => {
                await engines.start(key, frames, total);
                return frames.engine;
            },
            delegate: (suiteId) => engines.hashFor(suiteId, total),
        });
        this.#frames = frames;
    }

    /**
     * Feeds one slice of ciphertext; returns the plaintext chunks it released. The lite
     * module refuses a signed suite right after the header, before any key: the full module
     * then reads the same bytes from the start, and the caller sees only its answers.
     */
    async push(bytes) {
        if (!this.#replay) return this.#push(bytes);
        this.#replay.push(bytes.slice());
        try {
            return await this.#push(bytes);
        } catch (err) {
            if (!this.#replay || !refusedByLite(this.#module, err)) throw err;
        }
        const replay = this.#replay;
        this.#replay = null;
        this.#release();
        const full = await moveToFull(this.#options);
        if (this.#closed) this.#live(); // stopped meanwhile: throws
        this.#bind(full);
        const out = [];
        for (const part of replay) out.push(...(await this.#push(part)));
        return out;
    }

    async #push(bytes) {
        if (this.#frames) {
            this.#live();
            this.#engines.saw(bytes.length);
            const out = await this.#frames.push(bytes);
            const decryptor = this.#live();
            this.provisional = decryptor.provisional;
            this.done = decryptor.state === 'done';
            return out;
        }
        const out = [];
        let rest = bytes;
        for (;;) {
            const plaintext = call(() => this.#live().update(rest));
            if (plaintext.length) out.push(plaintext);
            const decryptor = this.#live();
            this.provisional = decryptor.provisional;
            this.done = decryptor.state === 'done';
            if (decryptor.state !== 'need-data-key') return out;
            rest = rest.subarray(decryptor.consumed);
            await this.#unwrap();
        }
    }

    /** Ends the input: every check; returns the plaintext released only now. */
    async end() {
        try {
            let out = [];
            this.#live();
            if (this.#frames) out = await this.#frames.end();
            else call(() => this.#live().finish());
            this.provisional = false;
            return out;
        } finally {
            this.close();
        }
    }

    close() {
        this.#closed = true;
        this.#replay = null;
        this.#release();
    }

    /** Frees the current module's decryptor and pipeline. */
    #release() {
        this.#engines?.close();
        this.#frames?.close();
        this.#frames?.discard();
        this.#decryptor?.free();
        this.#decryptor = null;
        this.#engines = null;
        this.#frames = null;
    }

    #live() {
        if (!this.#decryptor || this.#closed) {
            throwIfAborted(this.#signal);
            throw new DecryptError('the decryption was stopped', 'INVALID_STATE');
        }
        return this.#decryptor;
    }

    /**
     * Asks the keyring about each EDK the core names and reports the answers; the core holds
     * the rules (header order, key length, first refusal, failed attempts), verifies the key
     * and throws its verdict when no EDK is left.
     */
    async #unwrap() {
        // The module took the header: no move from here on.
        this.#replay = null;
        const decryptor = this.#live();
        const headerBytes = decryptor.headerBytes();
        const options = { signal: this.#signal, dataKeyLength: decryptor.dataKeyLength };
        for (let verified = false; !verified;) {
            throwIfAborted(this.#signal);
            const edk = call(() => this.#live().nextCandidate());
            let key;
            try {
                key = await this.#keyring.unwrap(edk, headerBytes, options);
            } catch (err) {
                throwIfAborted(this.#signal);
                call(() => this.#live().reportError(err));
                continue;
            }
            verified = call(() => this.#live().reportKey(key));
        }
        this.messageHeader = publicHeader(this.#live().header());
    }
}

// --- one-shot encrypt / decrypt ------------------------------------------------------------

/** For Blob input, sets `input.stream` (see `blobStream`); closes `session` if that fails. */
async function openBlob(input, session, options, isSigned, ErrorClass) {
    if (!input.blob) return;
    try {
        input.stream = await blobStream(input.blob, options, isSigned, ErrorClass);
    } catch (err) {
        session.close();
        throw err;
    }
}

/** Feeds all of `bytes` to a one-shot session, slice by slice, and its output to `sink`. */
async function feedAll(session, bytes, sink, { onProgress, signal }) {
    const pacer = new Pacer();
    let done = 0;
    for (const slice of slices(bytes)) {
        sink.push(await session.push(slice));
        done += slice.length;
        progress(onProgress, done, bytes.length);
        await pacer.maybeYield();
        throwIfAborted(signal);
    }
    sink.push(await session.end());
}

/**
 * Encrypts `data` for `keyring`. For a Uint8Array, `result` is the whole message as a
 * Uint8Array; for a Blob or a ReadableStream it is a ReadableStream of the message.
 */
export async function encrypt(keyring, data, options = {}, entry = undefined) {
    const input = source(data);
    const total = input.bytes?.length ?? input.total;
    const session = await EncryptSession.open(keyring, options, total, entry === LITE_ENTRY);
    const { messageHeader } = session;
    await openBlob(input, session, options, () => session.signed, EncryptError);
    if (input.stream) {
        return { result: encryptedStream(session, input, options), messageHeader };
    }
    try {
        const sink = new Sink(messageBound(input.bytes.length, messageHeader));
        await feedAll(session, input.bytes, sink, options);
        return { result: sink.bytes(), messageHeader };
    } finally {
        session.close();
    }
}

/**
 * Decrypts the message in `data` with `keyring`. For a Uint8Array, nothing is released
 * unless every check passed; for a Blob or ReadableStream, `plaintext` is a ReadableStream
 * that errors instead of closing if any later check fails (see `decryptStream`).
 */
export async function decrypt(keyring, data, options = {}, entry = undefined) {
    const input = source(data);
    const total = input.bytes?.length ?? input.total;
    const session = await DecryptSession.open(keyring, options, total, entry === LITE_ENTRY);
    await openBlob(input, session, options, messageIsSigned(session.wasm), DecryptError);
    if (input.stream) return decryptedStream(session, input, options);
    // The plaintext is shorter than the message.
    const sink = new Sink(input.bytes.length);
    try {
        await feedAll(session, input.bytes, sink, options);
        return { plaintext: sink.bytes(), messageHeader: session.messageHeader };
    } catch (err) {
        sink.wipe();
        throw err;
    } finally {
        session.close();
    }
}

// --- stream results of encrypt / decrypt ---------------------------------------------------

/**
 * Reads `input.stream` on demand and feeds each chunk, slice by slice, to `feed`. The first
 * read gets the chunks of `first()`, if it has any, before any input is read.
 */
function pullThrough(input, { onProgress, signal }, { first = null, feed, end, stop }) {
    const reader = input.stream.getReader();
    let done = 0;
    let onAbort;
    const cleanup = () => signal?.removeEventListener('abort', onAbort);
    let controllerRef;
    onAbort = () => {
        stop();
        reader.cancel(signal.reason).catch(() => {});
        controllerRef?.error(signal.reason);
        cleanup();
    };
    return new ReadableStream({
        start(controller) {
            controllerRef = controller;
            if (signal?.aborted) return onAbort();
            signal?.addEventListener('abort', onAbort, { once: true });
        },
        async pull(controller) {
            try {
                if (first) {
                    const ready = first();
                    first = null;
                    for (const out of ready) controller.enqueue(out);
                    if (ready.length) return;
                }
                for (;;) {
                    const { value, done: ended } = await reader.read();
                    throwIfAborted(signal);
                    if (ended) {
                        for (const out of await end()) controller.enqueue(out);
                        cleanup();
                        controller.close();
                        return;
                    }
                    const bytes = chunkBytes(value);
                    let produced = false;
                    for (const slice of slices(bytes)) {
                        for (const out of await feed(slice)) {
                            if (out.length) {
                                controller.enqueue(out);
                                produced = true;
                            }
                        }
                        throwIfAborted(signal);
                    }
                    done += bytes.length;
                    progress(onProgress, done, input.total);
                    if (produced) return;
                }
            } catch (err) {
                stop();
                cleanup();
                reader.cancel(err).catch(() => {});
                throw err;
            }
        },
        cancel(reason) {
            stop();
            cleanup();
            return reader.cancel(reason);
        },
    }, { highWaterMark: 0 });
}

function encryptedStream(session, input, options) {
    return pullThrough(input, options, {
        first: () => session.written(),
        feed: (slice) => session.push(slice),
        end: () => session.end(),
        stop: () => session.close(),
    });
}

/**
 * Feeds a decrypt session for a stream and decides what to release when. `first`: plaintext
 * released before the stream started. The output of the call that completed the message
 * (its final frame) is held back until the end of the input, so that trailing bytes in a
 * later chunk error the stream without releasing the final frame.
 */
function decryptFeeder(first = []) {
    let pending = first;
    return {
        async feed(session, slice) {
            const out = await session.push(slice);
            if (session.done) {
                pending.push(...out);
                return [];
            }
            const released = pending.length ? [...pending, ...out] : out;
            pending = [];
            return released;
        },
        async end(session) {
            const rest = await session.end();
            const released = [...pending, ...rest];
            pending = [];
            return released;
        },
    };
}

/** Reads until the header is verified (so messageHeader is known), then streams the rest. */
async function decryptedStream(session, input, options) {
    const { signal, onProgress } = options;
    const reader = input.stream.getReader();
    const pending = [];
    let done = 0;
    let ended = false;
    try {
        while (!session.messageHeader) {
            const { value, done: end } = await reader.read();
            throwIfAborted(signal);
            if (end) {
                ended = true;
                break;
            }
            const bytes = chunkBytes(value);
            for (const slice of slices(bytes)) pending.push(...(await session.push(slice)));
            done += bytes.length;
            progress(onProgress, done, input.total);
        }
        if (ended) await session.end(); // throws: the message ended inside its header
    } catch (err) {
        session.close();
        reader.cancel(err).catch(() => {});
        throw err;
    }
    reader.releaseLock();
    const rest = { stream: input.stream, total: input.total };
    const counted = onProgress && ((p) => onProgress({ ...p, bytesDone: p.bytesDone + done }));
    const feeder = decryptFeeder(pending);
    const plaintext = pullThrough(rest, { onProgress: counted, signal }, {
        feed: (slice) => feeder.feed(session, slice),
        end: () => feeder.end(session),
        stop: () => session.close(),
    });
    return { plaintext, messageHeader: session.messageHeader };
}

// --- TransformStreams ----------------------------------------------------------------------

/**
 * A TransformStream whose transformer feeds a session opened in `start`; the chunks of
 * `first(session)`, if given, are its output before any input.
 */
function sessionTransform(open, options, { first = null, feed, end, onOpen, onError }) {
    const { onProgress, signal } = options;
    let session = null;
    let done = 0;
    let onAbort = null;
    const stop = () => {
        session?.close();
        if (onAbort) signal?.removeEventListener('abort', onAbort);
    };
    const transformer = {
        async start(controller) {
            try {
                session = await open();
            } catch (err) {
                onOpen(null, err);
                throw err;
            }
            onOpen(session, null);
            for (const out of first?.(session) ?? []) controller.enqueue(out);
            onAbort = () => {
                session.close();
                onError(signal.reason);
                controller.error(signal.reason);
            };
            if (signal?.aborted) return onAbort();
            signal?.addEventListener('abort', onAbort, { once: true });
        },
        async transform(chunk, controller) {
            try {
                const bytes = chunkBytes(chunk);
                for (const slice of slices(bytes)) {
                    for (const out of await feed(session, slice)) if (out.length) controller.enqueue(out);
                    throwIfAborted(signal);
                }
                done += bytes.length;
                progress(onProgress, done, undefined);
            } catch (err) {
                stop();
                onError(err);
                throw err;
            }
        },
        async flush(controller) {
            try {
                for (const out of await end(session)) if (out.length) controller.enqueue(out);
            } catch (err) {
                onError(err);
                throw err;
            } finally {
                stop();
            }
        },
        cancel() {
            stop();
        },
    };
    return new TransformStream(transformer);
}

function deferred() {
    let resolve, reject;
    const promise = new Promise((res, rej) => {
        resolve = res;
        reject = rej;
    });
    promise.catch(() => {}); // a stream's error is reported by the stream; this is optional
    return { promise, resolve, reject };
}

/**
 * A TransformStream that encrypts the Uint8Array chunks written to it into one message.
 * `messageHeader` resolves once the data key is wrapped (before the first output).
 */
export function encryptStream(keyring, options = {}, entry = undefined) {
    checkKeyring(keyring);
    checkEncryptOptions(options);
    const header = deferred();
    const lite = entry === LITE_ENTRY;
    const stream = sessionTransform(() => EncryptSession.open(keyring, options, undefined, lite), options, {
        first: (session) => session.written(),
        feed: (session, slice) => session.push(slice),
        end: (session) => session.end(),
        onOpen: (session, err) => (err ? header.reject(err) : header.resolve(session.messageHeader)),
        onError: () => {},
    });
    Object.defineProperty(stream, 'messageHeader', { value: header.promise, enumerable: true });
    return stream;
}

/**
 * A TransformStream that decrypts one message written to it as Uint8Array chunks.
 *
 * Output is authenticated frame by frame, but the message as a whole is verified only when
 * the stream closes: treat everything read as provisional until then, and discard it if the
 * stream errors. For signed suites (0x0578) `provisional` is true while released plaintext
 * awaits the signature; the core holds back the final frame until the signature verifies.
 * `messageHeader` resolves once a data key verified the header (before the first output).
 */
export function decryptStream(keyring, options = {}, entry = undefined) {
    checkKeyring(keyring);
    checkDecryptOptions(options);
    const header = deferred();
    const feeder = decryptFeeder();
    const lite = entry === LITE_ENTRY;
    let current = null;
    const stream = sessionTransform(() => DecryptSession.open(keyring, options, undefined, lite), options, {
        feed: async (session, slice) => {
            const out = await feeder.feed(session, slice);
            if (session.messageHeader) header.resolve(session.messageHeader);
            return out;
        },
        end: (session) => feeder.end(session),
        onOpen: (session, err) => {
            current = session;
            if (err) header.reject(err);
        },
        onError: (err) => header.reject(err), // no effect once resolved
    });
    Object.defineProperties(stream, {
        messageHeader: { value: header.promise, enumerable: true },
        provisional: { get: () => current?.provisional ?? false, enumerable: true },
    });
    return stream;
}
