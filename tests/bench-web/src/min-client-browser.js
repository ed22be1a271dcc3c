// The same app with @aws-crypto/client-browser: buildClient and a raw RSA keyring (bundle size).
import './buffer-shim.js';
import { CommitmentPolicy, RawRsaKeyringWebCrypto, buildClient } from '@aws-crypto/client-browser';

const { encrypt, decrypt } = buildClient(CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT);

window.roundTrip = async (pkcs8, spki, data) => {
    const padding = 'OAEP_SHA256_MFG1';
    const keyring = new RawRsaKeyringWebCrypto({
        keyNamespace: 'bench', keyName: 'k',
        privateKey: await RawRsaKeyringWebCrypto.importPrivateKey({ format: 'pkcs8', key: pkcs8, padding }),
        publicKey: await RawRsaKeyringWebCrypto.importPublicKey({ format: 'spki', key: spki, padding }),
    });
    const { result } = await encrypt(keyring, data);
    return (await decrypt(keyring, result)).plaintext;
};
