// The AWS KMS keyrings: I/O around the core's rules (the wasm `KmsSymmetricRules` and
// `KmsRsaRules`, in the KMS module that ./kms-loader.js loads on first use), KMS calls at
// `POST {endpoint}/` (JSON 1.1), signed with SigV4 or sent with a bearer token. This file does
// I/O only: every request body and every check of an answer is the core's.
//
// - KmsKeyring: the AWS KMS keyring for symmetric keys (EDK provider ID `aws-kms`, provider
//   information the key ARN, ciphertext KMS's blob). The first key of a message makes the data
//   key with GenerateDataKey, every other encrypts it with Encrypt; unwrapping is Decrypt. Each
//   call carries the message's encryption context and the grant tokens.
// - KmsRsaKeyring: the Material Providers Library's AWS KMS RSA keyring (`AwsKmsRsaKeyring`,
//   EDK provider ID `aws-kms-rsa`). Wrapping is local, with the KMS key's public key (given,
//   or fetched once with GetPublicKey): RSA-OAEP through WebCrypto of what the core's rules
//   give (`KmsRsaRules.wrapPlaintext`: the SHA-384 digest of the encryption context, then the
//   data key). Unwrapping calls KMS Decrypt.
import { DecryptError, EncryptError, KeyError, call } from './errors.js';
import { kmsRemoteWrappingKey, kmsWrappingKey } from './keyrings.js';
import { kmsBindings } from './kms-loader.js';
import { signRequest } from './sigv4.js';

const TOKEN = Symbol('cipherdrop.kms');
const CONTENT_TYPE = 'application/x-amz-json-1.1';
/** The options of both keyrings' connection to KMS. */
const CONNECTION_OPTIONS = ['endpoint', 'region', 'credentials', 'token', 'fetch', 'signal'];
const RSA_OPTIONS = new Set(['keyArn', 'encryptionAlgorithm', 'publicKey', ...CONNECTION_OPTIONS]);
const SYMMETRIC_OPTIONS = new Set(['generatorKeyId', 'keyIds', 'grantTokens', ...CONNECTION_OPTIONS]);

/** The refusal of a KMS call: the exception name (`__type`, without its namespace) and message. */
async function kmsError(response) {
    try {
        const body = await response.json();
        if (body && typeof body.__type === 'string') {
            const code = body.__type.split('#').pop();
            return { code, message: String(body.message ?? body.Message ?? '') };
        }
    } catch {
        // not JSON
    }
    return { code: `HTTP ${response.status}`, message: response.statusText || 'request failed' };
}

function checkString(what, value) {
    if (typeof value !== 'string' || value === '') {
        throw new TypeError(`${what} must be a non-empty string`);
    }
}

/** Rejects unknown option names (`INVALID_OPTION`) and checks the connection options. */
function checkOptions(options, known) {
    if (options === null || typeof options !== 'object') throw new TypeError('options must be an object');
    for (const option of Object.keys(options)) {
        if (!known.has(option)) {
            throw new KeyError(`unknown option \`${option}\` (known: ${[...known].join(', ')})`,
                'INVALID_OPTION', { option });
        }
    }
    const { endpoint, region, credentials, token, fetch: fetchFn = globalThis.fetch } = options;
    checkString('endpoint', endpoint);
    if (region !== undefined) checkString('region', region);
    if (typeof fetchFn !== 'function') throw new TypeError('fetch must be a function');
    if ((credentials == null) === (token == null)) {
        throw new TypeError('give credentials ({ accessKeyId, secretAccessKey, sessionToken? }) or token, not both');
    }
    if (credentials != null) {
        checkString('credentials.accessKeyId', credentials.accessKeyId);
        checkString('credentials.secretAccessKey', credentials.secretAccessKey);
        if (credentials.sessionToken !== undefined) checkString('credentials.sessionToken', credentials.sessionToken);
    } else if (typeof token !== 'function') {
        checkString('token', token);
    }
}

/** How both keyrings reach KMS: endpoint, credentials or bearer token, `fetch`. */
class KmsConnection {
    #endpoint;
    #region;
    #credentials;
    #token;
    #fetch;

