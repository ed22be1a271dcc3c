// index.d.ts, as installed from the .tgz, type-checks a consumer (types-consumer.ts) with
// `tsc --strict` (typescript from tests/npm/), including its @ts-expect-error misuses.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const repo = process.env.CIPHERDROP_REPO;
const here = fileURLToPath(new URL('.', import.meta.url));

test('types: index.d.ts type-checks a strict TypeScript consumer', () => {
    const tsc = path.join(repo, 'tests/npm/node_modules/typescript/bin/tsc');
    const p = spawnSync(process.execPath, [tsc, '-p', path.join(here, 'tsconfig.json')], { encoding: 'utf8' });
    if (p.status !== 0) throw new Error(`tsc failed:\n${p.stdout}${p.stderr}`);
});
