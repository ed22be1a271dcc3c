// Plain-language text for sizes, dates and every failure the page can meet.
import { ApiError, NetworkError } from './api.js';
import { IntegrityError } from './archive.js';

const UNITS = ['bytes', 'KiB', 'MiB', 'GiB', 'TiB'];

export function formatSize(n) {
    if (n < 1024) return `${n} ${n === 1 ? 'byte' : 'bytes'}`;
    let unit = 0;
    let value = n;
    while (value >= 1024 && unit < UNITS.length - 1) {
        value /= 1024;
        unit += 1;
    }
    return `${value.toFixed(value < 10 ? 1 : 0)} ${UNITS[unit]}`;
}

const dateFormat = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });

export function formatDate(value) {
    const date = new Date(value);
    return Number.isNaN(date.getTime()) ? 'unknown date' : dateFormat.format(date);
}

/** Codes of the package meaning the message itself is not what was written. */
const TAMPERED = new Set([
    'BAD_FRAME_TAG',
    'BAD_HEADER_TAG',
    'BAD_SIGNATURE',
    'COMMITMENT_MISMATCH',
    'TRUNCATED',
    'TRAILING_BYTES',
    'MALFORMED',
    'FRAME_SEQUENCE',
    'CONTEXT_MISMATCH',
    'UNWRAP_FAILED',
    'NO_DECRYPTABLE_KEY',
    'UNSUPPORTED_VERSION',
    'UNSUPPORTED_SUITE',
    'PUBLIC_KEY_ENTRY',
    'FRAME_TOO_LARGE',
    'HEADER_TOO_LARGE',
    'TOO_MANY_ENCRYPTED_DATA_KEYS',
]);

/**
 * What became of a save that had started when the download failed (see src/save.js), in
 * place of "Nothing was saved": the picked file is written only on close, so an abort
 * leaves it as the picker left it; a service-worker download is marked failed.
 */
const STOPPED = {
    file: 'The save was aborted: the partly written copy was discarded, and the file you chose was not written.',
    download:
        'The download was stopped: the browser marks it failed and keeps no file under its name.',
};

/**
 * `{ kind, text }` for an error: kind is `refused`, `tampered`, `network`, `cancelled` or
 * `failed`; `owner` is the object's owner when known; `started` is `file` or `download` if
 * plaintext had already gone to a save (a failure in the middle of a large file).
 */
export function explain(err, { owner, started } = {}) {
    const out = explainError(err, { owner });
    if (started && STOPPED[started] && out.kind !== 'cancelled') {
        const stopped = STOPPED[started];
        out.text = out.text.includes('Nothing was saved')
            ? out.text.replace(
                  /Nothing was saved[.;]( try again\.)?/,
                  (_, again) => `${stopped}${again ? ' Try again.' : ''}`,
              )
            : `${out.text} ${stopped}`;
    }
    return out;
}

function explainError(err, { owner } = {}) {
    if (err?.name === 'AbortError' || err?.name === 'CancelError') {
        return { kind: 'cancelled', text: 'Cancelled.' };
    }
    if (err instanceof NetworkError) {
        return {
            kind: 'network',
            text: `Network failure: ${err.message}. Nothing was saved; try again.`,
        };
    }
    if (err?.code === 'KEYRING') {
        switch (err.serverCode) {
            case 'AccessDenied':
                return {
                    kind: 'refused',
                    text: `Refused by the key server (AccessDenied): only ${owner ?? 'the owner'} can open this file.`,
                };
            case 'KeyDisabled':
                return {
                    kind: 'refused',
                    text: 'Refused by the key server (KeyDisabled): the archive key is disabled. An administrator must enable it.',
                };
            case 'KeyPendingDeletion':
                return {
                    kind: 'refused',
                    text: 'Refused by the key server (KeyPendingDeletion): the archive key is scheduled for deletion. An administrator can cancel the deletion.',
                };
            case 'InvalidCiphertext':
                return {
                    kind: 'tampered',
                    text: 'The file was tampered with or damaged: the key server could not verify its header (InvalidCiphertext). Nothing was saved.',
                };
            case 'NetworkError':
                return {
                    kind: 'network',
                    text: 'Network failure: the key server could not be reached. Nothing was saved; try again.',
                };
            default:
                return {
                    kind: 'refused',
                    text: `Refused by the key server (${err.serverCode ?? 'KEYRING'}): ${err.message}`,
                };
        }
    }
    if (TAMPERED.has(err?.code)) {
        return {
            kind: 'tampered',
            text: `The file was tampered with or damaged (${err.code}): it failed its integrity check. Nothing was saved.`,
        };
    }
    if (err instanceof IntegrityError) {
        return {
            kind: 'tampered',
            text: `The file failed its integrity check: ${err.message}. Nothing was saved.`,
        };
    }
    if (err instanceof ApiError) {
        if (err.status === 404)
            return { kind: 'failed', text: 'The archive no longer has this file.' };
        return {
            kind: err.status === 403 ? 'refused' : 'failed',
            text: `The archive refused (${err.code}): ${err.message.replace(/^[^:]*: /, '')}`,
        };
    }
    return { kind: 'failed', text: `Something went wrong: ${err?.message ?? err}` };
}
