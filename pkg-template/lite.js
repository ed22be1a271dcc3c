// cipherdrop/lite for browsers and bundlers: the default entry's exports and API (index.js),
// but unsigned messages (0x0478) start on the lite module (cipherdrop_lite_bg.wasm, no ECDSA
// P-384) and only a signed one, or `init()`, fetches the full module. The full module's
// loader is `import()`ed on first use, so that an app of unsigned messages never fetches it;
// the lite module's is part of the entry (lib/lite.js), its .wasm fetched on first use.
import { setLoader, setReader } from './lib/wasm.js';

setReader((url) => fetch(url));
setLoader('full', async (source) => (await import('./full-module.js')).loadFull(source));

export * from './lib/lite.js';
