// Streams 512 MiB (generated on the fly) through encryptStream and decryptStream in headless
// Chromium and checks that the JS heap plus the wasm memory stay under 64 MiB above the
// baseline (performance.memory with --enable-precise-memory-info, sampled every 8 MiB, and
// the wasm memory's buffer size). The renderer's resident memory (/proc) is reported too
// (ArrayBuffer contents live outside the JS heap) and must stay under 256 MiB above baseline.
import { readFile } from 'node:fs/promises';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { launchChromium, serve } from './server.mjs';

const repo = process.env.CIPHERDROP_REPO;
const root = fileURLToPath(new URL('.', import.meta.url));
const MiB = 1 << 20;
const TOTAL_MiB = Number(process.env.CIPHERDROP_MEMORY_TEST_MIB ?? 512);
const LIMIT_MiB = 64;
const RSS_LIMIT_MiB = 256;

let server;
let browser;

before(async () => {
    server = await serve(root);
    browser = await launchChromium(repo, ['--js-flags=--expose-gc', '--enable-precise-memory-info']);
});

after(async () => {
    await browser?.close();
    await server?.close();
});

async function rendererPids() {
    const cdp = await browser.newBrowserCDPSession();
    const { processInfo } = await cdp.send('SystemInfo.getProcessInfo');
    await cdp.detach();
    return processInfo.filter((p) => p.type === 'renderer').map((p) => p.id);
}

async function rssBytes(pids) {
    let total = 0;
    for (const pid of pids) {
        try {
            const status = await readFile(`/proc/${pid}/status`, 'utf8');
            total += Number(/VmRSS:\s+(\d+) kB/.exec(status)[1]) * 1024;
        } catch {
            // the process is gone
        }
    }
    return total;
}

for (const suite of [0x0578]) {
    test(`memory: ${TOTAL_MiB} MiB through encryptStream and decryptStream (suite 0x0${suite.toString(16)})`, async () => {
        const page = await browser.newPage();
        const errors = [];
        page.on('pageerror', (err) => errors.push(String(err)));
        await page.goto(new URL('memory.html', server.url).href);
        await page.waitForSelector('body[data-state="ready"]', { state: 'attached', timeout: 60_000 });
        const pids = await rendererPids();
        const rssBase = await rssBytes(pids);
        let rssPeak = rssBase;
        const timer = setInterval(async () => {
            rssPeak = Math.max(rssPeak, await rssBytes(pids));
        }, 250);
        let r;
        try {
            r = await page.evaluate((args) => window.runStream(args), {
                totalMiB: TOTAL_MiB, chunkMiB: 1, frameLength: 65536, suite, sampleMiB: 8,
            });
        } finally {
            clearInterval(timer);
        }
        const rssDelta = (rssPeak - rssBase) / MiB;
        console.log(`memory: ${JSON.stringify({ ...r, rssBaselineMiB: rssBase / MiB, rssPeakAboveBaselineMiB: rssDelta })}`);
        await page.close();
        if (errors.length) throw new Error(errors.join('\n'));
        if (r.received !== TOTAL_MiB * MiB) throw new Error(`received ${r.received} bytes`);
        if (r.mismatch >= 0) throw new Error(`plaintext differs at byte ${r.mismatch}`);
        if (r.provisionalAtEnd) throw new Error('still provisional after the stream closed');
        if (!(r.peakAboveBaselineMiB < LIMIT_MiB)) {
            throw new Error(`JS heap + wasm memory peaked ${r.peakAboveBaselineMiB.toFixed(1)} MiB above baseline (limit ${LIMIT_MiB})`);
        }
        if (!(rssDelta < RSS_LIMIT_MiB)) {
            throw new Error(`renderer RSS peaked ${rssDelta.toFixed(1)} MiB above baseline (limit ${RSS_LIMIT_MiB})`);
        }
    });
}
