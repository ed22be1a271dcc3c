// The options of the public functions: the suite and commitment-policy names, and the checks
// that refuse an unknown option (a misspelling, another SDK's name) with INVALID_OPTION.
import { DecryptError, EncryptError } from './errors.js';
import { isKeyring } from './keyrings.js';

/** Suite IDs `encrypt` can write (the `suite` option). */
export const AlgorithmSuite = Object.freeze({
    /** 0x0578, the default: AES-256-GCM, HKDF-SHA512, key commitment, ECDSA P-384. */
    AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384: 0x0578,
    /** 0x0478: AES-256-GCM, HKDF-SHA512, key commitment, unsigned. */
    AES_256_GCM_HKDF_SHA512_COMMIT_KEY: 0x0478,
});

/** Values of the `commitmentPolicy` option of `decrypt`. */
export const CommitmentPolicy = Object.freeze({
    /** The default: read only key-committing (format 2.0) messages. */
    REQUIRE_ENCRYPT_REQUIRE_DECRYPT: 'REQUIRE_ENCRYPT_REQUIRE_DECRYPT',
    /** Also read legacy non-committing (format 1.0) messages. */
    REQUIRE_ENCRYPT_ALLOW_DECRYPT: 'REQUIRE_ENCRYPT_ALLOW_DECRYPT',
});

export function checkKeyring(keyring) {
    if (!isKeyring(keyring)) {
        throw new TypeError('keyring must be a keyring (RawRsaKeyring, MultiKeyring, ...)');
    }
}

/** Option names of each operation (symbol keys, the test build's hooks, are not checked). */
const ENCRYPT_OPTIONS = new Set(['encryptionContext', 'frameLength', 'suite', 'onProgress', 'signal',
    'webCrypto', 'workers']);
const DECRYPT_OPTIONS = new Set(['expectedContext', 'commitmentPolicy', 'refuseSigned',
    'maxEncryptedDataKeys', 'onProgress', 'signal', 'webCrypto', 'workers']);
/** Names of the AWS Encryption SDK's options that are spelled differently here. */
const ENCRYPT_RENAMED = { suiteId: 'suite' };
const DECRYPT_RENAMED = { encryptionContext: 'expectedContext' };

/**
 * Refuses an option this operation does not know (a misspelling, or another SDK's name,
 * would otherwise be ignored without a word) with code INVALID_OPTION.
 */
function checkOptions(options, known, renamed, ErrorClass) {
    if (options === null || typeof options !== 'object') throw new TypeError('options must be an object');
    for (const option of Object.keys(options)) {
        if (known.has(option)) continue;
        const hint = Object.hasOwn(renamed, option)
            ? `: the AWS Encryption SDK's \`${option}\` is \`${renamed[option]}\` here`
            : ` (known: ${[...known].join(', ')})`;
        throw new ErrorClass(`unknown option \`${option}\`${hint}`, 'INVALID_OPTION', { option });
    }
}

export const checkEncryptOptions = (options) => checkOptions(options, ENCRYPT_OPTIONS, ENCRYPT_RENAMED, EncryptError);
export const checkDecryptOptions = (options) => checkOptions(options, DECRYPT_OPTIONS, DECRYPT_RENAMED, DecryptError);
