// index.d.ts, as installed from the .tgz, type-checks a consumer (types-consumer.ts) with
// `tsc --strict` (typescript from tests/npm/), including its @ts-expect-error misuses: once
// with the DOM lib (a browser project, plus types-dom.ts) and once without it (a Node-only
// project: es2022 and @types/node from tests/npm/, plus types-node.ts).
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const repo = process.env.CIPHERDROP_REPO;
const here = fileURLToPath(new URL('.', import.meta.url));

for (const [config, what] of [['tsconfig.json', 'with the DOM lib'], ['tsconfig.node.json', 'without the DOM lib (Node)']]) {
    test(`types: index.d.ts type-checks a strict TypeScript consumer ${what}`, () => {
        const tsc = path.join(repo, 'tests/npm/node_modules/typescript/bin/tsc');
        const p = spawnSync(process.execPath, [tsc, '-p', path.join(here, config)], { encoding: 'utf8' });
        if (p.status !== 0) throw new Error(`tsc failed:\n${p.stdout}${p.stderr}`);
    });
}
