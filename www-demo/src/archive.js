// What the page does with the cipherdrop package: encrypt a file as a stream into upload parts,
// seal and open the metadata record, and decrypt a download as a stream, hashing as it goes.
//
// Each object is one message whose encryption context is `{ owner, object }` only: the
// context is readable by anyone holding the message, so names, sizes and types go into the
// separately encrypted metadata record instead (same context, so swapping records between
// objects fails the `object` check).
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex } from '@noble/hashes/utils.js';
import {
    KeyServerKeyring,
    MultiKeyring,
    RawRsaKeyring,
    decrypt,
    encrypt,
    encryptStream,
} from 'cipherdrop';

/** Ciphertext bytes per upload part (the server takes up to 32 MiB). */
const PART_SIZE = 8 << 20;
/** Version of the metadata record's JSON. */
const META_VERSION = 1;

/** Bytes handed on at a time by `paced`: about 5 ms of wasm work. */
const PACE_PIECE = 256 << 10;
/** Longest run of work before `paced` lets the page render and handle input (ms). */
const PACE_MS = 12;

/** A macrotask turn: rendering and input get a chance, unlike with a resolved promise. */
function nextTask() {
    return new Promise((resolve) => {
        const { port1, port2 } = new MessageChannel();
        port1.onmessage = () => {
            port1.close();
            resolve();
        };
        port2.postMessage(null);
    });
}

/**
 * A pass-through TransformStream that calls `onBytes(chunk)` for each piece and hands the
 * bytes on in pieces of at most PACE_PIECE, yielding a task turn every PACE_MS: the stream
 * stages downstream (wasm encryption or decryption) then run in short bursts, so the page
 * stays responsive and its progress bars move while a large file is processed.
 */
function paced(onBytes) {
    let last = performance.now();
    return new TransformStream({
        async transform(chunk, controller) {
            for (let at = 0; at < chunk.length; at += PACE_PIECE) {
                const piece = chunk.subarray(at, at + PACE_PIECE);
                onBytes(piece);
                controller.enqueue(piece);
                if (performance.now() - last >= PACE_MS) {
                    await nextTask();
                    last = performance.now();
                }
            }
        },
    });
}

/** A failed check of our own (not the package's): the plaintext hash, the metadata record. */
export class IntegrityError extends Error {
    constructor(message) {
        super(message);
        this.name = 'IntegrityError';
    }
}

/**
 * Keyrings for one principal: `encrypt` wraps for the key server's key (generator) and the
 * escrow key (child); `decrypt` goes through the key server only (the escrow private key is
 * offline, so the page never holds it).
 */
export async function keyringsFor({ url, token, config }) {
    const server = await KeyServerKeyring.create({ url, token, keyId: config.keyAlias });
    const escrow = await RawRsaKeyring.fromPem({
        keyNamespace: config.escrow.keyNamespace,
        keyName: config.escrow.keyName,
        publicKey: config.escrow.publicKeyPem,
    });
    return {
        encrypt: new MultiKeyring({ generator: server, children: [escrow] }),
        decrypt: server,
    };
}

/** A random object ID (UUID v4: letters, digits, dashes; says nothing about the file). */
export function newObjectId() {
    return crypto.randomUUID();
}

/**
 * Encrypts `file` as a stream (never whole in memory) and uploads it in parts as object `id`,
 * then stores its encrypted metadata record. `onProgress(fraction)` as plaintext is read.
 * On failure or abort the upload session is aborted and nothing is stored.
 */
export async function uploadFile({
    client,
    keyrings,
    principal,
    id,
    file,
    name,
    onProgress,
    signal,
}) {
    const encryptionContext = { owner: principal, object: id };
    const { maxPart } = await client.startUpload(id, signal);
    const partSize = Math.min(maxPart ?? PART_SIZE, PART_SIZE);
    const hash = sha256.create();
    let read = 0;
    const hashing = paced((piece) => {
        hash.update(piece);
        read += piece.length;
        onProgress?.(file.size ? read / file.size : 1);
    });
    const ciphertext = file
        .stream()
        .pipeThrough(hashing, { signal })
        .pipeThrough(encryptStream(keyrings.encrypt, { encryptionContext, signal }));
    const reader = ciphertext.getReader();
    const buffer = new Uint8Array(partSize);
    let filled = 0;
    let part = 0;
    // One part uploads while the next is encrypted. Each part goes as a Blob (a copy, so the
    // buffer is free again at once): Chromium sends a Uint8Array body with ~40 ms of
    // main-thread work per MiB, a Blob without blocking.
    let inflight = Promise.resolve();
    const send = async (bytes) => {
        await inflight;
        inflight = client.putPart(id, part++, new Blob([bytes]), signal);
        inflight.catch(() => {}); // awaited later; never an unhandled rejection
    };
    try {
        for (;;) {
            const { value, done } = await reader.read();
            if (done) break;
            for (let at = 0; at < value.length;) {
                const n = Math.min(partSize - filled, value.length - at);
                buffer.set(value.subarray(at, at + n), filled);
                filled += n;
                at += n;
                if (filled === partSize) {
                    await send(buffer);
                    filled = 0;
                }
            }
        }
        if (filled > 0 || part === 0) await send(buffer.subarray(0, filled));
        await inflight;
        await client.completeUpload(id, signal);
    } catch (err) {
        reader.cancel(err).catch(() => {});
        await client.abortUpload(id).catch(() => {});
        throw signal?.aborted ? signal.reason : err;
    }
    const meta = {
        v: META_VERSION,
        name,
        size: file.size,
        type: file.type,
        lastModified: file.lastModified,
        sha256: bytesToHex(hash.digest()),
    };
    const record = new TextEncoder().encode(JSON.stringify(meta));
    const { result } = await encrypt(keyrings.encrypt, record, { encryptionContext, signal });
    await client.putMeta(id, result, signal);
    return meta;
}

