// The browser client from anywhere: a page served by another application,
// on another origin, imports the client from the tether binary
// (/client/tether-<version>.js, the demo turned off) and exchanges
// messages with it. A page on an origin the binary does not allow cannot
// load the module (no Access-Control-Allow-Origin).

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';

import { REPO, launchBrowser, skipReason, startTether } from './harness.mjs';

const skip = skipReason();
const VERSION = JSON.parse(readFileSync(join(REPO, 'js/package.json'), 'utf8')).version;

/** A page that imports the client from `module` and connects to `ws`. */
function page(module, ws) {
  return `<!doctype html><meta charset="utf-8"><title>another app</title>
<script type="module">
window.app = { received: [], status: [], error: null };
try {
  const { TetherClient } = await import(${JSON.stringify(module)});
  const c = new TetherClient(${JSON.stringify(ws)});
  window.app.client = c;
  c.on('status', ({ status }) => window.app.status.push(status));
  c.on('message', (m) => window.app.received.push(typeof m.data === 'string' ? m.data : '<binary>'));
} catch (e) {
  window.app.error = String(e);
}
</script>`;
}

/** An HTTP server on 127.0.0.1 serving one HTML page at /; another origin than tether's. */
async function pageServer(html) {
  const srv = createServer((req, res) => {
    res.writeHead(req.url === '/' ? 200 : 404, { 'Content-Type': 'text/html; charset=utf-8' });
    res.end(req.url === '/' ? html() : 'not found');
  });
  await new Promise((ok) => srv.listen(0, '127.0.0.1', ok));
  return {
    origin: `http://127.0.0.1:${srv.address().port}`,
    close: () => new Promise((ok) => srv.close(ok)),
  };
}

describe('the browser client imported from the tether binary by a page on another origin', { skip }, () => {
  let tether;
  let browser;
  let allowed;
  let other;
  let base = ''; // tether's URL, known once it runs; the pages are rendered on request

  before(async () => {
    allowed = await pageServer(() => page(`${base}client/tether-${VERSION}.js`, `${base.replace(/^http/, 'ws')}ws`));
    other = await pageServer(() => page(`${base}client/tether.js`, `${base.replace(/^http/, 'ws')}ws`));
    tether = await startTether('crossorigin', ['-demo=false', '-anonymous', '-allowed-origins', new URL(allowed.origin).host]);
    base = tether.url;
    browser = await launchBrowser();
  });

  after(async () => {
    await browser?.close();
    await tether?.stop();
    await allowed?.close();
    await other?.close();
  });

  test('an allowed origin imports the versioned module, connects and exchanges messages', async () => {
    const context = await browser.newContext();
    const p = await context.newPage();
    const errors = [];
    p.on('pageerror', (e) => errors.push(String(e)));
    const loaded = p.waitForResponse((r) => r.url().endsWith(`/client/tether-${VERSION}.js`));
    await p.goto(`${allowed.origin}/`);
    const resp = await loaded;
    const h = await resp.allHeaders();
    assert.equal(h['access-control-allow-origin'], allowed.origin);
    assert.match(h['cache-control'], /immutable/);
    assert.match(h['content-type'], /^text\/javascript/);

    await p.waitForFunction(() => window.app?.error || window.app?.client?.status === 'connected', null, { timeout: 15_000 });
    assert.equal(await p.evaluate(() => window.app.error), null);

    // Page → server: without a webhook the binary broadcasts a client's
    // text to its rooms (here the default, lobby), the sender included.
    await p.evaluate(async () => {
      const r = await window.app.client.send('hello from another origin');
      await r.acked;
    });
    await p.waitForFunction(() => window.app.received.some((d) => d.includes('hello from another origin')), null, { timeout: 15_000 });

    // Server → page, through the HTTP API.
    const [status] = await tether.api('/api/rooms/lobby/broadcast', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ type: 'text', text: 'hello from the backend' }),
    });
    assert.equal(status, 200);
    await p.waitForFunction(() => window.app.received.includes('hello from the backend'), null, { timeout: 15_000 });
    const chat = JSON.parse((await p.evaluate(() => window.app.received)).find((d) => d.includes('another origin')));
    assert.equal(chat.text, 'hello from another origin');
    assert.deepEqual(errors, []);
    await p.evaluate(() => window.app.client.close());
    await context.close();
  });

  test('an origin that -allowed-origins does not list cannot load the module', async () => {
    const context = await browser.newContext();
    const p = await context.newPage();
    const logs = [];
    p.on('console', (m) => logs.push(m.text()));
    await p.goto(`${other.origin}/`);
    await p.waitForFunction(() => window.app?.error || window.app?.client, null, { timeout: 15_000 });
    const error = await p.evaluate(() => window.app.error);
    assert.match(String(error), /TypeError|Failed to fetch/, `the import should fail: ${error}`);
    assert.ok(logs.some((l) => /CORS|Access-Control-Allow-Origin/.test(l)), `a CORS error in the console: ${JSON.stringify(logs)}`);
    await context.close();
  });
});
