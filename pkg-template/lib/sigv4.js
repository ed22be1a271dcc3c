// AWS Signature Version 4 (the "Signature Version 4 signing process" of the AWS General
// Reference) for the JSON requests of the AWS KMS keyring: POST with a body, no query
// string. HMAC-SHA256 and SHA-256 come from WebCrypto (`crypto.subtle`), in browsers and
// Node alike. tests/kms/run.py checks the output against botocore's signer on fixed inputs.

const ALGORITHM = 'AWS4-HMAC-SHA256';
const encoder = new TextEncoder();

function hex(buffer) {
    return Array.from(new Uint8Array(buffer), (b) => b.toString(16).padStart(2, '0')).join('');
}

async function sha256Hex(data) {
    return hex(await crypto.subtle.digest('SHA-256', typeof data === 'string' ? encoder.encode(data) : data));
}

async function hmac(key, data) {
    const k = await crypto.subtle.importKey('raw', key, { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
    return new Uint8Array(await crypto.subtle.sign('HMAC', k, encoder.encode(data)));
}

/** `YYYYMMDDTHHMMSSZ` of `date` (UTC). */
function amzDate(date) {
    return date.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
}

/** The canonical URI: the URL's path as it is sent (percent-encoded; KMS requests go to `/`). */
function canonicalPath(pathname) {
    return pathname === '' ? '/' : pathname;
}

/**
 * The headers to send with a signed request: `headers` (lowercase names) plus `host`,
 * `x-amz-date`, `x-amz-security-token` (with a session token) and `authorization`.
 *
 * `url` is the request URL, `body` the exact body string, `region` and `service` the
 * credential scope's, `credentials` `{ accessKeyId, secretAccessKey, sessionToken? }`, `date`
 * the signing time (default now).
 */
export async function signRequest({ method = 'POST', url, headers = {}, body = '', region, service,
    credentials, date = new Date() }) {
    const u = new URL(url);
    const time = amzDate(date);
    const day = time.slice(0, 8);
    const all = {};
    for (const [name, value] of Object.entries(headers)) all[name.toLowerCase()] = String(value);
    all.host = u.host;
    all['x-amz-date'] = time;
    if (credentials.sessionToken) all['x-amz-security-token'] = credentials.sessionToken;
    const names = Object.keys(all).sort();
    // Canonical headers: lowercase names, values trimmed with inner runs of spaces folded.
    const canonicalHeaders = names.map((n) => `${n}:${all[n].trim().replace(/\s+/g, ' ')}\n`).join('');
    const signedHeaders = names.join(';');
    const canonicalQuery = [...u.searchParams].map(([k, v]) => [rfc3986(k), rfc3986(v)])
        .sort(([a, x], [b, y]) => (a < b ? -1 : a > b ? 1 : x < y ? -1 : x > y ? 1 : 0))
        .map(([k, v]) => `${k}=${v}`).join('&');
    const canonicalRequest = [method, canonicalPath(u.pathname), canonicalQuery, canonicalHeaders,
        signedHeaders, await sha256Hex(body)].join('\n');
    const scope = `${day}/${region}/${service}/aws4_request`;
    const stringToSign = [ALGORITHM, time, scope, await sha256Hex(canonicalRequest)].join('\n');
    let key = encoder.encode(`AWS4${credentials.secretAccessKey}`);
    for (const part of [day, region, service, 'aws4_request']) key = await hmac(key, part);
    const signature = hex(await hmac(key, stringToSign));
    key.fill(0);
    all.authorization = `${ALGORITHM} Credential=${credentials.accessKeyId}/${scope}, ` +
        `SignedHeaders=${signedHeaders}, Signature=${signature}`;
    return all;
}

function rfc3986(s) {
    return encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}
