// Tether chat: a small chat room on @tether-ws/client.
//
// URL parameters: ?persist=session|local keeps the session (and the room
// positions) across reloads; ?token=… is passed on to the server (as
// ?token=… on every connect). window.tetherDemo exposes the client and
// what arrived, for the e2e tests.
//
// The page sends JSON {name, text}: the name the user chose, kept in
// localStorage, so that it outlives sessions. The room's messages are JSON
// {from, name, text, n} (js/e2e/server reads the name) or
// {room, from, user, text} (the tether binary relays what the page sent as
// its text); anything else is shown as coming from "server".
//
// "Go offline for N s" drops the connection and holds every new WebSocket
// the client opens, unanswered, for N s (the client's `WebSocket` option:
// a network switch in the page, nothing special in the client); "Outlast
// the grace window" does the same for a little longer than the server's
// grace window (client.graceWindow, from the WELCOME).
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

// ---- the page's network switch -----------------------------------------------

/** While `offline`, the client's connection attempts hang, as they would to an unreachable server. */
const sim = { offline: false, end: 0, seconds: 0, kind: '', timer: 0, ticker: 0, held: new Set() };

/** A WebSocket that never opens: it fails when the page comes back online (or the client gives up on it first). */
class HeldSocket {
  constructor() {
    this.binaryType = 'arraybuffer';
    this.protocol = '';
    this.readyState = 0;
    this.onopen = this.onmessage = this.onerror = this.onclose = null;
    sim.held.add(this);
  }

  send() {
    throw new DOMException('not open', 'InvalidStateError');
  }

  close() {
    this.fail();
  }

  /** Fails the attempt as a refused connection does: error, then close 1006. */
  fail() {
    if (this.readyState === 3) return;
    this.readyState = 3;
    sim.held.delete(this);
    this.onerror?.({ type: 'error' });
    this.onclose?.({ code: 1006, reason: '', wasClean: false });
  }
}

/** The WebSocket the client uses: the browser's, or a held one while the page is offline. */
function PageWebSocket(url, protocols) {
  return sim.offline ? new HeldSocket() : new WebSocket(url, protocols);
}

const client = new TetherClient(wsUrl, { persist, WebSocket: PageWebSocket, ...(token ? { token: () => token } : {}) });

const $ = (id) => document.getElementById(id);
const log = $('log');

// ---- the user's name -------------------------------------------------------------

const NAME_KEY = 'tether-demo:name';

function storage() {
  try {
    return window.localStorage;
  } catch {
    return undefined; // storage blocked: the name lasts as long as the page
  }
}

/** The name the user chose, or a guest name made once and kept. */
let myName = storage()?.getItem(NAME_KEY) || `Guest ${1000 + Math.floor(Math.random() * 9000)}`;

function setName(name) {
  myName = name.trim().slice(0, 32) || myName;
  $('name').value = myName;
  try {
    storage()?.setItem(NAME_KEY, myName);
  } catch {
    // storage full or blocked: the name lasts as long as the page
  }
}
setName(myName);
$('name').addEventListener('change', (ev) => setName(ev.target.value));

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

/** Display names by short session ID, as their messages said (for presence lines). */
const names = new Map();

/** Every status the client went through, in order (tests: a short one is not missed). */
const statuses = [];

window.tetherDemo = { client, received, notices, roomEvents, statuses, send, persist, goOffline, comeBack, get name() { return myName; } };

const short = (id) => id.slice(0, 6);
if (client.sessionId) mySessions.add(short(client.sessionId));

/**
 * A room message's sender, name and text: JSON {from, name, text, n} from
 * the e2e server, {room, from, user, text} from the tether binary (whose
 * text is what the page sent, {name, text}), or plain text from "server".
 */
function parseChat(data) {
  let msg;
  try {
    msg = JSON.parse(data);
  } catch {
    msg = undefined;
  }
  if (!msg || typeof msg !== 'object' || typeof msg.text !== 'string') return { from: 'server', name: 'server', text: data, n: 0 };
  let { name, text } = msg;
  if (typeof name !== 'string' && text.startsWith('{')) {
    try {
      const inner = JSON.parse(text);
      if (typeof inner?.name === 'string' && typeof inner.text === 'string') ({ name, text } = inner);
    } catch {
      // not the page's envelope: the text as it is
    }
  }
  const from = short(String(msg.from ?? 'server'));
  return { ...msg, from, name: typeof name === 'string' && name ? name : msg.user || from, text };
}

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

