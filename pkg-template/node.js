// cipherdrop for Node (the "node" export condition): reads the WebAssembly module from disk,
// seals frames with node:crypto's synchronous AES-GCM and hashes signed messages with its
// native SHA-384 (lib/frames.js NodeAes, NodeHash). No top-level `await`, so that Node
// 20.19+ and 22.12+ can `require()` the package.
import { createCipheriv, createDecipheriv, createHash, createSecretKey } from 'node:crypto';
import { readFile } from 'node:fs/promises';

import { setNodeCrypto } from './lib/frames.js';
import { setReader } from './lib/wasm.js';

setNodeCrypto({ createCipheriv, createDecipheriv, createSecretKey, createHash });
setReader(readFile);

export * from './lib/public.js';
