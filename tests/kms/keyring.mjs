// The npm package's KmsRsaKeyring against `cipherdrop serve` (tests/kms/run.py runs this in a
// project where the packed target/npm/cipherdrop-<version>.tgz is installed):
//   node keyring.mjs sign CONFIG        SigV4 headers of fixed inputs (run.py compares botocore's)
//   node keyring.mjs roundtrip CONFIG   encrypt files, decrypt the MPL's, for each key
//   node keyring.mjs refusals CONFIG    the typed errors of refused or invalid uses
//   node keyring.mjs decrypt-fails CONFIG   the error of decrypting CONFIG.message
//   node keyring.mjs bearer CONFIG      a round trip with a bearer token instead of SigV4
// CONFIG is JSON; every mode prints one JSON result on stdout.
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';

import { AlgorithmSuite, DecryptError, EncryptError, KeyError, KmsRsaKeyring, decrypt, encrypt } from 'cipherdrop';

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
} else {
    throw new Error(`unknown mode ${mode}`);
}
