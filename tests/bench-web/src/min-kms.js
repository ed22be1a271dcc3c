// The smallest app with an AWS KMS keyring: what it downloads on top of the minimal app is
// the KMS module (cipherdrop_kms_bg.wasm) and its chunk, fetched on the first
// KmsKeyring.create (bundle size; scripts/bench_web.mjs).
import { KmsKeyring, decrypt, encrypt } from 'cipherdrop';

window.roundTrip = async (options, data) => {
    const keyring = await KmsKeyring.create(options);
    const { result } = await encrypt(keyring, data);
    return (await decrypt(keyring, result)).plaintext;
};
