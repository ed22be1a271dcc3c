// Error classes of the package. Every error that comes from the message core has a stable
// `code` string (one per core error variant; index.d.ts lists them) and sometimes details
// (`sequence`, `section`, `failedAttempts`, ...). Argument mistakes are plain TypeErrors, but
// for an unknown option name (code INVALID_OPTION, `option`), and an aborted operation
// rejects with its AbortSignal's `reason`, as web APIs do.

/** Base class of every error with a `code`. */
export class CipherdropError extends Error {
    constructor(message, code, details = undefined, options = undefined) {
        super(message, options);
        this.code = code;
        if (details) Object.assign(this, details);
    }
}
CipherdropError.prototype.name = 'CipherdropError';

/** Writing a message failed (bad options, a keyring that cannot wrap, ...). */
export class EncryptError extends CipherdropError {}
EncryptError.prototype.name = 'EncryptError';

/** Reading a message failed: malformed, tampered, truncated, wrong key, policy, ... */
export class DecryptError extends CipherdropError {}
DecryptError.prototype.name = 'DecryptError';

/** A key could not be used: not PEM, not RSA, unknown OAEP hash, ... */
export class KeyError extends CipherdropError {}
KeyError.prototype.name = 'KeyError';

/** The WebAssembly module could not be loaded (code WASM_LOAD_FAILED, `url`, `status`). */
export class LoadError extends CipherdropError {}
LoadError.prototype.name = 'LoadError';

const CLASSES = { encrypt: EncryptError, decrypt: DecryptError, key: KeyError };
const PLAIN = new Set(['message', 'stack', 'kind', 'code', 'name']);

/** Turns an error thrown by the wasm bindings (an Error with `kind` and `code`) into ours. */
export function fromWasm(err) {
    const Class = err instanceof Error && typeof err.code === 'string' && CLASSES[err.kind];
    if (!Class) return err;
    const details = {};
    for (const [key, value] of Object.entries(err)) if (!PLAIN.has(key)) details[key] = value;
    return new Class(err.message, err.code, details);
}

/** Calls `fn`, converting errors from the wasm bindings. */
export function call(fn) {
    try {
        return fn();
    } catch (err) {
        throw fromWasm(err);
    }
}
