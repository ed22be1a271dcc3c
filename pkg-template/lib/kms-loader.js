// The KMS module (../kms-module.js, the wasm `KmsSymmetricRules`, `KmsRsaRules`,
// `jweProtectedHeader` and `openJwe`), imported and loaded on first use. Only ./kms.js and
// ./key-server.js import this file, so a bundle of an app that uses neither has no trace of it.

/** The KMS module's bindings (loaded once). */
export async function kmsBindings() {
    const { kmsBindings: load } = await import('../kms-module.js');
    return load();
}
