// A Vite build (vite from tests/vite/) of a tiny app that imports 'cipherdrop' from the
// installed package, loaded in headless Chromium: the bundler must ship the .wasm as an
// asset (the package's `new URL('./cipherdrop_bg.wasm', import.meta.url)`) and the app must
// round-trip a Blob through encrypt/decrypt.
import { readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';

import { launchChromium, serve } from './server.mjs';

const repo = process.env.CIPHERDROP_REPO;
const appRoot = fileURLToPath(new URL('./vite-app/', import.meta.url));
const outDir = path.join(appRoot, 'dist');
let browser;
let server;
let assets = [];

before(async () => {
    const { build } = await import(pathToFileURL(path.join(repo, 'tests/vite/node_modules/vite/dist/node/index.js')));
    await build({ root: appRoot, logLevel: 'warn', build: { outDir, emptyOutDir: true } });
    const fixtures = JSON.parse(await readFile(new URL('./fixtures.json', import.meta.url), 'utf8'));
    await writeFile(path.join(outDir, 'keys.json'), JSON.stringify({ pkcs8: fixtures.keys[2048].pkcs8 }));
    assets = await readdir(path.join(outDir, 'assets'));
    server = await serve(outDir);
    browser = await launchChromium(repo);
});

after(async () => {
    await browser?.close();
    await server?.close();
});

test('vite: the build ships the wasm module as an asset', () => {
    if (!assets.some((f) => f.endsWith('.wasm'))) throw new Error(`no .wasm in dist/assets: ${assets}`);
    if (!assets.some((f) => f.endsWith('.js'))) throw new Error(`no .js in dist/assets: ${assets}`);
});

test('vite: the built app round-trips in Chromium', async () => {
    const page = await browser.newPage();
    const errors = [];
    page.on('pageerror', (err) => errors.push(String(err)));
    await page.goto(new URL('index.html', server.url).href);
    const out = page.locator('#out:not([data-state="loading"])');
    await out.waitFor({ timeout: 60_000 });
    const text = await out.textContent();
    if ((await out.getAttribute('data-state')) !== 'ready') throw new Error(text);
    if (text !== 'ok 1400 160000') throw new Error(text);
    if (errors.length) throw new Error(errors.join('\n'));
    await page.close();
});
