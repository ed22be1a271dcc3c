// cipherdrop for Node (the "node" export condition): reads the full WebAssembly module (every
// message runs on it; the lite entry, lite-node.js, adds the lite one) from disk,
// seals frames with node:crypto's synchronous AES-GCM and hashes signed messages with its
// native SHA-384, on a worker thread for large ones (lib/aes.js NodeAes, NodeHash;
// lib/node-hash.js). No top-level `await`, so that Node
// 20.19+ and 22.12+ can `require()` the package.
import { createCipheriv, createDecipheriv, createHash, createSecretKey, hkdfSync } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';

import { loadFull } from './full-module.js';
import { setNodeCrypto } from './lib/aes.js';
import { setHashWorkers } from './lib/hash.js';
import { nodeHashWorkers } from './lib/node-hash.js';
import { setLoader, setReader } from './lib/wasm.js';

setNodeCrypto({ createCipheriv, createDecipheriv, createSecretKey, createHash, hkdfSync });
setHashWorkers(nodeHashWorkers({ Worker, cores: availableParallelism() }));
setReader(readFile);
setLoader('full', loadFull);

export * from './lib/public.js';
