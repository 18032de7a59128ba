// Socket.IO client worker for cmd/tether-bench: speaks the JSON-lines
// worker protocol of cmd/tether-bench/proto.go on stdin/stdout, with
// socket.io-client (WebSocket transport only, default reconnection:
// 1 s → 5 s, randomization 0.5) as the clients. Commands: start, arm,
// drain, report, reset, quit; traffic only with rate 0 (the peer is measured
// fan-out only). Clients connect from the "src" loopback address.
//
//   node bench/socketio/worker.mjs [timeout seconds]
import { createInterface } from "node:readline";
import { io } from "socket.io-client";

const timeoutSec = Number(process.argv[2] || 1800);
setTimeout(() => {
  console.error("socket.io worker: timed out");
  process.exit(3);
}, timeoutSec * 1000).unref();

const epochOffset = BigInt(Date.now()) * 1000000n - process.hrtime.bigint();
const nowNs = () => process.hrtime.bigint() + epochOffset;

// --- checker (the same rules as cmd/tether-bench/checker.go) -------------

class SeqCheck {
  constructor() {
    this.next = 1;
    this.missing = new Set();
    this.recv = 0;
    this.dup = 0;
    this.reorder = 0;
  }
  see(seq) {
    this.recv++;
    if (seq === this.next) this.next++;
    else if (seq > this.next) {
      for (let q = this.next; q < seq && this.missing.size < 65536; q++) this.missing.add(q);
      this.next = seq + 1;
    } else if (this.missing.has(seq)) {
      this.missing.delete(seq);
      this.reorder++;
    } else this.dup++;
  }
  highest() {
    return this.next - 1;
  }
  complete(total) {
    return this.highest() >= total && this.missing.size === 0;
  }
  lost(total) {
    return this.missing.size + Math.max(0, total - this.highest());
  }
}

const PER_OCTAVE = 16;
class Hist {
  constructor() {
    this.counts = [];
  }
  add(us) {
    const i = us < 1 ? 0 : 1 + Math.floor(Math.log2(us) * PER_OCTAVE);
    while (this.counts.length <= i) this.counts.push(0);
    this.counts[i]++;
  }
}

// --- state -----------------------------------------------------------------

const clients = [];
const fanLat = new Hist();
const totals = { connected: 0, recv: 0, disconnects: 0, resumed: 0, lost: 0, failed: 0 };
let armed = false;
let lastAt = 0n;
let expect = {};
const errors = [];
const noteErr = (e) => {
  if (errors.length < 5) errors.push(String(e));
};

function out(obj) {
  process.stdout.write(JSON.stringify(obj) + "\n");
}

function tick() {
  return {
    clients: clients.length,
    connected: totals.connected,
    sent: 0,
    recv: totals.recv,
    disconnects: totals.disconnects,
    resumed: totals.resumed,
    session_lost: totals.lost,
    failed: totals.failed,
  };
}
setInterval(() => out({ ev: "tick", tick: tick() }), 1000).unref();

function parse(p) {
  const parts = String(p).split(":", 4);
  if (parts.length < 4 || parts[0] !== "F") return null;
  return { stream: parts[1], seq: Number(parts[2]), ts: BigInt(parts[3]) };
}

function newClient(i, url, src, room) {
  const c = {
    fan: new Map(),
    up: false,
    sessions: 0,
    unknown: 0,
    discAt: 0n,
    resumeAt: 0n,
    recovered: false,
  };
  return new Promise((resolve, reject) => {
    const sock = io(url, {
      transports: ["websocket"],
      forceNew: true,
      query: { room },
      localAddress: src,
      timeout: 10000,
    });
    c.sock = sock;
    let first = true;
    sock.on("m", (p) => {
      const now = nowNs();
      totals.recv++;
      lastAt = now;
      const h = parse(p);
      if (!h) return noteErr(`client ${i}: not a tether-bench payload`);
      let s = c.fan.get(h.stream);
      if (!s) c.fan.set(h.stream, (s = new SeqCheck()));
      s.see(h.seq);
      fanLat.add(Number(now - h.ts) / 1000);
    });
    sock.on("connect", () => {
      const now = nowNs();
      if (!c.up) totals.connected++;
      c.up = true;
      if (first) {
        first = false;
        c.sessions++;
        resolve(c);
        return;
      }
      if (sock.recovered) totals.resumed++;
      else {
        c.unknown++; // a new session: the loss, if any, is not counted
        totals.lost++;
        c.sessions++;
      }
      if (armed && c.resumeAt === 0n && c.discAt !== 0n) {
        c.resumeAt = now;
        c.recovered = sock.recovered;
      }
    });
    sock.on("disconnect", () => {
      const now = nowNs();
      if (c.up) {
        totals.connected--;
        totals.disconnects++;
      }
      c.up = false;
      if (armed && c.discAt === 0n) c.discAt = now;
    });
    sock.on("connect_error", (err) => {
      if (first) {
        first = false;
        sock.close();
        reject(err);
      }
    });
  });
}

