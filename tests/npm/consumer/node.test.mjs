// The shared cases (cases.js) in Node, against the package installed from the packed .tgz
// (the release build, no test hooks); then the cases that need the test hooks against the
// test build of the package (`cipherdrop-test-hooks`, from target/npm-test/).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { pipeline } from 'node:stream/promises';
import { test } from 'node:test';

import * as cd from 'cipherdrop';
import * as lite from 'cipherdrop/lite';

import { allCases, hookCases } from './cases.js';
import { officialDecrypt } from './fixtures.mjs';

const repo = process.env.CIPHERDROP_REPO;
const fixtures = JSON.parse(await readFile(new URL('./fixtures.json', import.meta.url), 'utf8'));
const ctx = { cd, lite, fixtures, officialDecrypt: (args) => officialDecrypt(repo, args) };

test('CommonJS can require() the package (Node 20.19+, 22.12+: require of ES modules)', () => {
    const required = createRequire(import.meta.url)('cipherdrop');
    if (required.encrypt !== cd.encrypt) throw new Error('require() gave another module instance');
});

test('the package resolves to its Node entries', () => {
    for (const [name, file] of [['cipherdrop', 'node.js'], ['cipherdrop/lite', 'lite-node.js']]) {
        if (!import.meta.resolve(name).endsWith(`/node_modules/cipherdrop/${file}`)) {
            throw new Error(`${name} resolved ${import.meta.resolve(name)}`);
        }
    }
    const required = createRequire(import.meta.url)('cipherdrop/lite');
    if (required.encrypt !== lite.encrypt) throw new Error('require() of cipherdrop/lite gave another module instance');
});

for (const { name, run } of allCases(fixtures)) {
    test(name, () => run(ctx));
}

const hooked = await import('cipherdrop-test-hooks').catch((err) => {
    throw new Error(`the test build of the package is not installed (scripts/build-pkg.sh --test-hooks --pack): ${err.message}`);
});
const hookedLite = await import('cipherdrop-test-hooks/lite');
for (const { name, run } of hookCases()) {
    test(name, () => run({ ...ctx, cd: hooked, lite: hookedLite }));
}

// Issue 17, finding 2: Node streams. A file read with fs.createReadStream (a Node Readable)
// and an async generator are inputs of encrypt/decrypt; encryptStream/decryptStream sit in
// stream.pipeline between a file read and a file written.
test('node: fs streams through encrypt/decrypt and stream.pipeline, async iterables', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'cipherdrop-node-streams-'));
    try {
        const keyring = await cd.RawRsaKeyring.fromPem({
            keyNamespace: fixtures.namespace, keyName: 'rsa-2048', privateKey: fixtures.keys[2048].pkcs8,
        });
        const data = randomBytes((3 << 20) + 17);
        const file = (name) => path.join(dir, name);
        await writeFile(file('plain'), data);

        const { result } = await cd.encrypt(keyring, createReadStream(file('plain')), { frameLength: 4096 });
        await pipeline(result, createWriteStream(file('one-shot.cd')));
        const { plaintext } = await cd.decrypt(keyring, createReadStream(file('one-shot.cd')));
        await pipeline(plaintext, createWriteStream(file('one-shot.out')));
        assert.deepEqual(await readFile(file('one-shot.out')), data, 'encrypt/decrypt of a Node Readable');

        await pipeline(createReadStream(file('plain')), cd.encryptStream(keyring), createWriteStream(file('piped.cd')));
        await pipeline(createReadStream(file('piped.cd')), cd.decryptStream(keyring), createWriteStream(file('piped.out')));
        assert.deepEqual(await readFile(file('piped.out')), data, 'stream.pipeline round trip');

        async function* chunks() {
            for (let at = 0; at < data.length; at += 100_000) yield data.subarray(at, at + 100_000);
        }
        const fromGenerator = await cd.encrypt(keyring, chunks(), { suite: 0x0478 });
        const back = await cd.decrypt(keyring, fromGenerator.result);
        assert.deepEqual(Buffer.from(await new Response(back.plaintext).arrayBuffer()), data, 'an async generator');
    } finally {
        await rm(dir, { recursive: true, force: true });
    }
});

