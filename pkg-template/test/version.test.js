// Runs against the built package in build/pkg (scripts/build-pkg.sh copies this folder
// there), so `cipherdrop` resolves through the package's own exports map.
import assert from 'node:assert/strict';
import { access, readFile } from 'node:fs/promises';
import { test } from 'node:test';

import { init, version } from 'cipherdrop';

const pkg = JSON.parse(await readFile(new URL(import.meta.resolve('cipherdrop/package.json'))));

test('exports map resolves the Node entries, their wasm and their types', async () => {
    assert.equal(pkg.name, 'cipherdrop');
    assert.match(import.meta.resolve('cipherdrop'), /\/node\.js$/);
    assert.match(import.meta.resolve('cipherdrop/lite'), /\/lite-node\.js$/);
    const packageUrl = new URL(import.meta.resolve('cipherdrop/package.json'));
    for (const entry of [pkg.exports['.'], pkg.exports['./lite']]) {
        for (const file of [entry.types, entry.node, entry.default]) await access(new URL(file, packageUrl));
    }
    for (const file of pkg.files) await access(new URL(file, packageUrl));
});

test('version() is the Cargo package version', async () => {
    const cargoVersion = process.env.CIPHERDROP_VERSION;
    assert.ok(cargoVersion, 'CIPHERDROP_VERSION is not set: run through `make test`');
    assert.equal(version(), cargoVersion, 'before init()');
    await init();
    assert.equal(version(), cargoVersion);
    assert.equal(pkg.version, cargoVersion);
});
