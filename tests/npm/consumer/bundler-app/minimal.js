// The smallest app (bundlers.test.mjs builds it with Vite): a raw RSA keyring, no KMS keyring,
// so its bundle must have no trace of the package's KMS module.
import { RawRsaKeyring, decrypt, encrypt } from 'cipherdrop';

window.roundTrip = async (privateKey, data) => {
    const keyring = await RawRsaKeyring.fromPem({ keyNamespace: 'bundler', keyName: 'minimal', privateKey });
    const { result } = await encrypt(keyring, data);
    return (await decrypt(keyring, result)).plaintext;
};