async function start(cmd) {
  if (cmd.n > 9500) throw new Error(`at most 9500 clients per worker, asked ${cmd.n}`);
  const src = cmd.src || "127.0.0.1";
  if (!src.startsWith("127.")) throw new Error("source address must be loopback");
  const conc = Math.max(1, cmd.conc || 32);
  let next = 0;
  const run = async () => {
    while (next < cmd.n) {
      const i = next++;
      const raw = new URL(cmd.urls[i % cmd.urls.length]);
      if (!/^127\.|^localhost$/.test(raw.hostname)) throw new Error(`${raw}: loopback only`);
      const room = raw.searchParams.get("room") || "bench";
      raw.search = "";
      clients[i] = await newClient(i, raw.toString(), src, room);
    }
  };
  await Promise.all(Array.from({ length: Math.min(conc, cmd.n) }, run));
}

function settled(c) {
  for (const [k, n] of Object.entries(expect)) {
    const s = c.fan.get(k);
    if (n > 0 && (!s || !s.complete(n))) return false;
  }
  return true;
}

async function drain(timeoutMs) {
  const deadline = Date.now() + (timeoutMs || 60000);
  let lastRecv = totals.recv;
  let lastChange = Date.now();
  for (;;) {
    let complete = 0;
    let down = 0;
    for (const c of clients) {
      if (settled(c)) complete++;
      if (!c.up) down++;
    }
    const incomplete = clients.length - complete;
    if (incomplete === 0 || Date.now() > deadline) return { complete, incomplete };
    if (totals.recv !== lastRecv) {
      lastRecv = totals.recv;
      lastChange = Date.now();
    } else if (down === 0 && Date.now() - lastChange > 10000) return { complete, incomplete };
    await new Promise((r) => setTimeout(r, 100));
  }
}

function report() {
  const fan = { recv: 0, lost: 0, dup: 0, reorder: 0 };
  const r = {
    ...tick(),
    fan,
    echo: { recv: 0, lost: 0, dup: 0, reorder: 0 },
    last_at: Number(lastAt),
    fan_latency: { counts: fanLat.counts },
    echo_latency: { counts: [] },
    reported_to_client: 0,
    reported_unknown: 0,
    reported_from_client: 0,
    reported_carried: 0,
    unexplained_down_lost: 0,
    over_reported_down: 0,
    errors,
  };
  if (armed) {
    r.disc_at = [];
    r.resume_at = [];
    r.recovered = [];
  }
  for (const c of clients) {
    let seen = 0;
    for (const [k, s] of c.fan) {
      const lost = s.lost(expect[k] || 0);
      fan.recv += s.recv;
      fan.lost += lost;
      fan.dup += s.dup;
      fan.reorder += s.reorder;
      seen += lost;
    }
    for (const [k, n] of Object.entries(expect)) {
      if (!c.fan.has(k) && n > 0) {
        fan.lost += n;
        seen += n;
      }
    }
    r.reported_unknown += c.unknown;
    if (c.unknown === 0) r.unexplained_down_lost += seen;
    if (armed) {
      r.disc_at.push(Number(c.discAt));
      r.resume_at.push(Number(c.resumeAt));
      r.recovered.push(c.recovered);
    }
  }
  return r;
}

const rl = createInterface({ input: process.stdin });
let queue = Promise.resolve();
rl.on("line", (line) => {
  queue = queue.then(async () => {
    let cmd;
    try {
      cmd = JSON.parse(line);
    } catch (e) {
      return out({ ev: "error", err: `bad command: ${e}` });
    }
    try {
      switch (cmd.cmd) {
        case "start":
          await start(cmd);
          return out({ ev: "start", n: clients.length });
        case "traffic":
          if (cmd.rate > 0) throw new Error("the Socket.IO peer is fan-out only");
          return out({ ev: "traffic" });
        case "arm":
          for (const c of clients) {
            c.discAt = 0n;
            c.resumeAt = 0n;
            c.recovered = false;
          }
          armed = true;
          return out({ ev: "arm", at: Number(nowNs()) });
        case "drain": {
          expect = cmd.expect || {};
          const d = await drain(cmd.timeout_ms);
          return out({ ev: "drain", ...d });
        }
        case "report":
          return out({ ev: "report", report: report() });
        case "reset":
          fanLat.counts = [];
          return out({ ev: "reset" });
        case "quit":
          for (const c of clients) c?.sock.close();
          out({ ev: "quit" });
          process.exit(0);
        default:
          throw new Error(`unknown command ${cmd.cmd}`);
      }
    } catch (e) {
      out({ ev: "error", err: String(e?.message || e) });
    }
  });
});
rl.on("close", () => process.exit(0));
