// The archive demo end to end: a real `target/debug/cipherdrop demo` (key server, archive store
// and the built page, www-demo/dist) on a free loopback port with a temporary data directory,
// driven by playwright-core in Debian's Chromium. The tests run in order and share one page:
// upload as alice, download and compare, inspect what the server stored, recover one object
// with the official Python SDK and the escrow key, switch to bob, disable and enable the key,
// tamper with an object, break the network, fail a large download part-way, save through the
// chunk fallback and through the File System Access API (a stubbed picker, an OPFS file),
// cancel an upload; then a phone-width check and the full-page screenshot build/demo.png (also
// build/demo-bob.png and build/demo-phone.png); last, a 1 GiB file uploaded and downloaded in
// a fresh context, its SHA-256 and peak memory checked (skipped in S3 mode).
// Downloads go through the page's service worker (the test removes showSaveFilePicker).
//
// The archive is the default file store under DATA/archive, or with CIPHERDROP_DEMO_ARCHIVE=s3
// a real S3-compatible server: moto (build/venv/bin/moto_server) on a free loopback port, the
// demo started with --archive-url s3://BUCKET/demo and the usual AWS environment. The steps
// that look at what the server stored go through `storage` (file or S3, via www-demo/test/s3.py
// and boto3), so both modes make the same assertions. Screenshots in S3 mode:
// build/demo-s3{,-bob,-phone}.png.
//
// Needs: the page built (www-demo/dist), the package it was built from (build/pkg), the CLI
// (cargo build -p cipherdrop-server) and build/venv with aws_encryption_sdk (and moto, boto3
// for S3 mode); `make test` (scripts/test.sh) builds them first.
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CLI = path.join(ROOT, 'target/debug/cipherdrop');
const PYTHON = path.join(ROOT, 'build/venv/bin/python');
const MODE = process.env.CIPHERDROP_DEMO_ARCHIVE || 'file';
if (!['file', 's3'].includes(MODE))
    throw new Error(`CIPHERDROP_DEMO_ARCHIVE must be file or s3, not ${MODE}`);
const SHOT = MODE === 's3' ? 'build/demo-s3' : 'build/demo';
const SCREENSHOT = path.join(ROOT, `${SHOT}.png`);
const PHONE_SCREENSHOT = path.join(ROOT, `${SHOT}-phone.png`);
const BOB_SCREENSHOT = path.join(ROOT, `${SHOT}-bob.png`);
const MOTO = path.join(ROOT, 'build/venv/bin/moto_server');
const S3_HELPER = path.join(ROOT, 'www-demo/test/s3.py');
const BUCKET = 'cipherdrop-demo';
const S3_PREFIX = 'demo';
const { chromium } = createRequire(path.join(ROOT, 'tools/package.json'))('playwright-core');
const run = promisify(execFile);

const MiB = 1 << 20;
/** Long steps: a 64 MiB encrypt + upload in wasm on a busy 2-core machine. */
const SLOW = { timeout: 10 * 60_000 };

let work; // temporary directory: data dir, originals, downloads
let dataDir;
let server; // the cipherdrop demo process
let serverLog = '';
let moto; // S3 mode: the moto server process
let motoLog = '';
let serverEnv = process.env; // S3 mode: plus the AWS variables of the moto endpoint
let storage; // where the archive keeps its objects: FileStorage or S3Storage
let baseUrl;
let browser;
let page;
let pageErrors = [];
const downloads = []; // every download event, to check that refusals saved nothing
/** The originals: name shown in the page (relative path) → { file, sha256, bytes } */
const originals = new Map();
/** Object ID → name, read from the page's archive list. */
const objectNames = new Map();

const sha256 = (bytes) => createHash('sha256').update(bytes).digest('hex');

async function addOriginal(name, bytes) {
    const file = path.join(work, 'originals', name);
    await mkdir(path.dirname(file), { recursive: true });
    await writeFile(file, bytes);
    originals.set(name, { file, bytes, sha256: sha256(bytes) });
}

function textFile(title, lines) {
    const out = [];
    for (let i = 0; i < lines; i += 1) {
        out.push(`${title} line ${i}: the archive must never see this sentence in the clear.`);
    }
    return Buffer.from(out.join('\n'));
}

/**
 * The archive's objects in the file store (DATA/archive): keys are paths under the root,
 * `objects/ID/data`, `objects/ID/meta`, `uploads/ID/NNNNNNNN`.
 */
class FileStorage {
    constructor(root) {
        this.root = root;
    }

    /** Every key under PREFIX (a directory, ending in '/'), sorted; [] if there is none. */
    async keys(prefix) {
        const out = [];
        const walk = async (dir, key) => {
            let entries;
            try {
                entries = await readdir(dir, { withFileTypes: true });
            } catch (e) {
                if (e.code === 'ENOENT') return;
                throw e;
            }
            for (const entry of entries) {
                if (entry.isDirectory())
                    await walk(path.join(dir, entry.name), `${key}${entry.name}/`);
                else out.push(`${key}${entry.name}`);
            }
        };
        await walk(path.join(this.root, prefix), prefix);
        return out.sort();
    }

    read(key) {
        return readFile(path.join(this.root, key));
    }

    write(key, bytes) {
        return writeFile(path.join(this.root, key), bytes);
    }

    /** A local file holding the object's bytes. */
    async file(key) {
        return path.join(this.root, key);
    }
}

/** The archive's objects in S3 (moto) under s3://BUCKET/PREFIX/, through s3.py and boto3. */
class S3Storage {
    constructor(bucket, prefix) {
        this.bucket = bucket;
        this.prefix = prefix;
        this.copies = 0;
    }

    async helper(...args) {
        const { stdout } = await run(PYTHON, [S3_HELPER, ...args], {
            env: serverEnv,
            maxBuffer: 16 * MiB,
        });
        return stdout;
    }

    async keys(prefix) {
        const full = `${this.prefix}/${prefix}`;
        const keys = JSON.parse(await this.helper('list', this.bucket, full));
        return keys.map((k) => k.slice(this.prefix.length + 1)).sort();
    }

