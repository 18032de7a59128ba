package main

// The worker protocol: the coordinator drives each worker process (Go,
// this program re-executed, or Node, bench/socketio/worker.mjs) with one
// JSON object per line on the worker's stdin, and reads one JSON object
// per line from its stdout. Every command gets exactly one reply, whose
// "ev" is the command's name, or "error" with "err"; besides replies, a
// worker prints a "tick" line every second. A worker exits when its stdin
// ends or after its -timeout, whichever is first, and never opens
// connections outside 127.0.0.0/8.
//
// Commands, in the order a scenario uses them:
//
//	{"cmd":"start","kind":"tether","urls":["ws://127.0.0.1:P/ws?room=bench"],"n":2000,
//	 "cid_base":1000000,"src":"127.0.0.3","conc":64,"channel":"bench"}
//	    connect n clients (client i uses urls[i % len(urls)]) from source
//	    address src; reply when all are connected or the first fails.
//	{"cmd":"traffic","rate":2,"size":100}
//	    every client sends rate messages per second (0 stops).
//	{"cmd":"arm"}
//	    from now on, record each client's first disconnect and the first
//	    resume (or new session) after it, for reconnect timings.
//	{"cmd":"drain","expect":{"0":2000},"expect_rooms":{"bench":{"last":2000}},"timeout_ms":30000}
//	    stop sending; wait until every client has received fan-out stream
//	    s up to expect[s] (a client in room streams: every offset of room
//	    r up to expect_rooms[r].last, or .n after its first position, or
//	    was told why not), the echo of everything it sent, and an
//	    acknowledgement of everything it sent; reply with how many did.
//	{"cmd":"report"}
//	    reply with the checker's results ("report").
//	{"cmd":"reset"}
//	    forget the latencies recorded so far.
//	{"cmd":"quit"}
//	    close every client and exit after the reply.
//
// The proxy role (this program, one per worker when chaos is on) speaks
// the same framing: it prints {"ev":"ready","addrs":[...]} and takes
//
//	{"cmd":"cut","frac":0.25}        reset the connections of a random fraction of its shards
//	{"cmd":"blackhole","frac":0.25}  make them silently drop everything (half-open)
//	{"cmd":"delay","frac":0.25,"delay_ms":200}  slow them down (slow consumers)
//	{"cmd":"away","frac":0.25}       cut their connections and refuse new ones (clients away)
//	{"cmd":"heal"}                   stop blackholing, delaying and refusing new connections
//	{"cmd":"quit"}
//
// and replies with the time it acted ("at", unix nanoseconds).

// command is one line to a worker or proxy.
type command struct {
	Cmd string `json:"cmd"`

	// start
	Kind    string   `json:"kind,omitempty"`
	URLs    []string `json:"urls,omitempty"`
	N       int      `json:"n,omitempty"`
	CIDBase uint64   `json:"cid_base,omitempty"`
	Src     string   `json:"src,omitempty"`
	Conc    int      `json:"conc,omitempty"`
	Channel string   `json:"channel,omitempty"`
	APIKey  string   `json:"api_key,omitempty"`

	// traffic
	Rate float64 `json:"rate,omitempty"`
	Size int     `json:"size,omitempty"`

	// drain
	Expect      map[string]uint64     `json:"expect,omitempty"`
	ExpectRooms map[string]roomExpect `json:"expect_rooms,omitempty"`
	TimeoutMS   int64                 `json:"timeout_ms,omitempty"`

	// proxy
	Frac    float64 `json:"frac,omitempty"`
	DelayMS int64   `json:"delay_ms,omitempty"`
}

// event is one line from a worker or proxy.
type event struct {
	Ev  string `json:"ev"`
	Err string `json:"err,omitempty"`
	At  int64  `json:"at,omitempty"` // unix nanoseconds

	// tick
	Tick *tick `json:"tick,omitempty"`

	// start, drain
	N          int `json:"n,omitempty"`
	Complete   int `json:"complete,omitempty"`
	Incomplete int `json:"incomplete,omitempty"`

	// report
	Report *workerReport `json:"report,omitempty"`

	// proxy ready; which shards a chaos command hit
	Addrs  []string `json:"addrs,omitempty"`
	Shards []int    `json:"shards,omitempty"`
}

