// The Tether admin page: plain JavaScript, no framework. A live snapshot
// arrives every second over Server-Sent Events (/admin/api/stream); the
// session list and the rooms are polled. Every POST carries the CSRF
// token of the page (meta csrf-token) in X-CSRF-Token.
'use strict';

const csrf = document.querySelector('meta[name="csrf-token"]').content;
const $ = (id) => document.getElementById(id);

// A fixed color per cause; causes after which the session lives on are
// drawn solid, those that ended it hatched.
const CAUSES = [
  ['network-lost', '#e4572e'], ['heartbeat-timeout', '#f3a712'], ['client-detached', '#76b041'],
  ['server-restart', '#2f6fde'], ['rate-limited', '#a05195'], ['replaced', '#7a8699'],
  ['client-closed', '#1f8a4c'], ['expired', '#c62f3b'], ['kicked', '#8e44ad'], ['server-shutdown', '#34495e'],
  ['overflow', '#d35400'], ['policy-violation', '#b7950b'], ['protocol-violation', '#6e2c00'], ['server-error', '#000000'],
];
const COLOR = Object.fromEntries(CAUSES);
const colorOf = (c) => COLOR[c] || '#999';

let range = '10m';
let last = null;

function el(tag, attrs = {}, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'class') e.className = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v);
  }
  for (const k of kids) e.append(k instanceof Node ? k : String(k ?? ''));
  return e;
}

function svg(tag, attrs = {}) {
  const e = document.createElementNS('http://www.w3.org/2000/svg', tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  return e;
}

const fmt = (n) => (n ?? 0).toLocaleString('en');
const shortID = (id) => (id.length > 14 ? `${id.slice(0, 12)}…` : id);

function ago(t) {
  const s = Math.max(0, (Date.now() - new Date(t).getTime()) / 1000);
  if (s < 60) return `${Math.round(s)} s ago`;
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 86400) return `${(s / 3600).toFixed(1)} h ago`;
  return `${(s / 86400).toFixed(1)} d ago`;
}

function dur(ms) {
  if (ms < 1000) return `${ms} ms`;
  if (ms < 60000) return `${(ms / 1000).toFixed(1)} s`;
  return `${(ms / 60000).toFixed(1)} min`;
}

function fill(tbody, rows) {
  tbody.replaceChildren(...rows);
}

// What an event says, in a few words.
function describe(e) {
  switch (e.kind) {
    case 'open':
      return e.previous ? `new session: could not resume ${shortID(e.previous)} (${e.reason}); lost ${lostText(e.lost)} to client, ${lostText(e.lost_from_client)} from client` : 'new session';
    case 'disconnect':
      return `connection lost: ${e.cause}${e.error ? ` (${e.error})` : ''}; session kept`;
    case 'resume':
      return `resumed after ${dur(e.offline_ms || 0)} offline; replayed ${fmt(e.replayed)} to client, ${fmt(e.replayed_from_client)} from client`;
    case 'room-recovery':
      return `room ${e.room || '(user stream)'}: ${e.reason === 'not-readmitted' ? 'not readmitted' : `recovered ${fmt(e.replayed)}, skipped ${fmt(e.skipped)}, lost ${lostText(e.lost)}${e.lost ? ` (${e.reason})` : ''}`}`;
    case 'close':
      return `session ended: ${e.cause}${e.reason ? ` "${e.reason}"` : ''}${e.unacked ? `; ${fmt(e.unacked)} never acknowledged` : ''}${e.error ? ` (${e.error})` : ''}`;
  }
  return e.kind;
}
const lostText = (n) => (n < 0 ? 'an unknown number' : fmt(n || 0));
const isLoss = (e) => (e.lost && e.lost !== 0) || e.lost_from_client > 0 || e.unacked > 0 || e.cause === 'expired';

// ---- overview ----

function render(o) {
  last = o;
  $('mode').textContent = o.mode;
  $('st-connected').textContent = fmt(o.states.connected);
  $('st-disconnected').textContent = fmt(o.states.disconnected);
  $('st-grace').textContent = `grace window ${o.grace_window}`;
  $('st-closing').textContent = fmt(o.states.closing);
  $('st-replay').textContent = fmt(o.states.replay_depth);
  const w = o.window;
  $('w-resumes').textContent = fmt(w.resumes);
  $('w-resumes-sub').textContent = `in ${rangeName(o.range)}; ${fmt(o.total.resumes)} since start`;
  $('w-replayed').textContent = fmt(w.replayed_to_client + w.replayed_from_client);
  const lost = w.lost_to_client + w.lost_from_client + w.lost_room_messages;
  $('w-lost').textContent = fmt(lost) + (w.lost_unknown ? ` +${w.lost_unknown}?` : '');
  $('w-lost-sub').textContent = `messages in ${rangeName(o.range)}${w.lost_unknown ? `; ${w.lost_unknown} losses of unknown size` : ''}`;
  renderNodes(o.nodes);
  renderCauses(o);
  renderOffline(w.offline);
  renderLosses(o.losses, o.total);
  renderRecent(o.recent);
}

