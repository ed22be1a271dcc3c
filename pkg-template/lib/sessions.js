// Sessions: one wasm Encryptor or Decryptor each, freed exactly once. A session opens the
// message (options, keyring, data key), runs its frames through ./frames.js on the engines of
// ./engines.js, and, on the lite module, moves to the full one if that one must read it.
import { derivedAes, headerTag, nativeAesSupports } from './aes.js';
import { CipherdropError, DecryptError, EncryptError, call } from './errors.js';
import { Engines } from './engines.js';
import { FrameDecryptor, FrameEncryptor } from './frames.js';
import { throwIfAborted } from './input.js';
import { generateDataKey, wrapDataKey } from './keyrings.js';
import { FULL_FIRST, firstModule, moveToFull, onModule, refusedByLite } from './modules.js';
import { CommitmentPolicy, checkDecryptOptions, checkEncryptOptions, checkKeyring } from './options.js';
// null in the released package; only the test build of the package (scripts/build-pkg.sh
// --test-hooks) has hooks there (fixed secrets, the reference path, engine observers).
import { testHooks } from './test-hooks.js';

/**
 * The lite module's key schedule runs on the environment's HKDF and AES-GCM (WebCrypto,
 * node:crypto): their failure is not the message's, so it becomes an `ErrorClass` of code
 * CRYPTO_FAILED with the engine's error as its cause, rather than the engine's own
 * DOMException. The core's verdicts (errors with a code) pass unchanged.
 */
async function onNativeCrypto(ErrorClass, run) {
    try {
        return await run();
    } catch (err) {
        if (err instanceof CipherdropError) throw err;
        throw new ErrorClass(`the key derivation or the header's AES-GCM failed in this environment: ${err?.message ?? err}`,
            'CRYPTO_FAILED', undefined, { cause: err });
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

export class EncryptSession {
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
        // The test build's fixed secrets: no keyring is asked.
        const fixedEdks = testHooks?.fixedEdks(options);
        const keys = fixedEdks ? [] : await keyring.wrappingKeys();
        throwIfAborted(signal);
        let pending;
        [module, pending] = await onModule(module, options, (m) =>
            testHooks?.fixedPending(m.wasm, options, { suite, frameLength, encryptionContext }) ??
            call(() => new m.wasm.PendingEncryptor(suite, frameLength, encryptionContext)));
        let encryptor;
        /** The engine of the key derived here (the lite module), else null. */
        let content = null;
        try {
            // A symmetric AWS KMS key first makes the data key (GenerateDataKey); RSA keys
            // wrap the encryptor's random one.
            const generated = keys.length > 0 ? await generateDataKey(keys[0], pending, signal) : null;
            throwIfAborted(signal);
            const dataKey = pending.dataKey();
            let edks;
            let derived = null;
            try {
                edks = fixedEdks ?? await Promise.all((generated ? keys.slice(1) : keys)
                    .map((key) => wrapDataKey(key, dataKey, pending, signal)));
                if (module.callerDerives) {
                    const recipe = call(() => pending.keyDerivation());
                    derived = await onNativeCrypto(EncryptError, () => derivedAes(dataKey, recipe));
                }
            } finally {
                dataKey.fill(0);
            }
            if (generated) edks.unshift(generated);
            throwIfAborted(signal);
            if (derived) {
                // The core builds the header over the commit key; its tag is the AES-GCM
                // tag of an empty plaintext, all-zero IV, the header as AAD.
                const aad = call(() => pending.headerToSeal(edks, derived.commitKey));
                const tag = await onNativeCrypto(EncryptError, () => headerTag(derived.aes, new Uint8Array(12), aad));
                encryptor = call(() => pending.sealHeader(tag));
                content = derived.aes;
            } else {
                encryptor = call(() => pending.withEncryptedDataKeys(edks));
            }
        } finally {
            pending.free();
        }
        const session = new EncryptSession(module, encryptor);
        try {
            await session.#start(options, total, content);
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

    /**
     * Chooses how frames are sealed (see Engines): `content`, the engine of a key derived
     * here, or null for the key the core derived.
     */
    async #start(options, total, content) {
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
            engine: null, hash, ownEngine: this.#module.callerDerives ? () => this.#engines.aes : null,
        });
        // The header needs no engine: a stream hands it out (`written`) while the engines
        // start (the worker pool's can take tens of ms); the frames wait for them.
        this.#frames.writeHeader();
        this.#started = this.#engines.start(content ?? call(() => enc.takeContentKey()), this.#frames, total);
        this.#started.catch(() => {}); // reported by the push or end that awaits it
    }

    /** The message bytes already complete before any plaintext (the header), if any; no empty chunk. */
    written() {
        return this.#frames ? this.#frames.written() : [];
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

export class DecryptSession {
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
    /** The engine of the key derived here (the lite module), once a key verified the header. */
    #content = null;
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
            keyed: async () => {
                await engines.start(this.#content ?? call(() => decryptor.takeContentKey()), frames, total);
                return frames.engine;
            },
            ownEngine: module.callerDerives ? () => engines.aes : null,
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
        this.#content = null;
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
        const decryptor = this.#live();
        const keyLength = decryptor.dataKeyLength;
        if (this.#module.callerDerives && !(await nativeAesSupports(keyLength))) {
            // Before any key is unwrapped: the full module reads the message with its own AES.
            throw new DecryptError(`this engine's native AES-GCM has no ${keyLength * 8}-bit keys`, 'UNSUPPORTED_SUITE');
        }
        // The module took the header: no move from here on.
        this.#replay = null;
        const headerBytes = decryptor.headerBytes();
        const options = { signal: this.#signal, dataKeyLength: keyLength };
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
            // reportKey zero-fills the key: the lite module's caller derives from a copy.
            const copy = this.#module.callerDerives && key instanceof Uint8Array ? key.slice() : null;
            try {
                verified = call(() => this.#live().reportKey(key));
                if (verified && copy) this.#content = await this.#derive(copy);
            } finally {
                copy?.fill(0);
            }
        }
        this.messageHeader = publicHeader(this.#live().header());
    }

    /**
     * The lite module: derives the content and commit keys from `dataKey` by the core's
     * recipe, computes the header tag, and has the core check both (as it checks its own
     * derivation: same errors); resolves to the content key's engine.
     */
    async #derive(dataKey) {
        const auth = call(() => this.#live().headerAuth());
        const { aes, commitKey, tag } = await onNativeCrypto(DecryptError, async () => {
            const derived = await derivedAes(dataKey, auth);
            return { ...derived, tag: await headerTag(derived.aes, auth.iv, auth.aad) };
        });
        call(() => this.#live().provideDerivedKeys(commitKey, tag));
        return aes;
    }
}
