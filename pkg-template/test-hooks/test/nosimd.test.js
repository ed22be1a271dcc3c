// The module built without WebAssembly SIMD (cipherdrop_nosimd_bg.wasm, loaded where the
// engine has no SIMD) writes the same bytes as the default SIMD module: this process loads
// the non-SIMD module; a child process computes the same messages with the default one.
// It needs the test hooks (fixed secrets, the reference path): it runs in the test build of
// the package (build/pkg-test, `cipherdrop-test-hooks`; scripts/build-pkg.sh --test-hooks).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

import * as cd from 'cipherdrop-test-hooks';

const FIXED = Symbol.for('cipherdrop.dangerous.fixedSecretsForTests');
const REFERENCE = Symbol.for('cipherdrop.dangerous.referencePathForTests');

function bytes(n, seed) {
    const out = new Uint8Array(n);
    let x = seed >>> 0;
    for (let i = 0; i < n; i++) {
        x = (Math.imul(x, 1103515245) + 12345) >>> 0;
        out[i] = x >>> 24;
    }
    return out;
}

/** SHA-256 of messages written with fixed secrets by each engine, both suites. */
async function digests() {
    const signingKey = bytes(48, 3);
    signingKey[0] = 1;
    const secrets = {
        dataKey: bytes(32, 1), messageId: bytes(32, 2), signingKey,
        edks: [{ providerId: 'fixed', providerInfo: 'key', ciphertext: bytes(64, 4) }],
    };
    const keyring = { wrappingKeys: () => [], unwrap: async () => secrets.dataKey.slice() };
    const out = [];
    for (const suite of [0x0478, 0x0578]) {
        const data = bytes(200_003, suite);
        for (const o of [{ webCrypto: false }, { [REFERENCE]: true }, {}]) {
            const { result } = await cd.encrypt(keyring, data, { suite, frameLength: 4096, [FIXED]: secrets, ...o });
            const { plaintext } = await cd.decrypt(keyring, result, { webCrypto: false });
            assert.deepEqual(plaintext, data);
            out.push(createHash('sha256').update(result).digest('hex'));
        }
    }
    return out;
}

if (process.env.CIPHERDROP_SIMD_CHILD) {
    await cd.init();
    console.log(JSON.stringify(await digests()));
} else {
    test('the non-SIMD module writes the same bytes as the SIMD module', async () => {
        const url = new URL(import.meta.resolve('cipherdrop-test-hooks/cipherdrop_nosimd_bg.wasm'));
        await cd.init(await readFile(url));
        const mine = await digests();
        const child = spawnSync(process.execPath, [fileURLToPath(import.meta.url)], {
            env: { ...process.env, CIPHERDROP_SIMD_CHILD: '1' }, encoding: 'utf8',
        });
        assert.equal(child.status, 0, child.stderr);
        assert.deepEqual(mine, JSON.parse(child.stdout));
        assert.equal(new Set(mine.slice(0, 3)).size, 1, 'engines agree (0x0478)');
        assert.equal(new Set(mine.slice(3)).size, 1, 'engines agree (0x0578)');
    });
}
