// The tiny app of bundler-app/ built by each bundler the README covers (pinned in
// tests/bundlers/), from the installed package, and run in headless Chromium: Vite and webpack
// as is (they ship the .wasm and the worker from the package's `new URL(..., import.meta.url)`),
// esbuild and Rollup with the README's recipe (the worker as a second entry, the .wasm files
// copied beside the bundle). Each bundle must round-trip 2 MiB of the signed suite with the
// hash on the package's worker; with its .wasm answering 404 it must fail with a LoadError
// (WASM_LOAD_FAILED) naming the URL. The KMS module (cipherdrop_kms_bg.wasm) is fetched only
// once the app makes a KmsKeyring (`?kms`), and a minimal app's Vite build (minimal.js, no
// KMS keyring) names it nowhere in its JS. The lite message module (cipherdrop_lite_bg.wasm)
// serves an app of suite 0x0478 only (`?lite`), which never fetches the full module's .wasm;
// the app of the default (signed) suite never fetches the lite one.
import { spawnSync } from 'node:child_process';
import { copyFile, cp, readFile, readdir, writeFile } from 'node:fs/promises';
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
const WASM_FILES = ['cipherdrop_bg.wasm', 'cipherdrop_nosimd_bg.wasm', 'cipherdrop_lite_bg.wasm', 'cipherdrop_kms_bg.wasm'];

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
        // The README's plugin: the .wasm files as assets beside the bundle.
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
 * The URL paths of a bundle's copies of the package's `files` (.wasm), found by their bytes
 * (webpack names its assets by hash).
 */
async function wasmPaths(name, ...files) {
    const pkg = path.dirname(createRequire(entry).resolve('cipherdrop/package.json'));
    const dir = path.join(appRoot, `dist-${name}`);
    const paths = new Set();
    for (const file of files) {
        const bytes = await readFile(path.join(pkg, file));
        const before = paths.size;
        for (const f of await readdir(dir, { recursive: true })) {
            if (f.endsWith('.wasm') && bytes.equals(await readFile(path.join(dir, f)))) paths.add(`/dist-${name}/${f}`);
        }
        if (paths.size === before) throw new Error(`dist-${name} has no copy of ${file}`);
    }
    return paths;
}
const kmsWasmPaths = (name) => wasmPaths(name, 'cipherdrop_kms_bg.wasm');
const fullWasmPaths = (name) => wasmPaths(name, 'cipherdrop_bg.wasm', 'cipherdrop_nosimd_bg.wasm');
const liteWasmPaths = (name) => wasmPaths(name, 'cipherdrop_lite_bg.wasm');

/**
 * Opens a bundle's page (`search`: its query string); resolves to the app's `#out` (state,
 * code, text), the names of the package's workers whose script ran and the paths the page
 * requested. `wasm404`: every .wasm request (for which `wasm404(url)` is true, if a
 * function) answers 404.
 */
async function runApp(name, { wasm404 = false, search = '' } = {}) {
    const page = await browser.newPage();
    const errors = [];
    const workers = new Set();
    const requests = [];
    page.on('pageerror', (err) => errors.push(String(err)));
    page.on('request', (request) => requests.push(new URL(request.url()).pathname));
    page.on('worker', (worker) => {
        worker.evaluate(() => typeof self.onmessage === 'function' && self.name)
            .then((ran) => ran && workers.add(ran), () => {});
    });
    if (wasm404) {
        await page.route('**/*.wasm', (route) => (typeof wasm404 === 'function' && !wasm404(route.request().url())
            ? route.continue()
            : route.fulfill({ status: 404, body: 'not found' })));
    }
    try {
        await page.goto(new URL(`dist-${name}/index.html${search}`, server.url).href);
        const out = page.locator('#out:not([data-state="loading"])');
        await out.waitFor({ timeout: 60_000 });
        if (errors.length) throw new Error(errors.join('\n'));
        return { state: await out.getAttribute('data-state'), code: await out.getAttribute('data-code'),
            text: await out.textContent(), workers, requests };
    } finally {
        await page.close();
    }
}