    /** From options that passed `checkOptions`. */
    constructor({ endpoint, region, credentials, token, fetch: fetchFn = globalThis.fetch }) {
        this.#endpoint = String(endpoint).replace(/\/+$/, '');
        this.#region = region;
        this.#credentials = credentials && { ...credentials };
        this.#token = token;
        this.#fetch = fetchFn;
    }

    /**
     * One KMS call for `rules`' key (SigV4 in the `region` option, else the ARN's); its JSON
     * answer, or an `ErrorClass` error with `code` and `serverCode`.
     */
    async call(rules, operation, body, signal, ErrorClass, code) {
        const url = `${this.#endpoint}/`;
        const keyArn = rules.keyArn;
        const headers = { 'content-type': CONTENT_TYPE, 'x-amz-target': `TrentService.${operation}` };
        let sent;
        if (this.#credentials) {
            sent = await signRequest({ url, headers, body, region: this.#region ?? rules.region, service: 'kms',
                credentials: this.#credentials });
            delete sent.host; // fetch sets it (a forbidden header name)
        } else {
            const value = typeof this.#token === 'function' ? await this.#token() : this.#token;
            if (typeof value !== 'string' || value === '') {
                throw new TypeError('the token provider must resolve to a non-empty string');
            }
            sent = { ...headers, authorization: `Bearer ${value}` };
        }
        // Called unbound: a browser's fetch throws "Illegal invocation" with another `this`.
        const fetchFn = this.#fetch;
        let response;
        try {
            response = await fetchFn(url, { method: 'POST', headers: sent, body, signal });
        } catch (err) {
            if (signal?.aborted) throw signal.reason ?? err;
            throw new ErrorClass(`AWS KMS ${operation} ${keyArn}: unreachable: ${err?.message ?? err}`, code,
                { serverCode: 'NetworkError' }, { cause: err });
        }
        if (!response.ok) {
            const { code: serverCode, message } = await kmsError(response);
            throw new ErrorClass(`AWS KMS ${operation} ${keyArn}: ${serverCode}: ${message}`, code,
                { serverCode, status: response.status });
        }
        try {
            return await response.json();
        } catch (err) {
            throw new ErrorClass(`AWS KMS ${operation} ${keyArn}: the answer is not JSON`, code,
                { serverCode: 'InvalidResponse' }, { cause: err });
        }
    }
}

/** A string member of a KMS answer, else `undefined` (the core decides what is missing). */
function member(answer, name) {
    return typeof answer?.[name] === 'string' ? answer[name] : undefined;
}

/**
 * The AWS KMS keyring for symmetric KMS keys (the official SDKs' "AWS KMS keyring"). Build it
 * with `await KmsKeyring.create({ generatorKeyId?, keyIds?, endpoint, credentials | token,
 * grantTokens? })`.
 */
export class KmsKeyring {
    #keys;
    #hasGenerator;
    #connection;
    #wrappingKeys;

    constructor(token, { keys, hasGenerator, connection }) {
        if (token !== TOKEN) throw new TypeError('use `await KmsKeyring.create({...})`');
        this.#keys = keys;
        this.#hasGenerator = hasGenerator;
        this.#connection = connection;
        this.#wrappingKeys = keys.map((rules) => kmsRemoteWrappingKey(rules, {
            generate: (pending, signal) => this.#generate(rules, pending, signal),
            wrap: (pending, signal) => this.#encrypt(rules, pending, signal),
        }));
    }

    /**
     * Checks the options (nothing is sent to KMS). Rejects with a {@link KeyError}:
     * `INVALID_KEY_ARN` (an alias or a bare key ID), `INVALID_OPTION` (an unknown option
     * name); a `TypeError` for a missing or mistyped option.
     */
    static async create(options = {}) {
        checkOptions(options, SYMMETRIC_OPTIONS);
        const { generatorKeyId, keyIds = [], grantTokens = [] } = options;
        if (generatorKeyId !== undefined) checkString('generatorKeyId', generatorKeyId);
        if (!Array.isArray(keyIds)) throw new TypeError('keyIds must be an array of key ARNs');
        keyIds.forEach((id, i) => checkString(`keyIds[${i}]`, id));
        if (!Array.isArray(grantTokens)) throw new TypeError('grantTokens must be an array of strings');
        grantTokens.forEach((t, i) => checkString(`grantTokens[${i}]`, t));
        const arns = [...(generatorKeyId === undefined ? [] : [generatorKeyId]), ...keyIds];
        if (arns.length === 0) throw new TypeError('give generatorKeyId or keyIds (key ARNs)');
        const kms = await kmsBindings();
        const keys = arns.map((arn) => call(() => new kms.KmsSymmetricRules(arn, [...grantTokens])));
        return new KmsKeyring(TOKEN, { keys, hasGenerator: generatorKeyId !== undefined,
            connection: new KmsConnection(options) });
    }

    /** The generator's key ARN (the first key), or `undefined` when only `keyIds` were given. */
    get generatorKeyId() {
        return this.#hasGenerator ? this.#keys[0].keyArn : undefined;
    }

    /** The other key ARNs. */
    get keyIds() {
        return this.#keys.slice(this.#hasGenerator ? 1 : 0).map((k) => k.keyArn);
    }

    async wrappingKeys() {
        return [...this.#wrappingKeys];
    }

    /**
     * Calls KMS Decrypt for an EDK of one of the keys (`null` for other EDKs). A refusal
     * (disabled key, policy, a changed encryption context: `InvalidCiphertextException`), an
     * unreachable endpoint or an answer for another key throws a {@link DecryptError} with
     * code `KEYRING` and `serverCode`.
     */
    async unwrap(edk, headerBytes, { signal } = {}) {
        for (const rules of this.#keys) {
            const body = call(() => rules.decryptRequest(headerBytes, edk.providerId, edk.providerInfo, edk.ciphertext));
            if (body == null) continue;
            const answer = await this.#connection.call(rules, 'Decrypt', body, signal, DecryptError, 'KEYRING');
            let plaintext = member(answer, 'Plaintext');
            try {
                return call(() => rules.dataKey(headerBytes, member(answer, 'KeyId'), plaintext));
            } finally {
                plaintext = undefined;
            }
        }
        return null;
    }

    /**
     * GenerateDataKey: the data key becomes `pending`'s (the main module's PendingEncryptor;
     * the key crosses from this module to that one as an array, zero-filled after); returns
     * the EDK.
     */
    async #generate(rules, pending, signal) {
        const body = call(() => rules.generateDataKeyRequest(pending.suiteId, pending.encryptionContext()));
        const answer = await this.#connection.call(rules, 'GenerateDataKey', body, signal, EncryptError, 'KEYRING');
        let plaintext = member(answer, 'Plaintext');
        let generated;
        try {
            generated = call(() => rules.generated(pending.suiteId, member(answer, 'KeyId'), plaintext,
                member(answer, 'CiphertextBlob')));
        } finally {
            plaintext = undefined;
        }
        // useGeneratedDataKey zeroes the array it is given; the fill covers a throw before.
        try {
            call(() => pending.useGeneratedDataKey(generated.dataKey));
        } finally {
            generated.dataKey.fill(0);
        }
        return generated.edk;
    }

    /** Encrypt of `pending`'s data key; returns the EDK. */
    async #encrypt(rules, pending, signal) {
        const dataKey = pending.dataKey();
        let body;
        try {
            body = call(() => rules.encryptRequest(pending.encryptionContext(), dataKey));
        } finally {
            dataKey.fill(0);
        }
        let answer;
        try {
            answer = await this.#connection.call(rules, 'Encrypt', body, signal, EncryptError, 'KEYRING');
        } finally {
            body = undefined;
        }
        return call(() => rules.encrypted(member(answer, 'KeyId'), member(answer, 'CiphertextBlob')));
    }
}

