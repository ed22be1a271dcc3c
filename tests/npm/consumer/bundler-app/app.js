// A tiny app that bundlers build (bundlers.test.mjs), from one of the package's entries (`cd`:
// main.js imports `cipherdrop`, lite-main.js `cipherdrop/lite`): encrypts a Blob under the
// default suite, decrypts it, shows the result. 2 MiB, so that the running hash goes to the
// package's worker (lib/hash.js HASH_MIN_BYTES): the bundle must ship the worker as well as
// the .wasm. Query string:
//   ?lite          writes and reads suite 0x0478 instead;
//   ?decrypt=ID    first decrypts the message of suite ID (decimal) of messages.json, which
//                  the test made in Node: an app whose first call is a decrypt;
//   ?kms           then makes a KmsKeyring, which loads the package's KMS module (nothing is
//                  sent to KMS): the bundle must ship that module too, and fetch it only then.
const KMS_ARN = 'arn:aws:kms:eu-west-1:111122223333:key/bundler-app';

export async function run(cd) {
    const out = document.getElementById('out');
    const params = new URLSearchParams(location.search);
    try {
        const keys = await (await fetch('./keys.json')).json();
        const keyring = await cd.RawRsaKeyring.fromPem({ keyNamespace: 'bundler', keyName: 'app', privateKey: keys.pkcs8 });
        const data = new Uint8Array(2 << 20).map((_, i) => i * 7);
        const same = (plaintext) => plaintext.length === data.length && plaintext.every((b, i) => b === data[i]);
        let text;
        if (params.has('decrypt')) {
            const messages = await (await fetch('./messages.json')).json();
            const message = Uint8Array.from(atob(messages[params.get('decrypt')]), (c) => c.charCodeAt(0));
            const { plaintext, messageHeader } = await cd.decrypt(keyring, message);
            text = same(plaintext) ? `ok ${messageHeader.suiteId} ${plaintext.length}` : 'plaintext differs';
        } else {
            const suite = params.has('lite') ? cd.AlgorithmSuite.AES_256_GCM_HKDF_SHA512_COMMIT_KEY : undefined;
            const { result } = await cd.encrypt(keyring, new Blob([data]), { frameLength: 4096, suite });
            const message = new Uint8Array(await new Response(result).arrayBuffer());
            const { plaintext, messageHeader } = await cd.decrypt(keyring, message);
            text = same(plaintext) ? `ok ${messageHeader.suiteId} ${plaintext.length}` : 'plaintext differs';
        }
        if (text.startsWith('ok') && params.has('kms')) {
            const kms = await cd.KmsKeyring.create({ generatorKeyId: KMS_ARN, endpoint: 'http://127.0.0.1:9', token: 'unused' });
            text += ` kms ${kms.generatorKeyId}`;
        }
        out.textContent = text;
        out.dataset.state = text.startsWith('ok') ? 'ready' : 'error';
    } catch (err) {
        out.textContent = String(err?.stack ?? err);
        out.dataset.code = err?.code ?? '';
        out.dataset.state = 'error';
    }
}
