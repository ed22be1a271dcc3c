// KeyServerKeyring: a keyring whose private key stays on a cipherdrop key server
// (`cipherdrop serve`, HTTP API in server/openapi.json). Wrapping is local, with the server
// key's public half (fetched once, RSA-OAEP-SHA256, EDK provider ID `cipherdrop`, provider
// information `KEYID/vN`); unwrapping sends the message header and the EDK's key name to
// `POST /v0/unwrap`, and the server returns the data key only if the caller's token, the
// key's state and policy, and the header's verified encryption context allow it. The data
// key comes back as a JWE (ECDH-ES, A256GCM) to a fresh non-extractable WebCrypto ECDH key
// made for that one unwrap, so it never crosses the wire in the clear; the JWE's rules are
// the core's (`openJwe`, in the KMS module that ./kms-loader.js loads on the first unwrap).
import { DecryptError, KeyError } from './errors.js';
import { WrappingKey } from './keyrings.js';
import { kmsBindings } from './kms-loader.js';

const ECDH = { name: 'ECDH', namedCurve: 'P-256' };

/** EDK provider ID of key-server keys (the server's `KEY_NAMESPACE`). */
const KEY_NAMESPACE = 'cipherdrop';
/** OAEP hash of key-server EDKs (the server also accepts SHA-1; we only write SHA-256). */
const OAEP_HASH = 'SHA-256';
const TOKEN = Symbol('cipherdrop.key-server');

/**
 * The bearer token for one request: `token` itself, or what the token provider `token()`
 * resolves to (called per request, so an app can hand over a fresh OpenID Connect ID or
 * access token).
 */
async function bearerOf(token) {
    const value = typeof token === 'function' ? await token() : token;
    if (typeof value !== 'string' || value === '') {
        throw new TypeError('the token provider must resolve to a non-empty string');
    }
    return value;
}

function checkString(what, value) {
    if (typeof value !== 'string' || value === '') {
        throw new TypeError(`${what} must be a non-empty string`);
    }
}

function fromBase64(text) {
    const binary = atob(text);
    const out = new Uint8Array(binary.length);
    for (let i = 0; i < binary.length; i += 1) out[i] = binary.charCodeAt(i);
    return out;
}

function toBase64(bytes) {
    let binary = '';
    for (let at = 0; at < bytes.length; at += 0x8000) {
        binary += String.fromCharCode.apply(null, bytes.subarray(at, at + 0x8000));
    }
    return btoa(binary);
}

/** `{ error, message }` of a refused request (the server's error body), or a stand-in. */
async function errorBody(response) {
    try {
        const body = await response.json();
        if (body && typeof body.error === 'string') {
            return { code: body.error, message: String(body.message ?? '') };
        }
    } catch {
        // not JSON: fall through
    }
    return { code: `HTTP ${response.status}`, message: response.statusText || 'request failed' };
}

/**
 * A keyring for one key of a cipherdrop key server. Build it with
 * `await KeyServerKeyring.create({ url, token, keyId })`.
 */
export class KeyServerKeyring {
    #url;
    #token;
    #fetch;
    #keyId;
    #wrappingKey;

    constructor(token, { url, bearer, fetchFn, keyId, wrappingKey }) {
        if (token !== TOKEN) throw new TypeError('use `await KeyServerKeyring.create({...})`');
        this.#url = url;
        this.#token = bearer;
        this.#fetch = fetchFn;
        this.#keyId = keyId;
        this.#wrappingKey = wrappingKey;
    }

    /**
     * Fetches the public key of `keyId` (a key ID or `alias/NAME`) from the server at `url`
     * once, with the bearer `token`. `fetch` defaults to the global one. Rejects with a
     * {@link KeyError} (code `INVALID_KEY`) if the server refuses or answers something else
     * than a key-server public key.
     */
    static async create({ url, token, keyId, fetch: fetchFn = globalThis.fetch, signal } = {}) {
        checkString('url', url);
        if (typeof token !== 'function') checkString('token', token);
        checkString('keyId', keyId);
        if (typeof fetchFn !== 'function') throw new TypeError('fetch must be a function');
        const base = String(url).replace(/\/+$/, '');
        const response = await fetchFn(`${base}/v0/keys/${encodeURIComponent(keyId)}/public-key`, {
            headers: { authorization: `Bearer ${await bearerOf(token)}` },
            signal,
        });
        if (!response.ok) {
            const { code, message } = await errorBody(response);
            throw new KeyError(`key server: public key of ${keyId}: ${code}: ${message}`, 'INVALID_KEY',
                { serverCode: code, status: response.status });
        }
        const doc = await response.json();
        if (doc?.keyNamespace !== KEY_NAMESPACE || typeof doc.keyName !== 'string' ||
            typeof doc.publicKey !== 'string') {
            throw new KeyError(`key server: public key of ${keyId}: unexpected response`, 'INVALID_KEY');
        }
        const wrappingKey = await WrappingKey.rsaOaep({
            keyNamespace: KEY_NAMESPACE,
            keyName: doc.keyName,
            publicKey: fromBase64(doc.publicKey),
            oaepHash: OAEP_HASH,
        });
        return new KeyServerKeyring(TOKEN, { url: base, bearer: token, fetchFn, keyId, wrappingKey });
    }

