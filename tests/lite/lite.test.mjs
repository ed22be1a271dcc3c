// The package's lite message module (build/pkg/cipherdrop_lite_bg.wasm, the crate without its
// `signing` and `builtin-crypto` features, as scripts/build-pkg.sh ships it) against its full
// module (cipherdrop_bg.wasm): unsigned messages go both ways, with the lite module's caller
// deriving the keys and running AES-GCM (here node:crypto, written from the specification,
// not the glue's code); every signed suite is refused with UNSUPPORTED_SUITE right after the
// header, before a key is made or asked for, which is what lets the glue (lib/sessions.js)
// hand the same input to the full module.
import assert from 'node:assert/strict';
import { createCipheriv, createDecipheriv, hkdfSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const pkg = path.join(repo, 'build/pkg');
const lite = await import(path.join(pkg, 'cipherdrop_lite.js'));
const liteBytes = readFileSync(path.join(pkg, 'cipherdrop_lite_bg.wasm'));
const { memory: liteMemory } = await lite.default({ module_or_path: liteBytes });
const { jobAt } = await import(path.join(pkg, 'lib/memory.js'));
const full = await import(path.join(pkg, 'cipherdrop.js'));
const fullBytes = readFileSync(path.join(pkg, 'cipherdrop_bg.wasm'));
await full.default({ module_or_path: fullBytes });

const EDKS = [{ providerId: 'test', providerInfo: 'key', ciphertext: new Uint8Array(64).fill(4) }];
const PLAINTEXT = Uint8Array.from({ length: 10_000 }, (_, i) => i % 251);
const concat = (parts) => new Uint8Array(Buffer.concat(parts));

const EMPTY = new Uint8Array(0);

/** HKDF-SHA512 by the core's recipe, as "HKDF Encryption Key" and "HKDF Commit Key" say. */
function derive(dataKey, { hash, salt, keyInfo, commitInfo, keyLength }) {
    assert.equal(hash, 'SHA-512');
    assert.equal(keyLength, 32);
    const key = Buffer.from(hkdfSync('sha512', dataKey, salt, keyInfo, keyLength));
    return { key, commitKey: new Uint8Array(hkdfSync('sha512', dataKey, salt, commitInfo, 32)) };
}

function seal(key, iv, aad, plaintext) {
    const c = createCipheriv('aes-256-gcm', key, iv);
    c.setAAD(aad);
    return Buffer.concat([c.update(plaintext), c.final(), c.getAuthTag()]);
}

function open(key, iv, aad, sealed) {
    const d = createDecipheriv('aes-256-gcm', key, iv);
    d.setAAD(aad);
    d.setAuthTag(sealed.subarray(sealed.length - 16));
    return Buffer.concat([d.update(sealed.subarray(0, sealed.length - 16)), d.final()]);
}

/** A message of `suite` written by module `m`, and its data key (the EDK is a dummy). */
function encrypt(m, suite) {
    const pending = new m.PendingEncryptor(suite, 4096, { purpose: 'test' });
    const dataKey = pending.dataKey();
    if (m !== lite) {
        const encryptor = pending.withEncryptedDataKeys(EDKS);
        pending.free();
        const message = concat([encryptor.update(PLAINTEXT), encryptor.finish()]);
        encryptor.free();
        return { message, dataKey };
    }
    const { key, commitKey } = derive(dataKey, pending.keyDerivation());
    const aad = pending.headerToSeal(EDKS, commitKey);
    const encryptor = pending.sealHeader(seal(key, new Uint8Array(12), aad, EMPTY));
    pending.free();
    const out = [encryptor.update(EMPTY)];
    for (let at = 0; ; at += 4096) {
        const plain = PLAINTEXT.subarray(at, at + 4096);
        const isFinal = plain.length < 4096;
        const job = jobAt(liteMemory, encryptor.frameJob(plain.length, isFinal));
        const sealed = seal(key, job.iv, job.aad, plain);
        out.push(encryptor.frameSealedUnsigned(), sealed);
        if (isFinal) break;
    }
    out.push(encryptor.finish());
    encryptor.free();
    return { message: concat(out), dataKey };
}

/** The plaintext of `message` read by module `m` with `dataKey`. */
function decrypt(m, { message, dataKey }) {
    if (m !== lite) {
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
    const d = lite.Decryptor.newDetached({ purpose: 'test' }, false, false, undefined);
    const out = [];
    let key;
    for (let at = 0; d.state !== 'done' && at < message.length;) {
        const ptr = d.updateDetached(message.subarray(at));
        at += d.consumed;
        if (d.state === 'need-data-key') {
            d.nextCandidate();
            assert.equal(d.reportKey(Uint8Array.from(dataKey)), true);
            const auth = d.headerAuth();
            const derived = derive(dataKey, auth);
            key = derived.key;
            d.provideDerivedKeys(derived.commitKey, seal(key, auth.iv, auth.aad, EMPTY));
        } else if (d.state === 'frame-body') {
            const job = jobAt(liteMemory, ptr);
            const body = message.subarray(at, at + job.plaintextLength + 16);
            at += body.length;
            const plaintext = open(key, job.iv.slice(), job.aad.slice(), body);
            d.frameBodySkip();
            d.frameOpened(job.sequence, true);
            out.push(plaintext);
        }
    }
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
    const d = lite.Decryptor.newDetached(undefined, false, false, undefined);
    let at = 0;
    let err = null;
    for (; at < signed.message.length && !err; at += 1) {
        try {
            d.updateDetached(signed.message.subarray(at, at + 1));
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
    const refusing = lite.Decryptor.newDetached(undefined, false, true, undefined);
    assert.equal(errorOf(() => refusing.updateDetached(signed.message)).code, 'SIGNED_MESSAGE_REFUSED');
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

test('the lite module has no AES-GCM and no HKDF: no SHA-512, no core sealing or key export', () => {
    // SHA-512's first round constant (FIPS 180-4), little-endian as the sha2 crate's table
    // holds it: HKDF-SHA512 needs it, so the full module has it.
    const k0 = Buffer.from('428a2f98d728ae22', 'hex').reverse();
    assert.ok(fullBytes.includes(k0), 'the full module has SHA-512');
    assert.ok(!liteBytes.includes(k0), 'the lite module has SHA-512');
    for (const [cls, methods] of [['Encryptor', ['takeContentKey', 'sealInPlace', 'sealJob']],
        ['Decryptor', ['takeContentKey', 'openInPlace', 'openJob']],
        ['PendingEncryptor', ['withEncryptedDataKeys']]]) {
        for (const name of methods) {
            assert.equal(typeof full[cls].prototype[name], 'function', `full ${cls}.${name}`);
            assert.equal(lite[cls].prototype[name], undefined, `lite ${cls}.${name}`);
        }
    }
    // No non-detached decryptor: the core could not open its frames.
    const exports = WebAssembly.Module.exports(new WebAssembly.Module(liteBytes)).map((e) => e.name);
    assert.ok(!exports.includes('decryptor_new') && exports.includes('decryptor_newDetached'), 'only detached decryptors');
});

test('the lite module checks the caller\'s commit key and header tag as the core checks its own', () => {
    const written = encrypt(lite, 0x0478);
    const start = () => {
        const d = lite.Decryptor.newDetached({ purpose: 'test' }, false, false, undefined);
        d.updateDetached(written.message);
        assert.equal(d.state, 'need-data-key');
        d.nextCandidate();
        assert.equal(d.reportKey(Uint8Array.from(written.dataKey)), true);
        return d;
    };
    const auth = start().headerAuth();
    assert.deepEqual([...auth.iv], new Array(12).fill(0), 'format 2.0: an all-zero IV');
    const { key, commitKey } = derive(written.dataKey, auth);
    const tag = seal(key, auth.iv, auth.aad, EMPTY);
    const codeOf = (commit, t) => {
        const d = start();
        try {
            return errorOf(() => d.provideDerivedKeys(commit, t)).code;
        } finally {
            d.free();
        }
    };
    const wrongCommit = commitKey.slice();
    wrongCommit[31] ^= 1;
    const wrongTag = Uint8Array.from(tag);
    wrongTag[0] ^= 1;
    assert.equal(codeOf(wrongCommit, tag), 'COMMITMENT_MISMATCH');
    assert.equal(codeOf(undefined, tag), 'COMMITMENT_MISMATCH');
    assert.equal(codeOf(commitKey, wrongTag), 'BAD_HEADER_TAG');
    assert.equal(codeOf(commitKey, tag.subarray(0, 15)), 'BAD_HEADER_TAG');
    // A failed check ends the decryption: a later right answer does not revive it.
    const d = start();
    errorOf(() => d.provideDerivedKeys(commitKey, wrongTag));
    assert.equal(errorOf(() => d.provideDerivedKeys(commitKey, tag)).code, 'BAD_HEADER_TAG');
    d.free();
    // Encrypt: a commit key or tag of the wrong length is refused.
    const pending = new lite.PendingEncryptor(0x0478, 4096, undefined);
    assert.equal(errorOf(() => pending.headerToSeal(EDKS, new Uint8Array(31))).code, 'INVALID_STATE');
    const other = new lite.PendingEncryptor(0x0478, 4096, undefined);
    other.headerToSeal(EDKS, new Uint8Array(32));
    assert.equal(errorOf(() => other.sealHeader(new Uint8Array(15))).code, 'INVALID_STATE');
    pending.free();
    other.free();
});
