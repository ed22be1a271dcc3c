// Detached frames: the wasm core writes and parses the header, derives the keys, numbers the
// frames, builds each frame's IV and AAD, hashes signed messages and checks everything; the
// AES-GCM of frame bodies runs here, on one of the engines of ./aes.js (WebCrypto, node:crypto),
// on a pool of workers (./pool.js) for large Blob and stream input, or in the core's own
// AES-GCM in wasm, in place (one copy in, one copy out per frame): the fallback when there is
// no SubtleCrypto, when a WebCrypto call fails, or on request. The lite module has no AES-GCM:
// there the glue derives the keys, and a frame the pool fails on goes to this thread's engine.
// The engine never changes the bytes: tests compare every engine with the core's
// `update`/`finish` path under fixed secrets.
import { SealedParts, bytesOf } from './aes.js';
import { EncryptError, call } from './errors.js';
import { fromMemory, intoFrameBuffer, jobAt } from './memory.js';

/** Bytes of frames in flight at once: bounds memory while keeping WebCrypto busy. */
const IN_FLIGHT_BYTES = 1 << 20;
/** Bytes handed to the decryptor per `update` once the header is verified (a frame head is
 * at most 24 bytes, a footer about 106): the frame bodies never enter wasm this way. */
const HEAD_STEP = 128;
/** Bytes per `update` while the header is read. */
const HEADER_STEP = 4096;

/** Most frames in flight on one thread: more buys nothing and delays the output. */
const MAX_DEPTH = 32;

/** How many frames of `frameLength` bytes may be in flight on `engine`. */
function depthFor(frameLength, engine = null) {
    const bytes = engine?.inFlightBytes ?? IN_FLIGHT_BYTES;
    const max = engine?.maxDepth ?? MAX_DEPTH;
    return Math.max(2, Math.min(max, Math.ceil(bytes / Math.max(1, frameLength))));
}

/** An engine's failure on one frame, as a value (so that no rejection goes unhandled). */
class Failed {
    constructor(error) {
        this.error = error;
    }
}
const failed = (error) => new Failed(error);

/** Starts one frame on `engine`: a promise of its result bytes or of a Failed, never rejected. */
function start(engine, op, job, bytes) {
    try {
        return engine[op](job, bytes).then(undefined, failed);
    } catch (err) {
        return Promise.resolve(failed(err));
    }
}

/**
 * The lite module has no AES-GCM of its own: a frame `engine` failed on (`failed`) goes to
 * this thread's engine `own`, unless that is the one that failed; the result or a Failed.
 */
function onOwnEngine(own, engine, op, job, bytes, failed) {
    return own && own !== engine ? start(own, op, job, bytes) : Promise.resolve(failed);
}

/**
 * Sealed frames shorter than this go out as one chunk with their head (a copy); longer ones
 * as they are, the head apart (a chunk costs a stream hop, a copy every byte).
 */
const JOIN_MAX = 16 << 10;

/** Frames up to this long are assembled in reused buffers (larger ones in fresh ones). */
const REUSE_MAX = 1 << 20;

/**
 * Reused buffers for frames that span input chunks: allocating large ArrayBuffers is slow
 * (page faults: about 40 µs for 64 KiB in Chromium), copying into an old one is not. A
 * buffer is taken for one frame and given back once that frame left flight.
 */
