// The page's side of reading a Blob on a Web Worker (./worker.js reads it): ./reader.js
// decides when, and imports this module the first time.

/** Chunks read ahead of the page at most (a chunk of `blob.stream()` is 64 KiB to 1 MiB). */
const READ_AHEAD = 4;

/**
 * `blob.stream()` from a worker: the worker reads at most READ_AHEAD chunks ahead and
 * transfers each. If the worker cannot start (a Content Security Policy, say) before its
 * first chunk, the page reads the Blob itself.
 */
export function workerStream(blob, ErrorClass) {
    let worker;
    try {
        worker = new Worker(new URL('./worker.js', import.meta.url), { type: 'module', name: 'cipherdrop-reader' });
    } catch {
        return blob.stream();
    }
    const chunks = [];
    let ended = false;
    let failure = null;
    let received = 0;
    let fallback = null;
    let wake = null;
    const notify = () => {
        wake?.();
        wake = null;
    };
    worker.onmessage = ({ data }) => {
        if (data.type === 'read-chunk') {
            received += 1;
            chunks.push(new Uint8Array(data.buf));
        } else if (data.type === 'read-end') {
            ended = true;
        } else if (data.type === 'read-error') {
            failure = new DOMException(data.message, data.name);
        }
        notify();
    };
    worker.onerror = (event) => {
        event.preventDefault?.();
        if (received === 0) {
            fallback ??= blob.stream().getReader();
        } else {
            failure ??= new ErrorClass(
                `the Blob reader worker failed: ${event.message || 'no reason given'}`, 'WORKER_FAILED');
        }
        notify();
    };
    worker.postMessage({ type: 'read', blob, readAhead: READ_AHEAD });
    return new ReadableStream({
        async pull(controller) {
            while (!chunks.length && !ended && !failure && !fallback) {
                await new Promise((resolve) => { wake = resolve; });
            }
            if (chunks.length) {
                controller.enqueue(chunks.shift());
                worker.postMessage({ type: 'read-more' });
                return;
            }
            if (fallback) {
                worker.terminate();
                const { value, done } = await fallback.read();
                if (done) controller.close();
                else controller.enqueue(value);
                return;
            }
            worker.terminate();
            if (failure) controller.error(failure);
            else controller.close();
        },
        cancel(reason) {
            worker.terminate();
            return fallback?.cancel(reason);
        },
    }, { highWaterMark: 0 });
}