// tick is a worker's running totals, printed every second.
type tick struct {
	Clients     int    `json:"clients"`
	Connected   int    `json:"connected"`
	Sent        uint64 `json:"sent"`
	Recv        uint64 `json:"recv"`
	Disconnects int    `json:"disconnects"`
	Resumed     int    `json:"resumed"`
	SessionLost int    `json:"session_lost"`
	Failed      int    `json:"failed"`
}

// workerReport is what a worker's clients saw.
type workerReport struct {
	tick

	Fan  tally `json:"fan"`  // fan-out streams, server → client
	Echo tally `json:"echo"` // echoes of the clients' own messages
	// EchoHeld counts echoes not come of messages their clients still held
	// (upSent.Held): not due yet, so not in Echo.Lost.
	EchoHeld uint64 `json:"echo_held,omitempty"`

	LastAt      int64 `json:"last_at"`      // unix nanoseconds of the last message received
	FanLatency  hist  `json:"fan_latency"`  // publish → receipt
	EchoLatency hist  `json:"echo_latency"` // send → echo receipt

	// Losses the client library reported on failed resumes.
	ReportedToClient    int64 `json:"reported_to_client"`    // sum of SessionLost.ToClient ≥ 0
	ReportedUnknown     int   `json:"reported_unknown"`      // SessionLost events whose ToClient is unknown (-1), or a peer's "not recovered"
	ReportedFromClient  int64 `json:"reported_from_client"`  // sum of SessionLost.FromClient (Unsent)
	ReportedCarried     int64 `json:"reported_carried"`      // sum of SessionLost.Carried
	UnexplainedDownLost int64 `json:"unexplained_down_lost"` // per client, losses seen beyond those reported
	OverReportedDown    int64 `json:"over_reported_down"`    // per client, losses reported beyond those seen

	// Reconnect timings after "arm": unix nanoseconds of each client's
	// first disconnect and of its first resume (or new session) after it;
	// 0 when it did not happen. Recovered says the resume was a recovery
	// (Tether Resumed, Centrifugo recovered, Socket.IO recovered).
	DiscAt    []int64 `json:"disc_at,omitempty"`
	ResumeAt  []int64 `json:"resume_at,omitempty"`
	Recovered []bool  `json:"recovered,omitempty"`

	// Up lists, for each client that sent, what the server should have
	// got: the count, and the numbers the client was told are of unknown
	// fate (SessionLost.Unsent).
	Up []upSent `json:"up,omitempty"`

	// Room streams (Tether clients of a server with the rooms feature):
	// what the clients saw, checked by offset (roomcheck.go); what each
	// return into a room reported; and which payload each offset
	// carried, to check that every member saw the same.
	Rooms       roomTally    `json:"rooms"`
	RoomReturns []roomReturn `json:"room_returns,omitempty"`
	RoomIdent   []identRun   `json:"room_ident,omitempty"`

	Errors []string `json:"errors,omitempty"` // first few client errors
}

// upSent is one client's outgoing stream.
type upSent struct {
	CID    uint64   `json:"cid"`
	Sent   uint64   `json:"sent"`
	Unsent []uint64 `json:"unsent,omitempty"`
	// Held is how many of the last sent the client still held, not
	// acknowledged, when it reported: not lost (it sends them again on
	// its next connection), not delivered yet either.
	Held uint64 `json:"held,omitempty"`
}

// upReport is what a server-side checker saw of the clients' streams.
type upReport struct {
	Streams []upStream `json:"streams"`
	// Losses the server reported on failed resumes (OpenInfo.Previous).
	ReportedToClient   int64 `json:"reported_to_client"`
	ReportedFromClient int64 `json:"reported_from_client"`
	ReportedUnknown    int   `json:"reported_unknown"`
	Sessions           int   `json:"sessions"`
	// RoomReturns is what the server application was told of each
	// return into a room (OnRoomRecovery, the room_recovery webhook);
	// RoomReports says the server reports them at all.
	RoomReturns []roomReturn `json:"room_returns,omitempty"`
	RoomReports bool         `json:"room_reports"`
}

// upStream is one client's stream as the server saw it.
type upStream struct {
	CID     uint64   `json:"cid"`
	Highest uint64   `json:"highest"`
	Missing []uint64 `json:"missing,omitempty"`
	Recv    uint64   `json:"recv"`
	Dup     uint64   `json:"dup"`
	Reorder uint64   `json:"reorder"`
}
