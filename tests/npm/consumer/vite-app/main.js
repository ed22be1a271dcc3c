// A tiny app built by Vite: encrypts a Blob as a stream, decrypts it, shows the result.
import { RawRsaKeyring, decrypt, encrypt } from 'cipherdrop';

const out = document.getElementById('out');
try {
    const keys = await (await fetch('./keys.json')).json();
    const keyring = await RawRsaKeyring.fromPem({ keyNamespace: 'vite', keyName: 'app', privateKey: keys.pkcs8 });
    const data = new TextEncoder().encode('hello from vite '.repeat(10_000));
    const { result } = await encrypt(keyring, new Blob([data]), { frameLength: 4096 });
    const message = new Uint8Array(await new Response(result).arrayBuffer());
    const { plaintext, messageHeader } = await decrypt(keyring, message);
    const same = plaintext.length === data.length && plaintext.every((b, i) => b === data[i]);
    out.textContent = same ? `ok ${messageHeader.suiteId} ${plaintext.length}` : 'plaintext differs';
    out.dataset.state = same ? 'ready' : 'error';
} catch (err) {
    out.textContent = String(err?.stack ?? err);
    out.dataset.state = 'error';
}
