// The packed release package has no test hook (issue "Key server trust", finding 14): test-only
// code that fixed data keys, message IDs and signing keys, or observed the engines, shipped in
// the npm module, where any script on a page could reach it through registered symbols. Here:
// neither the .tgz (target/npm/cipherdrop-<version>.tgz, as packed) nor the package installed
// from it has the wasm export `pendingencryptor_dangerousWithFixedSecrets`, the names of the
// Rust hooks (`dangerous_new_with_fixed_secrets`, `dangerous_with_fixed_secrets`) or of their binding, or the hook symbols' keys; and the
// package, imported, ignores options under those symbols (the shared case "release: ..." in
// cases.js checks the same in Chromium). The hooks live only in the test build
// (scripts/build-pkg.sh --test-hooks, package `cipherdrop-test-hooks`).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';

const repo = process.env.CIPHERDROP_REPO;
const here = path.dirname(fileURLToPath(import.meta.url));
const version = JSON.parse(readFileSync(path.join(repo, 'pkg-template/package.json'), 'utf8')).version;
const tgz = path.join(repo, 'target/npm', `cipherdrop-${version}.tgz`);
const installed = path.join(here, 'node_modules/cipherdrop');

/** The keys of the test hooks' registered symbols, as the test build defines them. */
const HOOK_SYMBOLS = [
    'cipherdrop.dangerous.fixedSecretsForTests',
    'cipherdrop.dangerous.referencePathForTests',
    'cipherdrop.testing.onEngine',
    'cipherdrop.testing.onHashWorker',
    'cipherdrop.testing.onReader',
    'cipherdrop.testing.module',
    'cipherdrop.testing.onModule',
];
/** Names no file of the release package may contain. */
const BANNED = [
    'dangerous_new_with_fixed_secrets', 'dangerous_with_fixed_secrets', 'dangerousWithFixedSecrets',
    'encryptor_dangerousWithFixedSecrets', 'pendingencryptor_dangerousWithFixedSecrets', 'fixedSecretsForTests', 'referencePathForTests',
    'cipherdrop.dangerous.', 'cipherdrop.testing.', ...HOOK_SYMBOLS,
];

const unpacked = mkdtempSync(path.join(tmpdir(), 'cipherdrop-release-'));
after(() => rmSync(unpacked, { recursive: true, force: true }));

function files(dir) {
    return readdirSync(dir, { withFileTypes: true, recursive: true })
        .filter((e) => e.isFile())
        .map((e) => path.join(e.parentPath ?? e.path, e.name));
}

/** Every finding of a hook in the package at `root`: banned names, wasm exports. */
function hooksIn(root) {
    const found = [];
    const all = files(root);
    assert.ok(all.some((f) => f.endsWith('.wasm')), `${root}: no .wasm file`);
    assert.ok(all.some((f) => f.endsWith('.js')), `${root}: no .js file`);
    for (const f of all) {
        const bytes = readFileSync(f);
        const text = bytes.toString('latin1');
        const rel = path.relative(root, f);
        for (const name of BANNED) if (text.includes(name)) found.push(`${rel}: ${name}`);
        if (/\.(c|m)?js$/.test(f) && text.includes('Symbol.for(')) found.push(`${rel}: Symbol.for(`);
        if (f.endsWith('.wasm')) {
            for (const { name, kind } of WebAssembly.Module.exports(new WebAssembly.Module(bytes))) {
                if (/fixed|dangerous|hook/i.test(name)) found.push(`${rel}: wasm ${kind} export ${name}`);
            }
        }
    }
    return found;
}

test('release package: the packed .tgz has no test hook (wasm exports, JS, any file)', () => {
    const p = spawnSync('tar', ['-xzf', tgz, '-C', unpacked], { encoding: 'utf8' });
    assert.equal(p.status, 0, `tar -xzf ${tgz}: ${p.stderr}`);
    const root = path.join(unpacked, 'package');
    const manifest = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8'));
    assert.equal(manifest.name, 'cipherdrop');
    assert.notEqual(manifest.private, true, 'the release package is publishable');
    assert.deepEqual(hooksIn(root), []);
});

test('release package: the installed package has no test hook either', () => {
    assert.equal(JSON.parse(readFileSync(path.join(installed, 'package.json'), 'utf8')).name, 'cipherdrop');
    assert.deepEqual(hooksIn(installed), []);
});

