#!/usr/bin/env node
// Throughput of the built package (build/pkg) in Node (V8, as in Chromium), for choosing the
// release settings in scripts/build-pkg.sh:  node tests/npm/bench.mjs [MiB [PKG_DIR]]
// Prints one JSON line: MB/s of one-shot encrypt and decrypt per suite (best of 5), RSA-3072
// wraps per second, and the gzipped sizes of the .wasm and of the package's JS.
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const pkg = path.resolve(process.argv[3] ?? path.join(repo, 'build/pkg'));
const cd = await import(path.join(pkg, 'node.js'));
const MiB = Number(process.argv[2] ?? 64);

const privateKey = readFileSync(path.join(repo, 'tests/data/rsa-3072.pem'), 'utf8');
const keyring = await cd.RawRsaKeyring.fromPem({ keyNamespace: 'bench', keyName: 'k', privateKey });
const data = new Uint8Array(MiB << 20).map((_, i) => i * 31);

async function best(fn) {
    let top = Infinity;
    for (let i = 0; i < 5; i++) {
        const t = performance.now();
        await fn();
        top = Math.min(top, performance.now() - t);
    }
    return Number((data.length / 1e6 / (top / 1000)).toFixed(1));
}

const out = {};
for (const suite of [0x0578, 0x0478]) {
    let message;
    out[`encrypt_${suite.toString(16)}`] = await best(async () => {
        message = (await cd.encrypt(keyring, data, { suite })).result;
    });
    out[`decrypt_${suite.toString(16)}`] = await best(() => cd.decrypt(keyring, message));
}
const small = new Uint8Array(1);
const t = performance.now();
let n = 0;
while (performance.now() - t < 1000) {
    await cd.encrypt(keyring, small, { suite: 0x0478 });
    n++;
}
out.wraps_per_s = Math.round(n / ((performance.now() - t) / 1000));
const gz = (file) => gzipSync(readFileSync(file), { level: 9 }).length;
out.wasm_bytes = readFileSync(path.join(pkg, 'cipherdrop_bg.wasm')).length;
out.wasm_gzip = gz(path.join(pkg, 'cipherdrop_bg.wasm'));
const js = ['index.js', 'node.js', 'cipherdrop.js', ...readdirSync(path.join(pkg, 'lib')).map((f) => `lib/${f}`)];
out.js_bytes = js.reduce((s, f) => s + readFileSync(path.join(pkg, f)).length, 0);
out.js_gzip = js.reduce((s, f) => s + gz(path.join(pkg, f)), 0);
console.log(JSON.stringify(out));
