// One driver API over the three browser engines, so that browser.test.mjs runs the same cases in
// each: Chromium through playwright-core (tools/), Firefox ESR through puppeteer-core over
// WebDriver BiDi, WebKit (WebKitGTK's MiniBrowser) through selenium-webdriver and
// WebKitWebDriver (both from tests/npm/). Every browser is Debian's (scripts/setup.sh).
//
//   const browser = await launch('chromium' | 'firefox' | 'webkit', repo);
//   const page = await browser.open(url);   a new tab, loaded
//   await page.evaluate(fn, arg);           fn(arg) in the page, its promise awaited; JSON back
//   await page.close(); await browser.close();
//   browser.pid                             the engine's root process (Firefox's parent
//                                           process; WebKit: xvfb-run, above WebKitWebDriver
//                                           and MiniBrowser); undefined for Chromium
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import net from 'node:net';
import path from 'node:path';

import { launchChromium } from './server.mjs';

export const ENGINES = ['chromium', 'firefox', 'webkit'];

/** The longest evaluate: the worker-fault pages run 12 MiB cases one after another. */
const EVALUATE_MS = 600_000;
const MINIBROWSER = '/usr/lib/x86_64-linux-gnu/webkit2gtk-4.1/MiniBrowser';

/**
 * Launches `engine`; resolves to `{ open(url), close(), pid }`. `options.firefoxPrefs`: extra
 * Firefox preferences (puppeteer's extraPrefsFirefox). `options.firefoxCollect`: Firefox
 * also gets `collect()`, which asks every content process (and its workers) for a full
 * garbage and cycle collection, as about:memory's GC and CC buttons do: the page has no gc()
 * there, and a memory bound is only a bound on what is kept alive once garbage is collected.
 * It needs system access (--remote-allow-system-access) to run in the parent's chrome scope.
 */
export async function launch(engine, repo, options = {}) {
    if (!ENGINES.includes(engine)) throw new Error(`unknown engine ${engine}: one of ${ENGINES.join(', ')}`);
    const testDeps = createRequire(path.join(repo, 'tests/npm/package.json'));
    if (engine === 'chromium') return tabs(await launchChromium(repo));
    if (engine === 'firefox') {
        const browser = await testDeps('puppeteer-core').launch({
            browser: 'firefox',
            protocol: 'webDriverBiDi',
            executablePath: '/usr/bin/firefox-esr',
            headless: true,
            // puppeteer's default of 180 s would cut the worker-fault pages short.
            protocolTimeout: EVALUATE_MS,
            extraPrefsFirefox: options.firefoxPrefs,
            args: options.firefoxCollect ? ['--remote-allow-system-access'] : [],
        });
        const firefox = { ...tabs(browser), pid: browser.process()?.pid };
        if (options.firefoxCollect) firefox.collect = await chromeCollector(browser.connection);
        return firefox;
    }
    return webkit(testDeps('selenium-webdriver'));
}

/**
 * `collect()` for Firefox: the requests are sent from the parent process's chrome scope
 * (WebDriver BiDi's "moz:scope": "chrome"); each content process runs them soon after, on its
 * main thread and in its workers.
 */
async function chromeCollector(connection) {
    const { result } = await connection.send('browsingContext.getTree', { 'moz:scope': 'chrome' });
    const context = result.contexts[0]?.context;
    if (!context) throw new Error('firefox: no chrome browsing context to collect garbage from');
    return async () => {
        const { result: r } = await connection.send('script.evaluate', {
            expression: `Services.obs.notifyObservers(null, 'child-gc-request');
                Services.obs.notifyObservers(null, 'child-cc-request');
                'sent'`,
            target: { context },
            awaitPromise: false,
        });
        if (r.type !== 'success') throw new Error(`firefox: garbage collection request failed: ${JSON.stringify(r)}`);
    };
}

/** playwright's and puppeteer's browsers: the calls used here have the same shape in both. */
function tabs(browser) {
    return {
        async open(url) {
            const page = await browser.newPage();
            await page.goto(url);
            return { evaluate: (fn, arg) => page.evaluate(fn, arg), close: () => page.close() };
        },
        close: () => browser.close(),
    };
}

/**
 * MiniBrowser has no headless mode: WebKitWebDriver runs under xvfb-run, on a free port, in its
 * own process group so that close() stops Xvfb and the browser with it.
 */
async function webkit({ Builder }) {
    const port = await freePort();
    const server = spawn('xvfb-run', ['--auto-servernum', 'WebKitWebDriver', `--port=${port}`], {
        detached: true, stdio: ['ignore', 'ignore', 'inherit'],
    });
    const exited = new Promise((resolve) => server.once('exit', resolve));
    const stop = async () => {
        if (server.exitCode === null && server.signalCode === null) process.kill(-server.pid, 'SIGTERM');
        await exited;
    };
    let driver;
    try {
        const url = `http://127.0.0.1:${port}`;
        await untilUp(`${url}/status`, server);
        driver = await new Builder().usingServer(url).withCapabilities({
            browserName: 'MiniBrowser',
            'webkitgtk:browserOptions': { binary: MINIBROWSER, args: ['--automation'] },
        }).build();
        await driver.manage().setTimeouts({ script: EVALUATE_MS, pageLoad: 60_000 });
    } catch (err) {
        await stop();
        throw err;
    }
    // One WebDriver session has one current tab: every call first switches to its own. The
    // first tab stays open, blank, for newWindow, which needs a current tab to open one from.
    const home = await driver.getWindowHandle();
    const on = (handle) => driver.switchTo().window(handle);
    return {
        pid: server.pid,
        async open(url) {
            await driver.switchTo().newWindow('tab');
            const handle = await driver.getWindowHandle();
            await driver.get(url);
            return {
                async evaluate(fn, arg) {
                    await on(handle);
                    return driver.executeScript(`return (${fn})(arguments[0]);`, arg);
                },
                async close() {
                    await on(handle);
                    await driver.close();
                    await on(home);
                },
            };
        },
        async close() {
            await driver.quit().finally(stop);
        },
    };
}

function freePort() {
    return new Promise((resolve, reject) => {
        const probe = net.createServer().once('error', reject).listen(0, '127.0.0.1', () => {
            const { port } = probe.address();
            probe.close(() => resolve(port));
        });
    });
}

/** Polls a WebDriver server's /status until it answers; fails fast if the server exits. */
async function untilUp(url, server) {
    for (const end = Date.now() + 30_000; Date.now() < end;) {
        if (server.exitCode !== null) throw new Error(`WebKitWebDriver exited (${server.exitCode})`);
        try {
            if ((await fetch(url)).ok) return;
        } catch {
            // Not listening yet.
        }
        await new Promise((resolve) => setTimeout(resolve, 100));
    }
    throw new Error(`WebKitWebDriver did not answer ${url} within 30 s`);
}
