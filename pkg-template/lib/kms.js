// KmsRsaKeyring: the Material Providers Library's AWS KMS RSA keyring (`AwsKmsRsaKeyring`,
// EDK provider ID `aws-kms-rsa`, provider information the key ARN). Wrapping is local, with
// the KMS key's public key (given, or fetched once with GetPublicKey): RSA-OAEP through
// WebCrypto of what the core's rules give (`KmsRsaRules.wrapPlaintext`: the SHA-384 digest of
// the encryption context, then the data key). Unwrapping calls KMS Decrypt at `POST
// {endpoint}/` (JSON 1.1), signed with SigV4 or sent with a bearer token; the request body
// and every check of the answer are the core's (`decryptRequest`, `dataKey`). This file does
// I/O only.
import { DecryptError, KeyError, call } from './errors.js';
import { kmsWrappingKey } from './keyrings.js';
import { signRequest } from './sigv4.js';
import { init, wasm } from './wasm.js';

const TOKEN = Symbol('cipherdrop.kms');
const CONTENT_TYPE = 'application/x-amz-json-1.1';
const OPTIONS = new Set(['keyArn', 'encryptionAlgorithm', 'publicKey', 'endpoint', 'region',
    'credentials', 'token', 'fetch', 'signal']);

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

/**
 * A keyring for one AWS KMS RSA key. Build it with `await KmsRsaKeyring.create({ keyArn,
 * encryptionAlgorithm, endpoint, credentials | token, publicKey? })`.
 */
export class KmsRsaKeyring {
    #rules;
    #endpoint;
    #region;
    #credentials;
    #token;
    #fetch;
    #wrappingKey;

    constructor(token, { rules, endpoint, region, credentials, bearer, fetchFn, wrappingKey }) {
        if (token !== TOKEN) throw new TypeError('use `await KmsRsaKeyring.create({...})`');
        this.#rules = rules;
        this.#endpoint = endpoint;
        this.#region = region;
        this.#credentials = credentials;
        this.#token = bearer;
        this.#fetch = fetchFn;
        this.#wrappingKey = wrappingKey;
    }

    /**
     * Checks the options, and fetches the key's public key with KMS GetPublicKey unless
     * `publicKey` (SPKI DER bytes or a `PUBLIC KEY` PEM) is given. Rejects with a
     * {@link KeyError}: `INVALID_KEY_ARN`, `UNSUPPORTED_ENCRYPTION_ALGORITHM`,
     * `INVALID_OPTION`, `INVALID_KEY` / `INVALID_PUBLIC_KEY` (the public key or GetPublicKey
     * refused).
     */
    static async create(options = {}) {
        if (options === null || typeof options !== 'object') throw new TypeError('options must be an object');
        for (const option of Object.keys(options)) {
            if (!OPTIONS.has(option)) {
                throw new KeyError(`unknown option \`${option}\` (known: ${[...OPTIONS].join(', ')})`,
                    'INVALID_OPTION', { option });
            }
        }
        const { keyArn, encryptionAlgorithm, publicKey, endpoint, region, credentials, token,
            fetch: fetchFn = globalThis.fetch, signal } = options;
        checkString('keyArn', keyArn);
        checkString('encryptionAlgorithm', encryptionAlgorithm);
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
        await init();
        const rules = call(() => new wasm.KmsRsaRules(keyArn, encryptionAlgorithm));
        const keyring = new KmsRsaKeyring(TOKEN, {
            rules,
            endpoint: String(endpoint).replace(/\/+$/, ''),
            region: region ?? rules.region,
            credentials: credentials && { ...credentials },
            bearer: token,
            fetchFn,
            wrappingKey: null,
        });
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
        const answer = await this.#call('Decrypt', body, signal, DecryptError, 'KEYRING');
        let plaintext = typeof answer?.Plaintext === 'string' ? answer.Plaintext : undefined;
        const keyId = typeof answer?.KeyId === 'string' ? answer.KeyId : undefined;
        try {
            return call(() => this.#rules.dataKey(headerBytes, keyId, plaintext));
        } finally {
            plaintext = undefined;
        }
    }

    async #fetchPublicKey(signal) {
        const answer = await this.#call('GetPublicKey', this.#rules.publicKeyRequest(), signal, KeyError,
            'INVALID_PUBLIC_KEY');
        const algs = Array.isArray(answer?.EncryptionAlgorithms) ? answer.EncryptionAlgorithms.map(String) : undefined;
        call(() => this.#rules.checkPublicKeyDescription(
            typeof answer?.KeyUsage === 'string' ? answer.KeyUsage : undefined, algs));
        if (typeof answer?.PublicKey !== 'string') {
            throw new KeyError(`AWS KMS GetPublicKey ${this.keyArn}: no PublicKey in the answer`, 'INVALID_PUBLIC_KEY');
        }
        return fromBase64(answer.PublicKey);
    }

    /** One KMS call; its JSON answer, or an `ErrorClass` error with `code`. */
    async #call(operation, body, signal, ErrorClass, code) {
        const url = `${this.#endpoint}/`;
        const headers = { 'content-type': CONTENT_TYPE, 'x-amz-target': `TrentService.${operation}` };
        let sent;
        if (this.#credentials) {
            sent = await signRequest({ url, headers, body, region: this.#region, service: 'kms',
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
            throw new ErrorClass(`AWS KMS ${operation} ${this.keyArn}: unreachable: ${err?.message ?? err}`, code,
                { serverCode: 'NetworkError' }, { cause: err });
        }
        if (!response.ok) {
            const { code: serverCode, message } = await kmsError(response);
            throw new ErrorClass(`AWS KMS ${operation} ${this.keyArn}: ${serverCode}: ${message}`, code,
                { serverCode, status: response.status });
        }
        try {
            return await response.json();
        } catch (err) {
            throw new ErrorClass(`AWS KMS ${operation} ${this.keyArn}: the answer is not JSON`, code,
                { serverCode: 'InvalidResponse' }, { cause: err });
        }
    }
}

function fromBase64(text) {
    const binary = atob(text);
    const out = new Uint8Array(binary.length);
    for (let i = 0; i < binary.length; i += 1) out[i] = binary.charCodeAt(i);
    return out;
}
