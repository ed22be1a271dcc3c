// Fixtures for the package tests, made fresh in each run: the test keys in every PEM form,
// and messages encrypted by the official SDKs (@aws-crypto/client-node from
// tests/interop/node, aws-encryption-sdk for Python from build/venv) with raw RSA keyrings.
import { spawnSync } from 'node:child_process';
import { createPrivateKey, createPublicKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

const KEY_FILES = { 2048: 'tests/data/rsa-2048.pem', 3072: 'tests/data/rsa-3072.pem' };
const NAMESPACE = 'cipherdrop-npm-tests';
const SUITES = [0x0478, 0x0578];
const OAEP = ['sha1', 'sha256', 'sha384', 'sha512'];

/** `{ bits: { pkcs8, pkcs1, spki, pkcs1Public, file } }`, PEM strings. */
export function keys(repo) {
    const out = {};
    for (const [bits, file] of Object.entries(KEY_FILES)) {
        const key = createPrivateKey(readFileSync(path.join(repo, file)));
        const pub = createPublicKey(key);
        out[bits] = {
            file: path.join(repo, file),
            pkcs8: key.export({ type: 'pkcs8', format: 'pem' }),
            pkcs1: key.export({ type: 'pkcs1', format: 'pem' }),
            spki: pub.export({ type: 'spki', format: 'pem' }),
            pkcs1Public: pub.export({ type: 'pkcs1', format: 'pem' }),
        };
    }
    return out;
}

/** Deterministic test bytes. */
export function plaintextOf(size, seed) {
    const out = Buffer.alloc(size);
    let x = seed * 2654435761 >>> 0;
    for (let i = 0; i < size; i++) {
        x = (x * 1103515245 + 12345) >>> 0;
        out[i] = x >>> 24;
    }
    return out;
}

/** The requests both SDKs encrypt: every suite and OAEP hash, plus a two-key message. */
function requests(keySet, producer) {
    const reqs = [];
    let seed = producer === 'python' ? 1000 : 0;
    const spec = (bits) => ({ namespace: NAMESPACE, name: `rsa-${bits}`, pem: keySet[bits].file, bits });
    for (const suite of SUITES) {
        for (const [i, oaep] of OAEP.entries()) {
            const size = [0, 1, 4096 * 3 + 7, 5000][i];
            reqs.push({
                name: `${producer} 0x${suite.toString(16).padStart(4, '0')} ${oaep} ${size} bytes`,
                producer, suite, oaep, keys: [spec(2048)], frameLength: i === 3 ? 1024 : 4096,
                context: { producer, 'ключ': 'значение', n: String(i) },
                plaintext: plaintextOf(size, ++seed).toString('base64'),
            });
        }
        reqs.push({
            name: `${producer} 0x${suite.toString(16).padStart(4, '0')} two keys`,
            producer, suite, oaep: 'sha256', keys: [spec(2048), spec(3072)], frameLength: 512,
            context: { producer }, plaintext: plaintextOf(2000, ++seed).toString('base64'),
        });
    }
    return reqs;
}

function clientNode(repo) {
    const require = createRequire(path.join(repo, 'tests/interop/node/package.json'));
    return require('@aws-crypto/client-node');
}

function clientNodeKeyring(sdk, keySpecs, oaep) {
    const keyrings = keySpecs.map(({ namespace, name, pem }) => {
        const text = readFileSync(pem, 'utf8');
        const rsaKey = { privateKey: createPrivateKey(text), publicKey: createPublicKey(text) };
        return new sdk.RawRsaKeyringNode({ keyNamespace: namespace, keyName: name, rsaKey, oaepHash: oaep });
    });
    const [generator, ...children] = keyrings;
    return children.length ? new sdk.MultiKeyringNode({ generator, children }) : generator;
}

/** Messages from @aws-crypto/client-node. */
async function fromClientNode(repo, keySet) {
    const sdk = clientNode(repo);
    const { encrypt } = sdk.buildClient(sdk.CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT);
    const out = [];
    for (const req of requests(keySet, 'client-node')) {
        const { result } = await encrypt(clientNodeKeyring(sdk, req.keys, req.oaep),
            Buffer.from(req.plaintext, 'base64'),
            { encryptionContext: req.context, frameLength: req.frameLength, suiteId: req.suite });
        out.push({ ...req, message: Buffer.from(result).toString('base64') });
    }
    return out;
}

/** Format 1.0 messages (the Python SDK writes them on request): signed P-384, unsigned with
 * HKDF (AES-256, and AES-192, which Chromium's WebCrypto lacks) and without a KDF, and signed
 * P-256, which the npm package does not read. */
function legacyRequests(keySet) {
    return [0x0378, 0x0178, 0x0146, 0x0078, 0x0214].map((suite, i) => ({
        name: `python format 1.0 0x${suite.toString(16).padStart(4, '0')}`,
        producer: 'python', legacy: true, suite, oaep: 'sha256',
        keys: [{ namespace: NAMESPACE, name: 'rsa-2048', pem: keySet[2048].file, bits: 2048 }],
        frameLength: 1024, context: { producer: 'python' },
        plaintext: plaintextOf(3000, 2000 + i).toString('base64'),
    }));
}

/** Messages from the Python SDK (tests/npm/python_messages.py). */
function fromPython(repo, requestList) {
    const python = path.join(repo, 'build/venv/bin/python');
    const p = spawnSync(python, [path.join(repo, 'tests/npm/python_messages.py')], {
        input: JSON.stringify(requestList), encoding: 'utf8', maxBuffer: 1 << 28,
    });
    if (p.status !== 0) throw new Error(`python_messages.py failed (${p.status}): ${p.stderr || p.error}`);
    return JSON.parse(p.stdout);
}

/** All interop fixtures: `{ keys, messages, legacyMessages }`. */
export async function makeFixtures(repo) {
    const keySet = keys(repo);
    const messages = [...(await fromClientNode(repo, keySet)), ...fromPython(repo, requests(keySet, 'python'))];
    const legacyMessages = fromPython(repo, legacyRequests(keySet));
    for (const m of [...messages, ...legacyMessages]) for (const k of m.keys) delete k.pem;
    for (const k of Object.values(keySet)) delete k.file;
    return { namespace: NAMESPACE, keys: keySet, messages, legacyMessages };
}

/**
 * Decrypts `message` (bytes) with @aws-crypto/client-node and the private keys `bits`
 * (e.g. ['2048']), OAEP `oaep`; returns `{ plaintext, encryptionContext, suiteId, frameLength }`.
 */
export async function officialDecrypt(repo, { message, bits, oaep }) {
    const sdk = clientNode(repo);
    const { decrypt } = sdk.buildClient(sdk.CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT);
    const specs = bits.map((b) => ({ namespace: NAMESPACE, name: `rsa-${b}`, pem: path.join(repo, KEY_FILES[b]) }));
    const { plaintext, messageHeader } = await decrypt(clientNodeKeyring(sdk, specs, oaep), Buffer.from(message));
    return {
        plaintext: new Uint8Array(plaintext),
        encryptionContext: messageHeader.encryptionContext,
        suiteId: messageHeader.suiteId,
        frameLength: messageHeader.frameLength,
    };
}
