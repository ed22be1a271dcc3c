// Runs against the built package in build/pkg (scripts/build-pkg.sh copies this folder
// there), so `cipherdrop` resolves through the package's own exports map.
import assert from 'node:assert/strict';
import { access, readFile } from 'node:fs/promises';
import { test } from 'node:test';

import { initSync, version } from 'cipherdrop';

const pkg = JSON.parse(await readFile(new URL(import.meta.resolve('cipherdrop/package.json'))));
// The web target fetches the .wasm by URL in browsers; in Node we hand it the bytes.
initSync({ module: await readFile(new URL(import.meta.resolve('cipherdrop/cipherdrop_bg.wasm'))) });

test('exports map resolves the module, its wasm and its types', async () => {
    assert.equal(pkg.name, 'cipherdrop');
    assert.match(import.meta.resolve('cipherdrop'), /\/cipherdrop\.js$/);
    const packageUrl = new URL(import.meta.resolve('cipherdrop/package.json'));
    for (const file of [pkg.exports['.'].types, ...pkg.files]) {
        await access(new URL(file, packageUrl));
    }
});

test('version() is the Cargo package version', () => {
    const cargoVersion = process.env.CIPHERDROP_VERSION;
    assert.ok(cargoVersion, 'CIPHERDROP_VERSION is not set: run through `make test`');
    assert.equal(version(), cargoVersion);
    assert.equal(pkg.version, cargoVersion);
});
