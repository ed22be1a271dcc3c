// cipherdrop for Node (the "node" export condition): reads the WebAssembly module from disk,
// seals frames with node:crypto's synchronous AES-GCM and hashes signed messages with its
// native SHA-384 (lib/frames.js NodeAes, NodeHash).
// Node 18 has WebCrypto only as `require('node:crypto').webcrypto`, not as the global
// `crypto` that the module's random numbers (`crypto.getRandomValues`) and the keyrings'
// RSA-OAEP (`crypto.subtle`) use: there, and only there, this file installs it.
import { createCipheriv, createDecipheriv, createHash, createSecretKey, webcrypto } from 'node:crypto';
import { readFile } from 'node:fs/promises';

import { setNodeCrypto } from './lib/frames.js';
import { setDefaultSource } from './lib/wasm.js';

if (globalThis.crypto === undefined) {
    Object.defineProperty(globalThis, 'crypto', {
        value: webcrypto, writable: true, configurable: true, enumerable: false,
    });
}

setNodeCrypto({ createCipheriv, createDecipheriv, createSecretKey, createHash });
setDefaultSource((simd) => readFile(new URL(simd ? './cipherdrop_bg.wasm' : './cipherdrop_nosimd_bg.wasm', import.meta.url)));

export * from './lib/public.js';
