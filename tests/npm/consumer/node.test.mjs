// The shared cases (cases.js) in Node, against the package installed from the packed .tgz
// (the release build, no test hooks); then the cases that need the test hooks against the
// test build of the package (`cipherdrop-test-hooks`, from target/npm-test/).
import { readFile } from 'node:fs/promises';
import { test } from 'node:test';

import * as cd from 'cipherdrop';

import { allCases, hookCases } from './cases.js';
import { officialDecrypt } from './fixtures.mjs';

const repo = process.env.CIPHERDROP_REPO;
const fixtures = JSON.parse(await readFile(new URL('./fixtures.json', import.meta.url), 'utf8'));
const ctx = { cd, fixtures, officialDecrypt: (args) => officialDecrypt(repo, args) };

test('the package resolves to its Node entry', () => {
    if (!import.meta.resolve('cipherdrop').endsWith('/node_modules/cipherdrop/node.js')) {
        throw new Error(`resolved ${import.meta.resolve('cipherdrop')}`);
    }
});

for (const { name, run } of allCases(fixtures)) {
    test(name, () => run(ctx));
}

const hooked = await import('cipherdrop-test-hooks').catch((err) => {
    throw new Error(`the test build of the package is not installed (scripts/build-pkg.sh --test-hooks --pack): ${err.message}`);
});
for (const { name, run } of hookCases()) {
    test(name, () => run({ ...ctx, cd: hooked }));
}