const rangeName = (r) => ({ '10m': 'the last 10 min', '1h': 'the last hour', '6h': 'the last 6 h', '24h': 'the last 24 h' })[r] || r;

function renderNodes(nodes) {
  $('nodes-card').hidden = nodes.length < 2;
  fill($('nodes').tBodies[0], nodes.map((n) => el('tr', {},
    el('td', {}, n.node), el('td', {}, fmt(n.connected)), el('td', {}, fmt(n.disconnected)), el('td', {}, fmt(n.closing)),
    el('td', {}, fmt(n.replay_depth)), el('td', {}, ago(n.updated)))));
}

function renderCauses(o) {
  const chart = $('cause-chart');
  const pts = o.series;
  const W = 600, H = 200, n = pts.length;
  const bw = W / n;
  let maxv = 1;
  for (const p of pts) {
    let s = 0;
    for (const v of Object.values(p.disconnects || {})) s += v;
    for (const v of Object.values(p.closes || {})) s += v;
    maxv = Math.max(maxv, s);
  }
  const kids = [];
  const defs = svg('defs');
  const pat = svg('pattern', { id: 'hatch', width: 4, height: 4, patternUnits: 'userSpaceOnUse', patternTransform: 'rotate(45)' });
  pat.append(svg('rect', { width: 2, height: 4, fill: 'rgba(255,255,255,.55)' }));
  defs.append(pat);
  kids.push(defs);
  for (let g = 1; g <= 3; g++) {
    kids.push(svg('line', { x1: 0, x2: W, y1: H - (H * g) / 4, y2: H - (H * g) / 4, stroke: '#e3e6eb', 'stroke-width': 1 }));
  }
  pts.forEach((p, i) => {
    let y = H;
    const stack = (counts, ended) => {
      for (const [cause, v] of Object.entries(counts || {})) {
        const h = (v / maxv) * (H - 10);
        y -= h;
        const r = svg('rect', { x: i * bw + 0.5, y, width: Math.max(bw - 1, 1), height: h, fill: colorOf(cause) });
        const t = svg('title');
        t.textContent = `${new Date(p.t * 1000).toLocaleTimeString()}: ${v} ${cause}${ended ? ' (session ended)' : ''}`;
        r.append(t);
        kids.push(r);
        if (ended) kids.push(svg('rect', { x: i * bw + 0.5, y, width: Math.max(bw - 1, 1), height: h, fill: 'url(#hatch)', 'pointer-events': 'none' }));
      }
    };
    stack(p.disconnects, false);
    stack(p.closes, true);
  });
  const label = svg('text', { x: 4, y: 12, 'font-size': 10, fill: '#6b7685' });
  label.textContent = `max ${maxv} per ${o.step_seconds >= 60 ? `${o.step_seconds / 60} min` : `${o.step_seconds} s`}`;
  kids.push(label);
  chart.replaceChildren(...kids);
  // The legend: totals over the range, by cause.
  const w = o.window;
  const seen = new Map();
  for (const [c, v] of Object.entries(w.disconnects)) seen.set(c, { kept: v, ended: 0 });
  for (const [c, v] of Object.entries(w.closes)) seen.set(c, { kept: seen.get(c)?.kept || 0, ended: v });
  const items = [...seen.entries()].sort((a, b) => b[1].kept + b[1].ended - a[1].kept - a[1].ended);
  fill($('cause-legend'), items.length === 0 ? [el('li', { class: 'muted' }, 'no connection ended in this range')] : items.map(([c, v]) =>
    el('li', { 'data-cause': c, 'data-count': v.kept + v.ended }, swatch(colorOf(c)), c, ' ', el('b', {}, fmt(v.kept + v.ended)))));
  chart.dataset.total = String(items.reduce((s, [, v]) => s + v.kept + v.ended, 0));
  $('chart-range').textContent = `(${rangeName(o.range)})`;
  $('chart-from').textContent = n ? new Date(pts[0].t * 1000).toLocaleTimeString() : '';
}