// Issue 18: signed messages hash on a worker thread in Node (lib/node-hash.js); the shared
// cases compare its bytes with the main thread's. Each case here is a child process, so that
// a hold of the worker on the event loop shows in the child's run time.
const here = path.dirname(fileURLToPath(import.meta.url));
function child(script) {
    const started = performance.now();
    const p = spawnSync(process.execPath, ['--input-type=module', '-e', `${PRELUDE}\n${script}`], {
        cwd: here, encoding: 'utf8', timeout: 60_000,
        env: { ...process.env, CD_PEM: fixtures.keys[2048].pkcs8, CD_NS: fixtures.namespace },
    });
    return { ...p, seconds: (performance.now() - started) / 1000 };
}
const PRELUDE = `import wt from 'node:worker_threads';
import { syncBuiltinESMExports } from 'node:module';
const RealWorker = wt.Worker;
/** Replaces node:worker_threads' Worker before the package is loaded (its import sees it). */
const swapWorker = (W) => { wt.Worker = W; syncBuiltinESMExports(); };
const load = () => import('cipherdrop-test-hooks');
const keyringOf = (cd) => cd.RawRsaKeyring.fromPem({ keyNamespace: process.env.CD_NS, keyName: 'rsa-2048', privateKey: process.env.CD_PEM });
async function* chunks(n, size = 1 << 20) { for (let i = 0; i < n; i++) yield new Uint8Array(size).fill(i); }
async function* one(bytes) { yield bytes; }
const readAll = async (s) => Buffer.from(await new Response(s).arrayBuffer());
let hashed = 0;
const hooks = { [Symbol.for('cipherdrop.testing.onHashWorker')]: () => { hashed += 1; } };`;
/** The child printed `want`, and ended well before the hash worker's idle stop (10 s). */
function assertChild(r, want, what) {
    assert.equal(r.status, 0, `${what}: ${r.stderr}`);
    assert.equal(r.stdout.trim(), want, `${what}: ${r.stderr}`);
    assert.ok(r.seconds < 6, `${what}: the child ran ${r.seconds.toFixed(1)} s (the hash worker held its event loop)`);
}

test('node: signed streams hash on a worker thread; the process ends at once, also after an abandoned stream', () => {
    assertChild(child(`const cd = await load();
const keyring = await keyringOf(cd);
const message = await readAll((await cd.encrypt(keyring, chunks(5), { suite: 0x0578, ...hooks })).result);
const back = await readAll((await cd.decrypt(keyring, one(message), hooks)).plaintext);
if (back.length !== 5 << 20 || back.at(-1) !== 4) throw new Error('bad plaintext');
const bad = Buffer.from(message);
bad[bad.length - 5] ^= 1;
const code = await cd.decrypt(keyring, one(bad), hooks).then((d) => readAll(d.plaintext)).then(() => 'none', (e) => e.code);
console.log(hashed, code);`), '3 BAD_SIGNATURE', 'encrypt, decrypt and a bad signature on the worker');
    // Read two chunks of a long signed stream, then drop it without a word.
    assertChild(child(`const cd = await load();
const keyring = await keyringOf(cd);
const reader = (await cd.encrypt(keyring, chunks(4096), { suite: 0x0578, ...hooks })).result.getReader();
await reader.read();
await reader.read();
console.log(hashed);`), '1', 'an abandoned stream');
});

test('node: a hash worker that dies fails its message with WORKER_FAILED; one that cannot start leaves the hash on the main thread', () => {
    assertChild(child(`swapWorker(class extends RealWorker {
    constructor(source, options) { super(source + ';setTimeout(() => process.exit(7), 50);', options); }
});
const cd = await load();
const keyring = await keyringOf(cd);
const code = await cd.encrypt(keyring, chunks(1024), { suite: 0x0578, ...hooks })
    .then((r) => readAll(r.result)).then(() => 'none', (e) => \`\${e.name} \${e.code} \${/exited \\(code 7\\)/.test(e.message)}\`);
console.log(hashed, code);`), '1 EncryptError WORKER_FAILED true', 'a worker that exits mid-message');
    assertChild(child(`swapWorker(class { constructor() { throw new Error('no threads here'); } });
const cd = await load();
const keyring = await keyringOf(cd);
const message = await readAll((await cd.encrypt(keyring, chunks(3), { suite: 0x0578, ...hooks })).result);
const back = await readAll((await cd.decrypt(keyring, one(message), hooks)).plaintext);
console.log(hashed, back.length === 3 << 20);`), '0 true', 'no worker thread: the main thread hashes');
});
