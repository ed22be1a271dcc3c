// The tiny app of bundler-app/ built by each bundler the README covers (pinned in
// tests/bundlers/), from the installed package, and run in headless Chromium: Vite and webpack
// as is (they ship the .wasm and the worker from the package's `new URL(..., import.meta.url)`),
// esbuild and Rollup with the README's recipe (the worker as a second entry, the .wasm files
// copied beside the bundle). Each bundle must round-trip 2 MiB of the signed suite with the
// hash on the package's worker; with its .wasm answering 404 it must fail with a LoadError
// (WASM_LOAD_FAILED) naming the URL. The KMS module (cipherdrop_kms_bg.wasm) is fetched only
// once the app makes a KmsKeyring (`?kms`), and a minimal app's Vite build (minimal.js, no
// KMS keyring) names it nowhere in its JS. The app is built twice per bundler: on the default
// entry (main.js, `cipherdrop`), whose bundle has no lite message module at all (no copy of
// cipherdrop_lite_bg.wasm, no JS naming it) and whose pages, whatever they do first, fetch
// only the full one; and on `cipherdrop/lite` (lite-main.js), whose app of suite 0x0478 only
// (`?lite`) runs on the lite module and never fetches the full module's .wasm, and which
// fetches the full one when it meets a signed message, and decrypts it.
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
/** The README's .wasm files to copy beside the bundle, for each entry of the package. */
const FULL_WASM = ['cipherdrop_bg.wasm', 'cipherdrop_nosimd_bg.wasm', 'cipherdrop_kms_bg.wasm'];
const LITE_WASM = [...FULL_WASM, 'cipherdrop_lite_bg.wasm'];

/**
 * The two builds of the app: on the default entry (index.html, main.js) and on
 * `cipherdrop/lite` (lite.html, lite-main.js), each with the .wasm files the README copies.
 */
const APPS = {
    '': { page: 'index.html', chunk: 'main', wasm: FULL_WASM },
    '-lite': { page: 'lite.html', chunk: 'lite-main', wasm: LITE_WASM },
};

/** The README's "copy them beside the bundle", from the installed package. */
async function copyWasm(outDir, files) {
    const pkg = path.dirname(createRequire(entry).resolve('cipherdrop/package.json'));
    await Promise.all(files.map((f) => copyFile(path.join(pkg, f), path.join(outDir, f))));
}

/** Each bundler: `build(outDir, app)` writes the app (of APPS) to outDir, its page included. */
const BUNDLERS = {
    async vite(outDir, { page }) {
        const { build } = await import(pathToFileURL(path.join(tools, 'node_modules/vite/dist/node/index.js')));
        // Relative asset URLs: the test serves each bundle from a subdirectory.
        await build({ root: appRoot, base: './', logLevel: 'warn',
            build: { outDir, emptyOutDir: true, rollupOptions: { input: path.join(appRoot, page) } } });
    },
    async webpack(outDir, { page, chunk }) {
        const webpack = requireTool('webpack');
        const stats = await new Promise((resolve, reject) => webpack({
            mode: 'production', context: appRoot, entry: { [chunk]: `./${chunk}.js` },
            output: { path: outDir, filename: '[name].js' },
        }, (err, s) => (err ? reject(err) : resolve(s))));
        if (stats.hasErrors()) throw new Error(stats.toString('errors-only'));
        await copyFile(path.join(appRoot, page), path.join(outDir, page));
    },
    async esbuild(outDir, { page, chunk, wasm }) {
        const args = [`${chunk}=./${chunk}.js`, 'worker=cipherdrop/worker', '--bundle', '--format=esm', `--outdir=${outDir}`];
        const p = spawnSync(path.join(tools, 'node_modules/.bin/esbuild'), args, { cwd: appRoot, encoding: 'utf8' });
        if (p.status !== 0) throw new Error(`esbuild failed: ${p.stderr}`);
        await copyWasm(outDir, wasm);
        await copyFile(path.join(appRoot, page), path.join(outDir, page));
    },
    async rollup(outDir, { page, chunk, wasm }) {
        const { rollup } = requireTool('rollup');
        const { nodeResolve } = requireTool('@rollup/plugin-node-resolve');
        // The README's plugin: the .wasm files as assets beside the bundle.
        const cipherdropWasm = {
            name: 'cipherdrop-wasm',
            async buildStart() {
                for (const fileName of wasm) {
                    const { id } = await this.resolve(`cipherdrop/${fileName}`);
                    this.emitFile({ type: 'asset', fileName, source: await readFile(id) });
                }
            },
        };
        const bundle = await rollup({
            input: { [chunk]: path.join(appRoot, `${chunk}.js`), worker: 'cipherdrop/worker' },
            plugins: [nodeResolve({ browser: true, rootDir: appRoot }), cipherdropWasm],
        });
        await bundle.write({ dir: outDir, format: 'es', entryFileNames: '[name].js' });
        await bundle.close();
        await copyFile(path.join(appRoot, page), path.join(outDir, page));
    },
};