// A legend's color square (set through the CSSOM: the page's CSP allows
// no inline style attribute).
function swatch(color) {
  const i = el('i');
  i.style.background = color;
  return i;
}

function renderOffline(bins) {
  const chart = $('offline-chart');
  const W = 600, H = 200, n = bins.length, bw = W / n;
  const maxv = Math.max(1, ...bins.map((b) => b.count));
  const kids = [];
  bins.forEach((b, i) => {
    const h = (b.count / maxv) * (H - 36);
    const r = svg('rect', { x: i * bw + 3, y: H - h - 14, width: bw - 6, height: h, fill: '#2f6fde' });
    const t = svg('title');
    t.textContent = `${b.count} resumes offline ≤ ${b.le}`;
    r.append(t);
    kids.push(r);
    if (b.count) {
      const v = svg('text', { x: i * bw + bw / 2, y: H - h - 18, 'font-size': 10, 'text-anchor': 'middle', fill: '#1c2430' });
      v.textContent = b.count;
      kids.push(v);
    }
  });
  chart.replaceChildren(...kids);
  chart.dataset.total = String(bins.reduce((s, b) => s + b.count, 0));
  fill($('offline-axis'), bins.map((b) => el('span', {}, b.le === '+Inf' ? 'more' : `≤${b.le}`)));
}

function renderLosses(losses, total) {
  const what = { session: 'session not resumed', room: 'room messages', close: 'unacked at session end' };
  fill($('losses').tBodies[0], losses.length === 0 ? [el('tr', {}, el('td', { colspan: 4, class: 'muted' }, 'nothing lost since start'))] : losses.map((l) =>
    el('tr', {}, el('td', {}, what[l.kind] || l.kind), el('td', {}, l.reason), el('td', {}, fmt(l.events)),
      el('td', { class: l.messages || l.unknown ? 'ev-lost' : '' }, fmt(l.messages) + (l.unknown ? ` + ${l.unknown} unknown` : '')))));
  $('loss-note').textContent = `Since start: replayed ${fmt(total.replayed_to_client)} to clients and ${fmt(total.replayed_from_client)} from clients after ${fmt(total.resumes)} resumes.`;
}

function renderRecent(events) {
  fill($('recent').tBodies[0], events.map((e) => el('tr', { class: 'click', onclick: () => openSession(e.session) },
    el('td', {}, new Date(e.time).toLocaleTimeString()), el('td', { class: 'id' }, shortID(e.session)), el('td', {}, e.user),
    el('td', {}, e.kind), el('td', { class: isLoss(e) ? 'ev-lost' : '' }, describe(e)))));
}

// ---- live stream ----

let es = null;
function connect() {
  es?.close();
  es = new EventSource(`/admin/api/stream?range=${encodeURIComponent(range)}`);
  es.addEventListener('overview', (ev) => {
    $('live').textContent = 'live';
    $('live').className = 'pill on';
    render(JSON.parse(ev.data));
  });
  es.onerror = async () => {
    $('live').textContent = 'reconnecting…';
    $('live').className = 'pill off';
    const r = await fetch('/admin/api/overview').catch(() => null);
    if (r && r.status === 401) location.assign('/admin/login');
  };
}

// ---- sessions ----

let searchTimer = 0;
async function loadSessions() {
  const q = $('search').value.trim();
  const state = $('state-filter').value;
  const r = await fetch(`/admin/api/sessions?q=${encodeURIComponent(q)}&state=${encodeURIComponent(state)}`);
  if (r.status === 401) return location.assign('/admin/login');
  const body = await r.json();
  $('session-count').textContent = `${fmt(body.matched)} matching${body.matched > body.sessions.length ? `, first ${body.sessions.length} shown` : ''}`;
  fill($('sessions').tBodies[0], body.sessions.map((s) => el('tr', { class: 'click', 'data-session': s.id, onclick: () => openSession(s.id) },
    el('td', { class: 'id', title: s.id }, shortID(s.id)), el('td', {}, s.user), el('td', {}, el('span', { class: `state ${s.state}` }, s.state === 'disconnected' ? 'in grace' : s.state)),
    el('td', { title: s.since }, ago(s.since)), el('td', {}, s.rooms.join(', ')), el('td', {}, fmt(s.replay)), el('td', {}, fmt(s.in_flight)),
    el('td', {}, s.last_cause || ''))));
}

