// cipherdrop/lite for Node: node.js (its reads from disk, node:crypto engines and full
// module), and the lite module for unsigned messages (lib/lite.js).
import './node.js';

export * from './lib/lite.js';
