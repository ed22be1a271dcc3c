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
    const settled = await Promise.allSettled(m.frames.map((f) => {
        if (!key) return Promise.reject(new Error('no key for this message'));
        const params = { name: 'AES-GCM', iv: f.iv, additionalData: f.aad };
        return run(params, key, new Uint8Array(m.buf, f.offset, f.length));
    }));
    const results = settled.map((s) => (s.status === 'fulfilled' ? s.value : null));
    const transfer = [m.buf, ...results.filter(Boolean)];
    self.postMessage({ id: m.id, buf: m.buf, results }, transfer);
};
