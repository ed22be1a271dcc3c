// The archive demo page: a principal switcher, a drop zone that encrypts and uploads files and
// folders, and the archive list with downloads that decrypt through the key server.
import { init, version } from 'cipherdrop';

import { ArchiveClient } from './api.js';
import { downloadObject, keyringsFor, newObjectId, openMeta, uploadFile } from './archive.js';
import { explain, formatDate, formatSize } from './messages.js';
import { registerDownloadWorker, startSave } from './save.js';
import './style.css';

const $ = (id) => document.getElementById(id);
const els = {
    principal: $('principal'),
    status: $('status'),
    dropzone: $('dropzone'),
    fileInput: $('file-input'),
    folderInput: $('folder-input'),
    uploads: $('uploads'),
    archive: $('archive'),
    archiveEmpty: $('archive-empty'),
    refresh: $('refresh'),
    keyAlias: $('key-alias'),
    version: $('version'),
};

const origin = location.origin;
let config = null;
let principal = null;
/** principal → Promise of its keyrings */
const keyringCache = new Map();
/** `principal/id` → opened metadata `{ meta, header }` */
const metaCache = new Map();
/** Bumped on every archive render, so a slow render for an old principal stops. */
let renderGeneration = 0;
let uploadQueue = Promise.resolve();

function el(tag, props = {}, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(props)) {
        if (value === undefined || value === null || value === false) continue;
        if (key === 'class') node.className = value;
        else if (key === 'text') node.textContent = value;
        else if (key.startsWith('on')) node.addEventListener(key.slice(2), value);
        else if (key in node && typeof value !== 'string') node[key] = value;
        else node.setAttribute(key, value === true ? '' : value);
    }
    node.append(...children.filter((c) => c != null));
    return node;
}

function announce(text) {
    els.status.textContent = text;
}

/** who → { token, expires } of its current ID token */
const idTokens = new Map();

/**
 * A fresh ID token for `who` from the demo's OpenID Connect issuer (sign-in as a demo
 * user), reused until half a minute before it expires. Every request carries one: the key
 * server verifies it as it would any issuer's.
 */
async function idToken(who) {
    const cached = idTokens.get(who);
    if (cached && cached.expires - Date.now() > 30_000) return cached.token;
    const response = await fetch(config.signIn, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ user: who }),
    });
    if (!response.ok) throw new Error(`signing in as ${who} failed (HTTP ${response.status})`);
    const { id_token: token, expires_in: lifetime } = await response.json();
    idTokens.set(who, { token, expires: Date.now() + lifetime * 1000 });
    return token;
}

function client(who = principal) {
    return new ArchiveClient(origin, () => idToken(who));
}

function keyrings(who = principal) {
    if (!keyringCache.has(who)) {
        const promise = keyringsFor({ url: origin, token: () => idToken(who), config });
        promise.catch(() => keyringCache.delete(who)); // retry next time
        keyringCache.set(who, promise);
    }
    return keyringCache.get(who);
}

function baseName(path) {
    return path.split('/').filter(Boolean).pop() || 'download';
}

function keyLabel(names) {
    const name = names.find((n) => n.startsWith(`${config.keyId}/`));
    if (name) return `${config.keyAlias} (${name.slice(config.keyId.length + 1)})`;
    return names[0] ?? 'unknown key';
}

// --- uploads ---------------------------------------------------------------------------------

/** Files of a drop, folders walked recursively: `[{ file, name }]` (name: relative path). */
async function droppedFiles(dataTransfer) {
    const entries = [...dataTransfer.items]
        .filter((item) => item.kind === 'file')
        .map((item) => ({ entry: item.webkitGetAsEntry?.(), file: item.getAsFile() }));
    const out = [];
    const walk = async (entry) => {
        if (entry.isFile) {
            const file = await new Promise((resolve, reject) => entry.file(resolve, reject));
            out.push({ file, name: entry.fullPath.replace(/^\/+/, '') || file.name });
        } else if (entry.isDirectory) {
            const reader = entry.createReader();
            for (;;) {
                const batch = await new Promise((resolve, reject) =>
                    reader.readEntries(resolve, reject),
                );
                if (batch.length === 0) break;
                for (const child of batch) await walk(child);
            }
        }
    };
    for (const { entry, file } of entries) {
        if (entry) await walk(entry);
        else if (file) out.push({ file, name: file.name });
    }
    return out;
}

