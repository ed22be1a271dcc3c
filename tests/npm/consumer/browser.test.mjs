// The shared cases (cases.js) in a browser engine, CIPHERDROP_ENGINE (chromium, firefox or
// webkit; engines.mjs; default chromium), against the package installed from the packed .tgz and
// loaded by a plain <script type="module"> (page.html, with an import map; and plain.html,
// importing the file by path); the cases that need the test hooks against the test build of the
// package (`cipherdrop-test-hooks`) on the same page. @aws-crypto/client-node stays in Node: the
// page POSTs to the test server for it.
import { readFile } from 'node:fs/promises';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { allCases, hookCases } from './cases.js';
import { launch } from './engines.mjs';
import { officialDecrypt } from './fixtures.mjs';
import { serve } from './server.mjs';

const repo = process.env.CIPHERDROP_REPO;
const engine = process.env.CIPHERDROP_ENGINE || 'chromium';
const root = fileURLToPath(new URL('.', import.meta.url));
const fixtures = JSON.parse(await readFile(new URL('./fixtures.json', import.meta.url), 'utf8'));

let server;
let browser;
let page;

/**
 * Waits in the page until `selector`'s data-state leaves 'loading' (a module script sets it after
 * its top-level awaits, which the load event does not wait for); `{ state, text }`.
 */
function settled(tab, selector) {
    return tab.evaluate(async (sel) => {
        for (const end = Date.now() + 60_000; Date.now() < end;) {
            const el = document.querySelector(sel);
            if (el && el.dataset.state !== 'loading') return { state: el.dataset.state, text: el.textContent };
            await new Promise((resolve) => setTimeout(resolve, 50));
        }
        return { state: 'loading', text: `${sel} still loading after 60 s` };
    }, selector);
}

before(async () => {
    server = await serve(root, {
        async '/official-decrypt'({ message, bits, oaep }) {
            const r = await officialDecrypt(repo, { message: Buffer.from(message, 'base64'), bits, oaep });
            return { ...r, plaintext: Buffer.from(r.plaintext).toString('base64') };
        },
    });
    browser = await launch(engine, repo);
    page = await browser.open(new URL('page.html', server.url).href);
    const { state, text } = await settled(page, 'body');
    if (state !== 'ready') throw new Error(`page.html: ${text}`);
});

after(async () => {
    await browser?.close();
    await server?.close();
});

test(`${engine}: the page lists the same cases as Node`, async () => {
    const names = await page.evaluate(() => window.caseNames);
    const expected = [...allCases(fixtures), ...hookCases()].map((c) => c.name);
    if (JSON.stringify(names) !== JSON.stringify(expected)) throw new Error('case lists differ');
});

for (const { name } of [...allCases(fixtures), ...hookCases()]) {
    test(`${engine}: ${name}`, async () => {
        const result = await page.evaluate((n) => window.runCase(n), name);
        if (!result.ok) throw new Error(result.error);
    });
}

test(`${engine}: a plain module script without an import map`, async () => {
    const plain = await browser.open(new URL('plain.html', server.url).href);
    try {
        const { state, text } = await settled(plain, '#out');
        if (state !== 'ready') throw new Error(text);
        if (text !== `hello from a plain page (${process.env.CIPHERDROP_VERSION ?? '0.1.0'})`) throw new Error(text);
    } finally {
        await plain.close();
    }
});

// Issue 17, finding 1: a worker that cannot load left signed messages hanging. Every case
// (both suites; Blob and stream input; workers by default and forced) must settle: where the
// worker cannot start, on the page, with success; where it dies mid-message, with success (the
// pool's frames go on in the page) or a coded error (a hash cannot go back to the page).
for (const [fault, what, outcomes] of [
    ['no-worker', 'the worker script 404s', ['ok']],
    ['csp', 'a CSP forbids workers', ['ok']],
    ['dying', 'workers die mid-message', ['ok', 'code WORKER_FAILED']],
]) {
    test(`${engine}: ${what}: every case settles`, { timeout: 600_000 }, async () => {
        const broken = await browser.open(new URL(`${fault}/workers.html`, server.url).href);
        try {
            const { state, text } = await settled(broken, 'body');
            if (state !== 'ready') throw new Error(`${fault}/workers.html: ${text}`);
            const bad = (await broken.evaluate(() => window.runAll())).filter((o) => !outcomes.includes(o.outcome));
            if (bad.length) throw new Error(bad.map((o) => `${o.name}: ${o.outcome}`).join('\n'));
        } finally {
            await broken.close();
        }
    });
}

test(`${engine}: no page errors`, async () => {
    const errors = await page.evaluate(() => window.pageErrors);
    if (errors.length) throw new Error(errors.join('\n'));
});