    async read(key) {
        return readFile(await this.file(key));
    }

    async write(key, bytes) {
        const file = path.join(work, 's3-copies', `put-${(this.copies += 1)}`);
        await writeFile(file, bytes);
        await this.helper('put', this.bucket, `${this.prefix}/${key}`, file);
    }

    /** A local file holding the object's bytes (a fresh copy). */
    async file(key) {
        const file = path.join(work, 's3-copies', `get-${(this.copies += 1)}`);
        await this.helper('get', this.bucket, `${this.prefix}/${key}`, file);
        return file;
    }
}

/** A free loopback port (listen on port 0, note the port, close). */
function freePort() {
    return new Promise((resolve, reject) => {
        const probe = createServer();
        probe.on('error', reject);
        probe.listen(0, '127.0.0.1', () => {
            const { port } = probe.address();
            probe.close(() => resolve(port));
        });
    });
}

/** S3 mode: starts moto on a free port, waits until it answers, creates the bucket. */
async function startMoto() {
    const port = await freePort();
    const endpoint = `http://127.0.0.1:${port}`;
    moto = spawn(MOTO, ['-H', '127.0.0.1', '-p', String(port)], {
        stdio: ['ignore', 'pipe', 'pipe'],
    });
    const keep = (d) => {
        motoLog = (motoLog + d).slice(-4 * MiB);
    };
    moto.stdout.on('data', keep);
    moto.stderr.on('data', keep);
    let exited = null;
    moto.on('exit', (code) => {
        exited = code;
    });
    const deadline = Date.now() + 60_000;
    for (;;) {
        if (exited !== null) throw new Error(`moto_server exited (${exited}): ${motoLog}`);
        try {
            await fetch(`${endpoint}/`);
            break;
        } catch {
            if (Date.now() > deadline) throw new Error(`moto_server never answered: ${motoLog}`);
            await new Promise((r) => setTimeout(r, 200));
        }
    }
    serverEnv = {
        ...process.env,
        AWS_ACCESS_KEY_ID: 'test',
        AWS_SECRET_ACCESS_KEY: 'test',
        AWS_REGION: 'us-east-1',
        AWS_ENDPOINT_URL: endpoint,
        AWS_ALLOW_HTTP: 'true',
    };
    await mkdir(path.join(work, 's3-copies'));
    storage = new S3Storage(BUCKET, S3_PREFIX);
    await storage.helper('create-bucket', BUCKET);
}

/** Starts `cipherdrop demo` on 127.0.0.1:0 and resolves with its URL. */
function startDemo() {
    return new Promise((resolve, reject) => {
        const archive = MODE === 's3' ? ['--archive-url', `s3://${BUCKET}/${S3_PREFIX}`] : [];
        server = spawn(
            CLI,
            [
                'demo',
                '--data-dir',
                dataDir,
                '--listen',
                '127.0.0.1:0',
                '--static-dir',
                path.join(ROOT, 'www-demo/dist'),
                ...archive,
            ],
            { stdio: ['ignore', 'pipe', 'pipe'], env: serverEnv },
        );
        let out = '';
        server.stdout.on('data', (d) => {
            out += d;
            const match = /on (http:\/\/\S+)/.exec(out);
            if (match) resolve(`${match[1]}/`);
        });
        server.stderr.on('data', (d) => {
            serverLog = (serverLog + d).slice(-4 * MiB);
        });
        server.on('exit', (code) =>
            reject(new Error(`cipherdrop demo exited (${code}): ${serverLog.slice(-2000)}`)),
        );
        server.on('error', reject);
    });
}

/** Runs the CLI as the admin against the demo server; resolves with its parsed JSON output. */
async function admin(...args) {
    const token = (await readFile(path.join(dataDir, 'admin-token'), 'utf8')).trim();
    const { stdout } = await run(CLI, args, {
        env: {
            ...process.env,
            CIPHERDROP_ADDR: baseUrl.replace(/\/$/, ''),
            CIPHERDROP_TOKEN: token,
        },
        maxBuffer: 64 * MiB,
    });
    return JSON.parse(stdout);
}

/** Every audit record, page by page (each listing is itself audited: stop at a short page). */
async function auditRecords() {
    const records = [];
    for (;;) {
        const after = records.length ? records.at(-1).seq : 0;
        const page = (await admin('audit', 'list', '--after', String(after), '--limit', '1000'))
            .records;
        records.push(...page);
        if (page.length < 1000) return records;
    }
}

/** The stored objects (`objects/ID/PART`): [{ id, part, key }] */
async function storedFiles() {
    return (await storage.keys('objects/')).map((key) => {
        const [, id, part, ...rest] = key.split('/');
        assert.equal(rest.length, 0, `unexpected stored key ${key}`);
        return { id, part, key };
    });
}

/** Staged upload parts (`uploads/ID/NNNNNNNN`) left in the archive: must be none when idle. */
async function assertNoStagedParts() {
    let staged;
    // A cancelled part may still be landing while its session is aborted: allow a moment.
    for (let i = 0; i < 20; i += 1) {
        staged = await storage.keys('uploads/');
        if (staged.length === 0) return;
        await new Promise((r) => setTimeout(r, 250));
    }
    assert.deepEqual(staged, [], 'staged upload parts remain after the uploads finished');
}

const escapeRe = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const item = (name) =>
    page
        .getByTestId('archive-item')
        .filter({
            has: page
                .getByTestId('item-name')
                .filter({ hasText: new RegExp(`^${escapeRe(name)}$`) }),
        });

/** Clicks the item's download button and resolves with the saved file's bytes. */
async function downloadItem(name) {
    const entry = item(name);
    const [download] = await Promise.all([
        page.waitForEvent('download', { timeout: 5 * 60_000 }),
        entry.getByTestId('download').click(),
    ]);
    assert.equal(download.suggestedFilename(), path.basename(name));
    const saved = path.join(work, 'downloads', `${downloads.length}-${path.basename(name)}`);
    await download.saveAs(saved);
    await assertDownloadIdle(entry);
    assert.equal(await entry.getAttribute('data-download'), 'done');
    assert.equal(await entry.getAttribute('data-saved'), 'download', 'saved through the worker');
    return readFile(saved);
}