function addFiles(items) {
    if (items.length === 0) return;
    const who = principal;
    announce(
        `${items.length} ${items.length === 1 ? 'file' : 'files'} queued for encryption and upload as ${who}.`,
    );
    for (const { file, name } of items) enqueueUpload(file, name, who);
}

function enqueueUpload(file, name, who) {
    const controller = new AbortController();
    const progress = el('progress', {
        max: 100,
        value: 0,
        'data-testid': 'progress',
        'aria-label': `${name}: encryption and upload`,
    });
    const status = el('span', {
        class: 'upload-status',
        'data-testid': 'upload-status',
        text: 'Waiting…',
    });
    const cancel = el('button', {
        type: 'button',
        class: 'button small',
        'data-testid': 'cancel',
        text: 'Cancel',
        'aria-label': `Cancel ${name}`,
        onclick: () =>
            controller.abort(new DOMException(`upload of ${name} cancelled`, 'AbortError')),
    });
    const row = el(
        'li',
        { class: 'upload', 'data-state': 'waiting', 'data-name': name, 'data-principal': who },
        el(
            'div',
            { class: 'row-head' },
            el('span', { class: 'name', text: name }),
            el('span', { class: 'muted', text: `${formatSize(file.size)} · ${who}` }),
        ),
        progress,
        el('div', { class: 'row-foot' }, status, cancel),
    );
    els.uploads.prepend(row);

    const setState = (state, text) => {
        row.dataset.state = state;
        status.textContent = text;
    };
    uploadQueue = uploadQueue.then(async () => {
        if (controller.signal.aborted) {
            setState('cancelled', 'Cancelled.');
            cancel.remove();
            return;
        }
        setState('running', 'Encrypting and uploading… 0%');
        try {
            const rings = await keyrings(who);
            await uploadFile({
                client: client(who),
                keyrings: rings,
                principal: who,
                id: newObjectId(),
                file,
                name,
                signal: controller.signal,
                onProgress: (fraction) => {
                    // 100% only once the upload is complete and the metadata record stored.
                    const pct = Math.min(99, Math.floor(fraction * 100));
                    if (pct > progress.value) {
                        progress.value = pct;
                        status.textContent = `Encrypting and uploading… ${pct}%`;
                    }
                },
            });
            progress.value = 100;
            setState('done', 'Encrypted and uploaded.');
            announce(`Uploaded ${name}.`);
            if (who === principal) scheduleRefresh();
        } catch (err) {
            const { kind, text } = explain(err);
            setState(kind === 'cancelled' ? 'cancelled' : 'error', text);
            if (kind !== 'cancelled') {
                status.setAttribute('role', 'alert');
                status.dataset.testid = 'upload-error';
            }
            announce(`${name}: ${text}`);
        } finally {
            cancel.remove();
        }
    });
}

// --- archive list ----------------------------------------------------------------------------

let refreshTimer = null;
function scheduleRefresh() {
    clearTimeout(refreshTimer);
    refreshTimer = setTimeout(() => renderArchive(), 150);
}

