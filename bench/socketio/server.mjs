// Socket.IO peer server for cmd/tether-bench.
//
//   node bench/socketio/server.mjs --port 0 [--host 127.0.0.1] [--ping-interval ms --ping-timeout ms]
//
// WebSocket transport only, connectionStateRecovery on (2 minutes, as
// Tether's grace window). Every client joins the room named by its
// ?room= query ("bench" by default) unless its state was recovered (then
// it is back in its rooms already). Control endpoints, as the built-in
// Tether server's:
//
//   POST /bench/publish {"room","stream","from","n","size","rate"}
//        broadcast n numbered messages ("m" events) to the room, message
//        i to every member before i+1, at rate per second (0: yield to the
//        event loop between messages); answers when done.
//   GET  /bench/room?room=bench  -> {"members":…, "sessions":…}
//
// It prints "listening <host:port>" and exits when stdin ends.
import { createServer } from "node:http";
import { Server } from "socket.io";

const args = Object.fromEntries(
  process.argv.slice(2).reduce((acc, a, i, all) => {
    if (a.startsWith("--")) acc.push([a.slice(2), all[i + 1]]);
    return acc;
  }, []),
);
const host = args.host || "127.0.0.1";
if (!/^127\.|^localhost$/.test(host)) {
  console.error("socket.io peer: listen on loopback only");
  process.exit(2);
}
const port = Number(args.port || 0);

function payload(stream, seq, size) {
  let s = `F:${stream}:${seq}:${process.hrtime.bigint() + epochOffset}:`;
  if (s.length < size) s += "x".repeat(size - s.length);
  return s;
}
// Unix nanoseconds from the monotonic clock.
const epochOffset = BigInt(Date.now()) * 1000000n - process.hrtime.bigint();

const httpServer = createServer(async (req, res) => {
  const url = new URL(req.url, "http://x");
  if (req.method === "GET" && url.pathname === "/bench/room") {
    const room = url.searchParams.get("room") || "bench";
    const members = io.sockets.adapter.rooms.get(room)?.size || 0;
    res.setHeader("Content-Type", "application/json");
    res.end(JSON.stringify({ members, sessions: io.engine.clientsCount }));
    return;
  }
  if (req.method === "POST" && url.pathname === "/bench/publish") {
    let body = "";
    for await (const chunk of req) body += chunk;
    const p = JSON.parse(body);
    const room = p.room || "bench";
    const size = Math.max(p.size || 0, 64);
    const from = p.from || 1;
    const start = Date.now();
    let deliveries = 0;
    for (let i = 0; i < p.n; i++) {
      if (p.rate > 0) {
        const due = start + (i * 1000) / p.rate;
        const wait = due - Date.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      } else {
        await new Promise((r) => setImmediate(r));
      }
      deliveries += io.sockets.adapter.rooms.get(room)?.size || 0;
      io.to(room).emit("m", payload(p.stream || 0, from + i, size));
    }
    res.setHeader("Content-Type", "application/json");
    res.end(JSON.stringify({ published: p.n, deliveries }));
    return;
  }
  res.statusCode = 404;
  res.end();
});

const io = new Server(httpServer, {
  transports: ["websocket"],
  serveClient: false,
  ...(args["ping-interval"] ? { pingInterval: Number(args["ping-interval"]), pingTimeout: Number(args["ping-timeout"]) } : {}),
  connectionStateRecovery: { maxDisconnectionDuration: 2 * 60 * 1000, skipMiddlewares: true },
});

io.on("connection", (socket) => {
  if (!socket.recovered) {
    let room = socket.handshake.query.room || "bench";
    if (Array.isArray(room)) room = room[0];
    socket.join(room);
  }
  socket.on("u", (p) => socket.emit("m", p)); // echo
});

httpServer.listen(port, host, () => {
  const a = httpServer.address();
  console.log(`listening ${a.address}:${a.port}`);
});
process.stdin.on("end", () => process.exit(0));
process.stdin.resume();