async function assertDownloadIdle(entry) {
    await page.waitForFunction(
        (el) => el.dataset.download !== 'running',
        await entry.elementHandle(),
    );
}

/** Clicks download, expects an error in the item (and no download); resolves with its text. */
async function downloadFails(name, { byId } = {}) {
    const entry = byId
        ? page.locator(`[data-testid="archive-item"][data-id="${byId}"]`)
        : item(name);
    const before = downloads.length;
    await entry.getByTestId('download').click();
    const error = entry.getByTestId('error');
    await error.waitFor({ state: 'visible', timeout: 60_000 });
    await assertDownloadIdle(entry);
    await page.waitForTimeout(300); // a (wrong) download would fire by now
    assert.equal(downloads.length, before, 'a refused download must save nothing');
    return error.textContent();
}

async function waitForUploads(count) {
    await page.waitForFunction(
        (n) => {
            const rows = [...document.querySelectorAll('.upload')];
            return (
                rows.length >= n &&
                rows.every((r) => ['done', 'error', 'cancelled'].includes(r.dataset.state))
            );
        },
        count,
        { timeout: 8 * 60_000, polling: 250 },
    );
}

async function waitForItems(count, openable) {
    await page.waitForFunction(
        ([n, open]) => {
            const items = [...document.querySelectorAll('[data-testid="archive-item"]')];
            return items.length === n && items.every((i) => i.dataset.openable === open);
        },
        [count, String(openable)],
        { timeout: 120_000, polling: 200 },
    );
}

before(async () => {
    work = await mkdtemp(path.join(tmpdir(), 'cipherdrop-demo-test-'));
    dataDir = path.join(work, 'data');
    await mkdir(path.join(work, 'downloads'));
    for (const built of ['www-demo/dist/index.html', 'target/debug/cipherdrop']) {
        await stat(path.join(ROOT, built)).catch(() => {
            throw new Error(`${built} is missing: run through \`make test\` (it builds it)`);
        });
    }
    if (MODE === 's3') await startMoto();
    else storage = new FileStorage(path.join(dataDir, 'archive'));
    baseUrl = await startDemo();
    browser = await chromium.launch({
        executablePath: '/usr/bin/chromium',
        args: [
            '--no-sandbox',
            '--disable-gpu',
            '--disable-dev-shm-usage',
            '--no-first-run',
            '--disable-background-networking',
            '--disable-component-update',
            '--disable-sync',
        ],
    });
    const context = await browser.newContext({
        acceptDownloads: true,
        viewport: { width: 1100, height: 900 },
    });
    // Downloads take the service-worker path (src/save.js), as in engines without the File
    // System Access API: in Chromium, showSaveFilePicker opens a dialog that a headless run
    // cannot answer. Only this test removes it; the built page is unchanged. The picker's path
    // is tested below with a stub that returns a file of the origin-private file system.
    await context.addInitScript(() => {
        delete window.showSaveFilePicker;
    });
    page = await context.newPage();
    page.on('pageerror', (err) => pageErrors.push(String(err)));
    page.on('download', (d) => downloads.push(d));
    page.setDefaultTimeout(60_000);
});

after(async () => {
    await browser?.close();
    if (server && server.exitCode === null) {
        server.removeAllListeners('exit');
        server.kill('SIGTERM');
        await new Promise((resolve) => server.once('exit', resolve));
    }
    if (moto && moto.exitCode === null) {
        moto.kill('SIGTERM');
        await new Promise((resolve) => moto.once('exit', resolve));
    }
    // The server's (and moto's) warnings and errors, to see why a step failed.
    for (const [who, log] of [
        ['server', serverLog],
        ['moto', motoLog],
    ]) {
        for (const line of log.split('\n').filter((l) => /\b(ERROR|WARN|Traceback)\b/.test(l)))
            console.log(`# ${who}: ${line}`);
    }
    if (work && !process.env.CIPHERDROP_KEEP_TEST_DIR)
        await rm(work, { recursive: true, force: true });
    else if (work) {
        await writeFile(path.join(work, 'server.log'), serverLog);
        if (moto) await writeFile(path.join(work, 'moto.log'), motoLog);
        console.log(`# kept ${work}`);
    }
});

test('the page loads as alice, with labelled controls', async () => {
    await page.goto(baseUrl);
    await page.waitForSelector('body[data-ready="true"]');
    assert.equal(await page.getByLabel('Signed in as').inputValue(), 'alice');
    assert.match(await page.getByTestId('status').textContent(), /Signed in as alice/);
    // The pickers are reachable and named for screen readers.
    assert.equal(await page.getByLabel('Choose files').getAttribute('data-testid'), 'file-input');
    assert.equal(
        await page.getByLabel('Choose a folder').getAttribute('data-testid'),
        'folder-input',
    );
    assert.equal(await page.getByTestId('archive-item').count(), 0);
});