let browser;
let server;

before(async () => {
    const fixtures = JSON.parse(await readFile(new URL('./fixtures.json', import.meta.url), 'utf8'));
    const keys = JSON.stringify({ pkcs8: fixtures.keys[2048].pkcs8 });
    const messages = JSON.stringify(await appMessages(fixtures.keys[2048].pkcs8));
    for (const [name, build] of Object.entries(BUNDLERS)) {
        for (const [suffix, app] of Object.entries(APPS)) {
            const outDir = path.join(appRoot, `dist-${name}${suffix}`);
            await build(outDir, app);
            await writeFile(path.join(outDir, 'keys.json'), keys);
            await writeFile(path.join(outDir, 'messages.json'), messages);
        }
    }
    server = await serve(appRoot);
    browser = await launchChromium(repo);
});

after(async () => {
    await browser?.close();
    await server?.close();
});

/**
 * The messages of `?decrypt=ID` (base64 by suite ID): the app's 2 MiB under each suite, made
 * in Node with the installed package's default entry.
 */
async function appMessages(pkcs8) {
    const cd = await import('cipherdrop');
    const keyring = await cd.RawRsaKeyring.fromPem({ keyNamespace: 'bundler', keyName: 'app', privateKey: pkcs8 });
    const data = new Uint8Array(2 << 20).map((_, i) => i * 7);
    const messages = {};
    for (const suite of Object.values(cd.AlgorithmSuite)) {
        const { result } = await cd.encrypt(keyring, data, { suite, frameLength: 4096 });
        messages[suite] = Buffer.from(result).toString('base64');
    }
    return messages;
}

/**
 * The URL paths of a bundle's copies of the package's `files` (.wasm), found by their bytes
 * (webpack names its assets by hash); with `{ none: true }`, an empty set, and an error if
 * the bundle has a copy.
 */
async function wasmPaths(name, files, { none = false } = {}) {
    const pkg = path.dirname(createRequire(entry).resolve('cipherdrop/package.json'));
    const dir = path.join(appRoot, `dist-${name}`);
    const paths = new Set();
    for (const file of files) {
        const bytes = await readFile(path.join(pkg, file));
        const before = paths.size;
        for (const f of await readdir(dir, { recursive: true })) {
            if (f.endsWith('.wasm') && bytes.equals(await readFile(path.join(dir, f)))) paths.add(`/dist-${name}/${f}`);
        }
        if (none && paths.size) throw new Error(`dist-${name} has a copy of ${file}: ${[...paths]}`);
        if (!none && paths.size === before) throw new Error(`dist-${name} has no copy of ${file}`);
    }
    return paths;
}
const kmsWasmPaths = (name) => wasmPaths(name, ['cipherdrop_kms_bg.wasm']);
const fullWasmPaths = (name) => wasmPaths(name, ['cipherdrop_bg.wasm', 'cipherdrop_nosimd_bg.wasm']);
const liteWasmPaths = (name) => wasmPaths(name, ['cipherdrop_lite_bg.wasm']);

/**
 * The default entry's bundle `name` has no lite module: no copy of its .wasm, no JS with its
 * loader or a string naming its files (comments kept by a bundler may name them).
 */
async function hasNoLiteModule(name) {
    await wasmPaths(name, ['cipherdrop_lite_bg.wasm'], { none: true });
    const dir = path.join(appRoot, `dist-${name}`);
    for (const f of (await readdir(dir, { recursive: true })).filter((x) => x.endsWith('.js'))) {
        const text = await readFile(path.join(dir, f), 'utf8');
        const found = text.match(/loadLite|['"`][^'"`\n]*(cipherdrop_lite|lite-module)[^'"`\n]*['"`]/)?.[0];
        if (found) throw new Error(`dist-${name}/${f} has ${found}`);
    }
}

