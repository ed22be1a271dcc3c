// The tiny app of bundler-app/ built by each bundler the README covers (pinned in
// tests/bundlers/), from the installed package, and run in headless Chromium: Vite and webpack
// as is (they ship the .wasm and the worker from the package's `new URL(..., import.meta.url)`),
// esbuild and Rollup with the README's recipe (the worker as a second entry, the .wasm files
// copied beside the bundle). Each bundle must round-trip 2 MiB of the signed suite with the
// hash on the package's worker; with its .wasm answering 404 it must fail with a LoadError
// (WASM_LOAD_FAILED) naming the URL.
import { spawnSync } from 'node:child_process';
import { copyFile, cp, readFile, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';

import { launchChromium, serve } from './server.mjs';

const repo = process.env.CIPHERDROP_REPO;
const tools = path.join(repo, 'tests/bundlers');
const requireTool = createRequire(path.join(tools, 'package.json'));
const appRoot = fileURLToPath(new URL('./bundler-app/', import.meta.url));
const entry = path.join(appRoot, 'main.js');
const WASM_FILES = ['cipherdrop_bg.wasm', 'cipherdrop_nosimd_bg.wasm'];

/** The README's "copy them beside the bundle", from the installed package. */
async function copyWasm(outDir) {
    const pkg = path.dirname(createRequire(entry).resolve('cipherdrop/package.json'));
    await Promise.all(WASM_FILES.map((f) => copyFile(path.join(pkg, f), path.join(outDir, f))));
}

/** Each bundler: `build(outDir)` writes the app to outDir (index.html included). */
const BUNDLERS = {
    async vite(outDir) {
        const { build } = await import(pathToFileURL(path.join(tools, 'node_modules/vite/dist/node/index.js')));
        // Relative asset URLs: the test serves each bundle from a subdirectory.
        await build({ root: appRoot, base: './', logLevel: 'warn', build: { outDir, emptyOutDir: true } });
    },
    async webpack(outDir) {
        const webpack = requireTool('webpack');
        const stats = await new Promise((resolve, reject) => webpack({
            mode: 'production', context: appRoot, entry, output: { path: outDir, filename: 'main.js' },
        }, (err, s) => (err ? reject(err) : resolve(s))));
        if (stats.hasErrors()) throw new Error(stats.toString('errors-only'));
        await copyFile(path.join(appRoot, 'index.html'), path.join(outDir, 'index.html'));
    },
    async esbuild(outDir) {
        const args = ['main=./main.js', 'worker=cipherdrop/worker', '--bundle', '--format=esm', `--outdir=${outDir}`];
        const p = spawnSync(path.join(tools, 'node_modules/.bin/esbuild'), args, { cwd: appRoot, encoding: 'utf8' });
        if (p.status !== 0) throw new Error(`esbuild failed: ${p.stderr}`);
        await copyWasm(outDir);
        await copyFile(path.join(appRoot, 'index.html'), path.join(outDir, 'index.html'));
    },
    async rollup(outDir) {
        const { rollup } = requireTool('rollup');
        const { nodeResolve } = requireTool('@rollup/plugin-node-resolve');
        // The README's plugin: the two .wasm files as assets beside the bundle.
        const cipherdropWasm = {
            name: 'cipherdrop-wasm',
            async buildStart() {
                for (const fileName of WASM_FILES) {
                    const { id } = await this.resolve(`cipherdrop/${fileName}`);
                    this.emitFile({ type: 'asset', fileName, source: await readFile(id) });
                }
            },
        };
        const bundle = await rollup({
            input: { main: entry, worker: 'cipherdrop/worker' },
            plugins: [nodeResolve({ browser: true, rootDir: appRoot }), cipherdropWasm],
        });
        await bundle.write({ dir: outDir, format: 'es', entryFileNames: '[name].js' });
        await bundle.close();
        await copyFile(path.join(appRoot, 'index.html'), path.join(outDir, 'index.html'));
    },
};

let browser;
let server;

before(async () => {
    const fixtures = JSON.parse(await readFile(new URL('./fixtures.json', import.meta.url), 'utf8'));
    const keys = JSON.stringify({ pkcs8: fixtures.keys[2048].pkcs8 });
    for (const [name, build] of Object.entries(BUNDLERS)) {
        const outDir = path.join(appRoot, `dist-${name}`);
        await build(outDir);
        await writeFile(path.join(outDir, 'keys.json'), keys);
    }
    server = await serve(appRoot);
    browser = await launchChromium(repo);
});

after(async () => {
    await browser?.close();
    await server?.close();
});

/**
 * Opens a bundle's page; resolves to the app's `#out` (state, code, text) and the names of
 * the package's workers whose script ran. `wasm404`: every .wasm request answers 404.
 */
async function runApp(name, { wasm404 = false } = {}) {
    const page = await browser.newPage();
    const errors = [];
    const workers = new Set();
    page.on('pageerror', (err) => errors.push(String(err)));
    page.on('worker', (worker) => {
        worker.evaluate(() => typeof self.onmessage === 'function' && self.name)
            .then((ran) => ran && workers.add(ran), () => {});
    });
    if (wasm404) await page.route('**/*.wasm', (route) => route.fulfill({ status: 404, body: 'not found' }));
    try {
        await page.goto(new URL(`dist-${name}/index.html`, server.url).href);
        const out = page.locator('#out:not([data-state="loading"])');
        await out.waitFor({ timeout: 60_000 });
        if (errors.length) throw new Error(errors.join('\n'));
        return { state: await out.getAttribute('data-state'), code: await out.getAttribute('data-code'),
            text: await out.textContent(), workers };
    } finally {
        await page.close();
    }
}

for (const name of Object.keys(BUNDLERS)) {
    test(`${name}: the bundle round-trips the signed suite in Chromium, hashing on the worker`, async () => {
        const { state, text, workers } = await runApp(name);
        if (state !== 'ready' || text !== `ok 1400 ${2 << 20}`) throw new Error(text);
        if (!workers.has('cipherdrop-hash')) throw new Error(`the hash worker did not run: ${[...workers]}`);
    });

    test(`${name}: without its .wasm the bundle fails with WASM_LOAD_FAILED naming the URL`, async () => {
        const { state, code, text } = await runApp(name, { wasm404: true });
        if (state !== 'error' || code !== 'WASM_LOAD_FAILED') throw new Error(`${code}: ${text}`);
        const url = new RegExp(`^LoadError: cipherdrop: loading the WebAssembly module from ${server.url}dist-${name}/\\S*\\.wasm failed \\(HTTP 404\\)`);
        if (!url.test(text) || !text.includes('init(url)')) throw new Error(text);
    });
}