test(
    'alice drops three files (one of 64 MiB) and a folder: encrypted, uploaded, listed',
    SLOW,
    async () => {
        await addOriginal('quarterly-notes.txt', textFile('Quarterly notes', 200));
        await addOriginal('holiday-photo.jpg', randomBytes(MiB + 12_345));
        await addOriginal('dataset-64MiB.bin', randomBytes(64 * MiB));
        await addOriginal('project-folder/readme.md', textFile('Project readme', 40));
        await addOriginal('project-folder/src/secret-plan.rs', textFile('fn secret_plan()', 25));
        const files = ['quarterly-notes.txt', 'holiday-photo.jpg', 'dataset-64MiB.bin'].map(
            (n) => originals.get(n).file,
        );

        // Record every value the progress bars take, in the page (a MutationObserver sees each
        // change of the `value` attribute), to check that the 64 MiB file's bar moves.
        await page.evaluate(() => {
            window.progressLog = [];
            new MutationObserver((records) => {
                for (const r of records) {
                    window.progressLog.push([
                        r.target.closest('.upload').dataset.name,
                        r.target.value,
                    ]);
                }
            }).observe(document.getElementById('uploads'), {
                subtree: true,
                attributes: true,
                attributeFilter: ['value'],
            });
        });
        const started = Date.now();
        await page.getByTestId('file-input').setInputFiles(files);
        await page
            .getByTestId('folder-input')
            .setInputFiles(path.join(work, 'originals', 'project-folder'));
        // And one more through the drop zone, as a drop event carrying a DataTransfer.
        const dropped = Buffer.from(
            'dropped through the drop zone, nobody else should read this.\n',
        );
        await addOriginal('dropped-memo.txt', dropped);
        const dataTransfer = await page.evaluateHandle((text) => {
            const dt = new DataTransfer();
            dt.items.add(new File([text], 'dropped-memo.txt', { type: 'text/plain' }));
            return dt;
        }, dropped.toString());
        await page.getByTestId('dropzone').dispatchEvent('dragover', { dataTransfer });
        await page.getByTestId('dropzone').dispatchEvent('drop', { dataTransfer });

        await waitForUploads(6);
        const seconds = (Date.now() - started) / 1000;
        const rows = await page.$$eval('.upload', (els) =>
            els.map((r) => ({
                name: r.dataset.name,
                state: r.dataset.state,
                value: r.querySelector('progress').value,
                text: r.querySelector('.upload-status').textContent,
            })),
        );
        console.log(
            `# 6 uploads (${((65 * MiB) / MiB).toFixed(0)}+ MiB) in ${seconds.toFixed(1)} s`,
        );
        assert.deepEqual(rows.map((r) => r.name).sort(), [...originals.keys()].sort());
        for (const row of rows) {
            assert.equal(row.state, 'done', `${row.name}: ${row.text}`);
            assert.equal(row.value, 100, row.name);
        }
        const seen = (await page.evaluate(() => window.progressLog))
            .filter(([name]) => name === 'dataset-64MiB.bin')
            .map(([, value]) => value);
        const middle = seen.filter((v) => v > 0 && v < 100);
        assert.ok(middle.length >= 10, `progress of the 64 MiB file moved: saw ${seen}`);
        assert.deepEqual(
            seen,
            [...seen].sort((a, b) => a - b),
            'progress never goes back',
        );
        assert.equal(seen.at(-1), 100);

        await assertNoStagedParts();

        await waitForItems(6, true);
        for (const entry of await page.getByTestId('archive-item').all()) {
            const name = await entry.getByTestId('item-name').textContent();
            objectNames.set(await entry.getAttribute('data-id'), name);
            assert.ok(originals.has(name), `listed name ${name}`);
            assert.equal(await entry.getByTestId('item-owner').textContent(), 'alice');
            assert.match(
                await entry.getByTestId('item-key').textContent(),
                /^alias\/archive \(v1\)$/,
            );
            assert.match(await entry.getByTestId('item-date').textContent(), /\d/);
            assert.notEqual(await entry.getByTestId('item-size').textContent(), '…');
        }
        assert.equal(
            await item('dataset-64MiB.bin').getByTestId('item-size').textContent(),
            '64 MiB',
        );
        assert.deepEqual(pageErrors, []);
    },
);

test(
    'alice downloads each file: same SHA-256 as the original, shown in the page',
    SLOW,
    async () => {
        for (const [name, original] of originals) {
            const bytes = await downloadItem(name);
            assert.equal(bytes.length, original.bytes.length, name);
            assert.equal(sha256(bytes), original.sha256, name);
            assert.equal(await item(name).getByTestId('sha256').textContent(), original.sha256);
        }
    },
);

test('the server stores only messages: no plaintext window, no file name', SLOW, async () => {
    const stored = await storedFiles();
    const data = stored.filter((f) => f.part === 'data');
    assert.equal(data.length, originals.size);
    const meta = stored.filter((f) => f.part === 'meta');
    assert.deepEqual(new Set(meta.map((f) => f.id)), new Set(objectNames.keys()));
    if (MODE === 's3') {
        await assert.rejects(stat(path.join(dataDir, 'archive')), { code: 'ENOENT' });
    }
    assert.deepEqual(new Set(data.map((f) => f.id)), new Set(objectNames.keys()));
    for (const { id } of data) assert.match(id, /^[A-Za-z0-9-]{1,64}$/);
    // 32-byte windows of every original: start, middle, end and a few random places.
    const windows = [];
    for (const [name, { bytes }] of originals) {
        const at = [0, bytes.length >> 1, bytes.length - 32];
        for (let i = 0; i < 4; i += 1) at.push(Math.floor(Math.random() * (bytes.length - 32)));
        for (const offset of at)
            windows.push({
                name,
                window: bytes.subarray(Math.max(0, offset), Math.max(0, offset) + 32),
            });
    }
    const names = [...originals.keys()]
        .flatMap((n) => [n, path.basename(n)])
        .concat(['project-folder', 'secret-plan'])
        .map((n) => Buffer.from(n));
    for (const { id, part, key } of stored) {
        // Ownership is a database row: only the message and its metadata record are stored.
        assert.ok(part === 'data' || part === 'meta', `unexpected stored part ${id}/${part}`);
        const bytes = await storage.read(key);
        assert.equal(bytes[0], 0x02, `${id}/${part}: message format version 2`);
        assert.equal(bytes.readUInt16BE(1), 0x0578, `${id}/${part}: suite 0x0578`);
        for (const { name, window } of windows) {
            assert.equal(bytes.indexOf(window), -1, `${id}/${part} contains plaintext of ${name}`);
        }
        for (const n of names)
            assert.equal(bytes.indexOf(n), -1, `${id}/${part} contains the name ${n}`);
    }
});

