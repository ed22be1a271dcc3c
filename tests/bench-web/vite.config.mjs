// One Vite config for every bundle of the benchmark (scripts/bench_web.mjs builds it once per
// entry, so that no chunk is shared): BENCH_ENTRY names the HTML page under src/, the output
// goes to build/bench-web/<entry>/ in the repository. `cipherdrop` and `cipherdrop/lite` resolve to the built package in
// build/pkg/ (as an installed package would, through its exports map's "default" entries).
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { defineConfig } from 'vite';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '../..');
const entry = process.env.BENCH_ENTRY ?? 'bench';
// Another built package instead (BENCH_WEB_BASELINE of scripts/bench_web.mjs).
const pkg = path.resolve(repo, process.env.BENCH_PKG ?? 'build/pkg');

export default defineConfig({
    root: path.join(here, 'src'),
    base: './',
    logLevel: 'warn',
    resolve: {
        alias: [
            { find: /^cipherdrop$/, replacement: path.join(pkg, 'index.js') },
            { find: /^cipherdrop\/lite$/, replacement: path.join(pkg, 'lite.js') },
            { find: /^cipherdrop\/bindings$/, replacement: path.join(pkg, 'cipherdrop.js') },
        ],
    },
    build: {
        outDir: path.join(repo, 'build/bench-web', entry),
        emptyOutDir: true,
        target: 'es2022',
        minify: true,
        reportCompressedSize: false,
        rollupOptions: { input: path.join(here, 'src', `${entry}.html`) },
    },
});
