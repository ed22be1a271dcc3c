// The npm package's KmsKeyring and KmsRsaKeyring against `cipherdrop serve` (tests/kms/run.py
// runs this in a project where the packed target/npm/cipherdrop-<version>.tgz is installed):
//   node keyring.mjs sign CONFIG        SigV4 headers of fixed inputs (run.py compares botocore's)
//   node keyring.mjs roundtrip CONFIG   encrypt files, decrypt the MPL's, for each key
//   node keyring.mjs refusals CONFIG    the typed errors of refused or invalid uses
//   node keyring.mjs decrypt-fails CONFIG   the error of decrypting CONFIG.message
//   node keyring.mjs bearer CONFIG      a round trip with a bearer token instead of SigV4
//   node keyring.mjs sym-roundtrip CONFIG   KmsKeyring: write messages, read the official SDKs'
//   node keyring.mjs sym-refusals CONFIG    KmsKeyring: the typed errors of refused uses
//   node keyring.mjs sym-decrypt CONFIG     KmsKeyring: decrypt CONFIG.message (its plaintext
//                                           as base64, or the error)
// CONFIG is JSON; every mode prints one JSON result on stdout.
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';

import { AlgorithmSuite, DecryptError, EncryptError, KeyError, KmsKeyring, KmsRsaKeyring, decrypt, encrypt } from 'cipherdrop';

const [mode, configText] = process.argv.slice(2);
const config = JSON.parse(configText);
const UNSIGNED = AlgorithmSuite.AES_256_GCM_HKDF_SHA512_COMMIT_KEY;

function keyring(key, extra = {}) {
    return KmsRsaKeyring.create({
        keyArn: key.arn, encryptionAlgorithm: key.algorithm, endpoint: config.endpoint,
        credentials: config.credentials, ...extra,
    });
}

/** The error `fn` rejects with, as `{ name, code, serverCode }`. */
async function failure(fn) {
    try {
        await fn();
    } catch (err) {
        if (!(err instanceof DecryptError || err instanceof EncryptError || err instanceof KeyError)) throw err;
        return { name: err.name, code: err.code, serverCode: err.serverCode, message: err.message };
    }
    throw new Error('expected a failure, but it succeeded');
}