test('the official Python SDK decrypts an object with the escrow private key', SLOW, async () => {
    const [id] = [...objectNames].find(([, name]) => name === 'holiday-photo.jpg');
    const out = path.join(work, 'escrow-recovered');
    const { stdout } = await run(
        PYTHON,
        [
            path.join(ROOT, 'www-demo/test/escrow_decrypt.py'),
            dataDir,
            await storage.file(`objects/${id}/data`),
            out,
        ],
        { maxBuffer: 16 * MiB },
    );
    const context = JSON.parse(stdout);
    assert.deepEqual(Object.keys(context).sort(), ['aws-crypto-public-key', 'object', 'owner']);
    assert.equal(context.owner, 'alice');
    assert.equal(context.object, id);
    assert.equal(sha256(await readFile(out)), originals.get('holiday-photo.jpg').sha256);
});

test(
    "as bob, alice's files are not openable; a download is refused and audited",
    SLOW,
    async () => {
        const auditBefore = (await auditRecords()).length;
        await page.getByLabel('Signed in as').selectOption('bob');
        await waitForItems(originals.size, false);
        for (const entry of await page.getByTestId('archive-item').all()) {
            assert.equal(await entry.getByTestId('item-owner').textContent(), 'alice');
            assert.equal(
                await entry.getByTestId('item-name').textContent(),
                'Encrypted file (name hidden)',
            );
            assert.match(
                await entry.getByTestId('not-openable').textContent(),
                /Not openable by bob.*AccessDenied/,
            );
        }
        const [id] = [...objectNames].find(([, name]) => name === 'quarterly-notes.txt');
        const text = await downloadFails(null, { byId: id });
        assert.match(
            text,
            /Refused by the key server \(AccessDenied\): only alice can open this file/,
        );
        await page.screenshot({ path: BOB_SCREENSHOT, fullPage: true });

        const records = (await auditRecords()).slice(auditBefore);
        const denied = records.filter(
            (r) => r.action === 'Unwrap' && r.principal === 'bob' && r.result === 'Denied',
        );
        assert.ok(
            denied.length >= 1,
            `no denied Unwrap by bob in ${JSON.stringify(records.map((r) => [r.action, r.principal, r.result]))}`,
        );
        assert.ok(
            denied.some((r) => r.context?.owner === 'alice' && r.context?.object === id),
            `a denied record names the object: ${JSON.stringify(denied)}`,
        );
        // bob signed in through the demo's OpenID Connect issuer: no static token.
        const issuer = `${baseUrl.replace(/\/$/, '')}/demo/oidc`;
        assert.ok(
            denied.every((r) => r.issuer === issuer && r.subject === 'bob' && !r.tokenId),
            `records name the issuer and subject: ${JSON.stringify(denied)}`,
        );
    },
);

test('the page signs in through the demo issuer: no token in the configuration', async () => {
    const config = await (await fetch(new URL('/demo/config.json', baseUrl))).json();
    assert.deepEqual(config.principals, ['alice', 'bob']);
    // No static token (cdt_…) and no JWT (eyJ….eyJ…; the escrow PEM's base64 has no dots).
    assert.doesNotMatch(JSON.stringify(config), /cdt_|id_token|eyJ[\w-]*\.eyJ/);
    const discovery = await (
        await fetch(new URL('/demo/oidc/.well-known/openid-configuration', baseUrl))
    ).json();
    assert.equal(discovery.issuer, new URL('/demo/oidc', baseUrl).href);
    const signIn = (user) =>
        fetch(new URL(config.signIn, baseUrl), {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ user }),
        });
    const { id_token: token, expires_in: lifetime } = await (await signIn('alice')).json();
    assert.ok(lifetime > 0 && lifetime <= 300, `short-lived: ${lifetime}`);
    const claims = JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString());
    assert.equal(claims.sub, 'alice');
    assert.equal((await signIn('admin')).status, 400, 'only the demo users can sign in');
    // The key server takes the ID token; a forged one (payload changed) is refused.
    const keys = (t) => fetch(new URL('/v0/keys/alias%2Farchive', baseUrl), { headers: { authorization: `Bearer ${t}` } });
    assert.equal((await keys(token)).status, 200);
    const parts = token.split('.');
    const forged = Buffer.from(JSON.stringify({ ...claims, sub: 'bob' })).toString('base64url');
    assert.equal((await keys(`${parts[0]}.${forged}.${parts[2]}`)).status, 401);
});

test(
    'the key disabled with the CLI: download shows the error; enabled: it works again',
    SLOW,
    async () => {
        await page.getByLabel('Signed in as').selectOption('alice');
        await waitForItems(originals.size, true);
        const disabled = await admin('key', 'disable', 'alias/archive');
        assert.equal(disabled.keyState, 'Disabled');
        const text = await downloadFails('quarterly-notes.txt');
        assert.match(text, /KeyDisabled.*disabled/);
        const enabled = await admin('key', 'enable', 'alias/archive');
        assert.equal(enabled.keyState, 'Enabled');
        const bytes = await downloadItem('quarterly-notes.txt');
        assert.equal(sha256(bytes), originals.get('quarterly-notes.txt').sha256);
    },
);

test(
    'a tampered object and a network failure are clear errors, and nothing is saved',
    SLOW,
    async () => {
        const [id] = [...objectNames].find(([, name]) => name === 'holiday-photo.jpg');
        const key = `objects/${id}/data`;
        const original = await storage.read(key);
        const tampered = Buffer.from(original);
        tampered[Math.floor(tampered.length * 0.6)] ^= 0x01; // inside a frame
        await storage.write(key, tampered);
        try {
            const text = await downloadFails('holiday-photo.jpg');
            assert.match(text, /tampered with or damaged \(BAD_FRAME_TAG\).*Nothing was saved/);
        } finally {
            await storage.write(key, original);
        }

        const route = `**/v0/archive/objects/${id}`;
        await page.route(route, (r) => r.abort('internetdisconnected'));
        try {
            const text = await downloadFails('holiday-photo.jpg');
            assert.match(text, /Network failure: .*Nothing was saved/);
        } finally {
            await page.unroute(route);
        }
        const bytes = await downloadItem('holiday-photo.jpg');
        assert.equal(sha256(bytes), originals.get('holiday-photo.jpg').sha256);
    },
);