/**
 * Opens a bundle's page (`search`: its query string); resolves to the app's `#out` (state,
 * code, text), the names of the package's workers whose script ran and the paths the page
 * requested. `wasm404`: every .wasm request (for which `wasm404(url)` is true, if a
 * function) answers 404.
 */
async function runApp(name, { wasm404 = false, search = '' } = {}) {
    const { page: file } = APPS[name.endsWith('-lite') ? '-lite' : ''];
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
        await page.goto(new URL(`dist-${name}/${file}${search}`, server.url).href);
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
    test(`${name}: the default entry's bundle round-trips the signed suite in Chromium, hashing on the worker, on the full module only`, async () => {
        const { state, text, workers, requests } = await runApp(name);
        if (state !== 'ready' || text !== `ok 1400 ${2 << 20}`) throw new Error(text);
        if (!workers.has('cipherdrop-hash')) throw new Error(`the hash worker did not run: ${[...workers]}`);
        const full = await fullWasmPaths(name);
        if (!requests.some((p) => full.has(p))) throw new Error(`the full module was not fetched: ${requests}`);
    });

    test(`${name}: the default entry's bundle has no lite module, and its apps of 0x0478 (encrypt or decrypt first) run on the full one`, async () => {
        await hasNoLiteModule(name);
        const full = await fullWasmPaths(name);
        for (const [search, suite] of [['?lite', 1144], ['?decrypt=1144', 1144], ['?decrypt=1400', 1400]]) {
            const { state, text, requests } = await runApp(name, { search });
            if (state !== 'ready' || text !== `ok ${suite} ${2 << 20}`) throw new Error(`${search}: ${text}`);
            if (!requests.some((p) => full.has(p))) throw new Error(`${search}: the full module was not fetched: ${requests}`);
            const lite = requests.filter((p) => p.includes('lite'));
            if (lite.length) throw new Error(`${search}: fetched ${lite}`);
        }
    });

    test(`${name}: a cipherdrop/lite app of suite 0x0478 runs on the lite module and never fetches the full module`, async () => {
        const full = await fullWasmPaths(`${name}-lite`);
        const lite = await liteWasmPaths(`${name}-lite`);
        for (const search of ['?lite', '?decrypt=1144']) {
            const { state, text, requests } = await runApp(`${name}-lite`, { search });
            if (state !== 'ready' || text !== `ok 1144 ${2 << 20}`) throw new Error(`${search}: ${text}`);
            if (!requests.some((p) => lite.has(p))) throw new Error(`${search}: the lite module was not fetched: ${requests}`);
            const fetched = requests.filter((p) => full.has(p));
            if (fetched.length) throw new Error(`${search}: the full module was fetched: ${fetched}`);
        }
    });

    test(`${name}: a cipherdrop/lite app fetches the full module for a signed message and decrypts it (and encrypts the default suite)`, async () => {
        const full = await fullWasmPaths(`${name}-lite`);
        const lite = await liteWasmPaths(`${name}-lite`);
        const signed = await runApp(`${name}-lite`, { search: '?decrypt=1400' });
        if (signed.state !== 'ready' || signed.text !== `ok 1400 ${2 << 20}`) throw new Error(signed.text);
        // It started on the lite module, which refused the suite after the header.
        if (!signed.requests.some((p) => lite.has(p))) throw new Error(`the lite module was not fetched: ${signed.requests}`);
        if (!signed.requests.some((p) => full.has(p))) throw new Error(`the full module was not fetched: ${signed.requests}`);
        const { state, text, workers, requests } = await runApp(`${name}-lite`);
        if (state !== 'ready' || text !== `ok 1400 ${2 << 20}`) throw new Error(text);
        if (!workers.has('cipherdrop-hash')) throw new Error(`the hash worker did not run: ${[...workers]}`);
        if (!requests.some((p) => full.has(p))) throw new Error(`the full module was not fetched: ${requests}`);
    });

    test(`${name}: without the lite module's .wasm a cipherdrop/lite app of 0x0478 fails with WASM_LOAD_FAILED naming it`, async () => {
        const lite = await liteWasmPaths(`${name}-lite`);
        const { state, code, text } = await runApp(`${name}-lite`,
            { search: '?lite', wasm404: (url) => lite.has(new URL(url).pathname) });
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
