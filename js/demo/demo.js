// Tether chat: a small chat room on @tether-ws/client.
//
// URL parameters: ?persist=session|local keeps the session (and the room
// positions) across reloads; ?token=… is passed on to the server (as
// ?token=… on every connect). window.tetherDemo exposes the client and
// what arrived, for the e2e tests. The room's messages are JSON
// {from, text, n} (js/e2e/server) or {room, from, user, text} (the tether
// binary); anything else is shown as coming from "server".
//
// The server puts the page in a room stream ("lobby"): when the page comes
// back after its session was lost (offline past the grace window, a server
// restart), it presents its position in the room and the server replays
// what it missed from the room's history, or says exactly how much is gone.

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
/** Room events as the client reported them: {event, ...payload}. */
const roomEvents = [];
/** Own messages waiting for the room to echo them back, oldest first. */
const awaitingEcho = [];
/** This page's sessions (short IDs): its messages recovered from an old session are still its own. */
const mySessions = new Set();

window.tetherDemo = { client, received, notices, roomEvents, send, persist };

const short = (id) => id.slice(0, 6);
if (client.sessionId) mySessions.add(short(client.sessionId));

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
  return li;
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

// Why a room's messages could not be recovered (roomJoined.reason).
const roomReasonText = {
  'history-trimmed': 'history trimmed',
  'epoch-changed': 'the server restarted',
  diverged: 'the server lost its latest messages',
  other: 'unknown reason',
};

const roomName = (room) => (room === '' ? 'your stream' : room);

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
  if (m.room !== undefined) showRooms();
  if (m.type !== 'text') return;
  let msg;
  try {
    msg = JSON.parse(m.data);
  } catch {
    msg = { from: 'server', text: m.data, n: 0 };
  }
  received.push({ ...msg, seq: m.seq, room: m.room, offset: m.offset });
  const from = short(String(msg.from));
  const mine = mySessions.has(from);
  if (mine && awaitingEcho.length > 0 && awaitingEcho[0].text === msg.text) {
    // Our own message, back from the room: it is already on screen.
    const { li } = awaitingEcho.shift();
    if (msg.n !== undefined) li.dataset.n = String(msg.n);
    if (m.offset !== undefined) li.dataset.offset = String(m.offset);
    return;
  }
  const li = bubble({ from, text: msg.text, mine });
  if (msg.n !== undefined) li.dataset.n = String(msg.n);
  if (m.offset !== undefined) li.dataset.offset = String(m.offset);
  if (mine) setState(li, 'delivered', 'sent before this page was loaded');
});

// ---- rooms ------------------------------------------------------------------

/** The page's position in each room, in the header: room @ last offset. */
function showRooms() {
  const rooms = Object.entries(client.rooms());
  const el = $('rooms');
  el.hidden = rooms.length === 0;
  el.textContent = rooms.map(([room, p]) => `${roomName(room)} @${p.offset}`).join(' · ');
  el.title = rooms.map(([room, p]) => `${roomName(room)}: epoch ${p.epoch}, last offset ${p.offset}`).join('\n');
}

/** The session loss that preceded the current session, if any. */
let lastLoss;

for (const name of ['roomJoined', 'roomLeft', 'presence']) client.on(name, (e) => roomEvents.push({ event: name, ...e }));

client.on('roomJoined', ({ room, previous, recovered, skipped, lost, reason }) => {
  showRooms();
  if (!previous) return; // a first join: nothing to recover
  const name = roomName(room);
  const back = recovered > 0 ? `${plural(recovered, 'missed message')} recovered` : '';
  if (lost < 0 && lastLoss?.toClient === 0) {
    // The room's history is gone (a memory store restarted), but the old
    // session got everything sent to it: the page was there until the end.
    notice('ok', `↺ ${name}: its history restarted with the server; nothing sent to this page was missed${back ? `; ${back}` : ''}`);
  } else {
    if (lost < 0) notice('warn', `⚠ ${name}: an unknown number of messages lost (${roomReasonText[reason] ?? reason})`);
    else if (lost > 0) notice('warn', `⚠ ${name}: ${plural(lost, 'message')} lost (${roomReasonText[reason] ?? reason})`);
    if (back) notice('ok', `↺ ${name}: ${back}`);
    else if (lost === 0) notice('ok', `↺ ${name}: nothing missed`);
  }
  if (skipped > 0) {
    const li = notice('info', `${name}: ${plural(skipped, 'older message')} not replayed — `);
    const more = document.createElement('button');
    more.type = 'button';
    more.className = 'link';
    more.textContent = 'load them';
    more.addEventListener('click', () => void loadSkipped(li, room, previous.offset, skipped));
    li.append(more);
  }
});

