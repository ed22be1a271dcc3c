// Keyrings: what `encrypt` wraps the data key with, and what `decrypt` asks to unwrap it.
//
// The keyring interface (index.d.ts `Keyring`) has two methods:
// - `wrappingKeys()`: the public wrapping keys (`WrappingKey`); each wraps the data key with
//   WebCrypto RSA-OAEP (native, so the wasm module carries no RSA code).
// - `unwrap(edk, headerBytes, { signal, dataKeyLength })`: async; the data key bytes (of
//   `dataKeyLength`, the message suite's) if this keyring can
//   unwrap that encrypted data key, `null` if the EDK is not its own; it throws a
//   DecryptError with code `KEYRING` to refuse (a key server's policy denial, no private key).
// A key-server keyring fits the same shape: the server's public keys as wrapping keys, and
// an unwrap that sends the EDK and the header to the server.
import { DecryptError, EncryptError, KeyError, call } from './errors.js';
import { decodePem, pkcs1PrivateToPkcs8, pkcs1PublicToSpki, sameBytes, spkiOfPkcs8 } from './der.js';
import { startModule } from './wasm.js';

const TOKEN = Symbol('cipherdrop.internal');
const publicKeys = new WeakMap(); // WrappingKey → its WebCrypto RSA-OAEP public key
/** WrappingKey → the wasm `KmsRsaRules` of an AWS KMS RSA key (its RSA input is theirs). */
const kmsRules = new WeakMap();
/**
 * WrappingKey → `{ generate, wrap }` of a symmetric AWS KMS key, which wraps remotely:
 * `generate(pending, signal)` (GenerateDataKey, which makes the data key `pending`'s) and
 * `wrap(pending, signal)` (Encrypt), each resolving to the EDK.
 */
const remoteWraps = new WeakMap();

/** A public RSA-OAEP wrapping key: the data key is wrapped with it through WebCrypto. */
export class WrappingKey {
    #keyNamespace;
    #keyName;

    constructor(token, keyNamespace, keyName, publicKey) {
        if (token !== TOKEN) throw new TypeError('use WrappingKey.rsaOaep() or a keyring');
        this.#keyNamespace = keyNamespace;
        this.#keyName = keyName;
        publicKeys.set(this, publicKey);
    }

    /**
     * An RSA-OAEP wrapping key. `publicKey` is a PEM string (`PUBLIC KEY` or `RSA PUBLIC
     * KEY`) or SPKI DER bytes; `oaepHash` is 'SHA-1', 'SHA-256' (default), 'SHA-384' or
     * 'SHA-512'.
     */
    static async rsaOaep({ keyNamespace, keyName, publicKey, oaepHash = 'SHA-256' }) {
        const spki = publicKey instanceof Uint8Array ? publicKey : spkiFromPem(publicKey);
        return wrappingKeyFrom(keyNamespace, keyName, 'spki', spki, webCryptoHash(oaepHash));
    }

    /** The key namespace (EDK provider ID). */
    get keyNamespace() {
        return this.#keyNamespace;
    }

    /** The key name (EDK provider information). */
    get keyName() {
        return this.#keyName;
    }

    /** The OAEP hash in WebCrypto spelling ('SHA-256', ...); `undefined` for a symmetric KMS key. */
    get oaepHash() {
        return publicKeys.get(this)?.algorithm.hash.name;
    }
}

/**
 * The EDK of `dataKey` under `key` (internal: the encrypt path calls it). `pending` is the
 * wasm PendingEncryptor: an AWS KMS RSA key's rules make the RSA input from its suite, its
 * context and the data key (the context digest, then the key) and refuse signed suites.
 */
