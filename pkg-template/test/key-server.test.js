// KeyServerKeyring against a stand-in for the key server's HTTP API (a `fetch` function): the
// public key is fetched once, unwrap sends the header and the EDK's key name, refusals and
// network failures become DecryptError code KEYRING with the server's code. The real server
// is exercised end to end by the demo page tests (www-demo/test/).
import assert from 'node:assert/strict';
import {
    constants, createCipheriv, createHash, createPrivateKey, createPublicKey, diffieHellman, generateKeyPairSync,
    privateDecrypt, randomBytes,
} from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { test } from 'node:test';

import { DecryptError, KeyError, KeyServerKeyring, MultiKeyring, RawRsaKeyring, decrypt, encrypt } from 'cipherdrop';

const keyFile = (name) => readFile(new URL(`../../../tests/data/${name}`, import.meta.url), 'utf8');
const privatePem = await keyFile('rsa-2048.pem');
const spki = createPublicKey(privatePem).export({ type: 'spki', format: 'der' });
const KEY_NAME = 'k-1234/v1';
const TOKEN = 'tok-alice';

/** The EDKs of a v2 message header: [{ providerId, providerInfo, ciphertext }]. */
function headerEdks(header) {
    const view = new DataView(header.buffer, header.byteOffset, header.byteLength);
    let at = 1 + 2 + 32; // version, suite, message ID
    at += 2 + view.getUint16(at); // encryption context
    const count = view.getUint16(at);
    at += 2;
    const text = (n) => new TextDecoder().decode(header.subarray(at, (at += n)));
    const edks = [];
    for (let i = 0; i < count; i += 1) {
        const providerId = text(view.getUint16((at += 2) - 2));
        const providerInfo = text(view.getUint16((at += 2) - 2));
        const n = view.getUint16((at += 2) - 2);
        edks.push({ providerId, providerInfo, ciphertext: header.subarray(at, (at += n)) });
    }
    return edks;
}

const b64url = (bytes) => Buffer.from(bytes).toString('base64url');

/**
 * The server's answer: `secret` as a compact JWE (RFC 7516/7518 ECDH-ES + A256GCM) to the
 * `recipient` JWK, written here with node:crypto alone (Concat KDF by RFC 7518 §4.6.2).
 */
function jweTo(recipient, kid, secret) {
    const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const theirs = createPublicKey({ key: recipient, format: 'jwk' });
    const z = diffieHellman({ privateKey, publicKey: theirs });
    const field = (bytes) => Buffer.concat([Buffer.from([0, 0, 0, bytes.length]), Buffer.from(bytes)]);
    const cek = createHash('sha256').update(Buffer.concat([
        Buffer.from([0, 0, 0, 1]), z, field('A256GCM'), field(''), field(''), Buffer.from([0, 0, 1, 0]),
    ])).digest();
    const { kty, crv, x, y } = publicKey.export({ format: 'jwk' });
    const header = b64url(JSON.stringify({ alg: 'ECDH-ES', enc: 'A256GCM', epk: { kty, crv, x, y }, kid }));
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', cek, iv).setAAD(Buffer.from(header));
    const body = Buffer.concat([cipher.update(secret), cipher.final()]);
    return [header, '', b64url(iv), b64url(body), b64url(cipher.getAuthTag())].join('.');
}

/** A fetch that plays the key server; `refuse` makes unwrap answer with that error. */
function fakeServer({ refuse = null, publicKeyDoc = null, tamper = null, answerKid = null } = {}) {
    const calls = [];
    const json = (status, body) => new Response(JSON.stringify(body), {
        status, headers: { 'content-type': 'application/json' },
    });
    // A function, not an arrow: like a browser's fetch, it must be called without a `this`.
    const fetchFn = async function fetch(url, init = {}) {
        assert.equal(this, undefined, 'fetch called as a method');
        calls.push({ url, init });
        assert.equal(init.headers.authorization, `Bearer ${TOKEN}`);
        const path = new URL(url).pathname;
        if (path === '/v0/keys/alias%2Farchive/public-key') {
            return json(200, publicKeyDoc ?? {
                keyNamespace: 'cipherdrop', keyName: KEY_NAME, publicKey: spki.toString('base64'),
            });
        }
        if (path === '/v0/unwrap' && init.method === 'POST') {
            if (refuse) return json(refuse.status, { error: refuse.error, message: refuse.message });
            const { header, keyName, recipient } = JSON.parse(init.body);
            assert.deepEqual(Object.keys(recipient).sort(), ['crv', 'kty', 'x', 'y'], 'a public JWK only');
            const edk = headerEdks(Buffer.from(header, 'base64')).find((e) => e.providerInfo === keyName);
            const dataKey = privateDecrypt({
                key: createPrivateKey(privatePem), padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256',
            }, edk.ciphertext);
            const jwe = jweTo(recipient, answerKid ?? keyName, dataKey);
            return json(200, { keyId: 'k-1234', keyVersion: 1, wrappedDataKey: tamper?.(jwe) ?? jwe });
        }
        return json(404, { error: 'NotFound', message: 'no route' });
    };
    return { fetchFn, calls };
}