class Spares {
    #free = [];
    take(size) {
        const i = this.#free.findIndex((b) => b.length === size);
        return i >= 0 ? this.#free.splice(i, 1)[0] : new Uint8Array(size);
    }
    give(buf) {
        if (buf && buf.length <= REUSE_MAX && this.#free.length < 4) this.#free.push(buf);
    }
}

function concat(parts, total) {
    if (parts.length === 1 && parts[0].length === total) return parts[0];
    const out = new Uint8Array(total);
    let at = 0;
    for (const p of parts) {
        out.set(p, at);
        at += p.length;
    }
    return out;
}

/**
 * Encrypts a message frame by frame around a wasm `Encryptor`. `push(bytes)` and `end()`
 * return the message bytes completed so far, in order: a long frame's sealed body as the
 * engine gave it, the short bytes around it (head, tag, footer) joined (see JOIN_MAX).
 */
export class FrameEncryptor {
    #enc;
    /** The WebAssembly.Memory of the encryptor's module. */
    #memory;
    #engine;
    #hash;
    #frameLength;
    #signed;
    #depth;
    /** Plaintext short of a frame: a frame buffer and how much of it is filled, or (frames
     * over REUSE_MAX) parts to join. */
    #carry = null;
    #carried = 0;
    #spares = new Spares();
    /** Frames in flight, oldest first: { job, plaintext, promise, engine, owned }. */
    #inflight = [];
    #out = [];
    /** A sealed frame's tag given apart (NodeAes), held to join the next head or the footer. */
    #tail = null;
    /** The delegated hash's wait for the header, if it had to wait (see `writeHeader`). */
    #headerWait;
    /**
     * The lite module (no AES-GCM in the core): a function giving this thread's engine, for
     * frames the pool fails on; null where the core seals them.
     */
    #ownEngine;

    /** `engine`: an object with seal(job, plaintext) → Promise, or null for wasm in place. */
    /**
     * `hash`: a RemoteHash (./hash.js) if the encryptor's hashing was delegated to it: this
     * then passes it every byte written before the footer.
     */
    constructor(enc, { memory, frameLength, signed, engine, hash = null, ownEngine = null }) {
        this.#enc = enc;
        this.#ownEngine = ownEngine;
        this.#memory = memory;
        this.#frameLength = frameLength;
        this.#signed = signed;
        this.#hash = hash;
        this.setEngine(engine);
    }

    /** Stops the delegated hash, if any. */
    close() {
        this.#hash?.close();
    }

    get engine() {
        return this.#engine;
    }

    /** Seals the next frames with `engine` (frames in flight finish where they are). */
    setEngine(engine) {
        this.#engine = engine;
        this.#depth = depthFor(this.#frameLength, engine);
    }

    /**
     * Writes the header now (it needs no engine), for `written()`: so that a stream's first
     * bytes leave while the engines start. Otherwise it leaves with the first frame.
     */
    writeHeader() {
        const header = call(() => this.#enc.update(new Uint8Array(0)));
        this.#short(header);
        this.#headerWait = this.#hash?.update(header);
    }

    /** Waits until the delegated hash took the header (it never makes a small one wait). */
    async #headerHashed() {
        const wait = this.#headerWait;
        this.#headerWait = undefined;
        await wait;
    }

    /** The bytes completed so far (the header, after `writeHeader`). */
    written() {
        return this.#take();
    }

    async push(bytes) {
        if (this.#headerWait) await this.#headerHashed();
        let at = 0;
        const fl = this.#frameLength;
        if (this.#carried) {
            const take = Math.min(bytes.length, fl - this.#carried);
            this.#keep(bytes.subarray(0, take));
            at = take;
            if (this.#carried === fl) {
                const wait = this.#frame(this.#takeCarry(), false, true);
                if (wait) await wait;
            }
        }
        while (bytes.length - at >= fl) {
            // #frame returns a promise only when it must wait: most frames just start.
            const wait = this.#frame(bytes.subarray(at, at + fl), false, false);
            if (wait) await wait;
            at += fl;
        }
        if (at < bytes.length) this.#keep(bytes.subarray(at));
        return this.#take();
    }

    /** The final frame, the remaining frames in flight and the footer. */
    async end() {
        if (this.#headerWait) await this.#headerHashed();
        const owned = this.#carried > 0;
        const wait = this.#frame(owned ? this.#takeCarry() : new Uint8Array(0), true, owned);
        if (wait) await wait;
        while (this.#inflight.length) await this.#drainOne();
        if (this.#hash) {
            const digest = await this.#hash.digest();
            this.#short(call(() => this.#enc.finishWithDigest(digest)));
        } else {
            this.#short(call(() => this.#enc.finish()));
        }
        return this.#take();
    }

    #take() {
        const out = this.#out.filter((c) => c.length);
        this.#out = [];
        return out;
    }

    /** Hands out `bytes`, joined to the tail held before them. */
    #short(bytes) {
        const tail = this.#tail;
        this.#tail = null;
        this.#out.push(tail ? concat([tail, bytes], tail.length + bytes.length) : bytes);
    }

    /** Hands out a sealed frame (bytes or SealedParts) after its head. */
    #sealedOut(head, sealed) {
        const parts = sealed instanceof SealedParts ? [sealed.body, sealed.tag] : [sealed];
        if (parts[0].length < JOIN_MAX) {
            this.#short(concat([head, ...parts], head.length + sealed.length));
            return;
        }
        this.#short(head);
        this.#out.push(parts[0]);
        if (parts.length > 1) this.#tail = parts[1];
    }

    /** Copies plaintext short of a frame (the caller may reuse its chunks). */
    #keep(bytes) {
        if (this.#frameLength <= REUSE_MAX) {
            this.#carry ??= this.#spares.take(this.#frameLength);
            this.#carry.set(bytes, this.#carried);
        } else {
            (this.#carry ??= []).push(bytes.slice());
        }
        this.#carried += bytes.length;
    }

    /** The carried plaintext as one array (a subarray of a spare for a short final frame). */
    #takeCarry() {
        const carry = this.#carry;
        const len = this.#carried;
        this.#carry = null;
        this.#carried = 0;
        return Array.isArray(carry) ? concat(carry, len) : carry.subarray(0, len);
    }