/** Overwrites one byte 60% into object `name`'s stored message; returns a restore function. */
async function tamperMiddle(name) {
    const [id] = [...objectNames].find(([, n]) => n === name);
    const key = `objects/${id}/data`;
    const original = await storage.read(key);
    const tampered = Buffer.from(original);
    tampered[Math.floor(tampered.length * 0.6)] ^= 0x01; // inside a frame
    await storage.write(key, tampered);
    return () => storage.write(key, original);
}

test(
    'a large file tampered in the middle: the download starts, then fails and is marked failed',
    SLOW,
    async () => {
        // Past the 8 MiB held back, plaintext streams to the download as frames verify; the
        // bad frame 60% in errors the stream, so the browser fails the download.
        const restore = await tamperMiddle('dataset-64MiB.bin');
        try {
            const entry = item('dataset-64MiB.bin');
            const [download] = await Promise.all([
                page.waitForEvent('download', { timeout: 5 * 60_000 }),
                entry.getByTestId('download').click(),
            ]);
            assert.equal(download.suggestedFilename(), 'dataset-64MiB.bin');
            assert.ok(await download.failure(), 'the browser marks the download failed');
            const error = entry.getByTestId('error');
            await error.waitFor({ state: 'visible', timeout: 60_000 });
            assert.match(
                await error.textContent(),
                /tampered with or damaged \(BAD_FRAME_TAG\).*The download was stopped: the browser marks it failed/,
            );
            assert.equal(await entry.getAttribute('data-download'), 'error');
        } finally {
            await restore();
        }
        assert.deepEqual(pageErrors, []);
    },
);

test(
    'without transferable streams the worker gets the chunks over a port: same bytes',
    SLOW,
    async () => {
        // Engines that cannot transfer a ReadableStream (postMessage throws DataCloneError):
        // made so here by the test alone, so that the page's chunk-by-chunk fallback runs.
        await page.evaluate(() => {
            const refuse = (original) =>
                function post(message, transfer) {
                    const list = Array.isArray(transfer) ? transfer : (transfer?.transfer ?? []);
                    if (list.some((t) => t instanceof ReadableStream))
                        throw new DOMException('no transferable streams', 'DataCloneError');
                    return original.call(this, message, transfer);
                };
            window.originalPosts = [
                MessagePort.prototype.postMessage,
                ServiceWorker.prototype.postMessage,
            ];
            MessagePort.prototype.postMessage = refuse(MessagePort.prototype.postMessage);
            ServiceWorker.prototype.postMessage = refuse(ServiceWorker.prototype.postMessage);
        });
        try {
            const bytes = await downloadItem('dataset-64MiB.bin');
            assert.equal(sha256(bytes), originals.get('dataset-64MiB.bin').sha256);
        } finally {
            await page.evaluate(() => {
                [MessagePort.prototype.postMessage, ServiceWorker.prototype.postMessage] =
                    window.originalPosts;
            });
        }
    },
);

test(
    'with the File System Access API: the picked file is written as a stream; a failure aborts it',
    SLOW,
    async () => {
        // The picker stubbed by the test (a real one opens a dialog): it returns a file of the
        // origin-private file system, so the page's real FileSystemWritableFileStream code runs.
        await page.evaluate(() => {
            window.showSaveFilePicker = async ({ suggestedName }) => {
                const dir = await navigator.storage.getDirectory();
                await dir.removeEntry(suggestedName).catch(() => {});
                return dir.getFileHandle(suggestedName, { create: true });
            };
        });
        const opfsFile = (name) =>
            page.evaluate(async (n) => {
                const dir = await navigator.storage.getDirectory();
                const file = await (await dir.getFileHandle(n)).getFile();
                const digest = await crypto.subtle.digest('SHA-256', await file.arrayBuffer());
                const hex = [...new Uint8Array(digest)]
                    .map((b) => b.toString(16).padStart(2, '0'))
                    .join('');
                return { size: file.size, sha256: hex };
            }, name);
        const name = 'dataset-64MiB.bin';
        const entry = item(name);
        const before = downloads.length;
        try {
            await entry.getByTestId('download').click();
            await page.waitForFunction(
                (el) => el.dataset.download !== 'running',
                await entry.elementHandle(),
                { timeout: 5 * 60_000 },
            );
            assert.equal(await entry.getAttribute('data-download'), 'done');
            assert.equal(await entry.getAttribute('data-saved'), 'file');
            const written = await opfsFile(name);
            assert.equal(written.size, originals.get(name).bytes.length);
            assert.equal(written.sha256, originals.get(name).sha256);
            assert.equal(await entry.getByTestId('sha256').textContent(), written.sha256);

            const restore = await tamperMiddle(name);
            try {
                await entry.getByTestId('download').click();
                const error = entry.getByTestId('error');
                await error.waitFor({ state: 'visible', timeout: 5 * 60_000 });
                assert.match(
                    await error.textContent(),
                    /\(BAD_FRAME_TAG\).*The save was aborted: the partly written copy was discarded/,
                );
                assert.equal(await entry.getAttribute('data-saved'), 'file');
                // abort() dropped the partly written copy: the file is as the picker left it.
                assert.equal((await opfsFile(name)).size, 0);
            } finally {
                await restore();
            }
            assert.equal(downloads.length, before, 'no browser download on this path');
        } finally {
            await page.evaluate(async (n) => {
                delete window.showSaveFilePicker;
                const dir = await navigator.storage.getDirectory();
                await dir.removeEntry(n).catch(() => {});
            }, name);
        }
        assert.deepEqual(pageErrors, []);
    },
);