const data = new TextEncoder().encode('archived bytes');
const context = { owner: 'alice', object: 'obj-1' };

test('wraps with the fetched public key and unwraps through the server', async () => {
    const server = fakeServer();
    const keyring = await KeyServerKeyring.create({
        url: 'http://keys.test/', token: TOKEN, keyId: 'alias/archive', fetch: server.fetchFn,
    });
    assert.equal(keyring.keyId, 'alias/archive');
    assert.equal(keyring.keyName, KEY_NAME);
    const { result, messageHeader } = await encrypt(keyring, data, { encryptionContext: context });
    assert.deepEqual(messageHeader.encryptedDataKeys, [{ providerId: 'cipherdrop', providerInfo: KEY_NAME }]);
    const { plaintext } = await decrypt(keyring, result, { expectedContext: context });
    assert.deepEqual(plaintext, data);
    const unwraps = server.calls.filter((c) => c.url.endsWith('/v0/unwrap'));
    assert.equal(unwraps.length, 1);
    assert.equal(JSON.parse(unwraps[0].init.body).keyName, KEY_NAME);
    assert.equal(server.calls.filter((c) => c.url.endsWith('/public-key')).length, 1);
});

test('a token provider is asked for a fresh token before every request', async () => {
    const server = fakeServer();
    let calls = 0;
    const provider = async () => {
        calls += 1;
        return TOKEN;
    };
    const keyring = await KeyServerKeyring.create({
        url: 'http://keys.test/', token: provider, keyId: 'alias/archive', fetch: server.fetchFn,
    });
    const { result } = await encrypt(keyring, data, { encryptionContext: context });
    await decrypt(keyring, result);
    await decrypt(keyring, result);
    assert.equal(calls, 3, 'public key, then one per unwrap');
    const failing = await KeyServerKeyring.create({
        url: 'http://keys.test/', token: async () => '', keyId: 'alias/archive',
        fetch: server.fetchFn,
    }).catch((e) => e);
    assert.ok(failing instanceof TypeError, String(failing));
});

test('a JWE answer that was altered, or names another key, does not open', async () => {
    const flip = (jwe) => {
        const parts = jwe.split('.');
        const body = Buffer.from(parts[3], 'base64url');
        body[0] ^= 1;
        parts[3] = b64url(body);
        return parts.join('.');
    };
    for (const options of [{ tamper: flip }, { answerKid: 'k-1234/v2' }, { tamper: (j) => j.replace(/\.[^.]*$/, '.AAAA') }]) {
        const server = fakeServer(options);
        const keyring = await KeyServerKeyring.create({
            url: 'http://keys.test/', token: TOKEN, keyId: 'alias/archive', fetch: server.fetchFn,
        });
        const { result } = await encrypt(keyring, data, { encryptionContext: context });
        await assert.rejects(decrypt(keyring, result), (err) => {
            assert.ok(err instanceof DecryptError, String(err));
            // The core's "no EDK unwrapped", with the keyring's reason for the one it tried.
            assert.equal(err.code, 'KEYRING', `${err.code}: ${err.message}`);
            assert.equal(err.serverCode, 'InvalidResponse');
            return true;
        });
    }
});

test('EDKs of other providers are not sent to the server', async () => {
    const server = fakeServer();
    const keyring = await KeyServerKeyring.create({ url: 'http://keys.test', token: TOKEN, keyId: 'alias/archive', fetch: server.fetchFn });
    const edk = { providerId: 'acme', providerInfo: 'k1', ciphertext: new Uint8Array(256) };
    assert.equal(await keyring.unwrap(edk, new Uint8Array(10)), null);
    assert.equal(server.calls.length, 1); // the public key only
});