/**
 * A keyring for one AWS KMS RSA key. Build it with `await KmsRsaKeyring.create({ keyArn,
 * encryptionAlgorithm, endpoint, credentials | token, publicKey? })`.
 */
export class KmsRsaKeyring {
    #rules;
    #connection;
    #wrappingKey;

    constructor(token, { rules, connection }) {
        if (token !== TOKEN) throw new TypeError('use `await KmsRsaKeyring.create({...})`');
        this.#rules = rules;
        this.#connection = connection;
        this.#wrappingKey = null;
    }

    /**
     * Checks the options, and fetches the key's public key with KMS GetPublicKey unless
     * `publicKey` (SPKI DER bytes or a `PUBLIC KEY` PEM) is given. Rejects with a
     * {@link KeyError}: `INVALID_KEY_ARN`, `UNSUPPORTED_ENCRYPTION_ALGORITHM`,
     * `INVALID_OPTION`, `INVALID_KEY` / `INVALID_PUBLIC_KEY` (the public key or GetPublicKey
     * refused).
     */
    static async create(options = {}) {
        checkOptions(options, RSA_OPTIONS);
        const { keyArn, encryptionAlgorithm, publicKey, signal } = options;
        checkString('keyArn', keyArn);
        checkString('encryptionAlgorithm', encryptionAlgorithm);
        const kms = await kmsBindings();
        const rules = call(() => new kms.KmsRsaRules(keyArn, encryptionAlgorithm));
        const keyring = new KmsRsaKeyring(TOKEN, { rules, connection: new KmsConnection(options) });
        keyring.#wrappingKey = await kmsWrappingKey(rules, publicKey ?? await keyring.#fetchPublicKey(signal));
        return keyring;
    }

