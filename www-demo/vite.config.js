// Vite build of the demo page into dist/ (`cipherdrop demo` serves it). The page imports the
// npm package by its name, `cipherdrop`, as an app that installed it would; here the name
// points at the package built from this repository (build/pkg, by scripts/build-pkg.sh).
import { fileURLToPath } from 'node:url';

import { defineConfig } from 'vite';

const pkg = fileURLToPath(new URL('../build/pkg/', import.meta.url));
const API = process.env.CIPHERDROP_LISTEN || '127.0.0.1:8700';

export default defineConfig({
    resolve: {
        alias: { cipherdrop: `${pkg}index.js` },
    },
    // `vite dev` (with `make demo` running for the API): serve the package from outside this
    // folder, and do not pre-bundle it (its .wasm is found next to its JS through
    // `new URL(..., import.meta.url)`).
    server: {
        fs: { allow: ['.', pkg] },
        proxy: Object.fromEntries(['/v0', '/demo'].map((p) => [p, `http://${API}`])),
    },
    optimizeDeps: { exclude: ['cipherdrop'] },
    build: {
        outDir: 'dist',
        emptyOutDir: true,
        target: 'es2022',
        // The .wasm is an asset of its own; never inline it into JS as a data URL.
        assetsInlineLimit: 0,
    },
});
