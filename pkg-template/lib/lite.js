// What the lite entry (cipherdrop/lite: ../lite.js, ../lite-node.js) exports: the package's
// exports, with the message functions marked as the lite entry's (lib/modules.js LITE_ENTRY), so
// that their unsigned messages start on the lite module and a signed one moves to the full
// module. Giving the lite module's loader here keeps it out of the default entry's graph: an
// app that imports only `cipherdrop` never ships it. Imported, not `import()`ed: every
// unsigned message of this entry starts on it, and in the entry's own chunk its glue costs
// 0.7 KB less gzipped than as a chunk of its own (with the bundler's loader runtime); its
// .wasm is still fetched on first use.
import { loadLite } from '../lite-module.js';
import * as api from './api.js';
import { setLoader } from './wasm.js';

setLoader('lite', loadLite);

export * from './public.js';

export function encrypt(keyring, data, options) {
    return api.encrypt(keyring, data, options, api.LITE_ENTRY);
}

export function decrypt(keyring, data, options) {
    return api.decrypt(keyring, data, options, api.LITE_ENTRY);
}

export function encryptStream(keyring, options) {
    return api.encryptStream(keyring, options, api.LITE_ENTRY);
}

export function decryptStream(keyring, options) {
    return api.decryptStream(keyring, options, api.LITE_ENTRY);
}