    /** Starts one frame; a promise to await before the next if the pipeline is full. */
    #frame(plaintext, isFinal, owned) {
        if (!this.#engine) return this.#frameInPlace(plaintext, isFinal, owned);
        const job = jobAt(this.#memory, call(() => this.#enc.frameJob(plaintext.length, isFinal)));
        const engine = this.#engine;
        const promise = start(engine, 'seal', job, plaintext);
        this.#inflight.push({ job, plaintext, promise, engine, owned });
        return this.#inflight.length >= this.#depth ? this.#drainOne() : undefined;
    }

    /** The core's AES-GCM, in the wasm frame buffer. */
    async #frameInPlace(plaintext, isFinal, owned) {
        const enc = this.#enc;
        while (this.#inflight.length) await this.#drainOne();
        const len = plaintext.length;
        const ptr = intoFrameBuffer(this.#memory, enc, plaintext, len);
        const head = call(() => enc.sealInPlace(len, isFinal));
        const sealed = fromMemory(this.#memory, ptr, len + 16);
        this.#sealedOut(head, sealed);
        if (owned) this.#spares.give(new Uint8Array(plaintext.buffer));
        if (this.#hash) await this.#hashed(head, sealed);
    }

    async #drainOne() {
        const { job, plaintext, promise, engine, owned } = this.#inflight.shift();
        engine?.flushFor?.(job);
        let sealed = await promise;
        if (sealed instanceof Failed && this.#ownEngine) {
            // No AES-GCM in the core: this thread's engine seals the frame and the next ones.
            const own = this.#ownEngine();
            sealed = await onOwnEngine(own, engine, 'seal', job, plaintext, sealed);
            if (sealed instanceof Failed) {
                throw new EncryptError(`AES-GCM failed on frame ${job.sequence}: ${sealed.error?.message ?? sealed.error}`,
                    'SEAL_FAILED', undefined, { cause: sealed.error });
            }
            this.setEngine(own);
        }
        if (sealed instanceof Failed) {
            // The engine failed (not a message error): seal this frame with the core and
            // use the core from now on.
            this.setEngine(null);
            const len = plaintext.length;
            const ptr = intoFrameBuffer(this.#memory, this.#enc, plaintext, len);
            call(() => this.#enc.sealJob(job.sequence, len));
            sealed = fromMemory(this.#memory, ptr, len + 16);
        } else if (sealed instanceof ArrayBuffer) {
            sealed = new Uint8Array(sealed);
        }
        if (owned) this.#spares.give(new Uint8Array(plaintext.buffer));
        const head = this.#signed && !this.#hash
            ? call(() => this.#enc.frameSealed(bytesOf(sealed)))
            : call(() => this.#enc.frameSealedUnsigned());
        this.#sealedOut(head, sealed);
        if (this.#hash) await this.#hashed(head, sealed);
    }

    /** Passes written bytes to the delegated hash (waiting if the worker is behind). */
    async #hashed(head, sealed) {
        const pieces = sealed instanceof SealedParts ? [head, sealed.body, sealed.tag] : [head, sealed];
        // All in, then one wait: the worker's backlog is bounded either way.
        let wait;
        for (const p of pieces) wait = this.#hash.update(p) ?? wait;
        if (wait) await wait;
    }
}

/**
 * Decrypts a message frame by frame around a detached wasm `Decryptor`. `unwrap()` is
 * called (and awaited) when the decryptor needs a data key; `keyed()` right after,
 * to choose the engine. `push(bytes)` returns the plaintext released so far, in order;
 * plaintext of the final frame of a signed message is held until `end()`, which also
 * requires the decryptor to finish.
 */
export class FrameDecryptor {
    #dec;
    /** The WebAssembly.Memory of the decryptor's module. */
    #memory;
    #unwrap;
    #keyed;
    #delegate;
    /** As FrameEncryptor's: this thread's engine where the core has no AES-GCM, else null. */
    #ownEngine;
    /** Delegated hashing: the RemoteHash, fed the bytes the core says the signature covers. */
    #hash = null;
    #engine = null;
    #signed = false;
    #depth = 2;
    #frameLength = 1 << 20;
    #hasKey = false;
    /** A frame body spanning input slices: { job, buf, filled }. */
    #partial = null;
    #spares = new Spares();
    /** Frames in flight, oldest first: { job, body, promise, engine, owned }. */
    #inflight = [];
    #out = [];
    #held = [];

    /**
     * `delegate(suiteId)`: resolves to a RemoteHash (./hash.js) to hash a signed message on,
     * or null to let the core hash it.
     */
    constructor(dec, { memory, unwrap, keyed, delegate = async () => null, ownEngine = null }) {
        this.#dec = dec;
        this.#ownEngine = ownEngine;
        this.#memory = memory;
        this.#unwrap = unwrap;
        this.#keyed = keyed;
        this.#delegate = delegate;
    }

    /** Stops the delegated hash, if any. */
    close() {
        this.#hash?.close();
    }

    get engine() {
        return this.#engine;
    }

    /** Opens the next frames with `engine` (frames in flight finish where they are). */
    setEngine(engine) {
        this.#engine = engine;
        this.#depth = depthFor(this.#frameLength, engine);
    }

    async push(bytes) {
        const dec = this.#dec;
        let at = 0;
        while (at < bytes.length) {
            const partial = this.#partial;
            if (partial) {
                const take = Math.min(bytes.length - at, partial.buf.length - partial.filled);
                partial.buf.set(bytes.subarray(at, at + take), partial.filled);
                partial.filled += take;
                at += take;
                if (partial.filled < partial.buf.length) break;
                this.#partial = null;
                const wait = this.#body(partial.job, partial.buf, true);
                if (wait) await wait;
                continue;
            }
            const step = this.#hasKey ? HEAD_STEP : HEADER_STEP;
            const from = at;
            const ptr = call(() => dec.updateDetached(bytes.subarray(at, at + step)));
            // Read before any other call into the module.
            const job = ptr ? jobAt(this.#memory, ptr) : null;
            at += dec.consumed;
            // Hashed in order; waited for once the frame is under way.
            const hashed = this.#hash ? dec.hashed : 0;
            const headWait = hashed ? this.#hash.update(bytes.subarray(from, from + hashed)) : undefined;
            if (job) {
                const len = job.sealedLength;
                if (bytes.length - at >= len) {
                    const body = bytes.subarray(at, at + len);
                    at += len;
                    const wait = this.#body(job, body, false, headWait);
                    if (wait) await wait;
                } else {
                    const buf = len <= REUSE_MAX ? this.#spares.take(len) : new Uint8Array(len);
                    const have = bytes.length - at;
                    buf.set(bytes.subarray(at));
                    at = bytes.length;
                    // The job outlives this call: its own copies of the IV and AAD.
                    this.#partial = { job: { ...job, iv: job.iv.slice(), aad: job.aad.slice() }, buf, filled: have };
                    if (headWait) await headWait;
                }
                continue;
            }
            if (headWait) await headWait;
            if (dec.state === 'need-digest') {
                const digest = await this.#hash.digest();
                call(() => dec.provideDigest(digest));
            } else if (dec.state === 'need-data-key') {
                if (dec.isSigned) {
                    this.#hash = await this.#delegate(dec.header().suiteId);
                    if (this.#hash) {
                        const wait = this.#hash.update(call(() => dec.delegateHash()));
                        if (wait) await wait;
                    }
                }
                await this.#unwrap();
                this.#hasKey = true;
                const header = dec.header();
                this.#signed = dec.isSigned;
                this.#frameLength = header.frameLength || 1 << 20;
                this.setEngine(await this.#keyed());
            }
        }
        return this.#take();
    }

    /** Waits for every frame in flight, then finishes the decryptor (every check). */
    async end() {
        while (this.#inflight.length) await this.#drainOne();
        call(() => this.#dec.finish());
        this.#out.push(...this.#held);
        this.#held = [];
        return this.#take();
    }

    /** Zero-fills plaintext not yet released (after a failure). */
    discard() {
        for (const p of [...this.#out, ...this.#held]) p.fill(0);
        this.#out = [];
        this.#held = [];
    }

    get provisional() {
        return this.#dec.provisional;
    }

    #take() {
        const out = this.#out.filter((c) => c.length);
        this.#out = [];
        return out;
    }

    #emit(job, plaintext) {
        (job.hold ? this.#held : this.#out).push(plaintext);
    }

    /**
     * Starts opening one frame body; a promise to await before the next if the pipeline is
     * full or the hash worker behind (`wait`: the hash's wait for the frame's head).
     */
    #body(job, body, owned, wait = undefined) {
        const dec = this.#dec;
        if (this.#hash) wait = this.#hash.update(body) ?? wait;
        if (!this.#engine) return this.#bodyInPlace(job, body, owned, wait);
        // Started before frameBody, which may grow the module's memory under the job's views.
        const engine = this.#engine;
        const promise = start(engine, 'open', job, body);
        if (this.#signed && !this.#hash) call(() => dec.frameBody(body));
        else call(() => dec.frameBodySkip());
        this.#inflight.push({ job, body, promise, engine, owned });
        // After the final frame only the footer follows: settle every frame first, so that
        // a bad frame is reported as such rather than as a bad signature.
        const limit = job.isFinal ? 1 : this.#depth;
        return wait || this.#inflight.length >= limit ? this.#settle(wait, limit) : undefined;
    }

    async #settle(wait, limit) {
        if (wait) await wait;
        while (this.#inflight.length >= limit) await this.#drainOne();
    }

    /** The core's AES-GCM, in the wasm frame buffer. */
    async #bodyInPlace(job, body, owned, wait) {
        const dec = this.#dec;
        if (wait) await wait;
        while (this.#inflight.length) await this.#drainOne();
        const ptr = intoFrameBuffer(this.#memory, dec, body, body.length);
        call(() => dec.openInPlace());
        this.#emit(job, fromMemory(this.#memory, ptr, job.plaintextLength));
        if (owned) this.#spares.give(body);
    }

    async #drainOne() {
        const { job, body, promise, engine, owned } = this.#inflight.shift();
        engine?.flushFor?.(job);
        let plaintext = await promise;
        if (plaintext instanceof Failed && this.#ownEngine) {
            // No AES-GCM in the core: this thread's engine decides; its failure is the tag's
            // (BAD_FRAME_TAG).
            plaintext = await onOwnEngine(this.#ownEngine(), engine, 'open', job, body, plaintext);
            call(() => this.#dec.frameOpened(job.sequence, !(plaintext instanceof Failed)));
            plaintext = bytesOf(plaintext);
        } else if (!(plaintext instanceof Failed)) {
            plaintext = bytesOf(plaintext);
            call(() => this.#dec.frameOpened(job.sequence, true));
        } else {
            // A tag that does not verify, or an engine failure: the core decides (and fails
            // with BAD_FRAME_TAG if the tag is bad).
            const ptr = intoFrameBuffer(this.#memory, this.#dec, body, body.length);
            call(() => this.#dec.openJob(job.sequence));
            plaintext = fromMemory(this.#memory, ptr, job.plaintextLength);
        }
        if (owned) this.#spares.give(body);
        this.#emit(job, plaintext);
    }
}