/** Reads messages the recovery skipped from the room's history, and shows them after the notice. */
async function loadSkipped(li, room, since, count) {
  const shown = [];
  try {
    while (shown.length < count) {
      const page = await client.history(room, { since, limit: count - shown.length });
      if (page.messages.length === 0) break;
      for (const m of page.messages) if (m.type === 'text') shown.push(m);
      since = page.messages[page.messages.length - 1].offset;
    }
  } catch (err) {
    li.textContent = `${roomName(room)}: cannot read the history: ${err.message}`;
    return;
  }
  let at = li;
  for (const m of shown) {
    let msg;
    try {
      msg = JSON.parse(m.data);
    } catch {
      msg = { from: 'server', text: m.data };
    }
    const el = bubble({ from: short(String(msg.from)), text: msg.text, mine: false });
    el.dataset.offset = String(m.offset);
    at.after(el);
    at = el;
  }
  li.textContent = `${roomName(room)}: ${plural(shown.length, 'older message')} loaded from the history`;
}

client.on('roomLeft', ({ room, reason }) => {
  showRooms();
  notice('info', reason === 'not-readmitted' ? `${roomName(room)}: the server did not let this page back in` : `left ${roomName(room)}`);
});

client.on('presence', ({ room, user, session, joined }) => {
  const who = user || short(session);
  notice('info', `${who} ${joined ? 'joined' : 'left'} ${roomName(room)}`);
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
  mySessions.add(short(sessionId));
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

client.on('sessionLost', (loss) => {
  const { reason, toClient, inRooms, fromClient } = loss;
  lastLoss = loss;
  const why = reasonText[reason] ?? reason;
  // toClient counts what was sent to the session alone; the messages of
  // its rooms (inRooms) are each room's to recover, and roomJoined says
  // exactly what it could not.
  const rooms = Object.keys(client.rooms()).length > 0;
  const roomsPart = inRooms > 0 ? `; ${inRooms} more in rooms, recovered there` : '';
  if (toClient > 0) notice('warn', `⚠ ${plural(toClient, 'message')} lost: ${why}${roomsPart}`);
  else if (toClient < 0 && rooms) notice('info', `↺ new session (${why}): what the old session missed is unknown; the rooms recover theirs`);
  else if (toClient < 0) notice('warn', `⚠ messages may have been lost: ${why}`);
  if (fromClient > 0) notice('warn', `⚠ ${plural(fromClient, 'of your messages')} may not have arrived: ${why}`);
  if (toClient === 0 && fromClient === 0) {
    const what = inRooms > 0
      ? `the old session missed ${plural(inRooms, 'message')}, all in rooms and recovered there`
      : rooms ? 'the old session missed nothing' : 'nothing lost';
    notice('ok', `↺ new session (${why}): ${what}`);
  }
});

client.on('failed', ({ error, unsent }) => {
  // Every message the server did not acknowledge comes back (their bubbles
  // say so): the client keeps none of them.
  const back = unsent.length > 0 ? `; ${plural(unsent.length, 'message')} not acknowledged, handed back` : '';
  notice('warn', `✖ stopped (${error.code}): ${error.message}${back}`);
});
client.on('error', ({ error }) => console.warn('tether:', error));

setInterval(updatePending, 500);

// ---- controls ---------------------------------------------------------------

$('cut').addEventListener('click', () => client.dropConnection('cut from the page'));
$('reconnect').addEventListener('click', () => client.reconnectNow());

// The test server's controls, shown only when it is there (js/e2e/server
// marks the page it serves).
if (document.querySelector('meta[name="tether-test-controls"]')) {
  for (const el of document.querySelectorAll('.test-only')) el.hidden = false;
  $('cut-server').addEventListener('click', () => fetch('/_test/cut', { method: 'POST' }).catch(() => {}));
  $('block').addEventListener('change', async (ev) => {
    const on = ev.target.checked;
    await fetch(`/_test/block?on=${on ? 1 : 0}`, { method: 'POST' }).catch(() => {});
    if (on) client.dropConnection('server made unreachable');
    else client.reconnectNow();
  });
}