let current = null;
async function openSession(id) {
  current = id;
  const r = await fetch(`/admin/api/sessions/${encodeURIComponent(id)}`);
  if (r.status === 401) return location.assign('/admin/login');
  const s = await r.json();
  $('detail-title').textContent = `Session ${id}`;
  $('kick-result').textContent = '';
  if (!r.ok) {
    fill($('detail-facts'), [el('dt', {}, 'error'), el('dd', {}, s.error?.message || r.status)]);
    fill($('detail-events').tBodies[0], []);
  } else {
    const facts = [['user', s.user], ['state', s.state], ['node', s.node], ['created', s.created], ['disconnected since', s.disconnected_since],
      ['rooms', (s.rooms || []).join(', ')], ['replay depth', s.replay], ['unacked in', s.in_flight],
      ...Object.entries(s.meta || {})];
    fill($('detail-facts'), facts.filter(([, v]) => v !== undefined && v !== '').flatMap(([k, v]) => [el('dt', {}, k), el('dd', {}, v)]));
    fill($('detail-events').tBodies[0], s.events.length === 0 ? [el('tr', {}, el('td', { colspan: 3, class: 'muted' }, 'no event seen by this server'))] :
      s.events.slice().reverse().map((e) => el('tr', { 'data-kind': e.kind }, el('td', {}, new Date(e.time).toLocaleTimeString()), el('td', {}, e.kind),
        el('td', { class: isLoss(e) ? 'ev-lost' : '' }, describe(e)))));
    $('kick').disabled = s.state === 'closed';
  }
  if (!$('detail').open) $('detail').showModal();
}

async function kick() {
  if (!current || !confirm(`Kick session ${current}? Its client is told to stop and does not reconnect.`)) return;
  const r = await fetch(`/admin/api/sessions/${encodeURIComponent(current)}/kick`, {
    method: 'POST', headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': csrf },
    body: JSON.stringify({ reason: $('kick-reason').value }),
  });
  const body = await r.json().catch(() => ({}));
  $('kick-result').textContent = r.ok ? 'kicked' : `refused: ${body.error?.message || r.status}`;
  await loadSessions();
  if (r.ok) setTimeout(() => openSession(current), 300);
}

// ---- rooms ----

async function loadRooms() {
  const r = await fetch('/admin/api/rooms');
  if (!r.ok) return;
  const body = await r.json();
  fill($('rooms').tBodies[0], body.rooms.length === 0 ? [el('tr', {}, el('td', { colspan: 4, class: 'muted' }, 'no room has members'))] : body.rooms.map((x) =>
    el('tr', { class: 'click', 'data-room': x.room, onclick: () => openRoom(x.room) }, el('td', {}, x.room), el('td', {}, fmt(x.members)),
      el('td', {}, fmt(x.history)), el('td', { class: 'muted' }, x.last ? `${x.first}–${x.last}` : '–'))));
}

async function openRoom(room) {
  const r = await fetch(`/admin/api/rooms/${encodeURIComponent(room)}`);
  if (!r.ok) return;
  const body = await r.json();
  const d = $('room-detail');
  d.hidden = false;
  d.replaceChildren(el('h3', {}, `${room}: ${fmt(body.room.members)} member${body.room.members === 1 ? '' : 's'}, ${fmt(body.room.history)} message${body.room.history === 1 ? '' : 's'} in history`),
    el('table', {}, el('tbody', {}, ...body.members.map((m) => el('tr', { class: 'click', onclick: () => openSession(m.id) },
      el('td', { class: 'id' }, shortID(m.id)), el('td', {}, m.user || ''), el('td', {}, m.state || 'on another server'))))));
}

// ---- wiring ----

$('range').addEventListener('change', () => {
  range = $('range').value;
  connect();
});
$('search').addEventListener('input', () => {
  clearTimeout(searchTimer);
  searchTimer = setTimeout(loadSessions, 200);
});
$('state-filter').addEventListener('change', loadSessions);
$('kick').addEventListener('click', kick);
$('sign-out').addEventListener('click', async () => {
  await fetch('/admin/logout', { method: 'POST', headers: { 'X-CSRF-Token': csrf } });
  location.assign('/admin/login');
});

connect();
loadSessions();
loadRooms();
setInterval(() => {
  if (document.hidden) return;
  loadSessions();
  loadRooms();
}, 2000);
window.tetherAdmin = { get last() { return last; }, loadSessions, openSession };
