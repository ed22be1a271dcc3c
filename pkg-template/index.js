// cipherdrop for browsers and bundlers (the "default" export condition). The WebAssembly
// module is fetched from next to this file on first use; bundlers such as Vite see the
// `new URL(..., import.meta.url)` below and ship the .wasm as an asset.
import { setDefaultSource } from './lib/wasm.js';

// Both URLs are written out so that bundlers ship both modules; only one is fetched.
setDefaultSource((simd) => (simd
    ? new URL('./cipherdrop_bg.wasm', import.meta.url)
    : new URL('./cipherdrop_nosimd_bg.wasm', import.meta.url)), (url) => fetch(url));

export * from './lib/public.js';