async function renderArchive() {
    const generation = ++renderGeneration;
    const who = principal;
    els.archive.setAttribute('aria-busy', 'true');
    let objects;
    try {
        objects = await client(who).list();
    } catch (err) {
        if (generation !== renderGeneration) return;
        els.archive.removeAttribute('aria-busy');
        announce(`Could not list the archive. ${explain(err).text}`);
        return;
    }
    if (generation !== renderGeneration) return;
    objects.sort(
        (a, b) => String(b.uploaded).localeCompare(String(a.uploaded)) || a.id.localeCompare(b.id),
    );
    const existing = new Map([...els.archive.children].map((li) => [li.dataset.id, li]));
    const items = objects.map((object) => {
        const item = existing.get(object.id) ?? archiveItem(object);
        existing.delete(object.id);
        return item;
    });
    for (const stale of existing.values()) stale.remove();
    els.archive.replaceChildren(...items);
    els.archiveEmpty.hidden = objects.length > 0;
    // Open the metadata records one by one (each is an unwrap at the key server).
    const rings = await keyrings(who).catch((err) => err);
    for (const [i, object] of objects.entries()) {
        if (generation !== renderGeneration) return;
        const item = items[i];
        if (item.dataset.openable === 'true') continue;
        if (rings instanceof Error) {
            showLocked(item, object, explain(rings).text, []);
            continue;
        }
        const opened = await metaFor(object, who, rings);
        if (generation !== renderGeneration) return;
        if (opened.meta) showOpen(item, object, opened);
        else
            showLocked(
                item,
                object,
                explain(opened.error, { owner: object.owner }).text,
                opened.keyNames,
            );
    }
    els.archive.removeAttribute('aria-busy');
}

async function metaFor(object, who, rings) {
    const key = `${who}/${object.id}`;
    if (metaCache.has(key)) return metaCache.get(key);
    if (!object.hasMeta)
        return { error: new Error('its metadata record is missing'), keyNames: [] };
    const opened = await openMeta({ client: client(who), keyrings: rings, id: object.id });
    if (opened.meta) metaCache.set(key, opened);
    return opened;
}

function archiveItem(object) {
    const fact = (label, testid, value) =>
        el('div', {}, el('dt', { text: label }), el('dd', { 'data-testid': testid, text: value }));
    const nameId = `name-${object.id}`;
    const item = el(
        'li',
        {
            class: 'item',
            'data-testid': 'archive-item',
            'data-id': object.id,
            'data-openable': 'pending',
            'aria-labelledby': nameId,
        },
        el(
            'div',
            { class: 'item-main' },
            el('h3', {
                class: 'item-name',
                id: nameId,
                'data-testid': 'item-name',
                text: 'Opening…',
            }),
            el(
                'dl',
                { class: 'facts' },
                fact('Size', 'item-size', '…'),
                fact('Uploaded', 'item-date', formatDate(object.uploaded)),
                fact('Owner', 'item-owner', object.owner ?? 'unknown'),
                fact('Key', 'item-key', '…'),
            ),
            el('p', { class: 'lock', 'data-testid': 'not-openable', hidden: true }),
        ),
        el(
            'div',
            { class: 'item-actions' },
            el('button', {
                type: 'button',
                class: 'button primary',
                'data-testid': 'download',
                text: 'Download',
                disabled: true,
            }),
        ),
        el('progress', {
            class: 'dl-progress',
            max: 100,
            value: 0,
            'data-testid': 'download-progress',
            hidden: true,
        }),
        el(
            'p',
            { class: 'hash', 'data-testid': 'sha256-line', hidden: true },
            'SHA-256 ',
            el('code', { 'data-testid': 'sha256' }),
        ),
        el('p', { class: 'error', role: 'alert', 'data-testid': 'error', hidden: true }),
    );
    const button = item.querySelector('[data-testid="download"]');
    button.addEventListener('click', () => download(item, object));
    return item;
}

function showOpen(item, object, { meta, header }) {
    item.dataset.openable = 'true';
    item.querySelector('[data-testid="item-name"]').textContent = meta.name;
    item.querySelector('[data-testid="item-size"]').textContent = formatSize(meta.size);
    const edkNames = header.encryptedDataKeys
        .filter((k) => k.providerId === 'cipherdrop')
        .map((k) => k.providerInfo);
    item.querySelector('[data-testid="item-key"]').textContent = keyLabel(edkNames);
    item.querySelector('[data-testid="not-openable"]').hidden = true;
    const button = item.querySelector('[data-testid="download"]');
    button.disabled = false;
    button.textContent = 'Download';
    button.classList.add('primary');
    button.setAttribute('aria-label', `Download ${meta.name}`);
}

