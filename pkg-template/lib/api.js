// encrypt / decrypt / encryptStream / decryptStream: the package's public functions. They move
// bytes between JS and the wasm Encryptor/Decryptor (which hold all the format logic) through
// the sessions of ./sessions.js, one-shot here or as the streams of ./streams.js.
import { DecryptError, EncryptError } from './errors.js';
import { Pacer, Sink, progress, slices, source, throwIfAborted } from './input.js';
import { LITE_ENTRY } from './modules.js';
import { checkDecryptOptions, checkEncryptOptions, checkKeyring } from './options.js';
import { blobStream, messageIsSigned } from './reader.js';
import { DecryptSession, EncryptSession } from './sessions.js';
import { decryptFeeder, decryptedStream, deferred, encryptedStream, sessionTransform } from './streams.js';

export { AlgorithmSuite, CommitmentPolicy } from './options.js';
export { LITE_ENTRY } from './modules.js';

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

// --- TransformStreams ----------------------------------------------------------------------

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
