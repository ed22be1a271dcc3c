// A tiny app that bundlers build (bundlers.test.mjs): encrypts a Blob under the signed suite,
// decrypts it, shows the result. 2 MiB, so that the running hash goes to the package's worker
// (lib/hash.js HASH_MIN_BYTES): the bundle must ship the worker as well as the .wasm.
import { RawRsaKeyring, decrypt, encrypt } from 'cipherdrop';

const out = document.getElementById('out');
try {
    const keys = await (await fetch('./keys.json')).json();
    const keyring = await RawRsaKeyring.fromPem({ keyNamespace: 'bundler', keyName: 'app', privateKey: keys.pkcs8 });
    const data = new Uint8Array(2 << 20).map((_, i) => i * 7);
    const { result } = await encrypt(keyring, new Blob([data]), { frameLength: 4096 });
    const message = new Uint8Array(await new Response(result).arrayBuffer());
    const { plaintext, messageHeader } = await decrypt(keyring, message);
    const same = plaintext.length === data.length && plaintext.every((b, i) => b === data[i]);
    out.textContent = same ? `ok ${messageHeader.suiteId} ${plaintext.length}` : 'plaintext differs';
    out.dataset.state = same ? 'ready' : 'error';
} catch (err) {
    out.textContent = String(err?.stack ?? err);
    out.dataset.code = err?.code ?? '';
    out.dataset.state = 'error';
}
