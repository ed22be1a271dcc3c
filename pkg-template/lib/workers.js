// Whether the package's worker script (./worker.js) runs here at all. A worker whose script
// 404s, or that a Content Security Policy forbids, fails either in `new Worker` or only later
// with an error event, and messages posted to it meanwhile are lost: a message that depended
// on them would never settle. So the users of workers (./hash.js, ./pool.js, ./reader.js) ask
// this first and keep the work on the page's thread if not; a worker that fails later, once
// it ran, is each one's to handle (fall back or reject with code WORKER_FAILED).

/** How long a worker may take to answer its first message before it counts as failed. */
const PROBE_MS = 10_000;

/** Worker constructor → promise of the probe's answer: a page may swap `Worker` (a polyfill). */
const probes = new WeakMap();

/** Resolves to whether a worker of the package starts and answers here (asked once). */
export function workerScriptRuns() {
    const Ctor = globalThis.Worker;
    if (typeof Ctor !== 'function') return Promise.resolve(false);
    let probe = probes.get(Ctor);
    if (!probe) {
        probe = new Promise((resolve) => {
            let worker = null;
            let timer = null;
            const answer = (ok) => {
                clearTimeout(timer);
                worker?.terminate();
                resolve(ok);
            };
            try {
                worker = new Worker(new URL('./worker.js', import.meta.url), { type: 'module', name: 'cipherdrop-probe' });
            } catch {
                answer(false);
                return;
            }
            timer = setTimeout(() => answer(false), PROBE_MS);
            worker.onmessage = ({ data }) => answer(data?.type === 'pong');
            worker.onerror = (event) => {
                event.preventDefault?.();
                answer(false);
            };
            worker.postMessage({ type: 'ping' });
        });
        probes.set(Ctor, probe);
    }
    return probe;
}
