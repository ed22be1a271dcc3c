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

/** Serves `root` on 127.0.0.1 (a free port); resolves to `{ url, close }`. */
export async function serve(root) {
    const server = http.createServer(async (req, res) => {
        const urlPath = decodeURIComponent(new URL(req.url, 'http://x').pathname);
        const file = path.join(root, path.normalize(urlPath));
        if (!file.startsWith(root)) return res.writeHead(403).end();
        try {
            const info = await stat(file);
            if (!info.isFile()) throw new Error('not a file');
            res.writeHead(200, {
                'content-type': TYPES[path.extname(file)] ?? 'application/octet-stream',
                'content-length': info.size,
                'cache-control': 'no-store',
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
