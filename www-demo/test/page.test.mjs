// The demo page in headless Chromium (Debian's, driven by playwright-core from tools/):
// it loads the wasm module and shows its version. Leaves a screenshot in build/demo.png.
import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { createDemoServer } from '../../scripts/serve-demo.mjs';

const { chromium } = createRequire(new URL('../../tools/package.json', import.meta.url))('playwright-core');
const SCREENSHOT = fileURLToPath(new URL('../../build/demo.png', import.meta.url));

let server;
let browser;
let baseUrl;

before(async () => {
    server = createDemoServer();
    await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
    baseUrl = `http://127.0.0.1:${server.address().port}/`;
    browser = await chromium.launch({
        executablePath: '/usr/bin/chromium',
        args: [
            '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-quic',
            '--no-first-run', '--disable-background-networking', '--disable-component-update',
            '--disable-sync',
        ],
    });
});

after(async () => {
    await browser?.close();
    server?.closeAllConnections();
    await new Promise((resolve) => (server ? server.close(resolve) : resolve()));
});

test('serves the wasm module as application/wasm', async () => {
    const res = await fetch(new URL('pkg/cipherdrop_bg.wasm', baseUrl));
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'application/wasm');
    const bytes = new Uint8Array(await res.arrayBuffer());
    assert.deepEqual([...bytes.subarray(0, 4)], [0x00, 0x61, 0x73, 0x6d]);
});

test('does not serve files outside its folders', async () => {
    const res = await fetch(new URL('pkg/..%2f..%2fCargo.toml', baseUrl));
    assert.equal(res.status, 404);
});

test('the page shows the module version', async () => {
    const cargoVersion = process.env.CIPHERDROP_VERSION;
    assert.ok(cargoVersion, 'CIPHERDROP_VERSION is not set: run through `make test`');
    const page = await browser.newPage({ viewport: { width: 900, height: 500 } });
    const errors = [];
    page.on('pageerror', (err) => errors.push(String(err)));
    page.on('console', (msg) => msg.type() === 'error' && errors.push(msg.text()));

    await page.goto(baseUrl);
    const output = page.locator('#version:not([data-state="loading"])');
    await output.waitFor({ timeout: 60_000 });
    const text = await output.textContent();
    await mkdir(new URL('../../build/', import.meta.url), { recursive: true });
    await page.screenshot({ path: SCREENSHOT });

    assert.deepEqual(errors, []);
    assert.equal(await output.getAttribute('data-state'), 'ready', text);
    assert.equal(text, `cipherdrop ${cargoVersion}`);
    await page.close();
});
