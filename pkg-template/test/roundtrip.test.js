// Uint8Array round trips through the package's public API in Node (build/pkg).
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { test } from 'node:test';

import {
    AlgorithmSuite, DecryptError, EncryptError, KeyError, MultiKeyring, RawRsaKeyring, decrypt, encrypt,
} from 'cipherdrop';

const keyFile = (name) => readFile(new URL(`../../../tests/data/${name}`, import.meta.url), 'utf8');
const privateKey = await keyFile('rsa-2048.pem');
const publicKey = await keyFile('rsa-2048.pub.pem');
const otherPrivateKey = await keyFile('rsa-3072.pem');

const bytes = (n) => Uint8Array.from({ length: n }, (_, i) => (i * 7 + 3) & 0xff);

test('encrypt with a public key, decrypt with the private key, both suites', async () => {
    const sender = await RawRsaKeyring.fromPem({ keyNamespace: 'acme', keyName: 'k1', publicKey });
    const recipient = await RawRsaKeyring.fromPem({ keyNamespace: 'acme', keyName: 'k1', privateKey });
    for (const suite of Object.values(AlgorithmSuite)) {
        for (const size of [0, 1, 99, 100, 101, 1000]) {
            const data = bytes(size);
            const { result, messageHeader } = await encrypt(sender, data, {
                suite, frameLength: 100, encryptionContext: { purpose: 'test' },
            });
            assert.equal(messageHeader.suiteId, suite);
            assert.equal(messageHeader.frameLength, 100);
            assert.equal(messageHeader.encryptionContext.purpose, 'test');
            assert.deepEqual(messageHeader.encryptedDataKeys, [{ providerId: 'acme', providerInfo: 'k1' }]);
            const out = await decrypt(recipient, result, { expectedContext: { purpose: 'test' } });
            assert.deepEqual(out.plaintext, data, `suite ${suite}, ${size} bytes`);
            assert.deepEqual(out.messageHeader, messageHeader);
        }
    }
});

test('a multi-keyring wraps for every key; each private key alone decrypts', async () => {
    const a = await RawRsaKeyring.fromPem({ keyNamespace: 'ns', keyName: 'a', privateKey });
    const b = await RawRsaKeyring.fromPem({ keyNamespace: 'ns', keyName: 'b', privateKey: otherPrivateKey, oaepHash: 'SHA-512' });
    const multi = new MultiKeyring({ generator: a, children: [b] });
    const { result, messageHeader } = await encrypt(multi, bytes(5000));
    assert.deepEqual(messageHeader.encryptedDataKeys.map((e) => e.providerInfo), ['a', 'b']);
    for (const keyring of [a, b, multi]) {
        assert.deepEqual((await decrypt(keyring, result)).plaintext, bytes(5000));
    }
});

test('errors carry their classes and codes', async () => {
    const keyring = await RawRsaKeyring.fromPem({ keyNamespace: 'ns', keyName: 'a', privateKey });
    const other = await RawRsaKeyring.fromPem({ keyNamespace: 'ns', keyName: 'b', privateKey });
    await assert.rejects(encrypt(keyring, bytes(1), { frameLength: 0 }),
        (e) => e instanceof EncryptError && e.code === 'INVALID_FRAME_LENGTH');
    await assert.rejects(encrypt(keyring, bytes(1), { encryptionContext: { 'aws-crypto-x': '1' } }),
        (e) => e instanceof EncryptError && e.code === 'RESERVED_CONTEXT_KEY' && e.key === 'aws-crypto-x');
    await assert.rejects(RawRsaKeyring.fromPem({ keyNamespace: 'ns', keyName: 'a', publicKey, oaepHash: 'pkcs1' }),
        (e) => e instanceof KeyError && e.code === 'PKCS1V15_REFUSED');
    const { result } = await encrypt(keyring, bytes(10));
    await assert.rejects(decrypt(other, result),
        (e) => e instanceof DecryptError && e.code === 'NO_DECRYPTABLE_KEY' && e.failedAttempts === 0);
    const publicOnly = await RawRsaKeyring.fromPem({ keyNamespace: 'ns', keyName: 'a', publicKey });
    await assert.rejects(decrypt(publicOnly, result), (e) => e instanceof DecryptError && e.code === 'KEYRING');
});