/**
 * Where new lines go: above the own messages still on their way to the
 * room (sent offline, say), which stay at the bottom until the room has
 * them; the room puts what arrives before them first, as every page
 * shows it.
 */
function place(li, at = 'before-pending') {
  const first = at === 'before-pending' ? awaitingEcho.find((e) => e.li.isConnected)?.li : undefined;
  if (at instanceof Element) at.after(li);
  else if (first) first.before(li);
  else log.append(li);
  scrollDown();
}

function bubble({ from, name, text, mine }, at) {
  const li = document.createElement('li');
  li.className = `msg ${mine ? 'mine' : 'theirs'}`;
  const meta = document.createElement('div');
  meta.className = 'meta';
  const who = document.createElement('span');
  who.className = 'who';
  who.textContent = mine ? `${name} (you)` : name;
  who.title = `session ${from}`;
  li.dataset.session = from;
  who.style.setProperty('--hue', String(hue(name)));
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
  place(li, at);
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

function notice(kind, text, after) {
  notices.push({ kind, text });
  const li = document.createElement('li');
  li.className = `notice ${kind}`;
  li.textContent = text;
  place(li, after);
  return li;
}

/** "a", "a and b", "a, b and c". */
function listing(items) {
  return items.length <= 1 ? items.join('') : `${items.slice(0, -1).join(', ')} and ${items[items.length - 1]}`;
}

/** A duration for people: "5 s", "2 min", "1 min 30 s". */
function duration(ms) {
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s} s`;
  return `${Math.floor(s / 60)} min${s % 60 ? ` ${s % 60} s` : ''}`;
}

// ---- the banner: what just happened to the connection ---------------------------

const banner = {
  /** Shows a new banner: kind is offline, resumed or lost. */
  show(kind, title, lines = []) {
    const el = $('banner');
    el.hidden = false;
    el.dataset.kind = kind;
    $('banner-title').textContent = title;
    $('banner-lines').replaceChildren();
    for (const l of lines) this.add(l);
  },
  add(line) {
    const li = document.createElement('li');
    li.textContent = line;
    $('banner-lines').append(li);
  },
  get kind() {
    return $('banner').hidden ? '' : $('banner').dataset.kind;
  },
  hide() {
    $('banner').hidden = true;
  },
};
$('banner-close').addEventListener('click', () => banner.hide());

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

/**
 * Own messages sent while the page was not connected, as one batch: the
 * server gets them when the page is back, so the room puts them after
 * whatever others sent meanwhile. `by` counts those messages per sender.
 */
let offlineBatch;

async function send(text) {
  const li = bubble({ from: short(client.sessionId || '??????'), name: myName, text, mine: true }, 'end');
  setState(li, 'pending', 'waiting for the server');
  const offline = client.status !== 'connected';
  let receipt;
  try {
    receipt = await client.send(JSON.stringify({ name: myName, text }));
  } catch (err) {
    setState(li, 'lost', `not sent: ${err.message}`);
    return;
  }
  const entry = { li, text };
  if (offline) {
    if (!offlineBatch || offlineBatch.closed) offlineBatch = { entries: [], open: 0, by: new Map(), closed: false };
    entry.batch = offlineBatch;
    offlineBatch.entries.push(entry);
    offlineBatch.open++;
  }
  awaitingEcho.push(entry);
  receipt.acked.then(
    () => {
      setState(li, 'delivered', 'the server has it');
      updatePending();
      // A server that does not send the room's messages back to their
      // sender (the tether binary with a webhook): stop waiting for it.
      setTimeout(() => echoed(entry, false), 3000);
    },
    (err) => {
      setState(li, 'lost', err.code === 'lost' ? 'may not have arrived: the session was lost' : err.message);
      echoed(entry, false);
    },
  );
  updatePending();
}

/** An own message came back from the room (or will not): the page has it in the room's order. */
function echoed(entry, back) {
  const i = awaitingEcho.indexOf(entry);
  if (i < 0) return;
  awaitingEcho.splice(i, 1);
  const b = entry.batch;
  if (!b) return;
  if (back) b.delivered = (b.delivered ?? 0) + 1;
  if (--b.open > 0) return;
  // The whole batch is in the room: say why it comes after messages this
  // page saw only once it was back, though it was typed before them.
  const others = [...b.by.values()].reduce((a, n) => a + n, 0);
  if (others === 0 || !b.delivered) return;
  const mine = plural(b.delivered, 'message');
  const last = b.entries.filter((e) => e.li.isConnected).at(-1)?.li;
  notice('order', `↕ your ${mine} sent while offline reached the room when you came back, after ${plural(others, 'message')} `
    + `from ${listing([...b.by.keys()])} sent meanwhile: every page shows them in this order`, last);
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
  const msg = parseChat(m.data);
  received.push({ ...msg, seq: m.seq, room: m.room, offset: m.offset });
  const { from } = msg;
  if (msg.from !== 'server') names.set(from, msg.name);
  const mine = mySessions.has(from);
  if (mine && awaitingEcho.length > 0 && awaitingEcho[0].text === msg.text) {
    // Our own message, back from the room: it is already on screen.
    const entry = awaitingEcho[0];
    if (msg.n !== undefined) entry.li.dataset.n = String(msg.n);
    if (m.offset !== undefined) entry.li.dataset.offset = String(m.offset);
    echoed(entry, true);
    return;
  }
  // The room ordered this message before the own messages still on their
  // way to it: it goes above them (place), and they come after it.
  const li = bubble({ from, name: msg.name, text: msg.text, mine });
  if (!mine) {
    for (const b of new Set(awaitingEcho.map((e) => e.batch).filter(Boolean))) b.by.set(msg.name, (b.by.get(msg.name) ?? 0) + 1);
  }
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
  const why = roomReasonText[reason] ?? reason;
  if (lost < 0 && lastLoss?.toClient === 0) {
    // The room's history is gone (a memory store restarted), but the old
    // session got everything sent to it: the page was there until the end.
    notice('ok', `↺ ${name}: its history restarted with the server; nothing sent to this page was missed${back ? `; ${back}` : ''}`);
    if (banner.kind === 'lost') banner.add(`${name}: nothing sent to this page was missed${back ? `; ${back}` : ''}`);
  } else {
    if (lost < 0) notice('warn', `⚠ ${name}: an unknown number of messages lost (${why})`);
    else if (lost > 0) notice('warn', `⚠ ${name}: ${plural(lost, 'message')} lost (${why})`);
    if (back) notice('ok', `↺ ${name}: ${back}`);
    else if (lost === 0) notice('ok', `↺ ${name}: nothing missed`);
    if (banner.kind === 'lost') {
      const gone = lost < 0 ? `an unknown number of messages lost (${why})` : lost > 0 ? `${plural(lost, 'message')} lost for good (${why})` : 'nothing lost';
      banner.add(`${name}: ${gone}; ${back || 'nothing to recover'}${skipped > 0 ? `; ${skipped} older not replayed` : ''}`);
    }
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
    const msg = parseChat(m.data);
    const el = bubble({ from: msg.from, name: msg.name, text: msg.text, mine: false });
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
  const who = names.get(short(session)) || user || short(session);
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
  statuses.push(status);
  $('conn').dataset.status = status;
  $('status').textContent = status;
  if (status === 'connected' && offlineBatch) offlineBatch.closed = true;
  updatePending();
  updateControls();
});

/** When the page lost its connection (for how long it was away). */
let downSince = 0;
const away = () => (downSince ? ` after ${((Date.now() - downSince) / 1000).toFixed(1)} s offline` : '');

client.on('connected', ({ sessionId }) => {
  mySessions.add(short(sessionId));
  $('session').textContent = short(sessionId);
  $('session').title = `session ${sessionId}`;
  downSince = 0;
});

client.on('disconnected', ({ cause }) => {
  downSince ||= Date.now();
  notice('info', `connection lost (${cause}) — reconnecting…`);
});

client.on('resumed', ({ toClient, fromClient }) => {
  const parts = [];
  if (toClient > 0) parts.push(`${plural(toClient, 'missed message')} delivered`);
  if (fromClient > 0) parts.push(`${plural(fromClient, 'queued message')} sent`);
  notice('ok', `↺ resumed${parts.length ? `: ${parts.join(', ')}` : ''}`);
  banner.show('resumed', `↺ Back${away()}: the same session (${short(client.sessionId)}) resumed, nothing lost`, [
    toClient > 0 ? `${plural(toClient, 'message')} sent to this page meanwhile delivered now, once each` : 'nothing was sent to this page meanwhile',
    fromClient > 0 ? `${plural(fromClient, 'queued message')} of yours sent now, once each` : 'nothing of yours was waiting',
  ]);
  downSince = 0;
  $('session').textContent = short(client.sessionId);
  updatePending();
});

client.on('sessionLost', (loss) => {
  const { reason, toClient, inRooms, fromClient, carried } = loss;
  lastLoss = loss;
  const why = reasonText[reason] ?? reason;
  const grace = client.graceWindow > 0 ? ` (${duration(client.graceWindow)})` : '';
  banner.show('lost', `⚠ Session lost${away()}: ${why}${reason === 'expired' ? grace : ''}. A new session (${short(client.sessionId)}) started.`, [
    toClient > 0 ? `${plural(toClient, 'message')} sent to this page alone lost for good`
      : toClient < 0 ? 'messages sent to this page alone: how many were lost is unknown' : 'nothing sent to this page alone (outside rooms) was lost',
    ...(carried > 0 ? [`${plural(carried, 'queued message')} of yours sent in the new session`] : []),
    ...(fromClient > 0 ? [`${fromClient} of your messages may not have arrived (the old session may have processed ${fromClient === 1 ? 'it' : 'them'})`] : []),
  ]);
  // toClient counts what was sent to the session alone; the messages of
  // its rooms (inRooms) are each room's to recover, and roomJoined says
  // exactly what it could not.
  const rooms = Object.keys(client.rooms()).length > 0;
  const roomsPart = inRooms > 0 ? `; ${inRooms} more in rooms, recovered there` : '';
  if (toClient > 0) notice('warn', `⚠ ${plural(toClient, 'message')} lost: ${why}${roomsPart}`);
  else if (toClient < 0 && rooms) notice('info', `↺ new session (${why}): what the old session missed is unknown; the rooms recover theirs`);
  else if (toClient < 0) notice('warn', `⚠ messages may have been lost: ${why}`);
  if (fromClient > 0) notice('warn', `⚠ ${fromClient} of your messages may not have arrived: ${why}`);
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
updateControls();

// ---- controls ---------------------------------------------------------------

/** Takes the page offline for `seconds`: its connection drops and every attempt hangs until then. */
function goOffline(seconds, kind = 'chosen') {
  if (sim.offline || client.status !== 'connected' || !(seconds > 0)) return false;
  Object.assign(sim, { offline: true, seconds, kind, end: Date.now() + seconds * 1000 });
  sim.timer = setTimeout(comeBack, seconds * 1000);
  sim.ticker = setInterval(showOffline, 250);
  client.dropConnection(`offline for ${seconds} s (demo)`);
  showOffline();
  updateControls();
  return true;
}

/** Ends the offline period: the attempts held fail, and the client reconnects at once. */
function comeBack() {
  if (!sim.offline) return;
  sim.offline = false;
  clearTimeout(sim.timer);
  clearInterval(sim.ticker);
  for (const s of [...sim.held]) s.fail();
  client.reconnectNow();
  updateControls();
  if (banner.kind === 'offline') banner.show('offline', 'Back online: reconnecting…');
}

function showOffline() {
  if (!sim.offline) return;
  const left = Math.max(0, Math.ceil((sim.end - Date.now()) / 1000));
  const grace = client.graceWindow;
  const lines = [
    client.pending > 0 ? `${plural(client.pending, 'message')} of yours pending: sent when the page is back` : 'type away: what you send now waits as pending',
  ];
  if (grace > 0) {
    lines.push(sim.seconds * 1000 > grace
      ? `past the server's grace window (${duration(grace)}): the server will end this session; back, the page starts a new one and says exactly what was lost`
      : `within the server's grace window (${duration(grace)}): the session will resume with nothing lost`);
  }
  banner.show('offline', `⊘ Offline for ${sim.seconds} s: back in ${left} s`, lines);
}

/** Seconds offline that outlast the grace window: the window, and 2 s for the server to end the session. */
const outlastSeconds = () => Math.ceil(client.graceWindow / 1000) + 2;

function updateControls() {
  const connected = client.status === 'connected';
  const go = $('go-offline');
  go.textContent = sim.offline ? '▶ Back online now' : '⊘ Go offline for';
  go.setAttribute('aria-pressed', String(sim.offline));
  go.disabled = !sim.offline && !connected;
  const out = $('outlast');
  out.hidden = client.graceWindow <= 0;
  out.textContent = `◷ Outlast the grace window (${duration(client.graceWindow)})`;
  out.disabled = sim.offline || !connected;
}

$('go-offline').addEventListener('click', () => {
  if (sim.offline) comeBack();
  else goOffline(Math.min(900, Math.round(Number($('offline-secs').value))));
});
$('outlast').addEventListener('click', () => goOffline(outlastSeconds(), 'outlast'));
$('cut').addEventListener('click', () => client.dropConnection('cut from the page'));
$('reconnect').addEventListener('click', () => (sim.offline ? comeBack() : client.reconnectNow()));

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
