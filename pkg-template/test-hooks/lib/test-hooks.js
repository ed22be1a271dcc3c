// Test hooks, ONLY in the test build of the package (scripts/build-pkg.sh --test-hooks writes
// build/pkg-test/ and target/npm-test/; this file replaces lib/test-hooks.js there, whose
// release version exports null). Never in build/pkg or the packed release .tgz: tests/npm/
// consumer/release.test.mjs checks that. Registered symbols, so that tests reach them without
// a public export:
//   options[FIXED_SECRETS] = { dataKey, messageId, signingKey, edks }: `encrypt` uses those
//       instead of fresh random ones and the keyring (same input, same bytes); needs the wasm
//       module's `PendingEncryptor.dangerousWithFixedSecrets` (the crate's `test-hooks`
//       feature);
//   options[REFERENCE] = true: the core's own `update`/`finish` path instead of detached frames;
//   options[ON_ENGINE](name): learns which AES-GCM a session uses ('reference' included);
//   options[ON_HASH](): called when a signed message's hash runs on a worker;
//   options[ON_READER](where): learns where a Blob is read ('worker' or 'page');
//   options[MODULE] = 'lite' or 'full': the message module a session starts on, whatever is
//       loaded and whichever entry is called (lib/wasm.js startModule; a lite session still
//       moves a signed suite to the full; 'lite' needs cipherdrop-test-hooks/lite imported,
//       which gives the lite module's loader: without it, the full module);
//   options[ON_MODULE](name): learns each module a session runs on ('lite', then 'full' if it
//       moved).
import { call } from './errors.js';

const FIXED_SECRETS = Symbol.for('cipherdrop.dangerous.fixedSecretsForTests');
const REFERENCE = Symbol.for('cipherdrop.dangerous.referencePathForTests');
const ON_ENGINE = Symbol.for('cipherdrop.testing.onEngine');
const ON_HASH = Symbol.for('cipherdrop.testing.onHashWorker');
const ON_READER = Symbol.for('cipherdrop.testing.onReader');
const MODULE = Symbol.for('cipherdrop.testing.module');
const ON_MODULE = Symbol.for('cipherdrop.testing.onModule');

export const testHooks = Object.freeze({
    /** The PendingEncryptor of `options[FIXED_SECRETS]` made by the bindings `wasm`, or null. */
    fixedPending(wasm, options, { suite, frameLength, encryptionContext }) {
        const fixed = options[FIXED_SECRETS];
        if (!fixed) return null;
        if (typeof wasm.PendingEncryptor.dangerousWithFixedSecrets !== 'function') {
            throw new Error('test hooks: the wasm module was built without the test-hooks feature');
        }
        return call(() => wasm.PendingEncryptor.dangerousWithFixedSecrets(suite ?? 0x0578,
            frameLength ?? 65536, encryptionContext, fixed.dataKey, fixed.messageId, fixed.signingKey));
    },
    /** The EDKs of `options[FIXED_SECRETS]` (then no keyring is asked), or null. */
    fixedEdks: (options) => options[FIXED_SECRETS]?.edks ?? null,
    reference: (options) => Boolean(options[REFERENCE]),
    onEngine: (options) => options[ON_ENGINE],
    onHash: (options) => options[ON_HASH],
    onReader: (options) => options[ON_READER],
    module: (options) => options[MODULE],
    onModule: (options) => options[ON_MODULE],
});