/**
 * Fetches and decrypts object `id`'s metadata record through the key server. Never throws
 * (but for an abort): `{ meta, header, keyNames }` if it opened, `{ error, keyNames }` if
 * not, where `keyNames` are the record's key-server key names, read unchecked for display.
 * One-shot decrypt of bytes: nothing of the record is used unless every check passed.
 */
export async function openMeta({ client, keyrings, id, signal }) {
    let keyNames = [];
    try {
        const bytes = await client.getMeta(id, signal);
        keyNames = serverKeyNames(bytes);
        const { plaintext, messageHeader } = await decrypt(keyrings.decrypt, bytes, {
            expectedContext: { object: id },
            signal,
        });
        let meta;
        try {
            meta = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(plaintext));
        } catch {
            throw new IntegrityError('the metadata record is not valid JSON');
        }
        if (
            meta?.v !== META_VERSION ||
            typeof meta.name !== 'string' ||
            !Number.isSafeInteger(meta.size)
        ) {
            throw new IntegrityError('the metadata record is not one this page writes');
        }
        return { meta, header: messageHeader, keyNames };
    } catch (error) {
        if (signal?.aborted) throw signal.reason;
        return { error, keyNames };
    }
}

/**
 * Downloads object `id` and decrypts it as a stream through the key server. Resolves once
 * the message header verified (the key server unwrapped the data key: a refusal rejects
 * here, before any plaintext): `{ plaintext, sha256 }`. `plaintext` streams the file as
 * its frames verify (the package's {@link decryptStream} semantics: the last frame of a
 * signed message only after the signature verified), hashed as it goes; it closes only if
 * the whole message verified and the size and SHA-256 equal those sealed in the metadata
 * record, and errors instead otherwise, so a consumer MUST treat what it wrote as
 * provisional until the stream closed. `sha256()` is the hex digest once it closed.
 */
export async function downloadObject({ client, keyrings, id, meta, onProgress, signal }) {
    const { body, size } = await client.getObject(id, signal);
    let received = 0;
    const counted = body.pipeThrough(
        paced((piece) => {
            received += piece.length;
            if (size) onProgress?.(received / size);
        }),
    );
    const { plaintext } = await decrypt(keyrings.decrypt, counted, {
        expectedContext: { object: id },
        signal,
    });
    const hash = sha256.create();
    let total = 0;
    let digest = null;
    const mismatch = () =>
        new IntegrityError(
            'the decrypted file does not match the size and SHA-256 sealed in its metadata record',
        );
    const checked = plaintext.pipeThrough(
        new TransformStream({
            transform(chunk, controller) {
                total += chunk.length;
                if (total > meta.size) throw mismatch();
                hash.update(chunk);
                controller.enqueue(chunk);
            },
            flush() {
                const hex = bytesToHex(hash.digest());
                if (total !== meta.size || (meta.sha256 && hex !== meta.sha256)) throw mismatch();
                digest = hex;
            },
        }),
    );
    return { plaintext: checked, sha256: () => digest };
}

/**
 * The key-server EDK names of a message header (`KEYID/vN`), read without any check: only
 * to show which key an object is wrapped for when it cannot be opened.
 */
export function serverKeyNames(message) {
    try {
        const view = new DataView(message.buffer, message.byteOffset, message.byteLength);
        if (view.getUint8(0) !== 2) return [];
        let at = 1 + 2 + 32;
        at += 2 + view.getUint16(at);
        const count = view.getUint16(at);
        at += 2;
        const names = [];
        const field = () => {
            const n = view.getUint16(at);
            const bytes = message.subarray(at + 2, at + 2 + n);
            at += 2 + n;
            return bytes;
        };
        for (let i = 0; i < count; i += 1) {
            const providerId = new TextDecoder().decode(field());
            const providerInfo = new TextDecoder().decode(field());
            field();
            if (providerId === 'cipherdrop') names.push(providerInfo);
        }
        return names;
    } catch {
        return [];
    }
}