export async function wrapDataKey(key, dataKey, pending, signal = undefined) {
    const remote = remoteWraps.get(key);
    if (remote) return remote.wrap(pending, signal);
    const publicKey = publicKeys.get(key);
    if (!publicKey) throw new TypeError('wrappingKeys() must return WrappingKey objects');
    const rules = kmsRules.get(key);
    // The rules are the KMS module's: the data key crosses as a copy, which they zero.
    const plaintext = rules
        ? call(() => rules.wrapPlaintext(pending.suiteId, pending.encryptionContext(), dataKey.slice()))
        : dataKey;
    let ciphertext;
    try {
        ciphertext = await crypto.subtle.encrypt({ name: 'RSA-OAEP' }, publicKey, plaintext);
    } catch (err) {
        throw new EncryptError(`RSA-OAEP wrap with ${key.keyNamespace}/${key.keyName} failed`,
            'WRAP_FAILED', undefined, { cause: err });
    } finally {
        if (rules) plaintext.fill(0);
    }
    return { providerId: key.keyNamespace, providerInfo: key.keyName, ciphertext: new Uint8Array(ciphertext) };
}

/**
 * The WrappingKey of an AWS KMS RSA key (internal: KmsRsaKeyring): provider ID and
 * information from its `rules`, RSA-OAEP with their hash, `publicKey` SPKI DER or PEM.
 */
export async function kmsWrappingKey(rules, publicKey) {
    const spki = publicKey instanceof Uint8Array ? publicKey : spkiFromPem(publicKey);
    const key = new WrappingKey(TOKEN, rules.providerId, rules.keyArn,
        await importRsa('spki', spki, rules.oaepHash, 'encrypt'));
    kmsRules.set(key, rules);
    return key;
}

/**
 * The EDK of the data key a wrapping key generates (internal: the encrypt path asks the
 * message's first key), after which `pending` holds that data key; `null` for keys that do
 * not generate (RSA wrapping keys: the encryptor's random data key is used).
 */
export async function generateDataKey(key, pending, signal = undefined) {
    const remote = remoteWraps.get(key);
    return remote ? remote.generate(pending, signal) : null;
}

/**
 * The WrappingKey of a symmetric AWS KMS key (internal: KmsKeyring): provider ID and
 * information from its `rules`, wrapped by KMS through `wraps` (`{ generate, wrap }`).
 */
export function kmsRemoteWrappingKey(rules, wraps) {
    const key = new WrappingKey(TOKEN, rules.providerId, rules.keyArn, null);
    publicKeys.delete(key);
    remoteWraps.set(key, wraps);
    return key;
}

/** OAEP hashes of the JWK `alg` names (RFC 7518 section 4.3, RFC 8812). */
const JWK_OAEP_HASHES = {
    'RSA-OAEP': 'SHA-1', 'RSA-OAEP-256': 'SHA-256', 'RSA-OAEP-384': 'SHA-384', 'RSA-OAEP-512': 'SHA-512',
};

const OAEP_HASHES = new Map([
    ['sha1', 'SHA-1'], ['sha256', 'SHA-256'], ['sha384', 'SHA-384'], ['sha512', 'SHA-512'],
]);

/**
 * The WebCrypto spelling of an OAEP hash name (`sha256`, `SHA-256`, ...). PKCS#1 v1.5 padding
 * is refused by name, so that asking for it gives a clear error.
 */
export function webCryptoHash(name) {
    const key = String(name).toLowerCase().replaceAll('-', '');
    const hash = OAEP_HASHES.get(key);
    if (hash) return hash;
    if (['pkcs1', 'pkcs1v15', 'pkcs1v1.5'].includes(key)) {
        throw new KeyError('RSA PKCS#1 v1.5 encryption padding is not supported; use OAEP',
            'PKCS1V15_REFUSED');
    }
    throw new KeyError(`unknown RSA padding ${JSON.stringify(String(name))} (sha1|sha256|sha384|sha512)`,
        'UNKNOWN_PADDING');
}

