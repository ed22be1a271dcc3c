#!/usr/bin/env node
// Tests the packed npm package as a user gets it: installs target/npm/cipherdrop-<version>.tgz
// (made by `scripts/build-pkg.sh --pack`) into a fresh project in build/npm-consumer/, with,
// where it exists, the test build of the package (target/npm-test/cipherdrop-test-hooks-
// <version>.tgz, by `scripts/build-pkg.sh --test-hooks --pack`) as `cipherdrop-test-hooks`
// for the cases that need test hooks (cases.js hookCases), makes
// the interop fixtures there (messages from @aws-crypto/client-node and the Python SDK), then
// runs the test files of tests/npm/consumer/ inside that project with `node --test`:
//   node.test.mjs     the shared cases (cases.js) in Node
//   browser.test.mjs  the same cases in a browser, plain <script type="module">: headless
//                     Chromium, or CIPHERDROP_ENGINE=firefox / webkit (engines.mjs)
//   release.test.mjs  the packed release package has no test hook (files, wasm exports)
//   ...
//   node tests/npm/run.mjs [FILE.test.mjs ...]    (default: every *.test.mjs)
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { makeFixtures } from './fixtures.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '../..');
const version = JSON.parse(readFileSync(path.join(repo, 'pkg-template/package.json'), 'utf8')).version;
const tgz = path.join(repo, 'target/npm', `cipherdrop-${version}.tgz`);
const hooksTgz = path.join(repo, 'target/npm-test', `cipherdrop-test-hooks-${version}.tgz`);
const project = path.join(repo, 'build/npm-consumer');

function run(cmd, args, options = {}) {
    const p = spawnSync(cmd, args, { stdio: 'inherit', ...options });
    if (p.status !== 0) {
        console.error(`npm-tests: ${cmd} ${args.join(' ')} failed (${p.status ?? p.signal})`);
        process.exit(1);
    }
}

console.log(`npm-tests: installing ${path.relative(repo, tgz)} into ${path.relative(repo, project)}`);
rmSync(project, { recursive: true, force: true });
mkdirSync(project, { recursive: true });
const dependencies = { cipherdrop: `file:${tgz}` };
if (existsSync(hooksTgz)) {
    console.log(`npm-tests: and the test build ${path.relative(repo, hooksTgz)}`);
    dependencies['cipherdrop-test-hooks'] = `file:${hooksTgz}`;
} else {
    console.log(`npm-tests: no test build (${path.relative(repo, hooksTgz)}): the cases that need test hooks will fail`);
}
writeFileSync(path.join(project, 'package.json'), JSON.stringify({
    name: 'cipherdrop-consumer', private: true, type: 'module', dependencies,
}, null, 2));
run('npm', ['install', '--offline', '--no-audit', '--no-fund', '--loglevel=error'], { cwd: project });
cpSync(path.join(here, 'consumer'), project, { recursive: true });
cpSync(path.join(here, 'fixtures.mjs'), path.join(project, 'fixtures.mjs'));

console.log('npm-tests: making interop fixtures with @aws-crypto/client-node and the Python SDK');
const fixtures = await makeFixtures(repo);
writeFileSync(path.join(project, 'fixtures.json'), JSON.stringify(fixtures));
console.log(`npm-tests: ${fixtures.messages.length} messages`);

const files = process.argv.slice(2).length
    ? process.argv.slice(2)
    : readdirSync(project).filter((f) => f.endsWith('.test.mjs')).sort();
const p = spawnSync(process.execPath, ['--test', '--test-reporter=spec', '--test-concurrency=1', ...files], {
    cwd: project, stdio: 'inherit', env: { ...process.env, CIPHERDROP_REPO: repo },
});
process.exit(p.status ?? 1);
