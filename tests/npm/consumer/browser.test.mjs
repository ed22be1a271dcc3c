// The shared cases (cases.js) in headless Chromium, against the package installed from the
// packed .tgz and loaded by a plain <script type="module"> (page.html, with an import map; and
// plain.html, importing the file by path); the cases that need the test hooks against the
// test build of the package (`cipherdrop-test-hooks`) on the same page. @aws-crypto/client-node stays in Node: the page
// calls it through page.exposeFunction.
import { readFile } from 'node:fs/promises';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { allCases, hookCases } from './cases.js';
import { officialDecrypt } from './fixtures.mjs';
import { launchChromium, serve } from './server.mjs';

const repo = process.env.CIPHERDROP_REPO;
const root = fileURLToPath(new URL('.', import.meta.url));
const fixtures = JSON.parse(await readFile(new URL('./fixtures.json', import.meta.url), 'utf8'));

let server;
let browser;
let page;
const pageErrors = [];

before(async () => {
    server = await serve(root);
    browser = await launchChromium(repo);
    page = await browser.newPage();
    page.on('pageerror', (err) => pageErrors.push(String(err)));
    page.on('console', (msg) => msg.type() === 'error' && pageErrors.push(msg.text()));
    await page.exposeFunction('officialDecryptBase64', async ({ message, bits, oaep }) => {
        const r = await officialDecrypt(repo, { message: Buffer.from(message, 'base64'), bits, oaep });
        return { ...r, plaintext: Buffer.from(r.plaintext).toString('base64') };
    });
    await page.goto(new URL('page.html', server.url).href);
    await page.waitForSelector('body[data-state="ready"]', { state: 'attached', timeout: 60_000 });
});

after(async () => {
    await browser?.close();
    await server?.close();
});

test('the page lists the same cases as Node', async () => {
    const names = await page.evaluate(() => window.caseNames);
    const expected = [...allCases(fixtures), ...hookCases()].map((c) => c.name);
    if (JSON.stringify(names) !== JSON.stringify(expected)) throw new Error('case lists differ');
});

for (const { name } of [...allCases(fixtures), ...hookCases()]) {
    test(`chromium: ${name}`, async () => {
        const result = await page.evaluate((n) => window.runCase(n), name);
        if (!result.ok) throw new Error(result.error);
    });
}

test('chromium: a plain module script without an import map', async () => {
    const plain = await browser.newPage();
    await plain.goto(new URL('plain.html', server.url).href);
    const out = plain.locator('#out:not([data-state="loading"])');
    await out.waitFor({ timeout: 60_000 });
    const text = await out.textContent();
    if ((await out.getAttribute('data-state')) !== 'ready') throw new Error(text);
    if (text !== `hello from a plain page (${process.env.CIPHERDROP_VERSION ?? '0.1.0'})`) throw new Error(text);
    await plain.close();
});

// Issue 17, finding 1: a worker that cannot load left signed messages hanging. Every case
// (both suites; Blob and stream input; workers by default and forced) must settle: where the
// worker cannot start, on the page, with success; where it dies mid-message, with success (the
// pool's frames go on in the page) or a coded error (a hash cannot go back to the page).
for (const [fault, what, settled] of [
    ['no-worker', 'the worker script 404s', ['ok']],
    ['csp', 'a CSP forbids workers', ['ok']],
    ['dying', 'workers die mid-message', ['ok', 'code WORKER_FAILED']],
]) {
    test(`chromium: ${what}: every case settles`, { timeout: 600_000 }, async () => {
        const broken = await browser.newPage();
        try {
            await broken.goto(new URL(`${fault}/workers.html`, server.url).href);
            await broken.waitForSelector('body[data-state="ready"]', { state: 'attached', timeout: 60_000 });
            const outcomes = await broken.evaluate(() => window.runAll());
            const bad = outcomes.filter((o) => !settled.includes(o.outcome));
            if (bad.length) throw new Error(bad.map((o) => `${o.name}: ${o.outcome}`).join('\n'));
        } finally {
            await broken.close();
        }
    });
}

test('chromium: no page errors', () => {
    if (pageErrors.length) throw new Error(pageErrors.join('\n'));
});
