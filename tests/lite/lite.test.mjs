// The package's lite message module (build/pkg/cipherdrop_lite_bg.wasm, the crate without its
// `signing` feature, as scripts/build-pkg.sh ships it) against its full module (cipherdrop_bg
// .wasm): unsigned messages go both ways, and every signed suite is refused with
// UNSUPPORTED_SUITE right after the header, before a key is made or asked for, which is what
// lets the glue (lib/sessions.js) hand the same input to the full module.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const pkg = path.join(repo, 'build/pkg');
const lite = await import(path.join(pkg, 'cipherdrop_lite.js'));
const liteBytes = readFileSync(path.join(pkg, 'cipherdrop_lite_bg.wasm'));
await lite.default({ module_or_path: liteBytes });
const full = await import(path.join(pkg, 'cipherdrop.js'));
const fullBytes = readFileSync(path.join(pkg, 'cipherdrop_bg.wasm'));
await full.default({ module_or_path: fullBytes });

const EDKS = [{ providerId: 'test', providerInfo: 'key', ciphertext: new Uint8Array(64).fill(4) }];
const PLAINTEXT = Uint8Array.from({ length: 10_000 }, (_, i) => i % 251);
const concat = (parts) => new Uint8Array(Buffer.concat(parts));

/** A message of `suite` written by module `m`, and its data key (the EDK is a dummy). */
function encrypt(m, suite) {
    const pending = new m.PendingEncryptor(suite, 4096, { purpose: 'test' });
    const dataKey = pending.dataKey();
    const encryptor = pending.withEncryptedDataKeys(EDKS);
    pending.free();
    const message = concat([encryptor.update(PLAINTEXT), encryptor.finish()]);
    encryptor.free();
    return { message, dataKey };
}

/** The plaintext of `message` read by module `m` with `dataKey`. */
function decrypt(m, { message, dataKey }) {
    const d = new m.Decryptor({ purpose: 'test' }, false, false, undefined);
    const out = [d.update(message)];
    assert.equal(d.state, 'need-data-key');
    d.nextCandidate();
    assert.equal(d.reportKey(Uint8Array.from(dataKey)), true);
    out.push(d.update(message.subarray(d.consumed)));
    d.finish();
    d.free();
    return concat(out);
}

function errorOf(fn) {
    try {
        fn();
    } catch (err) {
        return err;
    }
    assert.fail('no error');
}

test('0x0478 messages of the lite module and of the full one read in both', () => {
    const fromLite = encrypt(lite, 0x0478);
    assert.deepEqual(decrypt(lite, fromLite), PLAINTEXT);
    assert.deepEqual(decrypt(full, fromLite), PLAINTEXT);
    assert.deepEqual(decrypt(lite, encrypt(full, 0x0478)), PLAINTEXT);
});

test('the lite module refuses to write a signed suite, the default included', () => {
    for (const suite of [0x0578, undefined]) {
        const err = errorOf(() => new lite.PendingEncryptor(suite, undefined, undefined));
        assert.equal(err.code, 'UNSUPPORTED_SUITE');
        assert.equal(err.suiteId, 0x0578);
    }
});

test('the lite module refuses a signed message right after its header, before asking for a key', () => {
    const signed = encrypt(full, 0x0578);
    // Byte by byte: the header is parsed across calls, and no state asks for a key first.
    const d = new lite.Decryptor(undefined, false, false, undefined);
    let at = 0;
    let err = null;
    for (; at < signed.message.length && !err; at += 1) {
        try {
            d.update(signed.message.subarray(at, at + 1));
            assert.equal(d.state, 'need-input');
        } catch (e) {
            err = e;
        }
    }
    assert.equal(err?.code, 'UNSUPPORTED_SUITE');
    assert.equal(err.suiteId, 0x0578);
    // The whole header was read, nothing after it (the first frame starts at the next byte).
    const header = new full.Decryptor(undefined, false, false, undefined);
    header.update(signed.message);
    assert.equal(at, header.consumed);
    header.free();
    d.free();
    // The same bytes, given to the full module, decrypt.
    assert.deepEqual(decrypt(full, signed), PLAINTEXT);
    // refuseSigned keeps its own error.
    const refusing = new lite.Decryptor(undefined, false, true, undefined);
    assert.equal(errorOf(() => refusing.update(signed.message)).code, 'SIGNED_MESSAGE_REFUSED');
    refusing.free();
});

test('the lite module holds no ECDSA P-384 code', () => {
    // The p384 crate's curve constants, little-endian as its field and scalar code keeps them:
    // the group order n and the prime p (FIPS 186-5 / SEC 2). The full module has both.
    const constants = {
        n: 'ffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf581a0db248b0a77aecec196accc52973',
        p: 'fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffeffffffff0000000000000000ffffffff',
    };
    for (const [name, hex] of Object.entries(constants)) {
        const le = Buffer.from(hex, 'hex').reverse();
        assert.ok(fullBytes.includes(le), `the full module has P-384's ${name}`);
        assert.ok(!liteBytes.includes(le), `the lite module has P-384's ${name}`);
    }
    assert.ok(liteBytes.length < 0.8 * fullBytes.length, `lite ${liteBytes.length} bytes, full ${fullBytes.length}`);
});