/** A WrappingKey from public key data (`format` 'spki' or 'jwk') and a WebCrypto hash name. */
async function wrappingKeyFrom(keyNamespace, keyName, format, keyData, hash) {
    checkNames(keyNamespace, keyName);
    return new WrappingKey(TOKEN, keyNamespace, keyName, await importRsa(format, keyData, hash, 'encrypt'));
}

/** A WrappingKey of an RSA-OAEP public CryptoKey. */
function wrappingKeyOf(keyNamespace, keyName, publicKey) {
    checkNames(keyNamespace, keyName);
    checkRsaKey(publicKey, 'public', 'encrypt');
    return new WrappingKey(TOKEN, keyNamespace, keyName, publicKey);
}

function checkNames(keyNamespace, keyName) {
    checkName('keyNamespace', keyNamespace);
    checkName('keyName', keyName);
    if (keyNamespace === 'aws-kms') {
        throw new KeyError('key namespace "aws-kms" is reserved', 'RESERVED_NAMESPACE');
    }
}

/** A non-extractable RSA-OAEP CryptoKey for `usage` ('encrypt' or 'decrypt'). */
async function importRsa(format, keyData, hash, usage) {
    let key;
    try {
        key = await crypto.subtle.importKey(format, keyData, { name: 'RSA-OAEP', hash }, false, [usage]);
    } catch (err) {
        throw new KeyError('not an RSA key of 2048 to 8192 bits', 'INVALID_KEY', undefined, { cause: err });
    }
    checkRsaKey(key, usage === 'encrypt' ? 'public' : 'private', usage);
    return key;
}

/** Refuses a CryptoKey that is not an RSA-OAEP `type` key of 2048 to 8192 bits for `usage`. */
function checkRsaKey(key, type, usage) {
    const { name, modulusLength: bits } = key.algorithm;
    if (name !== 'RSA-OAEP' || key.type !== type || !key.usages.includes(usage)) {
        throw new KeyError(`not an RSA-OAEP ${type} key for ${usage} (${name}, ${key.type} key for ${key.usages.join('/')})`,
            'INVALID_KEY');
    }
    if (bits < 2048 || bits > 8192) {
        throw new KeyError(`not an RSA key of 2048 to 8192 bits (${bits} bits)`, 'INVALID_KEY');
    }
}

const isCryptoKey = (value) => typeof CryptoKey === 'function' && value instanceof CryptoKey;

function checkName(what, value) {
    if (typeof value !== 'string' || value === '') {
        throw new TypeError(`${what} must be a non-empty string`);
    }
}

function spkiFromPem(pem) {
    const { label, der } = decodePem(pem);
    if (label === 'PUBLIC KEY') return der;
    if (label === 'RSA PUBLIC KEY') return pkcs1PublicToSpki(der);
    throw new TypeError(`publicKey must be a public key PEM, not "${label}"`);
}

/** A PKCS#8 DER private key from PEM (PKCS#1 is rewrapped). The caller zeroes it. */
function pkcs8FromPem(pem) {
    const { label, der } = decodePem(pem);
    if (label === 'PRIVATE KEY') return der;
    if (label === 'RSA PRIVATE KEY') {
        try {
            return pkcs1PrivateToPkcs8(der);
        } finally {
            der.fill(0);
        }
    }
    der.fill(0);
    if (label === 'ENCRYPTED PRIVATE KEY') {
        throw new TypeError('privateKey is encrypted: decrypt it first (openssl pkcs8)');
    }
    throw new TypeError(`privateKey must be a private key PEM, not "${label}"`);
}

export function isKeyring(value) {
    return value != null && typeof value.wrappingKeys === 'function' &&
        typeof value.unwrap === 'function';
}

function checkKeyring(what, value) {
    if (!isKeyring(value)) {
        throw new TypeError(`${what} must be a keyring (wrappingKeys() and unwrap())`);
    }
}

/**
 * A raw RSA keyring, compatible with the AWS Encryption SDKs' raw RSA keyrings: the EDK's
 * provider ID is the key namespace, its provider information the key name, its ciphertext the
 * RSA-OAEP encryption of the data key (MGF1 with the same hash, empty label).
 */
