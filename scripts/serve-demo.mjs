#!/usr/bin/env node
// Static server for the demo page: www-demo/ at /, the built npm package (build/pkg/, made by
// scripts/build-pkg.sh) at /pkg/. `make demo` runs it in the foreground; Ctrl-C stops it.
// Listens on $CIPHERDROP_LISTEN (host:port, e.g. 127.0.0.1:9000), by default 127.0.0.1:8700.
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const DEFAULT_LISTEN = '127.0.0.1:8700';

const MIME_TYPES = {
    '.css': 'text/css; charset=utf-8',
    '.html': 'text/html; charset=utf-8',
    '.js': 'text/javascript; charset=utf-8',
    '.json': 'application/json',
    '.mjs': 'text/javascript; charset=utf-8',
    '.png': 'image/png',
    '.svg': 'image/svg+xml',
    '.ts': 'text/plain; charset=utf-8',
    '.wasm': 'application/wasm',
};

/** Mount points: URL prefix → directory. Longest prefix first. */
export function demoMounts(root = ROOT) {
    return [
        ['/pkg/', path.join(root, 'build', 'pkg')],
        ['/', path.join(root, 'www-demo')],
    ];
}

/** Maps a URL path to a file inside one of the mounts, or null (never outside them). */
function resolveFile(mounts, urlPath) {
    let decoded;
    try {
        decoded = decodeURIComponent(urlPath);
    } catch {
        return null;
    }
    if (decoded.includes('\0')) return null;
    for (const [prefix, dir] of mounts) {
        if (!decoded.startsWith(prefix)) continue;
        const file = path.resolve(dir, '.' + path.posix.normalize('/' + decoded.slice(prefix.length)));
        return file === dir || file.startsWith(dir + path.sep) ? file : null;
    }
    return null;
}

/** An http.Server serving the demo; call listen() on it. */
export function createDemoServer({ mounts = demoMounts() } = {}) {
    return http.createServer(async (req, res) => {
        const send = (status, text) => {
            res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8' });
            res.end(req.method === 'HEAD' ? undefined : text + '\n');
        };
        if (req.method !== 'GET' && req.method !== 'HEAD') return send(405, 'method not allowed');
        let file = resolveFile(mounts, new URL(req.url, 'http://localhost').pathname);
        if (!file) return send(404, 'not found');
        try {
            let info = await stat(file);
            if (info.isDirectory()) {
                file = path.join(file, 'index.html');
                info = await stat(file);
            }
            res.writeHead(200, {
                'content-type': MIME_TYPES[path.extname(file)] ?? 'application/octet-stream',
                'content-length': info.size,
                'cache-control': 'no-store',
                'x-content-type-options': 'nosniff',
            });
            if (req.method === 'HEAD') return res.end();
            createReadStream(file).on('error', () => res.destroy()).pipe(res);
        } catch {
            send(404, 'not found');
        }
    });
}

/** Parses "host:port" or "[v6]:port". */
export function parseListen(text) {
    const match = /^(?:\[([^\]]+)\]|([^:]+)):(\d+)$/.exec(text);
    if (!match) throw new Error(`CIPHERDROP_LISTEN must be host:port, got ${JSON.stringify(text)}`);
    return { host: match[1] ?? match[2], port: Number(match[3]) };
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
    let host, port;
    try {
        ({ host, port } = parseListen(process.env.CIPHERDROP_LISTEN || DEFAULT_LISTEN));
    } catch (err) {
        console.error(`cipherdrop demo: ${err.message}`);
        process.exit(2);
    }
    const server = createDemoServer();
    server.on('error', (err) => {
        console.error(`cipherdrop demo: cannot listen on ${host}:${port}: ${err.message}`);
        process.exit(1);
    });
    server.listen(port, host, () => {
        const { port: bound } = server.address();
        const shown = host.includes(':') ? `[${host}]` : host;
        console.log(`cipherdrop demo: serving http://${shown}:${bound}/ (Ctrl-C stops)`);
    });
    const stop = (signal) => {
        console.log(`cipherdrop demo: ${signal}, stopping`);
        server.close(() => process.exit(0));
        server.closeAllConnections();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
}