test('a refusal is DecryptError KEYRING with the server code; an escrow key still opens', async () => {
    const escrow = await RawRsaKeyring.fromPem({ keyNamespace: 'escrow', keyName: 'e1', privateKey: await keyFile('rsa-3072.pem') });
    for (const [status, error] of [[403, 'AccessDenied'], [403, 'KeyDisabled'], [403, 'KeyPendingDeletion'], [400, 'InvalidCiphertext']]) {
        const server = fakeServer({ refuse: { status, error, message: 'no' } });
        const keyring = await KeyServerKeyring.create({ url: 'http://keys.test', token: TOKEN, keyId: 'alias/archive', fetch: server.fetchFn });
        const { result } = await encrypt(new MultiKeyring({ generator: keyring, children: [escrow] }), data, { encryptionContext: context });
        await assert.rejects(decrypt(keyring, result), (err) => {
            assert.ok(err instanceof DecryptError);
            assert.equal(err.code, 'KEYRING');
            assert.equal(err.serverCode, error);
            assert.equal(err.status, status);
            assert.match(err.message, new RegExp(error));
            return true;
        });
        const { plaintext } = await decrypt(new MultiKeyring({ generator: keyring, children: [escrow] }), result);
        assert.deepEqual(plaintext, data);
    }
});

test('an unreachable server is DecryptError KEYRING NetworkError; an abort is the abort', async () => {
    const server = fakeServer();
    const keyring0 = await KeyServerKeyring.create({ url: 'http://keys.test', token: TOKEN, keyId: 'alias/archive', fetch: server.fetchFn });
    const { result } = await encrypt(keyring0, data, { encryptionContext: context });
    let failing = false;
    const flaky = async (url, init) => {
        if (failing) throw new TypeError('fetch failed');
        return (0, server.fetchFn)(url, init);
    };
    const keyring = await KeyServerKeyring.create({ url: 'http://keys.test', token: TOKEN, keyId: 'alias/archive', fetch: flaky });
    failing = true;
    await assert.rejects(decrypt(keyring, result), { name: 'DecryptError', code: 'KEYRING', serverCode: 'NetworkError' });

    const controller = new AbortController();
    const reason = new Error('user cancelled');
    const hanging = (url, init) => new Promise((_, reject) => {
        init.signal.addEventListener('abort', () => reject(new DOMException('aborted', 'AbortError')));
        controller.abort(reason);
    });
    const edk = { providerId: 'cipherdrop', providerInfo: KEY_NAME, ciphertext: new Uint8Array(256) };
    const keyring3 = await KeyServerKeyring.create({
        url: 'http://keys.test', token: TOKEN, keyId: 'alias/archive',
        fetch: (url, init) => (url.endsWith('/v0/unwrap') ? hanging(url, init) : (0, server.fetchFn)(url, init)),
    });
    await assert.rejects(keyring3.unwrap(edk, new Uint8Array(10), { signal: controller.signal }), (err) => err === reason);
});

test('create: a refused or odd public key is KeyError INVALID_KEY', async () => {
    const refused = async () => new Response(JSON.stringify({ error: 'AccessDenied', message: 'no' }), { status: 403 });
    await assert.rejects(KeyServerKeyring.create({ url: 'http://k', token: TOKEN, keyId: 'alias/x', fetch: refused }),
        (err) => err instanceof KeyError && err.code === 'INVALID_KEY' && err.serverCode === 'AccessDenied');
    const odd = fakeServer({ publicKeyDoc: { keyNamespace: 'other', keyName: 'x', publicKey: '' } });
    await assert.rejects(KeyServerKeyring.create({ url: 'http://k', token: TOKEN, keyId: 'alias/archive', fetch: odd.fetchFn }),
        { name: 'KeyError', code: 'INVALID_KEY' });
    await assert.rejects(KeyServerKeyring.create({ url: 'http://k', keyId: 'alias/archive' }), TypeError);
});

test('the first refusal is reported: the server denial, not the escrow keyring without a private key', async () => {
    const { fetchFn } = fakeServer({ refuse: { status: 403, error: 'AccessDenied', message: 'bob may not Unwrap' } });
    const server = await KeyServerKeyring.create({ url: 'http://server', token: TOKEN, keyId: 'alias/archive', fetch: fetchFn });
    const escrow = await RawRsaKeyring.fromPem({
        keyNamespace: 'escrow', keyName: 'offline', publicKey: await keyFile('rsa-2048.pub.pem'),
    });
    const keyring = new MultiKeyring({ generator: server, children: [escrow] });
    const { result } = await encrypt(keyring, data, { encryptionContext: context });
    await assert.rejects(decrypt(keyring, result), (err) => {
        assert.ok(err instanceof DecryptError && err.code === 'KEYRING', `${err}`);
        assert.match(err.message, /AccessDenied/);
        return true;
    });
});
