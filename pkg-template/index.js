// cipherdrop for browsers and bundlers (the "default" export condition). The WebAssembly
// modules are fetched from next to the package on first use; bundlers such as Vite see the
// `new URL(..., import.meta.url)` of lite-module.js, full-module.js and kms-module.js and ship
// the .wasm files as assets.
import { setReader } from './lib/wasm.js';

setReader((url) => fetch(url));

export * from './lib/public.js';
