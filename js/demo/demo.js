// Tether chat: a small chat room on @tether-ws/client.
//
// URL parameters: ?persist=session|local keeps the session across reloads;
// ?token=… is passed on to the server (as ?token=… on every connect).
// window.tetherDemo exposes the client and what arrived, for the e2e tests.
// The room's messages are JSON {from, text, n} (js/e2e/server); anything
// else is shown as coming from "server".

import { TetherClient } from '/dist/index.js';

const params = new URLSearchParams(location.search);
const persist = params.get('persist') === 'local' ? 'local' : params.get('persist') ? 'session' : false;
const wsUrl = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws`;

const token = params.get('token');
const client = new TetherClient(wsUrl, { persist, ...(token ? { token: () => token } : {}) });

const $ = (id) => document.getElementById(id);
const log = $('log');

/** Every chat message received, in order: {from, text, n, seq}. */
const received = [];
/** Lifecycle notices shown inline. */
const notices = [];
/** Own messages waiting for the room to echo them back, oldest first. */
const awaitingEcho = [];

window.tetherDemo = { client, received, notices, send, persist };

const short = (id) => id.slice(0, 6);

// ---- rendering --------------------------------------------------------

function scrollDown() {
  log.scrollTop = log.scrollHeight;
}

function hue(name) {
  let h = 0;
  for (const ch of name) h = (h * 31 + ch.codePointAt(0)) % 360;
  return h;
}

function time() {
  return new Date().toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
}

function bubble({ from, text, mine }) {
  const li = document.createElement('li');
  li.className = `msg ${mine ? 'mine' : 'theirs'}`;
  const meta = document.createElement('div');
  meta.className = 'meta';
  const who = document.createElement('span');
  who.className = 'who';
  who.textContent = mine ? 'you' : from;
  who.style.setProperty('--hue', String(hue(from)));
  const when = document.createElement('time');
  when.textContent = time();
  meta.append(who, when);
  const body = document.createElement('p');
  body.className = 'text';
  body.textContent = text;
  li.append(meta, body);
  if (mine) {
    const state = document.createElement('span');
    state.className = 'state';
    li.append(state);
  }
  log.append(li);
  scrollDown();
  return li;
}

// Inline icons: emoji fonts are not everywhere (headless browsers).
const icons = {
  pending: '<svg viewBox="0 0 16 16" width="14" height="14" aria-hidden="true"><circle cx="8" cy="8" r="6.5" fill="none" stroke="currentColor" stroke-width="1.6"/><path d="M8 4.5V8l2.5 1.5" fill="none" stroke="currentColor" stroke-width="1.6" stroke-linecap="round"/></svg>',
  delivered: '<svg viewBox="0 0 16 16" width="14" height="14" aria-hidden="true"><path d="M3 8.5l3 3 7-7" fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" stroke-linejoin="round"/></svg>',
  lost: '<svg viewBox="0 0 16 16" width="14" height="14" aria-hidden="true"><path d="M8 1.8L15 14H1z" fill="none" stroke="currentColor" stroke-width="1.5" stroke-linejoin="round"/><path d="M8 6v4M8 11.8v.2" stroke="currentColor" stroke-width="1.6" stroke-linecap="round"/></svg>',
};

function setState(li, state, title) {
  li.dataset.state = state;
  const el = li.querySelector('.state');
  el.innerHTML = icons[state];
  el.title = title;
}

function notice(kind, text) {
  notices.push({ kind, text });
  const li = document.createElement('li');
  li.className = `notice ${kind}`;
  li.textContent = text;
  log.append(li);
  scrollDown();
}

function plural(n, word) {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

const reasonText = {
  expired: 'grace window expired',
  overflow: 'this page fell too far behind',
  'unknown-session': 'the server did not know the session',
  'server-restarted': 'the server restarted',
  'server-shutdown': 'the server shut down',
  'server-error': 'the server failed',
  closed: 'the session was closed',
};

// ---- sending ------------------------------------------------------------

async function send(text) {
  const li = bubble({ from: short(client.sessionId || '??????'), text, mine: true });
  setState(li, 'pending', 'waiting for the server');
  let receipt;
  try {
    receipt = await client.send(text);
  } catch (err) {
    setState(li, 'lost', `not sent: ${err.message}`);
    return;
  }
  const entry = { li, text };
  awaitingEcho.push(entry);
  receipt.acked.then(
    () => setState(li, 'delivered', 'the server has it'),
    (err) => {
      setState(li, 'lost', err.code === 'lost' ? 'may not have arrived: the session was lost' : err.message);
      const i = awaitingEcho.indexOf(entry);
      if (i >= 0) awaitingEcho.splice(i, 1);
    },
  );
  updatePending();
}

$('compose').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const input = $('text');
  const text = input.value.trim();
  if (!text) return;
  input.value = '';
  void send(text);
});

// ---- receiving ------------------------------------------------------------

client.on('message', (m) => {
  if (m.type !== 'text') return;
  let msg;
  try {
    msg = JSON.parse(m.data);
  } catch {
    msg = { from: 'server', text: m.data, n: 0 };
  }
  received.push({ ...msg, seq: m.seq });
  const mine = short(String(msg.from)) === short(client.sessionId || '');
  if (mine && awaitingEcho.length > 0 && awaitingEcho[0].text === msg.text) {
    // Our own message, back from the room: it is already on screen.
    const { li } = awaitingEcho.shift();
    li.dataset.n = String(msg.n);
    return;
  }
  const li = bubble({ from: short(String(msg.from)), text: msg.text, mine });
  li.dataset.n = String(msg.n);
  if (mine) setState(li, 'delivered', 'sent before this page was loaded');
});

// ---- connection state -------------------------------------------------------

function updatePending() {
  const n = client.pending;
  const el = $('pending');
  el.hidden = n === 0;
  el.textContent = `${n} pending`;
}

client.on('status', ({ status }) => {
  $('conn').dataset.status = status;
  $('status').textContent = status;
  updatePending();
});

client.on('connected', ({ sessionId }) => {
  $('session').textContent = short(sessionId);
  $('session').title = `session ${sessionId}`;
});

client.on('disconnected', ({ cause }) => {
  notice('info', `connection lost (${cause}) — reconnecting…`);
});

client.on('resumed', ({ toClient, fromClient }) => {
  const parts = [];
  if (toClient > 0) parts.push(`${plural(toClient, 'missed message')} delivered`);
  if (fromClient > 0) parts.push(`${plural(fromClient, 'queued message')} sent`);
  notice('ok', `↺ resumed${parts.length ? `: ${parts.join(', ')}` : ''}`);
  $('session').textContent = short(client.sessionId);
  updatePending();
});

client.on('sessionLost', ({ reason, toClient, fromClient }) => {
  const why = reasonText[reason] ?? reason;
  if (toClient > 0) notice('warn', `⚠ ${plural(toClient, 'message')} lost: ${why}`);
  else if (toClient < 0) notice('warn', `⚠ messages may have been lost: ${why}`);
  if (fromClient > 0) notice('warn', `⚠ ${plural(fromClient, 'of your messages')} may not have arrived: ${why}`);
  if (toClient === 0 && fromClient === 0) notice('ok', `↺ new session (${why}): nothing lost`);
});

client.on('failed', ({ error }) => notice('warn', `✖ stopped: ${error.message}`));
client.on('error', ({ error }) => console.warn('tether:', error));

setInterval(updatePending, 500);

// ---- controls ---------------------------------------------------------------

$('cut').addEventListener('click', () => client.dropConnection('cut from the page'));
$('reconnect').addEventListener('click', () => client.reconnectNow());

// The test server's controls, shown only when it is there.
fetch('/_test/stats', { cache: 'no-store' }).then((r) => {
  if (!r.ok) return;
  for (const el of document.querySelectorAll('.test-only')) el.hidden = false;
  $('cut-server').addEventListener('click', () => fetch('/_test/cut', { method: 'POST' }).catch(() => {}));
  $('block').addEventListener('change', async (ev) => {
    const on = ev.target.checked;
    await fetch(`/_test/block?on=${on ? 1 : 0}`, { method: 'POST' }).catch(() => {});
    if (on) client.dropConnection('server made unreachable');
    else client.reconnectNow();
  });
}, () => {});
