// Shared set-up for the browser end-to-end tests: the Go test server
// (js/e2e/server) as a child process, and headless Chromium driven by
// playwright-core.

import { execFileSync, spawn } from 'node:child_process';
import { accessSync, constants, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { createServer, connect } from 'node:net';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

import { chromium } from 'playwright-core';

/** The Chromium to drive: $CHROMIUM, or /usr/bin/chromium (as scripts/test.sh). */
export const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
export const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const ARTIFACTS = join(REPO, 'js/e2e/artifacts');

const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--no-first-run',
];

/**
 * Whether the browser tests can run. Without Chromium at $CHROMIUM (default
 * /usr/bin/chromium) they skip with a loud line, unless
 * TETHER_REQUIRE_ALL=1 turns the skip into a failure. Returns a skip
 * reason, or false.
 */
export function skipReason() {
  if (executable(CHROMIUM)) return false;
  const line = process.env.CHROMIUM
    ? `SKIP: browser end-to-end tests: no executable Chromium at CHROMIUM=${CHROMIUM}`
    : `SKIP: browser end-to-end tests: Chromium not installed at ${CHROMIUM} (apt-get install -y chromium, or set CHROMIUM=)`;
  const bar = '!'.repeat(line.length);
  process.stderr.write(`\n${bar}\n${line}\n${bar}\n\n`);
  if (process.env.TETHER_REQUIRE_ALL === '1') {
    throw new Error(`${line} — and TETHER_REQUIRE_ALL=1 requires every test to run`);
  }
  return `no Chromium at ${CHROMIUM}`;
}

