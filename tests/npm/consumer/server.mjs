// A static file server for the browser tests: serves the consumer project (its node_modules
// included) with the MIME types browsers need (application/wasm for the module).
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';

const TYPES = {
    '.html': 'text/html; charset=utf-8',
    '.js': 'text/javascript; charset=utf-8',
    '.mjs': 'text/javascript; charset=utf-8',
    '.json': 'application/json',
    '.wasm': 'application/wasm',
    '.css': 'text/css',
};

/**
 * Path prefixes that serve the same files with a fault, for pages whose workers cannot run:
 * under `/no-worker/` the package's worker script answers 404; under `/csp/` every response
 * carries a Content Security Policy that forbids workers; under `/dying/` the worker script
 * runs the real one (`worker.js?real`) but throws on its third message of work, as a worker
 * that crashes in the middle of a message.
 */
const WORKER = /\/lib\/worker\.js$/;
const DYING_WORKER = `import './worker.js?real';
const handle = self.onmessage;
let work = 0;
self.onmessage = (event) => {
    if (['hash', 'seal', 'open', 'read-more'].includes(event.data?.type) && ++work > 2) throw new Error('crashed');
    return handle(event);
};
`;
const FAULTS = {
    'no-worker': { missing: WORKER, headers: {} },
    csp: { missing: null, headers: { 'content-security-policy': "worker-src 'none'" } },
    dying: { missing: null, headers: {}, replaced: [WORKER, DYING_WORKER] },
};

/**
 * Serves `root` on 127.0.0.1 (a free port); resolves to `{ url, close }`. `calls` maps a path to
 * an async function that a page POSTs JSON to and gets JSON back from (500 and the message if it
 * throws): a way back into the test process that works the same in every browser driver.
 */
export async function serve(root, calls = {}) {
    const server = http.createServer(async (req, res) => {
        const url = new URL(req.url, 'http://x');
        if (req.method === 'POST' && Object.hasOwn(calls, url.pathname)) {
            const chunks = [];
            for await (const chunk of req) chunks.push(chunk);
            try {
                const out = JSON.stringify(await calls[url.pathname](JSON.parse(Buffer.concat(chunks))));
                return res.writeHead(200, { 'content-type': TYPES['.json'] }).end(out);
            } catch (err) {
                return res.writeHead(500, { 'content-type': 'text/plain' }).end(String(err?.stack ?? err));
            }
        }
        let urlPath = decodeURIComponent(url.pathname);
        const prefix = urlPath.split('/')[1];
        const fault = Object.hasOwn(FAULTS, prefix) ? FAULTS[prefix] : null;
        if (fault) urlPath = urlPath.slice(prefix.length + 1);
        const file = path.join(root, path.normalize(urlPath));
        if (!file.startsWith(root)) return res.writeHead(403).end();
        if (fault?.missing?.test(urlPath)) return res.writeHead(404).end('not found');
        if (fault?.replaced?.[0].test(urlPath) && url.search !== '?real') {
            return res.writeHead(200, { 'content-type': TYPES['.js'], 'cache-control': 'no-store' }).end(fault.replaced[1]);
        }
        try {
            const info = await stat(file);
            if (!info.isFile()) throw new Error('not a file');
            res.writeHead(200, {
                'content-type': TYPES[path.extname(file)] ?? 'application/octet-stream',
                'content-length': info.size,
                'cache-control': 'no-store',
                ...fault?.headers,
            });
            createReadStream(file).pipe(res);
        } catch {
            res.writeHead(404).end('not found');
        }
    });
    await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
    return {
        url: `http://127.0.0.1:${server.address().port}/`,
        close: () => new Promise((resolve) => {
            server.closeAllConnections();
            server.close(resolve);
        }),
    };
}

/** Launches Debian's Chromium through playwright-core from the repository's tools/. */
export async function launchChromium(repo, extraArgs = []) {
    const { createRequire } = await import('node:module');
    const { chromium } = createRequire(path.join(repo, 'tools/package.json'))('playwright-core');
    return chromium.launch({
        executablePath: '/usr/bin/chromium',
        args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', ...extraArgs],
    });
}
