// The shared cases (cases.js) in Node, against the package installed from the packed .tgz
// (the release build, no test hooks); then the cases that need the test hooks against the
// test build of the package (`cipherdrop-test-hooks`, from target/npm-test/).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
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
