// The second WebAssembly module, cipherdrop_kms: the AWS KMS keyrings' rules and the key
// server's JWE (the crate's `wasm-kms` bindings), apart from the message core so that an app
// without KmsKeyring, KmsRsaKeyring or KeyServerKeyring never bundles nor fetches it.
// lib/kms.js and lib/key-server.js `import()` this file the first time they need it. It sits
// beside index.js so that its URL below is the same relative to a bundle that inlines it
// (esbuild, Rollup) as to the package; bundlers that split chunks (Vite, webpack) ship the
// .wasm with this chunk only.
import initBindings, * as bindings from './cipherdrop_kms.js';
import { compileModule } from './lib/wasm.js';

let ready = null;

/** The module's bindings, loaded and instantiated once (a failed load is tried again next time). */
export function kmsBindings() {
    ready ??= (async () => {
        const compiled = await compileModule(undefined, () => new URL('./cipherdrop_kms_bg.wasm', import.meta.url),
            'If your bundler did not ship it, copy cipherdrop_kms_bg.wasm from the cipherdrop package beside the ' +
            'bundle (an app with KmsKeyring, KmsRsaKeyring or KeyServerKeyring needs it)');
        await initBindings({ module_or_path: compiled });
        return bindings;
    })().catch((err) => {
        ready = null;
        throw err;
    });
    return ready;
}