function executable(path) {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * Builds and starts the e2e server; resolves once it printed its URL. Its
 * log (warnings and errors) is saved as js/e2e/artifacts/server-<name>.log.
 */
export async function startServer(name, args = []) {
  const dir = mkdtempSync(join(tmpdir(), 'tether-e2e-'));
  const bin = join(dir, 'tether-e2e-server');
  execFileSync('go', ['build', '-o', bin, './js/e2e/server'], { cwd: REPO, stdio: ['ignore', 'inherit', 'inherit'] });
  const proc = spawn(bin, ['-addr', '127.0.0.1:0', ...args], { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  proc.stderr.on('data', (d) => {
    stderr += d;
  });
  const url = await new Promise((ok, fail) => {
    const rl = createInterface({ input: proc.stdout });
    rl.once('line', (l) => ok(l.trim()));
    proc.once('exit', (code) => fail(new Error(`e2e server exited with ${code}: ${stderr}`)));
    setTimeout(() => fail(new Error(`e2e server printed no URL in 30 s: ${stderr}`)), 30_000).unref();
  });
  return {
    url,
    get stderr() {
      return stderr;
    },
    /** POSTs to a test control, e.g. '/_test/cut'. */
    async post(path) {
      const r = await fetch(new URL(path, url), { method: 'POST' });
      if (!r.ok) throw new Error(`POST ${path}: ${r.status}`);
      return r.json();
    },
    /** The server's per-session record of what it received. */
    async stats() {
      const r = await fetch(new URL('/_test/stats', url));
      return r.json();
    },
    async stop() {
      if (proc.exitCode === null) {
        const exited = new Promise((r) => proc.once('exit', r));
        proc.kill('SIGTERM');
        await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
        if (proc.exitCode === null) proc.kill('SIGKILL');
      }
      rmSync(dir, { recursive: true, force: true });
      mkdirSync(ARTIFACTS, { recursive: true });
      writeFileSync(join(ARTIFACTS, `server-${name}.log`), stderr);
    },
  };
}

/**
 * Launches headless Chromium. Playwright gives every launch a fresh,
 * temporary user-data-dir (and deletes it on close).
 */
export async function launchBrowser() {
  return chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, timeout: 60_000 });
}

/**
 * Opens the demo in its own browser context (its own network, storage),
 * and fails if the page logged an error or a request failed (an HTTP
 * error status included) while loading and connecting. Console errors
 * after that (a WebSocket failing while the test cuts the network, say)
 * are collected in `consoleErrors`.
 */
export async function openDemo(browser, url, query = '') {
  const context = await browser.newContext({ viewport: { width: 900, height: 760 } });
  const page = await context.newPage();
  const errors = [];
  const consoleErrors = [];
  const failedRequests = [];
  page.on('pageerror', (e) => errors.push(e));
  page.on('console', (m) => {
    if (m.type() === 'error') consoleErrors.push(m.text());
  });
  page.on('requestfailed', (r) => failedRequests.push(`${r.method()} ${r.url()}: ${r.failure()?.errorText}`));
  page.on('response', (r) => {
    if (r.status() >= 400) failedRequests.push(`${r.request().method()} ${r.url()}: ${r.status()}`);
  });
  await page.goto(new URL(`/${query}`, url).toString());
  await waitStatus(page, 'connected');
  if (consoleErrors.length > 0 || errors.length > 0 || failedRequests.length > 0) {
    throw new Error(`the demo logged errors on load: ${JSON.stringify([...consoleErrors, ...errors.map(String), ...failedRequests])}`);
  }
  return { context, page, errors, consoleErrors };
}

/** Sets the name the demo page sends with its messages, as the user does (type, then leave the field). */
export async function setName(page, name) {
  await page.fill('#name', name);
  await page.locator('#name').dispatchEvent('change');
}

/** The demo's banner: its kind ('' when hidden) and its text. */
export function bannerOf(page) {
  return page.evaluate(() => {
    const el = document.getElementById('banner');
    return { kind: el.hidden ? '' : el.dataset.kind, title: document.getElementById('banner-title').textContent,
      lines: [...document.querySelectorAll('#banner-lines li')].map((li) => li.textContent) };
  });
}

/** Waits until the demo's banner is of this kind (and `line`, if given, is one of its lines); returns it. */
export async function waitBanner(page, kind, line, timeout = 20_000) {
  await page.waitForFunction(([k, l]) => {
    const el = document.getElementById('banner');
    if (el.hidden || el.dataset.kind !== k) return false;
    return !l || [...document.querySelectorAll('#banner-lines li')].some((li) => li.textContent === l);
  }, [kind, line], { timeout }).catch(async (err) => {
    throw new Error(`${err.message}\nwanted a ${kind} banner${line ? ` with the line ${JSON.stringify(line)}` : ''}\ngot ${JSON.stringify(await bannerOf(page))}`);
  });
  return bannerOf(page);
}

/**
 * Builds and starts the tether binary (./cmd/tether) in development mode
 * on a free port, with an API key; resolves once it listens. Its log goes
 * to js/e2e/artifacts/tether-<name>.log.
 */
export async function startTether(name, args = []) {
  const dir = mkdtempSync(join(tmpdir(), 'tether-bin-'));
  const bin = join(dir, 'tether');
  execFileSync('go', ['build', '-o', bin, './cmd/tether'], { cwd: REPO, stdio: ['ignore', 'inherit', 'inherit'] });
  const apiKey = `e2e-${Math.random().toString(36).slice(2)}${Math.random().toString(36).slice(2)}`;
  const proc = spawn(bin, ['-addr', '127.0.0.1:0', '-api-key', apiKey, ...args], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const url = await new Promise((ok, fail) => {
    const onData = (d) => {
      out += d;
      const m = /msg="tether: listening" addr=(\S+)/.exec(out);
      if (m) ok(`http://${m[1]}/`);
    };
    proc.stdout.on('data', onData);
    proc.stderr.on('data', onData);
    proc.once('exit', (code) => fail(new Error(`tether exited with ${code}: ${out}`)));
    setTimeout(() => fail(new Error(`tether did not listen within 30 s: ${out}`)), 30_000).unref();
  });
  const proxy = await blockingProxy(new URL(url).host);
  return {
    url: proxy.url,
    apiKey,
    /** Refuses new connections (existing ones go on), or accepts them again. */
    block: proxy.block,
    /** Cuts every connection through the proxy (no close frame: a network loss). */
    cut: proxy.cut,
    /** Calls the HTTP API; resolves to [status, body]. */
    async api(path, init = {}) {
      const r = await fetch(new URL(path, url), { ...init, headers: { Authorization: `Bearer ${apiKey}`, ...(init.headers ?? {}) } });
      return [r.status, await r.json().catch(() => null)];
    },
    async stop() {
      proxy.close();
      if (proc.exitCode === null) {
        const exited = new Promise((r) => proc.once('exit', r));
        proc.kill('SIGTERM');
        await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
        if (proc.exitCode === null) proc.kill('SIGKILL');
      }
      rmSync(dir, { recursive: true, force: true });
      mkdirSync(ARTIFACTS, { recursive: true });
      writeFileSync(join(ARTIFACTS, `tether-${name}.log`), out);
    },
  };
}

/**
 * A TCP proxy on 127.0.0.1 in front of `target` (host:port) that can
 * refuse new connections, as an unreachable server would, while those
 * open go on.
 */
async function blockingProxy(target) {
  const [host, port] = [target.slice(0, target.lastIndexOf(':')), Number(target.slice(target.lastIndexOf(':') + 1))];
  let blocked = false;
  const socks = new Set();
  const server = createServer((c) => {
    if (blocked) {
      c.resetAndDestroy();
      return;
    }
    const up = connect(port, host);
    for (const s of [c, up]) {
      socks.add(s);
      s.on('close', () => socks.delete(s));
      s.on('error', () => {});
    }
    c.pipe(up).pipe(c);
    c.on('close', () => up.destroy());
    up.on('close', () => c.destroy());
  });
  await new Promise((ok) => server.listen(0, '127.0.0.1', ok));
  return {
    url: `http://127.0.0.1:${server.address().port}/`,
    block(on) {
      blocked = on;
    },
    cut() {
      for (const s of socks) s.destroy();
    },
    close() {
      server.close();
      for (const s of socks) s.destroy();
    },
  };
}

/**
 * Takes a page offline: the server refuses its new connections (`block`
 * turns that on), then the browser goes offline, so the page sees its
 * `offline` event and drops its link. Blocking matters: Chromium's offline
 * emulation does not reliably stop WebSocket handshakes
 * (microsoft/playwright#4910), so an attempt could get through.
 */
export async function goOffline(p, block) {
  await block(true);
  await p.context.setOffline(true);
  await waitStatus(p.page, 'reconnecting');
}

/** Brings a page back: the server accepts it again, then the browser is online. */
export async function goOnline(p, block) {
  await block(false);
  await p.context.setOffline(false);
}

/** Per page: how many statuses the waits so far have accounted for. */
const statusMarks = new WeakMap();

/**
 * Waits until the demo's client has this status, or went through it since
 * the page's previous wait: a status that lasts less than a frame (an
 * immediate reconnection after a cut) is not missed.
 */
export async function waitStatus(page, status, timeout = 15_000) {
  const since = statusMarks.get(page) ?? 0;
  const mark = await page.waitForFunction(
    ([s, n]) => {
      const d = window.tetherDemo;
      if (!d) return false;
      if (d.client.status === s) return d.statuses.length;
      const i = d.statuses.indexOf(s, n);
      return i >= 0 ? i + 1 : false;
    },
    [status, since],
    { timeout },
  );
  statusMarks.set(page, await mark.jsonValue());
}

/** Waits until the page has received every text in `texts`. */
export async function waitReceived(page, texts, timeout = 20_000) {
  await page.waitForFunction(
    (want) => {
      const got = new Set(window.tetherDemo.received.map((m) => m.text));
      return want.every((t) => got.has(t));
    },
    texts,
    { timeout },
  ).catch(async (err) => {
    const got = await page.evaluate(() => window.tetherDemo.received.map((m) => m.text));
    throw new Error(`${err.message}\nwanted ${JSON.stringify(texts)}\ngot    ${JSON.stringify(got)}`);
  });
}

/** Chat messages the page received: [{from, text, n, seq}]. */
export function received(page) {
  return page.evaluate(() => window.tetherDemo.received);
}

/** Sends through the demo (as the compose box does), without waiting for delivery. */
export function send(page, text) {
  return page.evaluate((t) => window.tetherDemo.send(t), text);
}

/** Types a message into the compose box and presses Enter. */
export async function type(page, text) {
  await page.fill('#text', text);
  await page.press('#text', 'Enter');
}

/** Saves a screenshot under js/e2e/artifacts/. */
export async function screenshot(page, name) {
  mkdirSync(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: join(ARTIFACTS, name), animations: 'disabled' });
}

/** Polls fn until it returns a truthy value. */
export async function eventually(fn, what, timeout = 15_000) {
  const end = Date.now() + timeout;
  let last;
  for (;;) {
    last = await fn();
    if (last) return last;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