function showLocked(item, object, reason, keyNames) {
    item.dataset.openable = 'false';
    item.querySelector('[data-testid="item-name"]').textContent = 'Encrypted file (name hidden)';
    item.querySelector('[data-testid="item-size"]').textContent =
        `hidden (${formatSize(object.size)} encrypted)`;
    item.querySelector('[data-testid="item-key"]').textContent = keyLabel(keyNames);
    const lock = item.querySelector('[data-testid="not-openable"]');
    lock.hidden = false;
    lock.textContent = `Not openable by ${principal}. ${reason}`;
    const button = item.querySelector('[data-testid="download"]');
    button.disabled = false;
    button.textContent = 'Try to download';
    button.classList.remove('primary');
    button.setAttribute(
        'aria-label',
        `Try to download the encrypted file owned by ${object.owner ?? 'someone else'}`,
    );
}

/**
 * Plaintext held back before a save starts: a file up to this size is saved only once its
 * whole message verified (a failure saves nothing at all); a larger one streams to the file
 * or download as its frames verify, and a later failure aborts the save.
 */
const HOLD_BACK = 8 << 20;

/**
 * Reads `stream` until `limit` bytes are held or it ends (an error rejects), then resolves
 * to a stream of the same bytes: the held ones, then the rest as it comes.
 */
async function holdBack(stream, limit) {
    const reader = stream.getReader();
    const held = [];
    let bytes = 0;
    let ended = false;
    while (bytes < limit) {
        const { value, done } = await reader.read();
        if (done) {
            ended = true;
            break;
        }
        held.push(value);
        bytes += value.length;
    }
    return new ReadableStream(
        {
            async pull(controller) {
                if (held.length) return controller.enqueue(held.shift());
                if (ended) return controller.close();
                const { value, done } = await reader.read();
                if (done) controller.close();
                else controller.enqueue(value);
            },
            cancel: (reason) => reader.cancel(reason),
        },
        { highWaterMark: 0 },
    );
}

async function download(item, object) {
    const who = principal;
    const button = item.querySelector('[data-testid="download"]');
    const bar = item.querySelector('[data-testid="download-progress"]');
    const hashLine = item.querySelector('[data-testid="sha256-line"]');
    const errorLine = item.querySelector('[data-testid="error"]');
    button.disabled = true;
    errorLine.hidden = true;
    hashLine.hidden = true;
    bar.hidden = false;
    bar.value = 0;
    item.dataset.download = 'running';
    delete item.dataset.saved;
    let opened = metaCache.get(`${who}/${object.id}`);
    // The file picker needs the click's user activation: ask for the file first, before any
    // await (when the name is known; else right after the metadata record opened).
    let saving = opened ? startSave(baseName(opened.meta.name)) : null;
    saving?.catch(() => {});
    let started = null; // 'file' or 'download' once plaintext went to the save
    let plaintext = null;
    try {
        const rings = await keyrings(who);
        if (!opened) {
            // Not opened yet (refused before, say): ask the key server again; a refusal is
            // the answer to show.
            opened = await metaFor(object, who, rings);
            if (!opened.meta) throw opened.error;
            showOpen(item, object, opened);
            saving = startSave(baseName(opened.meta.name));
        }
        const { meta } = opened;
        const target = await saving;
        bar.setAttribute('aria-label', `${meta.name}: download and decryption`);
        const result = await downloadObject({
            client: client(who),
            keyrings: rings,
            id: object.id,
            meta,
            onProgress: (fraction) => {
                bar.value = Math.floor(fraction * 100);
            },
        });
        plaintext = result.plaintext;
        const stream = await holdBack(plaintext, HOLD_BACK);
        plaintext = stream;
        started = target.how;
        item.dataset.saved = target.how;
        await target.write(stream, { size: meta.size, mime: meta.type });
        const sha256 = result.sha256();
        bar.value = 100;
        hashLine.querySelector('code').textContent = sha256;
        hashLine.hidden = false;
        item.dataset.download = 'done';
        const where = target.how === 'file' ? 'to the file you chose' : 'as a download';
        announce(`Decrypted and saved ${meta.name} ${where}. SHA-256 ${sha256}.`);
    } catch (err) {
        // Stops the transfer if the save failed before it read the stream (a no-op if the
        // stream is already errored or piped: then the pipe has cancelled it).
        plaintext?.cancel(err).catch(() => {});
        const { kind, text } = explain(err, { owner: object.owner, started });
        errorLine.textContent = text;
        errorLine.dataset.kind = kind;
        errorLine.hidden = false;
        item.dataset.download = 'error';
        announce(text);
    } finally {
        bar.hidden = true;
        button.disabled = false;
    }
}

