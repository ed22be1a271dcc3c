// Sessions as streams: the ReadableStream results of encrypt/decrypt on stream or Blob
// input (pulled on demand), and the TransformStreams of encryptStream/decryptStream.
import { chunkBytes, progress, slices, throwIfAborted } from './input.js';

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

export function encryptedStream(session, input, options) {
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
export function decryptFeeder(first = []) {
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
export async function decryptedStream(session, input, options) {
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
/**
 * A TransformStream whose transformer feeds a session opened in `start`; the chunks of
 * `first(session)`, if given, are its output before any input.
 */
export function sessionTransform(open, options, { first = null, feed, end, onOpen, onError }) {
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

export function deferred() {
    let resolve, reject;
    const promise = new Promise((res, rej) => {
        resolve = res;
        reject = rej;
    });
    promise.catch(() => {}); // a stream's error is reported by the stream; this is optional
    return { promise, resolve, reject };
}