test('release package: importing it exposes no hook (exports, globals, the wasm bindings)', async () => {
    const cd = await import('cipherdrop');
    const lite = await import('cipherdrop/lite');
    await cd.init();
    for (const entry of [cd, lite]) {
        const exported = Object.keys(entry).filter((k) => /fixed|dangerous|hook|test/i.test(k));
        assert.deepEqual(exported, [], 'no hook among the exports');
    }
    const symbols = Object.getOwnPropertySymbols(globalThis).map(String).filter((s) => s.includes('cipherdrop'));
    assert.deepEqual(symbols, [], 'no cipherdrop symbol on globalThis');
    const globals = Object.getOwnPropertyNames(globalThis).filter((k) => /cipherdrop/i.test(k));
    assert.deepEqual(globals, [], 'no cipherdrop global');
    // The wasm-bindgen glue (not exported by the package, but a file of it): its Encryptor
    // class has no constructor with fixed secrets.
    const glue = await import(pathToFileURL(path.join(installed, 'cipherdrop.js')).href);
    for (const cls of ['Encryptor', 'PendingEncryptor']) {
        const statics = Object.getOwnPropertyNames(glue[cls]).filter((k) => /fixed|dangerous/i.test(k));
        assert.deepEqual(statics, [], `no static hook on the glue ${cls}`);
    }
    const hooksModule = await import(pathToFileURL(path.join(installed, 'lib/test-hooks.js')).href);
    assert.equal(hooksModule.testHooks, null, 'lib/test-hooks.js is the release stub');
});

// Issue 17, finding 5: package hygiene, as the linters of npm packages see the .tgz.
const lintBin = (name) => path.join(repo, 'tests/npm/node_modules/.bin', name);

// Issue 18: the AWS KMS keyrings' rules and the key server's JWE are a module of their own,
// loaded on first use; the message bindings are in the full module and, without ECDSA P-384
// and the message hasher, in the lite one.
test('release package: the files it ships, and the three modules\' binding sets', () => {
    const root = path.join(unpacked, 'package');
    const shipped = files(root).map((f) => path.relative(root, f)).filter((f) => !f.startsWith('lib/')).sort();
    assert.deepEqual(shipped, [
        'LICENSE', 'README.md', 'cipherdrop.js', 'cipherdrop_bg.wasm', 'cipherdrop_kms.js', 'cipherdrop_kms_bg.wasm',
        'cipherdrop_lite.js', 'cipherdrop_lite_bg.wasm', 'cipherdrop_nosimd_bg.wasm', 'full-module.js', 'index.d.ts',
        'index.js', 'kms-module.js', 'lite-module.js', 'lite-node.js', 'lite.js', 'node.js', 'package.json',
    ]);
    const lib = readdirSync(path.join(root, 'lib')).sort();
    for (const f of ['kms-loader.js', 'kms.js', 'key-server.js', 'lite.js', 'wasm.js', 'worker.js']) assert.ok(lib.includes(f), f);
    const exportsOf = (f) => new Set(WebAssembly.Module.exports(new WebAssembly.Module(readFileSync(path.join(root, f))))
        .map((e) => e.name));
    const message = /^(pendingencryptor|encryptor|decryptor|messagehasher)_/i;
    const kms = /^(kmsrsarules|kmssymmetricrules)_|^(openJwe|jweProtectedHeader)$/i;
    const full = [...exportsOf('cipherdrop_bg.wasm')].sort();
    assert.deepEqual([...exportsOf('cipherdrop_nosimd_bg.wasm')].sort(), full, 'SIMD and non-SIMD: the same bindings');
    assert.ok(full.some((n) => message.test(n)), 'cipherdrop_bg.wasm: no message binding');
    assert.deepEqual(full.filter((n) => kms.test(n)), [], 'cipherdrop_bg.wasm: KMS or JWE bindings');
    // The lite module: the full one's bindings but the signed suites' (the hashing of
    // lib/hash.js and lib/aes.js NodeHash, and the calls that pass signed bytes or digests:
    // only for signed messages, which run on the full module) and the core's own key
    // derivation and AES-GCM (with the non-detached Decryptor's update); instead, the
    // caller's derivation (lib/aes.js derivedAes).
    const lite = [...exportsOf('cipherdrop_lite_bg.wasm')].sort();
    const signingOnly = /^(__wbg_)?messagehasher_|^signatureHash$|^(encryptor|decryptor)_delegateHash$|^encryptor_(finishWithDigest|frameSealed)$|^decryptor_(hashed|provideDigest|frameBody)$/i;
    const coreCrypto = /^(encryptor|decryptor)_(takeContentKey|frameBuffer|sealInPlace|sealJob|openInPlace|openJob)$|^decryptor_(new|update)$|^pendingencryptor_withEncryptedDataKeys$/;
    const callerDerives = ['decryptor_headerAuth', 'decryptor_provideDerivedKeys', 'pendingencryptor_headerToSeal',
        'pendingencryptor_keyDerivation', 'pendingencryptor_sealHeader'];
    assert.deepEqual(lite, [...full.filter((n) => !signingOnly.test(n) && !coreCrypto.test(n)), ...callerDerives].sort(),
        'cipherdrop_lite_bg.wasm: the full module\'s bindings less the hasher and the core\'s AES-GCM, plus the caller\'s derivation');
    assert.ok(full.includes('encryptor_sealInPlace') && full.includes('decryptor_openJob'), 'the full module has the fallback');
    assert.ok(full.includes('messagehasher_new') && full.includes('signatureHash'), 'the full module hashes');
    // Its glue has no class the full module's hash worker needs either.
    assert.doesNotMatch(readFileSync(path.join(root, 'cipherdrop_lite.js'), 'utf8'), /class MessageHasher/);
    assert.match(readFileSync(path.join(root, 'cipherdrop.js'), 'utf8'), /class MessageHasher/);
    const names = [...exportsOf('cipherdrop_kms_bg.wasm')];
    for (const n of ['kmssymmetricrules_new', 'kmsrsarules_new', 'openJwe', 'jweProtectedHeader']) {
        assert.ok(names.includes(n), `cipherdrop_kms_bg.wasm: no ${n}`);
    }
    assert.deepEqual(names.filter((n) => message.test(n)), [], 'cipherdrop_kms_bg.wasm: message bindings');
});