    /** The key ARN. */
    get keyArn() {
        return this.#rules.keyArn;
    }

    /** `RSAES_OAEP_SHA_256` or `RSAES_OAEP_SHA_1`. */
    get encryptionAlgorithm() {
        return this.#rules.encryptionAlgorithm;
    }

    async wrappingKeys() {
        return [this.#wrappingKey];
    }

    /**
     * Calls KMS Decrypt for an EDK of this key (`null` for other EDKs). A refusal (disabled
     * key, policy, unknown access key), an unreachable endpoint or an answer for another key
     * throws a {@link DecryptError} with code `KEYRING` and `serverCode` (the AWS exception
     * name, `NetworkError` or `InvalidResponse`); a wrong OAEP hash or a changed encryption
     * context throws `UNWRAP_FAILED`.
     */
    async unwrap(edk, headerBytes, { signal } = {}) {
        const body = call(() => this.#rules.decryptRequest(
            headerBytes, edk.providerId, edk.providerInfo, edk.ciphertext));
        if (body == null) return null;
        const answer = await this.#connection.call(this.#rules, 'Decrypt', body, signal, DecryptError, 'KEYRING');
        let plaintext = member(answer, 'Plaintext');
        try {
            return call(() => this.#rules.dataKey(headerBytes, member(answer, 'KeyId'), plaintext));
        } finally {
            plaintext = undefined;
        }
    }

    async #fetchPublicKey(signal) {
        const answer = await this.#connection.call(this.#rules, 'GetPublicKey', this.#rules.publicKeyRequest(), signal,
            KeyError, 'INVALID_PUBLIC_KEY');
        const algs = Array.isArray(answer?.EncryptionAlgorithms) ? answer.EncryptionAlgorithms.map(String) : undefined;
        call(() => this.#rules.checkPublicKeyDescription(member(answer, 'KeyUsage'), algs));
        if (typeof answer?.PublicKey !== 'string') {
            throw new KeyError(`AWS KMS GetPublicKey ${this.keyArn}: no PublicKey in the answer`, 'INVALID_PUBLIC_KEY');
        }
        return fromBase64(answer.PublicKey);
    }
}

function fromBase64(text) {
    const binary = atob(text);
    const out = new Uint8Array(binary.length);
    for (let i = 0; i < binary.length; i += 1) out[i] = binary.charCodeAt(i);
    return out;
}