// --- wiring ----------------------------------------------------------------------------------

function setPrincipal(who) {
    principal = who;
    sessionStorage.setItem('cipherdrop-demo-principal', who);
    els.archive.replaceChildren();
    // Finished uploads of another principal leave the screen (their names are theirs).
    for (const row of els.uploads.querySelectorAll('.upload')) {
        if (
            row.dataset.principal !== who &&
            ['done', 'error', 'cancelled'].includes(row.dataset.state)
        ) {
            row.remove();
        }
    }
    announce(`Signed in as ${who}.`);
    renderArchive();
}

function wire() {
    els.principal.addEventListener('change', () => setPrincipal(els.principal.value));
    els.refresh.addEventListener('click', () => renderArchive());
    els.fileInput.addEventListener('change', () => {
        addFiles([...els.fileInput.files].map((file) => ({ file, name: file.name })));
        els.fileInput.value = '';
    });
    els.folderInput.addEventListener('change', () => {
        addFiles(
            [...els.folderInput.files].map((file) => ({
                file,
                name: file.webkitRelativePath || file.name,
            })),
        );
        els.folderInput.value = '';
    });
    const zone = els.dropzone;
    for (const type of ['dragenter', 'dragover']) {
        zone.addEventListener(type, (event) => {
            event.preventDefault();
            event.dataTransfer.dropEffect = 'copy';
            zone.classList.add('over');
        });
    }
    zone.addEventListener('dragleave', (event) => {
        if (!zone.contains(event.relatedTarget)) zone.classList.remove('over');
    });
    zone.addEventListener('drop', async (event) => {
        event.preventDefault();
        zone.classList.remove('over');
        try {
            addFiles(await droppedFiles(event.dataTransfer));
        } catch (err) {
            announce(`Could not read the dropped items: ${err.message}`);
        }
    });
    // A drop that misses the zone must not navigate away from the page.
    window.addEventListener('dragover', (event) => event.preventDefault());
    window.addEventListener('drop', (event) => event.preventDefault());
}

async function start() {
    wire();
    // Ready before the first download that needs it (engines without a file picker).
    registerDownloadWorker()?.catch((err) =>
        console.warn(`the download service worker did not register: ${err.message}`),
    );
    try {
        const response = await fetch('/demo/config.json');
        if (!response.ok) throw new Error(`HTTP ${response.status}`);
        config = await response.json();
    } catch (err) {
        announce(
            `Could not load the demo configuration (is \`cipherdrop demo\` running?): ${err.message}`,
        );
        document.body.dataset.ready = 'error';
        return;
    }
    els.keyAlias.textContent = config.keyAlias;
    const names = config.principals;
    els.principal.replaceChildren(...names.map((n) => el('option', { value: n, text: n })));
    const saved = sessionStorage.getItem('cipherdrop-demo-principal');
    els.principal.value = names.includes(saved) ? saved : names[0];
    els.principal.disabled = false;
    try {
        await init();
        els.version.textContent = `cipherdrop ${version()}.`;
    } catch (err) {
        announce(`Could not load the cipherdrop WebAssembly module: ${err.message}`);
        document.body.dataset.ready = 'error';
        return;
    }
    setPrincipal(els.principal.value);
    document.body.dataset.ready = 'true';
}

start();
