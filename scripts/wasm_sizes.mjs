#!/usr/bin/env node
// Where the bytes of a .wasm are, as twiggy would tell (not installed here): code bytes per
// crate, per module of the cipherdrop crate, and the largest functions, from the name section.
// wasm-opt drops that section, so read wasm-pack's output before scripts/build-pkg.sh runs
// wasm-opt on it (e.g. target/wasm-nosimd/pkg/cipherdrop_bg.wasm), whose sizes rank alike.
//
//   node scripts/wasm_sizes.mjs FILE.wasm [TOP]     TOP largest functions (default 20)
import { readFileSync } from 'node:fs';

const [file, top = '20'] = process.argv.slice(2);
if (!file) {
    console.error('usage: node scripts/wasm_sizes.mjs FILE.wasm [TOP]');
    process.exit(2);
}
const b = readFileSync(file);
let p = 8;
const leb = () => {
    let r = 0;
    let shift = 0;
    let x;
    do {
        x = b[p++];
        r += (x & 0x7f) * 2 ** shift;
        shift += 7;
    } while (x & 0x80);
    return r;
};
const skipLimits = () => {
    const flags = b[p++];
    leb();
    if (flags & 1) leb();
};
let importedFunctions = 0;
const bodies = [];
const names = new Map();
while (p < b.length) {
    const id = b[p++];
    const len = leb();
    const end = p + len;
    if (id === 2) { // imports: function indices start after the imported functions
        for (let n = leb(); n > 0; n -= 1) {
            for (let field = 0; field < 2; field += 1) { // module and field names
                const len = leb();
                p += len;
            }
            const kind = b[p++];
            if (kind === 0) {
                leb();
                importedFunctions += 1;
            } else if (kind === 1) {
                p += 1;
                skipLimits();
            } else if (kind === 2) skipLimits();
            else p += 2;
        }
    } else if (id === 10) { // code
        for (let n = leb(); n > 0; n -= 1) {
            const len = leb();
            bodies.push(len);
            p += len;
        }
    } else if (id === 0) { // custom: "name", subsection 1 = function names
        const nameLen = leb();
        const section = b.subarray(p, p + nameLen).toString();
        p += nameLen;
        while (section === 'name' && p < end) {
            const sub = b[p++];
            const subLen = leb();
            const subEnd = p + subLen;
            if (sub === 1) {
                for (let n = leb(); n > 0; n -= 1) {
                    const index = leb();
                    const len = leb();
                    names.set(index, b.subarray(p, p + len).toString());
                    p += len;
                }
            }
            p = subEnd;
        }
    }
    p = end;
}
if (!names.size) console.error('wasm_sizes: no name section (run it on the file before wasm-opt)');
const functions = bodies.map((len, i) => ({ len, name: names.get(i + importedFunctions) ?? `f${i}` }));
const sum = (map, key, len) => map.set(key, (map.get(key) ?? 0) + len);
const crates = new Map();
const ours = new Map();
for (const { len, name } of functions) {
    // `<T as path::Trait>::f` counts for T's crate.
    const crate = name.replace(/^</, '').match(/^([A-Za-z0-9_]+)/)?.[1] ?? name;
    sum(crates, crate, len);
    const m = name.match(/^<?cipherdrop::([a-z0-9_]+(?:::[a-z0-9_]+)?)/);
    if (m) sum(ours, m[1], len);
}
const table = (map) => [...map].sort((x, y) => y[1] - x[1]).map(([k, v]) => `${String(v).padStart(8)}  ${k}`).join('\n');
const total = bodies.reduce((a, c) => a + c, 0);
console.log(`${file}: ${b.length} bytes, code ${total} bytes in ${bodies.length} functions\n\nper crate:\n${table(crates)}`);
console.log(`\nper module of cipherdrop:\n${table(ours)}`);
console.log(`\nlargest functions:\n${functions.sort((x, y) => y.len - x.len).slice(0, Number(top))
    .map(({ len, name }) => `${String(len).padStart(8)}  ${name.slice(0, 120)}`).join('\n')}`);
