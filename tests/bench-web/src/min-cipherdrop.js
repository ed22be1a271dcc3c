// The smallest useful cipherdrop app: a raw RSA keyring, encrypt and decrypt (bundle size).
import { RawRsaKeyring, decrypt, encrypt } from 'cipherdrop';

window.roundTrip = async (privateKey, data) => {
    const keyring = await RawRsaKeyring.fromPem({ keyNamespace: 'bench', keyName: 'k', privateKey });
    const { result } = await encrypt(keyring, data);
    return (await decrypt(keyring, result)).plaintext;
};