test('cancel stops the encryption and the upload: nothing is stored', SLOW, async () => {
    const rowsBefore = await page.locator('.upload').count();
    await page.getByTestId('file-input').setInputFiles(originals.get('dataset-64MiB.bin').file);
    const row = page.locator('.upload').first();
    await page.waitForFunction(
        (n) => document.querySelectorAll('.upload').length === n + 1,
        rowsBefore,
    );
    await page.waitForFunction(
        (el) => el.querySelector('progress').value > 0 || el.dataset.state === 'done',
        await row.elementHandle(),
        { polling: 'raf' },
    );
    await row.getByTestId('cancel').click({ timeout: 10_000 });
    await page.waitForFunction((el) => el.dataset.state !== 'running', await row.elementHandle());
    assert.equal(await row.getAttribute('data-state'), 'cancelled');
    assert.equal(await row.locator('.upload-status').textContent(), 'Cancelled.');
    await page.getByTestId('refresh').click();
    await waitForItems(originals.size, true);
    const data = (await storedFiles()).filter((f) => f.part === 'data');
    assert.equal(data.length, originals.size);
    await assertNoStagedParts();
});

test('keyboard only: tab to every control and download with Enter', SLOW, async () => {
    await page.evaluate(() => document.activeElement?.blur());
    const reached = new Set();
    for (let i = 0; i < 40; i += 1) {
        await page.keyboard.press('Tab');
        const id = await page.evaluate(
            () => document.activeElement?.dataset?.testid ?? document.activeElement?.id,
        );
        if (id) reached.add(id);
    }
    for (const id of ['principal', 'file-input', 'folder-input', 'refresh', 'download']) {
        assert.ok(reached.has(id), `Tab reaches ${id} (reached: ${[...reached]})`);
    }
    const button = page.getByRole('button', { name: 'Download dropped-memo.txt' });
    await button.focus();
    const [download] = await Promise.all([
        page.waitForEvent('download'),
        page.keyboard.press('Enter'),
    ]);
    assert.equal(download.suggestedFilename(), 'dropped-memo.txt');
    const saved = path.join(work, 'downloads', 'keyboard.txt');
    await download.saveAs(saved);
    assert.equal(sha256(await readFile(saved)), originals.get('dropped-memo.txt').sha256);
});

test(`readable at phone width; full-page screenshot ${SHOT}.png`, async () => {
    await page.setViewportSize({ width: 390, height: 844 });
    const width = await page.evaluate(() => document.documentElement.scrollWidth);
    assert.ok(width <= 390, `no horizontal scrolling at 390 px (page is ${width} px wide)`);
    await mkdir(path.dirname(SCREENSHOT), { recursive: true });
    await page.screenshot({ path: PHONE_SCREENSHOT, fullPage: true });
    await page.setViewportSize({ width: 1100, height: 900 });
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
    assert.deepEqual(pageErrors, []);
});

/** Size of the large download test (1 GiB; CIPHERDROP_DEMO_LARGE_MIB to try another). */
const LARGE_MiB = Number(process.env.CIPHERDROP_DEMO_LARGE_MIB ?? 1024);
/** Peak live memory above baseline that the large download may use. */
const LARGE_LIMIT_MiB = 64;

/** `{ pid: { rss, hwm } }` in bytes, from /proc/PID/status, for each pid still running. */
async function procMemory(pids) {
    const out = {};
    for (const pid of pids) {
        try {
            const status = await readFile(`/proc/${pid}/status`, 'utf8');
            const kB = (field) =>
                Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(status)[1]) * 1024;
            out[pid] = { rss: kB('VmRSS'), hwm: kB('VmHWM') };
        } catch {
            // gone
        }
    }
    return out;
}


/**
 * CDP sessions (through the browser session `browserCdp`, non-flat) to the workers of the
 * page of `pageCdp`: its service workers and dedicated workers (the package's hash worker).
 * `{ sessions: [{ type, send(method, params) }] }`.
 */
async function workerSessions(browserCdp, pageCdp) {
    const { targetInfo } = await pageCdp.send('Target.getTargetInfo');
    const { targetInfos } = await browserCdp.send('Target.getTargets');
    const waiting = new Map();
    let next = 0;
    browserCdp.on('Target.receivedMessageFromTarget', ({ message }) => {
        const reply = JSON.parse(message);
        waiting.get(reply.id)?.(reply);
        waiting.delete(reply.id);
    });
    const sessions = [];
    for (const t of targetInfos) {
        if (t.browserContextId !== targetInfo.browserContextId) continue;
        if (!['service_worker', 'worker', 'shared_worker'].includes(t.type)) continue;
        const { sessionId } = await browserCdp.send('Target.attachToTarget', {
            targetId: t.targetId,
            flatten: false,
        });
        const send = (method, params = {}) =>
            new Promise((resolve, reject) => {
                const id = (next += 1);
                waiting.set(id, (reply) =>
                    reply.error ? reject(new Error(reply.error.message)) : resolve(reply.result),
                );
                browserCdp
                    .send('Target.sendMessageToTarget', {
                        sessionId,
                        message: JSON.stringify({ id, method, params }),
                    })
                    .catch(reject);
            });
        sessions.push({ type: t.type, url: t.url, send });
    }
    return { sessions };
}