    /** The key ID or alias this keyring was created with. */
    get keyId() {
        return this.#keyId;
    }

    /** The EDK key name new messages get: `KEYID/vN` of the key's current version. */
    get keyName() {
        return this.#wrappingKey.keyName;
    }

    async wrappingKeys() {
        return [this.#wrappingKey];
    }

    /**
     * Sends every EDK with provider ID `cipherdrop` to the server, whichever key or version
     * it names (so messages written before a rotation or alias change still open); `null`
     * for other EDKs. A refusal (policy, disabled key, pending deletion, forged header) or
     * an unreachable server throws a {@link DecryptError} with code `KEYRING`, whose
     * `serverCode` is the server's code (`AccessDenied`, `KeyDisabled`, ...) or
     * `NetworkError`.
     */
    async unwrap(edk, headerBytes, { signal } = {}) {
        if (edk.providerId !== KEY_NAMESPACE) return null;
        // Before asking the server. A refusal (KEYRING, the LoadError as its cause), which
        // decrypt reports, rather than an error it would count as one more failed attempt.
        let kms;
        try {
            kms = await kmsBindings();
        } catch (err) {
            throw new DecryptError(`key server keyring: ${err?.message ?? err}`, 'KEYRING', undefined, { cause: err });
        }
        // Called unbound: a browser's fetch throws "Illegal invocation" with another `this`.
        const fetchFn = this.#fetch;
        const ours = await crypto.subtle.generateKey(ECDH, false, ['deriveBits']);
        const { kty, crv, x, y } = await crypto.subtle.exportKey('jwk', ours.publicKey);
        const bearer = await bearerOf(this.#token);
        let response;
        try {
            response = await fetchFn(`${this.#url}/v0/unwrap`, {
                method: 'POST',
                headers: { authorization: `Bearer ${bearer}`, 'content-type': 'application/json' },
                body: JSON.stringify({
                    header: toBase64(headerBytes),
                    keyName: edk.providerInfo,
                    recipient: { kty, crv, x, y },
                }),
                signal,
            });
        } catch (err) {
            if (signal?.aborted) throw signal.reason ?? err;
            throw new DecryptError(`key server unreachable: ${err?.message ?? err}`, 'KEYRING',
                { serverCode: 'NetworkError' }, { cause: err });
        }
        if (!response.ok) {
            const { code, message } = await errorBody(response);
            throw new DecryptError(`key server refused to unwrap: ${code}: ${message}`, 'KEYRING',
                { serverCode: code, status: response.status });
        }
        let jwe;
        try {
            ({ wrappedDataKey: jwe } = await response.json());
            if (typeof jwe !== 'string') throw new TypeError('no wrappedDataKey');
        } catch (err) {
            throw new DecryptError('key server: malformed unwrap response', 'KEYRING',
                { serverCode: 'InvalidResponse' }, { cause: err });
        }
        return openAnswer(kms, jwe, ours.privateKey, edk.providerInfo);
    }
}

/**
 * The data key in the server's JWE `jwe` to `privateKey`, for EDK key name `kid`, opened by
 * the KMS module's bindings `kms`.
 */
async function openAnswer(kms, jwe, privateKey, kid) {
    let z = null;
    try {
        const header = JSON.parse(kms.jweProtectedHeader(jwe));
        const epk = header?.epk ?? {};
        const theirs = await crypto.subtle.importKey(
            'jwk', { kty: epk.kty, crv: epk.crv, x: epk.x, y: epk.y }, ECDH, false, []);
        z = new Uint8Array(await crypto.subtle.deriveBits({ name: 'ECDH', public: theirs }, privateKey, 256));
        return kms.openJwe(jwe, String(header.alg), String(header.enc), String(epk.crv),
            String(header.kid), kid, z);
    } catch (err) {
        throw new DecryptError(`key server: the wrapped data key does not open: ${err?.message ?? err}`,
            'KEYRING', { serverCode: 'InvalidResponse' }, { cause: err });
    } finally {
        z?.fill(0);
    }
}