test('release package: KmsKeyring.create loads the KMS module from the package directory in Node', async () => {
    const cd = await import('cipherdrop');
    const kms = await cd.KmsKeyring.create({ generatorKeyId: 'arn:aws:kms:eu-west-1:111122223333:key/release',
        endpoint: 'http://127.0.0.1:9', token: 'unused' });
    assert.equal(kms.generatorKeyId, 'arn:aws:kms:eu-west-1:111122223333:key/release');
    await assert.rejects(cd.KmsKeyring.create({ generatorKeyId: 'alias/no', endpoint: 'http://127.0.0.1:9', token: 't' }),
        { name: 'KeyError', code: 'INVALID_KEY_ARN' });
});

test('release package: publint (strict, suggestions included) finds nothing', () => {
    const p = spawnSync(lintBin('publint'), ['run', tgz, '--strict', '--level', 'suggestion'], { encoding: 'utf8' });
    const out = `${p.stdout}${p.stderr}`;
    assert.equal(p.status, 0, out);
    assert.doesNotMatch(out, /Suggestions:|Warnings:|Errors:/, out);
});

test('release package: arethetypeswrong (ESM only) finds nothing', () => {
    // The .wasm subpaths are assets for bundlers, not modules with types.
    const p = spawnSync(lintBin('attw'), [tgz, '--profile', 'esm-only', '--format', 'ascii', '--no-color',
        '--exclude-entrypoints', './cipherdrop_bg.wasm', './cipherdrop_nosimd_bg.wasm', './cipherdrop_lite_bg.wasm',
        './cipherdrop_kms_bg.wasm'],
    { encoding: 'utf8' });
    assert.equal(p.status, 0, `${p.stdout}${p.stderr}`);
});

// Issue 18: `cipherdrop/lite`, the entry of apps of unsigned messages, with the default
// entry's conditions and types; only it names the lite module.
test('release package: the cipherdrop/lite export mirrors the default one, and only it names the lite module', () => {
    const root = path.join(unpacked, 'package');
    const manifest = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8'));
    assert.deepEqual(manifest.exports['.'], { types: './index.d.ts', node: './node.js', default: './index.js' });
    assert.deepEqual(manifest.exports['./lite'], { types: './index.d.ts', node: './lite-node.js', default: './lite.js' });
    // An import of it (comments may name it).
    const names = (f) => /['"][^'"\n]*lite-module\.js['"]/.test(readFileSync(path.join(root, f), 'utf8'));
    assert.ok(names('lib/lite.js'), 'lib/lite.js loads the lite module');
    const libs = readdirSync(path.join(root, 'lib')).filter((f) => f.endsWith('.js') && f !== 'lite.js').map((f) => `lib/${f}`);
    for (const f of ['index.js', 'node.js', 'full-module.js', ...libs]) {
        assert.ok(!names(f), `${f}: the default entry's graph never names the lite module`);
    }
    for (const f of ['lite.js', 'lite-node.js', 'lib/lite.js']) assert.ok(manifest.sideEffects.includes(`./${f}`), `sideEffects: ${f}`);
});

test('release package: LICENSE, engines, sideEffects, repository, no script of unshipped files', () => {
    const root = path.join(unpacked, 'package');
    const manifest = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8'));
    assert.match(readFileSync(path.join(root, 'LICENSE'), 'utf8'), /Apache License\s+Version 2\.0/);
    assert.equal(manifest.license, 'Apache-2.0');
    assert.equal(manifest.engines.node, '>=20');
    assert.match(manifest.repository.url, /^git\+https:\/\/.+\.git$/);
    assert.ok(manifest.homepage && manifest.bugs?.url, 'homepage and bugs');
    assert.equal(manifest.browser, undefined, 'the browser entry is the exports map\'s default condition');
    for (const entry of manifest.sideEffects) assert.ok(existsSync(path.join(root, entry)), `sideEffects: ${entry} is shipped`);
    assert.deepEqual(manifest.scripts ?? {}, {}, 'no script runs files the package does not ship (test/)');
});
