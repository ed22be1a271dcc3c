// A tiny app that bundlers build (bundlers.test.mjs): encrypts a Blob under the default suite,
// decrypts it, shows the result. 2 MiB, so that the running hash goes to the package's worker
// (lib/hash.js HASH_MIN_BYTES): the bundle must ship the worker as well as the .wasm. With
// `?kms` it then makes a KmsKeyring, which loads the package's KMS module (nothing is sent to
// KMS): the bundle must ship that module too, and fetch it only then. With `?lite` it writes
// and reads suite 0x0478 instead, which the package's lite module runs: the bundle must ship
// that module, and never fetch the full one.
import { AlgorithmSuite, KmsKeyring, RawRsaKeyring, decrypt, encrypt } from 'cipherdrop';

const KMS_ARN = 'arn:aws:kms:eu-west-1:111122223333:key/bundler-app';

const out = document.getElementById('out');
try {
    const keys = await (await fetch('./keys.json')).json();
    const keyring = await RawRsaKeyring.fromPem({ keyNamespace: 'bundler', keyName: 'app', privateKey: keys.pkcs8 });
    const data = new Uint8Array(2 << 20).map((_, i) => i * 7);
    const suite = new URLSearchParams(location.search).has('lite')
        ? AlgorithmSuite.AES_256_GCM_HKDF_SHA512_COMMIT_KEY : undefined;
    const { result } = await encrypt(keyring, new Blob([data]), { frameLength: 4096, suite });
    const message = new Uint8Array(await new Response(result).arrayBuffer());
    const { plaintext, messageHeader } = await decrypt(keyring, message);
    const same = plaintext.length === data.length && plaintext.every((b, i) => b === data[i]);
    let text = same ? `ok ${messageHeader.suiteId} ${plaintext.length}` : 'plaintext differs';
    if (same && new URLSearchParams(location.search).has('kms')) {
        const kms = await KmsKeyring.create({ generatorKeyId: KMS_ARN, endpoint: 'http://127.0.0.1:9', token: 'unused' });
        text += ` kms ${kms.generatorKeyId}`;
    }
    out.textContent = text;
    out.dataset.state = same ? 'ready' : 'error';
} catch (err) {
    out.textContent = String(err?.stack ?? err);
    out.dataset.code = err?.code ?? '';
    out.dataset.state = 'error';
}