export class RawRsaKeyring {
    #keyNamespace;
    #keyName;
    /** WebCrypto spelling; the wrapping and the private key were imported with it. */
    #oaepHash;
    /** Null for a keyring of a private CryptoKey only: it cannot encrypt. */
    #wrappingKey;
    #privateKey;

    constructor(token, { keyNamespace, keyName, oaepHash, wrappingKey, privateKey }) {
        if (token !== TOKEN) throw new TypeError('use `await RawRsaKeyring.fromPem({...})`');
        this.#keyNamespace = keyNamespace;
        this.#keyName = keyName;
        this.#oaepHash = oaepHash;
        this.#wrappingKey = wrappingKey;
        this.#privateKey = privateKey;
    }

    /**
     * Builds a keyring from PEM keys. `publicKey` (SPKI `PUBLIC KEY` or PKCS#1 `RSA PUBLIC
     * KEY`) wraps; `privateKey` (PKCS#8 `PRIVATE KEY` or PKCS#1 `RSA PRIVATE KEY`, converted
     * to PKCS#8 here) unwraps through WebCrypto and, without `publicKey`, also wraps with its
     * public half. Give at least one.
     */
    static async fromPem({ keyNamespace, keyName, publicKey, privateKey, oaepHash = 'SHA-256' } = {}) {
        checkName('keyNamespace', keyNamespace);
        checkName('keyName', keyName);
        if (publicKey == null && privateKey == null) {
            throw new TypeError('RawRsaKeyring.fromPem needs publicKey, privateKey or both');
        }
        const hash = webCryptoHash(oaepHash);
        const spki = publicKey != null ? spkiFromPem(publicKey) : null;
        let cryptoKey = null;
        let derived = null;
        if (privateKey != null) {
            const pkcs8 = pkcs8FromPem(privateKey);
            try {
                derived = spkiOfPkcs8(pkcs8);
                cryptoKey = await crypto.subtle.importKey(
                    'pkcs8', pkcs8, { name: 'RSA-OAEP', hash }, false, ['decrypt']);
            } catch (err) {
                if (err instanceof TypeError) throw err;
                throw new KeyError(
                    'not an RSA key of 2048 to 8192 bits', 'INVALID_KEY', undefined, { cause: err });
            } finally {
                pkcs8.fill(0);
            }
            if (spki && !sameBytes(spki, derived)) {
                throw new KeyError('publicKey and privateKey are not one key pair', 'KEY_MISMATCH');
            }
        }
        const wrappingKey = await wrappingKeyFrom(keyNamespace, keyName, 'spki', spki ?? derived, hash);
        return new RawRsaKeyring(TOKEN, { keyNamespace, keyName, oaepHash: hash, wrappingKey, privateKey: cryptoKey });
    }

