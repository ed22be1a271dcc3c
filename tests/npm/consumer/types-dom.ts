// Compiled by types.test.mjs with the DOM lib only (tsconfig.json): what needs browser types.
import { init } from 'cipherdrop';

export async function fromModule(module: WebAssembly.Module, bytes: BufferSource): Promise<void> {
    await init(module);
    await init(bytes);
    await init(new URL('https://cdn.example/cipherdrop_bg.wasm'));
}
