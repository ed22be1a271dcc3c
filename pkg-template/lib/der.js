// PEM and the few DER structures of RSA keys the keyrings need: PKCS#1 keys are rewrapped as
// PKCS#8 / SPKI (WebCrypto and the wasm wrap only take those), and a private key's public
// half (modulus and exponent) is read so that a keyring given only a private key can wrap.
// Nothing here does cryptography; WebCrypto and the wasm core validate the keys.
import { KeyError } from './errors.js';

const SEQUENCE = 0x30;
const INTEGER = 0x02;
const BIT_STRING = 0x03;
const OCTET_STRING = 0x04;
/** DER of AlgorithmIdentifier { rsaEncryption (1.2.840.113549.1.1.1), NULL } (RFC 8017). */
const RSA_ALGORITHM_ID = Uint8Array.of(
    0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00);

const invalidPem = () => new KeyError(
    'expected a PEM "PUBLIC KEY", "RSA PUBLIC KEY", "PRIVATE KEY" or "RSA PRIVATE KEY" block',
    'INVALID_PEM');
const invalidKey = () => new KeyError('not an RSA key of 2048 to 8192 bits', 'INVALID_KEY');

/** Decodes the single PEM block of `text`: `{ label, der }`. Encrypted PEM is refused. */
export function decodePem(text) {
    if (typeof text !== 'string') throw new TypeError('a PEM key must be a string');
    const match = /-----BEGIN ([A-Z0-9 ]+)-----\r?\n([A-Za-z0-9+/=\s]*?)-----END \1-----/.exec(text);
    if (!match) throw invalidPem();
    let binary;
    try {
        binary = atob(match[2].replace(/\s+/g, ''));
    } catch {
        throw invalidPem();
    }
    const der = new Uint8Array(binary.length);
    for (let i = 0; i < binary.length; i++) der[i] = binary.charCodeAt(i);
    return { label: match[1], der };
}

/** Reads one TLV at `pos`: `{ tag, start, end }` (content bounds). */
function tlv(der, pos, end = der.length) {
    if (pos + 2 > end) throw invalidKey();
    const tag = der[pos];
    let len = der[pos + 1];
    let start = pos + 2;
    if (len & 0x80) {
        const n = len & 0x7f;
        if (n < 1 || n > 3 || start + n > end) throw invalidKey();
        len = 0;
        for (let i = 0; i < n; i++) len = len * 256 + der[start + i];
        start += n;
    }
    if (start + len > end) throw invalidKey();
    return { tag, start, end: start + len };
}

function expect(der, pos, tag, end) {
    const t = tlv(der, pos, end);
    if (t.tag !== tag) throw invalidKey();
    return t;
}

function header(tag, len) {
    if (len < 0x80) return [tag, len];
    if (len < 0x100) return [tag, 0x81, len];
    if (len < 0x10000) return [tag, 0x82, len >> 8, len & 0xff];
    return [tag, 0x83, len >> 16, (len >> 8) & 0xff, len & 0xff];
}

/** DER of `tag` around the concatenated `parts`. */
function wrap(tag, ...parts) {
    const len = parts.reduce((n, p) => n + p.length, 0);
    const head = header(tag, len);
    const out = new Uint8Array(head.length + len);
    out.set(head);
    let at = head.length;
    for (const p of parts) {
        out.set(p, at);
        at += p.length;
    }
    return out;
}

/** PKCS#1 RSAPrivateKey → PKCS#8 PrivateKeyInfo (RFC 5208 §5). The caller zeroes both. */
export function pkcs1PrivateToPkcs8(pkcs1) {
    return wrap(SEQUENCE, Uint8Array.of(INTEGER, 1, 0), RSA_ALGORITHM_ID,
        wrap(OCTET_STRING, pkcs1));
}

/** PKCS#1 RSAPublicKey → SubjectPublicKeyInfo (RFC 5280 §4.1). */
export function pkcs1PublicToSpki(pkcs1) {
    return wrap(SEQUENCE, RSA_ALGORITHM_ID, wrap(BIT_STRING, Uint8Array.of(0), pkcs1));
}

/** The SPKI of a PKCS#8 RSA private key's public half (its modulus and public exponent). */
export function spkiOfPkcs8(pkcs8) {
    const outer = expect(pkcs8, 0, SEQUENCE);
    const version = expect(pkcs8, outer.start, INTEGER, outer.end);
    const algorithm = expect(pkcs8, version.end, SEQUENCE, outer.end);
    const id = pkcs8.subarray(version.end, algorithm.end);
    if (id.length !== RSA_ALGORITHM_ID.length || id.some((b, i) => b !== RSA_ALGORITHM_ID[i])) {
        throw invalidKey();
    }
    const octets = expect(pkcs8, algorithm.end, OCTET_STRING, outer.end);
    const key = expect(pkcs8, octets.start, SEQUENCE, octets.end);
    const keyVersion = expect(pkcs8, key.start, INTEGER, key.end);
    const n = expect(pkcs8, keyVersion.end, INTEGER, key.end);
    const e = expect(pkcs8, n.end, INTEGER, key.end);
    const publicKey = wrap(SEQUENCE, pkcs8.subarray(keyVersion.end, e.end));
    return pkcs1PublicToSpki(publicKey);
}

/** Whether two DER byte strings are equal (public data: no constant time needed). */
export function sameBytes(a, b) {
    return a.length === b.length && a.every((x, i) => x === b[i]);
}
