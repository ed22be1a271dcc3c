// The smallest useful app that writes and reads only unsigned messages (suite 0x0478), on the
// package's entry for them, `cipherdrop/lite`: what issue 18 wants to ship in 45 KB (bundle
// size; scripts/bench_web.mjs).
import { AlgorithmSuite, RawRsaKeyring, decrypt, encrypt } from 'cipherdrop/lite';

window.roundTrip = async (privateKey, data) => {
    const keyring = await RawRsaKeyring.fromPem({ keyNamespace: 'bench', keyName: 'k', privateKey });
    const { result } = await encrypt(keyring, data, { suite: AlgorithmSuite.AES_256_GCM_HKDF_SHA512_COMMIT_KEY });
    return (await decrypt(keyring, result)).plaintext;
};
