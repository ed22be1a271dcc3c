// cipherdrop for browsers and bundlers (the "default" export condition). Every message runs
// on the full WebAssembly module, fetched from next to the package on first use; bundlers
// such as Vite see the `new URL(..., import.meta.url)` of full-module.js and kms-module.js and
// ship the .wasm files as assets. The lite entry (cipherdrop/lite: lite.js) is the one that
// also has the smaller module for unsigned messages.
import { loadFull } from './full-module.js';
import { setLoader, setReader } from './lib/wasm.js';

setReader((url) => fetch(url));
setLoader('full', loadFull);

export * from './lib/public.js';
