// Everything the package exports (index.d.ts declares it).
export { AlgorithmSuite, CommitmentPolicy, decrypt, decryptStream, encrypt, encryptStream } from './api.js';
export { CipherdropError, DecryptError, EncryptError, KeyError, LoadError } from './errors.js';
export { MultiKeyring, RawRsaKeyring, WrappingKey } from './keyrings.js';
export { KeyServerKeyring } from './key-server.js';
export { KmsKeyring, KmsRsaKeyring } from './kms.js';
export { init, version } from './wasm.js';
