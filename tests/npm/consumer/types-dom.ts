// Compiled by types.test.mjs with the DOM lib only (tsconfig.json): what needs browser types.
import { RawRsaKeyring, init } from 'cipherdrop';

export async function fromModule(module: WebAssembly.Module, bytes: BufferSource): Promise<void> {
    await init(module);
    await init(bytes);
    await init(new URL('https://cdn.example/cipherdrop_bg.wasm'));
}

export async function fromKeys(pair: CryptoKeyPair, jwk: JsonWebKey): Promise<boolean> {
    const k = await RawRsaKeyring.fromCryptoKey({ keyNamespace: 'ns', keyName: 'k', ...pair });
    const j = await RawRsaKeyring.fromJwk({ keyNamespace: 'ns', keyName: 'k', privateKey: { ...jwk, kty: 'RSA', n: '', e: '' } });
    return k.canWrap && j.canUnwrap;
}