    /**
     * Builds a keyring from JSON Web Keys (`kty: 'RSA'`): `publicKey` wraps, `privateKey`
     * unwraps and, without `publicKey`, also wraps with its public half (`n`, `e`). A JWK's
     * `alg` (RSA-OAEP, RSA-OAEP-256, ...) must agree with `oaepHash` (default: the `alg`'s
     * hash, else SHA-256).
     */
    static async fromJwk({ keyNamespace, keyName, publicKey, privateKey, oaepHash } = {}) {
        checkName('keyNamespace', keyNamespace);
        checkName('keyName', keyName);
        if (publicKey == null && privateKey == null) {
            throw new TypeError('RawRsaKeyring.fromJwk needs publicKey, privateKey or both');
        }
        for (const [what, jwk] of [['publicKey', publicKey], ['privateKey', privateKey]]) {
            if (jwk != null && (typeof jwk !== 'object' || jwk.kty !== 'RSA')) {
                throw new TypeError(`${what} must be an RSA JSON Web Key (kty "RSA")`);
            }
        }
        if (privateKey != null && typeof privateKey.d !== 'string') {
            throw new TypeError('privateKey must be a private JSON Web Key (with "d")');
        }
        const jwkAlg = (publicKey ?? privateKey).alg;
        const hash = webCryptoHash(oaepHash ?? JWK_OAEP_HASHES[jwkAlg] ?? 'SHA-256');
        const { n, e } = publicKey ?? privateKey;
        if (publicKey != null && privateKey != null && (publicKey.n !== privateKey.n || publicKey.e !== privateKey.e)) {
            throw new KeyError('publicKey and privateKey are not one key pair', 'KEY_MISMATCH');
        }
        const half = { kty: 'RSA', n, e, ...(jwkAlg === undefined ? {} : { alg: jwkAlg }) };
        const wrappingKey = await wrappingKeyFrom(keyNamespace, keyName, 'jwk', half, hash);
        const cryptoKey = privateKey == null ? null : await importRsa('jwk', privateKey, hash, 'decrypt');
        return new RawRsaKeyring(TOKEN, { keyNamespace, keyName, oaepHash: hash, wrappingKey, privateKey: cryptoKey });
    }

    /**
     * Builds a keyring from WebCrypto RSA-OAEP keys (their hash is the OAEP hash):
     * `publicKey` wraps, `privateKey` unwraps. Without `publicKey` the keyring can only
     * decrypt, unless `privateKey` is extractable (its public half then wraps).
     */
    static async fromCryptoKey({ keyNamespace, keyName, publicKey, privateKey } = {}) {
        checkName('keyNamespace', keyNamespace);
        checkName('keyName', keyName);
        if (publicKey == null && privateKey == null) {
            throw new TypeError('RawRsaKeyring.fromCryptoKey needs publicKey, privateKey or both');
        }
        for (const [what, key] of [['publicKey', publicKey], ['privateKey', privateKey]]) {
            if (key != null && !isCryptoKey(key)) throw new TypeError(`${what} must be a CryptoKey`);
        }
        if (privateKey != null) checkRsaKey(privateKey, 'private', 'decrypt');
        let wrappingKey = publicKey == null ? null : wrappingKeyOf(keyNamespace, keyName, publicKey);
        const hash = (publicKey ?? privateKey).algorithm.hash.name;
        if (privateKey != null && privateKey.algorithm.hash.name !== hash) {
            throw new KeyError(`publicKey and privateKey have different OAEP hashes (${hash}, ${privateKey.algorithm.hash.name})`,
                'KEY_MISMATCH');
        }
        if (privateKey?.extractable) {
            const { n, e } = await crypto.subtle.exportKey('jwk', privateKey);
            if (publicKey != null) {
                const pub = await crypto.subtle.exportKey('jwk', publicKey);
                if (pub.n !== n || pub.e !== e) {
                    throw new KeyError('publicKey and privateKey are not one key pair', 'KEY_MISMATCH');
                }
            }
            wrappingKey ??= await wrappingKeyFrom(keyNamespace, keyName, 'jwk', { kty: 'RSA', n, e }, hash);
        }
        return new RawRsaKeyring(TOKEN, { keyNamespace, keyName, oaepHash: hash, wrappingKey, privateKey: privateKey ?? null });
    }

    get keyNamespace() {
        return this.#keyNamespace;
    }

    get keyName() {
        return this.#keyName;
    }

    /** The OAEP hash in WebCrypto spelling ('SHA-256', ...). */
    get oaepHash() {
        return this.#oaepHash;
    }

    /** Whether this keyring holds a private key (can decrypt). */
    get canUnwrap() {
        return this.#privateKey !== null;
    }

    /** Whether this keyring can encrypt (a keyring of a private CryptoKey only cannot). */
    get canWrap() {
        return this.#wrappingKey !== null;
    }