if (mode === 'sign') {
    // The signer is internal: load the installed package's own file.
    const main = createRequire(import.meta.url).resolve('cipherdrop');
    const { signRequest } = await import(path.join(path.dirname(main), 'lib/sigv4.js'));
    const out = [];
    for (const c of config.cases) {
        out.push(await signRequest({ ...c, date: new Date(c.date) }));
    }
    console.log(JSON.stringify(out));
} else if (mode === 'roundtrip') {
    const plaintext = readFileSync(config.plaintext);
    const results = [];
    for (const key of config.keys) {
        const ring = await keyring(key);
        const { result } = await encrypt(ring, plaintext, { suite: UNSIGNED, encryptionContext: { tenant: 'acme' } });
        writeFileSync(key.ours, result);
        const mine = await decrypt(ring, result, { expectedContext: { tenant: 'acme' } });
        const theirs = await decrypt(ring, readFileSync(key.theirs), { expectedContext: { tenant: 'acme' } });
        // With the public key given (PEM), no GetPublicKey call.
        const given = await keyring(key, { publicKey: key.publicKeyPem });
        const again = await encrypt(given, plaintext, { suite: UNSIGNED });
        const back = await decrypt(ring, again.result);
        results.push({
            arn: key.arn,
            mine: Buffer.from(mine.plaintext).equals(plaintext),
            theirs: Buffer.from(theirs.plaintext).equals(plaintext),
            given: Buffer.from(back.plaintext).equals(plaintext),
            edks: mine.messageHeader.encryptedDataKeys.map((e) => [e.providerId, e.providerInfo]),
        });
    }
    console.log(JSON.stringify(results));
} else if (mode === 'refusals') {
    const [key, other] = config.keys;
    const message = readFileSync(config.message);
    const out = {};
    const ring = await keyring(key);
    out.signedSuite = await failure(() => encrypt(ring, new Uint8Array(1)));
    out.otherArn = await failure(async () => decrypt(await keyring(other), message));
    out.badArn = await failure(() => keyring({ ...key, arn: key.arn.replace(':key/', ':alias/') }));
    out.bareKeyId = await failure(() => keyring({ ...key, arn: key.arn.split('/').pop() }));
    out.badAlgorithm = await failure(() => keyring({ ...key, algorithm: 'RSAES_PKCS1_V1_5' }));
    out.unknownOption = await failure(() => keyring(key, { grantTokens: [] }));
    out.badSecret = await failure(() => keyring(key, {
        credentials: { ...config.credentials, secretAccessKey: 'not-the-secret-0000000' } }));
    out.wrongHash = await failure(async () => decrypt(
        await keyring({ ...key, algorithm: key.algorithm === 'RSAES_OAEP_SHA_1' ? 'RSAES_OAEP_SHA_256' : 'RSAES_OAEP_SHA_1' }),
        message));
    console.log(JSON.stringify(out));
} else if (mode === 'bearer') {
    // A bearer token instead of SigV4 (a provider, called before each request).
    const [key] = config.keys;
    let calls = 0;
    const token = async () => { calls += 1; return config.token; };
    const ring = await KmsRsaKeyring.create({ keyArn: key.arn, encryptionAlgorithm: key.algorithm,
        endpoint: config.endpoint, token });
    const { result } = await encrypt(ring, new TextEncoder().encode('bearer'), { suite: UNSIGNED });
    const { plaintext } = await decrypt(ring, result);
    const denied = config.deniedToken && await failure(async () => decrypt(
        await KmsRsaKeyring.create({ keyArn: key.arn, encryptionAlgorithm: key.algorithm,
            endpoint: config.endpoint, token: config.deniedToken, publicKey: key.publicKeyPem }), result));
    console.log(JSON.stringify({ plaintext: new TextDecoder().decode(plaintext), calls, denied }));
} else if (mode === 'decrypt-fails') {
    // After run.py disabled the key or denied Decrypt: the key's public key is given.
    const [key] = config.keys;
    const ring = await keyring(key, { publicKey: key.publicKeyPem });
    console.log(JSON.stringify(await failure(() => decrypt(ring, readFileSync(config.message)))));
} else if (mode === 'sym-roundtrip') {
    // KmsKeyring: the generator alone (signed and unsigned suites), generator plus another
    // key (GenerateDataKey, then Encrypt), and the official SDKs' messages decrypted.
    const [a, b] = config.keys;
    const plaintext = readFileSync(config.plaintext);
    const context = config.context;
    const ring = await KmsKeyring.create({ generatorKeyId: a, endpoint: config.endpoint, credentials: config.credentials });
    const both = await KmsKeyring.create({ generatorKeyId: a, keyIds: [b], endpoint: config.endpoint,
        credentials: config.credentials, grantTokens: ['accepted-and-not-needed'] });
    const out = { generatorKeyId: both.generatorKeyId, keyIds: both.keyIds, written: {}, theirs: {} };
    for (const [name, keyring, suite] of [['signed', ring, undefined], ['unsigned', ring, UNSIGNED], ['both', both, undefined]]) {
        const { result, messageHeader } = await encrypt(keyring, plaintext, { suite, encryptionContext: context });
        const file = path.join(config.dir, `npm-sym-${name}.cdm`);
        writeFileSync(file, result);
        const back = await decrypt(keyring, result, { expectedContext: context });
        out.written[name] = { file, roundTrip: Buffer.from(back.plaintext).equals(plaintext),
            edks: messageHeader.encryptedDataKeys.map((e) => [e.providerId, e.providerInfo]) };
    }
    // Only `keyIds`: the first generates. A keyring of the second key alone reads `both`.
    const second = await KmsKeyring.create({ keyIds: [b], endpoint: config.endpoint, credentials: config.credentials });
    const viaSecond = await decrypt(second, readFileSync(out.written.both.file));
    out.secondAlone = { generatorKeyId: second.generatorKeyId ?? null,
        decrypts: Buffer.from(viaSecond.plaintext).equals(plaintext) };
    for (const [who, file] of Object.entries(config.theirs)) {
        const { plaintext: got } = await decrypt(ring, readFileSync(file), { expectedContext: context });
        out.theirs[who] = Buffer.from(got).equals(plaintext);
    }
    console.log(JSON.stringify(out));
} else if (mode === 'sym-refusals') {
    const create = (extra) => KmsKeyring.create({ endpoint: config.endpoint, credentials: config.credentials, ...extra });
    const ring = await create({ generatorKeyId: config.key });
    const out = {};
    out.forged = await failure(() => decrypt(ring, readFileSync(config.forged)));
    out.otherArn = await failure(async () => decrypt(await create({ generatorKeyId: config.other }),
        readFileSync(config.message)));
    out.badArn = await failure(() => create({ generatorKeyId: config.key.replace(':key/', ':alias/') }));
    out.bareKeyId = await failure(() => create({ keyIds: [config.key.split('/').pop()] }));
    out.unknownOption = await failure(() => create({ keyArn: config.key }));
    out.badSecret = await failure(async () => encrypt(await create({ generatorKeyId: config.key,
        credentials: { ...config.credentials, secretAccessKey: 'not-the-secret-0000000' } }), new Uint8Array(1)));
    out.contextMismatch = await failure(() => decrypt(ring, readFileSync(config.message),
        { expectedContext: { tenant: 'other' } }));
    console.log(JSON.stringify(out));
} else if (mode === 'sym-decrypt') {
    // With CONFIG.credentials or CONFIG.token, and CONFIG.grantTokens.
    const auth = config.token ? { token: config.token } : { credentials: config.credentials };
    const ring = await KmsKeyring.create({ generatorKeyId: config.key, endpoint: config.endpoint,
        grantTokens: config.grantTokens ?? [], ...auth });
    const message = readFileSync(config.message);
    if (config.encrypt) {
        // A round trip first (GenerateDataKey and Decrypt with these credentials).
        const { result } = await encrypt(ring, new TextEncoder().encode('mine'), { encryptionContext: { tenant: 'acme' } });
        const back = await decrypt(ring, result);
        if (new TextDecoder().decode(back.plaintext) !== 'mine') throw new Error('round trip failed');
    }
    try {
        const { plaintext } = await decrypt(ring, message);
        console.log(JSON.stringify({ ok: true, plaintext: Buffer.from(plaintext).toString('base64') }));
    } catch (err) {
        if (!(err instanceof DecryptError)) throw err;
        console.log(JSON.stringify({ ok: false, name: err.name, code: err.code, serverCode: err.serverCode,
            message: err.message }));
    }
} else {
    throw new Error(`unknown mode ${mode}`);
}
