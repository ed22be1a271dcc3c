// The shared cases (cases.js) in Node, against the package installed from the packed .tgz.
import { readFile } from 'node:fs/promises';
import { test } from 'node:test';

import * as cd from 'cipherdrop';

import { allCases } from './cases.js';
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