test(
    `${LARGE_MiB} MiB: uploaded, then downloaded as a stream with live memory under ${LARGE_LIMIT_MiB} MiB above baseline`,
    {
        timeout: 20 * 60_000,
        skip: MODE === 's3' && 'moto keeps every object in memory; the download path is the same',
    },
    async () => {
        const name = `large-${LARGE_MiB}MiB.bin`;
        const file = path.join(work, 'originals', name);
        // The original: random bytes written to disk in 16 MiB pieces and hashed as they go
        // (never whole in memory, here or in the page: setInputFiles hands Chromium the path).
        const { createWriteStream, createReadStream } = await import('node:fs');
        const hash = createHash('sha256');
        const out = createWriteStream(file);
        for (let i = 0; i < LARGE_MiB / 16; i += 1) {
            const piece = randomBytes(16 * MiB);
            hash.update(piece);
            if (!out.write(piece)) await new Promise((r) => out.once('drain', r));
        }
        await new Promise((resolve, reject) => out.end((err) => (err ? reject(err) : resolve())));
        const expected = hash.digest('hex');

        let started = Date.now();
        const rows = await page.locator('.upload').count();
        await page.getByTestId('file-input').setInputFiles(file);
        await waitForUploads(rows + 1);
        const uploadSeconds = (Date.now() - started) / 1000;
        assert.equal(await page.locator('.upload').first().getAttribute('data-state'), 'done');

        // The download in a fresh context: its own renderer, so the baseline is a page that
        // signed in and listed the archive, not one that just encrypted the file.
        const context = await browser.newContext({ acceptDownloads: true });
        await context.addInitScript(() => {
            delete window.showSaveFilePicker; // the service-worker path, as in the tests above
        });
        const fresh = await context.newPage();
        const errors = [];
        fresh.on('pageerror', (err) => errors.push(String(err)));
        try {
            await fresh.goto(baseUrl);
            await fresh.waitForSelector('body[data-ready="true"]');
            const entry = fresh.getByTestId('archive-item').filter({
                has: fresh.getByTestId('item-name').filter({ hasText: name }),
            });
            await fresh.waitForFunction(
                (el) => el?.dataset.openable === 'true',
                await entry.elementHandle({ timeout: 60_000 }),
            );
            // Let the download worker activate and the page settle before the baseline.
            await fresh.waitForFunction(
                async () =>
                    !!(await navigator.serviceWorker.getRegistration('/demo-download/'))?.active,
            );
            // What is measured, and why:
            // - live memory of the page: after a full GC (CDP HeapProfiler.collectGarbage),
            //   Runtime.getHeapUsage's usedSize (the JS heap) plus backingStorageSize
            //   (ArrayBuffer contents, the wasm memory among them), sampled every 250 ms.
            //   This is what the page holds; garbage not yet collected is not.
            // - resident memory (/proc/PID/status) of every Chromium process: VmHWM (peak
            //   RSS, reset through /proc/PID/clear_refs just before the download) minus VmRSS
            //   then. This also covers the service worker, the network service and the
            //   download manager, but counts memory the allocators have not returned yet, so
            //   it is reported, not held to the limit.
            const cdp = await context.newCDPSession(fresh);
            const browserCdp = await browser.newBrowserCDPSession();
            const workers = await workerSessions(browserCdp, cdp);
            const heap = async (send) => {
                await send('HeapProfiler.collectGarbage');
                const usage = await send('Runtime.getHeapUsage');
                return usage.usedSize + (usage.backingStorageSize ?? 0);
            };
            const live = async () => {
                let total = await heap((m, p) => cdp.send(m, p));
                for (const w of workers.sessions) total += await heap(w.send);
                return total;
            };
            const { processInfo } = await browserCdp.send('SystemInfo.getProcessInfo');
            const pids = [browser.process?.()?.pid, ...processInfo.map((p) => p.id)].filter(
                Boolean,
            );
            const types = Object.fromEntries(processInfo.map((p) => [p.id, p.type]));
            types[pids[0]] ??= 'browser';
            const baseLive = await live();
            const baseProc = await procMemory(pids);
            for (const pid of Object.keys(baseProc))
                await writeFile(`/proc/${pid}/clear_refs`, '5'); // VmHWM := VmRSS
            let peakLive = baseLive;
            let samples = 0;
            let sampling = true;
            const sampler = (async () => {
                while (sampling) {
                    peakLive = Math.max(peakLive, await live());
                    samples += 1;
                    await new Promise((r) => setTimeout(r, 250));
                }
            })();
            started = Date.now();
            let download;
            try {
                [download] = await Promise.all([
                    fresh.waitForEvent('download', { timeout: 15 * 60_000 }),
                    entry.getByTestId('download').click(),
                ]);
                assert.equal(await download.failure(), null);
                await fresh.waitForFunction(
                    (el) => el.dataset.download !== 'running',
                    await entry.elementHandle(),
                    { timeout: 15 * 60_000 },
                );
            } finally {
                sampling = false;
                await sampler;
            }
            const downloadSeconds = (Date.now() - started) / 1000;
            const endProc = await procMemory(pids);
            assert.equal(await entry.getAttribute('data-download'), 'done');
            assert.equal(await entry.getAttribute('data-saved'), 'download');
            assert.equal(await entry.getByTestId('sha256').textContent(), expected);

            // The saved file, hashed as a stream.
            const saved = await download.path();
            const got = createHash('sha256');
            let size = 0;
            for await (const chunk of createReadStream(saved)) {
                got.update(chunk);
                size += chunk.length;
            }
            await download.delete();
            assert.equal(size, LARGE_MiB * MiB);
            assert.equal(got.digest('hex'), expected);

            const perProcess = Object.entries(endProc).map(([pid, { hwm }]) => ({
                pid: Number(pid),
                type: types[pid] ?? '?',
                peakAboveMiB: +((hwm - (baseProc[pid]?.rss ?? hwm)) / MiB).toFixed(1),
            }));
            const report = {
                MiB: LARGE_MiB,
                uploadSeconds,
                downloadSeconds,
                downloadMBps: +((LARGE_MiB * MiB) / 1e6 / downloadSeconds).toFixed(1),
                liveBaselineMiB: +(baseLive / MiB).toFixed(1),
                livePeakAboveBaselineMiB: +((peakLive - baseLive) / MiB).toFixed(1),
                liveSamples: samples,
                liveTargets: ['page', ...workers.sessions.map((w) => w.type)],
                rssPeakAboveBaselineMiB: perProcess,
            };
            console.log(`# large download: ${JSON.stringify(report)}`);
            assert.ok(samples >= 5, `sampled the download ${samples} times`);
            assert.ok(
                peakLive - baseLive < LARGE_LIMIT_MiB * MiB,
                `live memory peaked ${report.livePeakAboveBaselineMiB} MiB above baseline`,
            );
            assert.deepEqual(errors, []);
        } finally {
            await context.close();
            await rm(file, { force: true });
        }
    },
);
