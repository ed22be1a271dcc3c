// Tiny assertions for the shared cases: they run in Node and in browsers alike.
export class AssertionError extends Error {}
AssertionError.prototype.name = 'AssertionError';

const show = (v) => {
    if (v instanceof Uint8Array) return `Uint8Array(${v.length})`;
    try {
        return JSON.stringify(v);
    } catch {
        return String(v);
    }
};

export function ok(value, message = 'expected a truthy value') {
    if (!value) throw new AssertionError(message);
}

export function equal(actual, expected, message = '') {
    if (!Object.is(actual, expected)) {
        throw new AssertionError(`${message}: expected ${show(expected)}, got ${show(actual)}`);
    }
}

export function deepEqual(actual, expected, message = '') {
    const a = show(actual instanceof Uint8Array ? [...actual] : actual);
    const b = show(expected instanceof Uint8Array ? [...expected] : expected);
    if (a !== b) throw new AssertionError(`${message}: expected ${b.slice(0, 300)}, got ${a.slice(0, 300)}`);
}

export function bytesEqual(actual, expected, message = '') {
    ok(actual instanceof Uint8Array, `${message}: not a Uint8Array: ${show(actual)}`);
    equal(actual.length, expected.length, `${message}: length`);
    for (let i = 0; i < actual.length; i++) {
        if (actual[i] !== expected[i]) throw new AssertionError(`${message}: bytes differ at ${i}`);
    }
}

/** Awaits `promise`, which must reject with an error for which `check(err)` holds. */
export async function rejects(promise, check, message = '') {
    let err;
    try {
        await promise;
    } catch (e) {
        err = e;
    }
    if (err === undefined) throw new AssertionError(`${message}: did not reject`);
    if (!check(err)) {
        throw new AssertionError(`${message}: rejected with ${err?.name} ${err?.code ?? ''}: ${err?.message}`);
    }
    return err;
}

export function base64ToBytes(text) {
    const binary = atob(text);
    const out = new Uint8Array(binary.length);
    for (let i = 0; i < binary.length; i++) out[i] = binary.charCodeAt(i);
    return out;
}

export function bytesToBase64(bytes) {
    let binary = '';
    for (let at = 0; at < bytes.length; at += 0x8000) {
        binary += String.fromCharCode(...bytes.subarray(at, at + 0x8000));
    }
    return btoa(binary);
}
