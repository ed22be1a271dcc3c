// The worker of the frame pool (./pool.js; exported as `cipherdrop/worker`): runs WebCrypto
// AES-256-GCM on batches of frames, with the non-extractable CryptoKey of each message
// (structured-cloned from the page: its bytes never reach this worker). It knows nothing of
// the message format: IV and AAD come from the wasm core in the page, and the page writes
// the results in frame order. The batch buffer goes back to the page for reuse.
const keys = new Map();

self.onmessage = async ({ data: m }) => {
    if (m.type === 'key') {
        keys.set(m.session, m.key);
        return;
    }
    if (m.type === 'drop') {
        keys.delete(m.session);
        return;
    }
    const key = keys.get(m.session);
    const subtle = crypto.subtle;
    const run = m.type === 'seal' ? subtle.encrypt.bind(subtle) : subtle.decrypt.bind(subtle);
    // m.frames: offset and length in m.buf, then offset and AAD length in m.meta (IV, AAD).
    const meta = new Uint8Array(m.meta);
    const calls = [];
    for (let i = 0; i < m.frames.length; i += 4) {
        const [offset, length, at, aadLength] = m.frames.slice(i, i + 4);
        if (!key) {
            calls.push(Promise.reject(new Error('no key for this message')));
            continue;
        }
        const params = {
            name: 'AES-GCM', iv: meta.subarray(at, at + 12), additionalData: meta.subarray(at + 12, at + 12 + aadLength),
        };
        calls.push(run(params, key, new Uint8Array(m.buf, offset, length)));
    }
    const settled = await Promise.allSettled(calls);
    const results = settled.map((s) => (s.status === 'fulfilled' ? s.value : null));
    const transfer = [m.buf, ...results.filter(Boolean)];
    self.postMessage({ id: m.id, buf: m.buf, results }, transfer);
};