for (const name of Object.keys(BUNDLERS)) {
    test(`${name}: the bundle round-trips the signed suite in Chromium, hashing on the worker, on the full module only`, async () => {
        const { state, text, workers, requests } = await runApp(name);
        if (state !== 'ready' || text !== `ok 1400 ${2 << 20}`) throw new Error(text);
        if (!workers.has('cipherdrop-hash')) throw new Error(`the hash worker did not run: ${[...workers]}`);
        const full = await fullWasmPaths(name);
        const lite = await liteWasmPaths(name);
        if (!requests.some((p) => full.has(p))) throw new Error(`the full module was not fetched: ${requests}`);
        const fetched = requests.filter((p) => lite.has(p));
        if (fetched.length) throw new Error(`the lite module was fetched: ${fetched}`);
    });

    test(`${name}: an app of suite 0x0478 runs on the lite module and never fetches the full module`, async () => {
        const { state, text, requests } = await runApp(name, { search: '?lite' });
        if (state !== 'ready' || text !== `ok 1144 ${2 << 20}`) throw new Error(text);
        const full = await fullWasmPaths(name);
        const lite = await liteWasmPaths(name);
        if (!requests.some((p) => lite.has(p))) throw new Error(`the lite module was not fetched: ${requests}`);
        const fetched = requests.filter((p) => full.has(p));
        if (fetched.length) throw new Error(`the full module was fetched: ${fetched}`);
    });

    test(`${name}: without the lite module's .wasm a 0x0478 app fails with WASM_LOAD_FAILED naming it`, async () => {
        const lite = await liteWasmPaths(name);
        const { state, code, text } = await runApp(name, { search: '?lite', wasm404: (url) => lite.has(new URL(url).pathname) });
        if (state !== 'error' || code !== 'WASM_LOAD_FAILED') throw new Error(`${code}: ${text}`);
        const url = text.match(/^LoadError: cipherdrop: loading the WebAssembly module from (\S+) failed \(HTTP 404\)/)?.[1];
        if (!url || !lite.has(new URL(url).pathname) || !text.includes('copy cipherdrop_lite_bg.wasm')) throw new Error(text);
    });

    test(`${name}: the KMS module is fetched only when the app makes a KmsKeyring`, async () => {
        const kmsWasm = await kmsWasmPaths(name);
        const plain = await runApp(name);
        if (plain.state !== 'ready') throw new Error(plain.text);
        const fetched = plain.requests.filter((p) => kmsWasm.has(p) || p.includes('kms'));
        if (fetched.length) throw new Error(`fetched without a KMS keyring: ${fetched}`);
        const kms = await runApp(name, { search: '?kms' });
        if (kms.state !== 'ready' || kms.text !== `ok 1400 ${2 << 20} kms arn:aws:kms:eu-west-1:111122223333:key/bundler-app`) {
            throw new Error(kms.text);
        }
        if (!kms.requests.some((p) => kmsWasm.has(p))) throw new Error(`the KMS module was not fetched: ${kms.requests}`);
    });

    test(`${name}: without the KMS module's .wasm a KmsKeyring fails with WASM_LOAD_FAILED naming it`, async () => {
        const kmsWasm = await kmsWasmPaths(name);
        const { state, code, text } = await runApp(name, { search: '?kms', wasm404: (url) => kmsWasm.has(new URL(url).pathname) });
        if (state !== 'error' || code !== 'WASM_LOAD_FAILED') throw new Error(`${code}: ${text}`);
        const url = text.match(/^LoadError: cipherdrop: loading the WebAssembly module from (\S+) failed \(HTTP 404\)/)?.[1];
        if (!url || !kmsWasm.has(new URL(url).pathname) || !text.includes('copy cipherdrop_kms_bg.wasm')) throw new Error(text);
    });

    test(`${name}: without its .wasm the bundle fails with WASM_LOAD_FAILED naming the URL`, async () => {
        const { state, code, text } = await runApp(name, { wasm404: true });
        if (state !== 'error' || code !== 'WASM_LOAD_FAILED') throw new Error(`${code}: ${text}`);
        const url = new RegExp(`^LoadError: cipherdrop: loading the WebAssembly module from ${server.url}dist-${name}/\\S*\\.wasm failed \\(HTTP 404\\)`);
        if (!url.test(text) || !text.includes('init(url)')) throw new Error(text);
    });
}

test('vite: a minimal app (no KMS keyring) has no trace of the KMS module in its JS', async () => {
    // Vite writes every asset a bundled module names (the KMS module's .wasm among them), but
    // no JS of this app names it or the chunk that loads it, so its page can never fetch it.
    const { build } = await import(pathToFileURL(path.join(tools, 'node_modules/vite/dist/node/index.js')));
    const outDir = path.join(appRoot, 'dist-vite-minimal');
    await build({ root: appRoot, base: './', logLevel: 'warn',
        build: { outDir, emptyOutDir: true, rollupOptions: { input: path.join(appRoot, 'minimal.html') } } });
    const js = (await readdir(outDir, { recursive: true })).filter((f) => f.endsWith('.js'));
    if (!js.some((f) => f.startsWith('assets/minimal'))) throw new Error(`no minimal entry chunk: ${js}`);
    for (const f of js) {
        const text = await readFile(path.join(outDir, f), 'utf8');
        for (const name of ['cipherdrop_kms', 'kms-module', 'KmsSymmetricRules', 'TrentService']) {
            if (text.includes(name)) throw new Error(`${f} names ${name}`);
        }
    }
    // The same build of the full app (KmsKeyring) does name it: the check can fail.
    const full = (await readdir(path.join(appRoot, 'dist-vite'), { recursive: true })).filter((f) => f.endsWith('.js'));
    const texts = await Promise.all(full.map((f) => readFile(path.join(appRoot, 'dist-vite', f), 'utf8')));
    if (!texts.some((t) => t.includes('cipherdrop_kms_bg'))) throw new Error('the KMS app\'s bundle does not name the KMS module');
});
