// Loads the cipherdrop WebAssembly module (served from the built package at ./pkg/) and shows
// its version. Placeholder until the demo issue.
import init, { version } from './pkg/cipherdrop.js';

const out = document.getElementById('version');
try {
    await init();
    out.textContent = `cipherdrop ${version()}`;
    out.dataset.state = 'ready';
} catch (err) {
    out.textContent = `failed to load: ${err}`;
    out.dataset.state = 'error';
    console.error(err);
}