    async wrappingKeys() {
        if (!this.#wrappingKey) {
            throw new EncryptError(`keyring failed: raw RSA keyring ${this.#keyNamespace}/${this.#keyName} has only a `
                + 'non-extractable private key; give it publicKey to encrypt', 'KEYRING');
        }
        return [this.#wrappingKey];
    }

    async unwrap(edk, _headerBytes, options = undefined) {
        const { keyNamespace, keyName } = this;
        if (edk.providerId !== keyNamespace || edk.providerInfo !== keyName) return null;
        if (!this.#privateKey) {
            throw new DecryptError(
                `keyring failed: raw RSA keyring ${keyNamespace}/${keyName} has only a public key`,
                'KEYRING');
        }
        try {
            const key = new Uint8Array(
                await crypto.subtle.decrypt({ name: 'RSA-OAEP' }, this.#privateKey, edk.ciphertext));
            return restoreLeadingZeros(key, options?.dataKeyLength);
        } catch {
            // Opaque on purpose: bad padding, wrong key and wrong length look the same. The
            // hash is this keyring's setting, not a secret: a mismatch is the usual mistake
            // (the AWS SDK's Node raw RSA keyring defaults to SHA-1, ours to SHA-256).
            throw new DecryptError(`encrypted data key did not unwrap with raw RSA keyring ${keyNamespace}/${keyName} `
                + `(RSA-OAEP ${this.#oaepHash}; @aws-crypto/client-node's raw RSA keyring defaults to SHA-1)`,
            'UNWRAP_FAILED');
        }
    }
}

/**
 * `key` at `length` bytes: WebKitGTK's RSA-OAEP decrypt (2.50) drops the plaintext's leading
 * zero bytes, so a data key that starts with 0x00 comes back short. Left-padding restores it
 * exactly; a key that was short for another reason still fails the header's key commitment.
 */
function restoreLeadingZeros(key, length) {
    if (!Number.isInteger(length) || key.length >= length) return key;
    const padded = new Uint8Array(length);
    padded.set(key, length - key.length);
    key.fill(0);
    return padded;
}

/**
 * Several keyrings as one (the ESDK multi-keyring): encrypt wraps the data key with the
 * generator's keys, then each child's; decrypt asks each keyring in that order, EDK by EDK.
 */
export class MultiKeyring {
    #generator;
    #children;

    constructor({ generator = undefined, children = [] } = {}) {
        if (generator !== undefined) checkKeyring('generator', generator);
        if (!Array.isArray(children)) throw new TypeError('children must be an array of keyrings');
        children.forEach((c, i) => checkKeyring(`children[${i}]`, c));
        if (generator === undefined && children.length === 0) {
            throw new TypeError('a MultiKeyring needs a generator or children');
        }
        this.#generator = generator;
        this.#children = [...children];
    }

    get generator() {
        return this.#generator;
    }

    get children() {
        return [...this.#children];
    }

    async wrappingKeys() {
        if (!this.#generator) {
            throw new EncryptError('keyring failed: a multi-keyring without a generator cannot encrypt', 'KEYRING');
        }
        const keys = [];
        for (const keyring of [this.#generator, ...this.#children]) {
            keys.push(...(await keyring.wrappingKeys()));
        }
        return keys;
    }

    /** Asks each keyring in turn; the core's rule (FirstAnswer) says which answer stands. */
    async unwrap(edk, headerBytes, options = undefined) {
        // The rule is in both message modules: the one a message starts on is loaded by now.
        const answers = new (await startModule()).wasm.FirstAnswer();
        try {
            for (const keyring of this.#keyrings()) {
                let key;
                try {
                    key = await keyring.unwrap(edk, headerBytes, options);
                } catch (err) {
                    if (options?.signal?.aborted) throw err;
                    answers.error(err);
                    continue;
                }
                if (answers.key(key)) return key;
            }
            return answers.finish();
        } finally {
            answers.free();
        }
    }

    *#keyrings() {
        if (this.#generator) yield this.#generator;
        yield* this.#children;
    }
}
