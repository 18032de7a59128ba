package main

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tether-ws/tether"
	"github.com/tether-ws/tether/client"
	"github.com/tether-ws/tether/internal/faultproxy"
)

// needRedis skips loudly on a machine without Redis, and fails under
// TETHER_REQUIRE_ALL=1 (CI).
func needRedis(t *testing.T) string {
	t.Helper()
	addr := os.Getenv("TETHER_REDIS_ADDR")
	if addr == "" {
		addr = "127.0.0.1:6379"
	}
	c := redis.NewClient(&redis.Options{Addr: addr})
	defer c.Close()
	ctx, cancel := context.WithTimeout(bg, 2*time.Second)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		msg := fmt.Sprintf("Redis not reachable at %s (%v); start it with: redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save \"\" --appendonly no", addr, err)
		if os.Getenv("TETHER_REQUIRE_ALL") == "1" {
			t.Fatal(msg)
		}
		t.Skip("!!!!!!!!!! SKIP: " + msg)
	}
	return addr
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// clusterBackend is the application behind the nodes: it verifies webhook
// signatures and records client messages by idempotency key.
type clusterBackend struct {
	t      *testing.T
	secret []byte
	srv    *httptest.Server

	mu       sync.Mutex
	keys     map[string]bool     // idempotency keys seen
	msgs     map[string][]string // session → texts, first delivery of each key
	redelivs int                 // deliveries of a key already seen (retries)
	badSig   int
}

func newClusterBackend(t *testing.T) *clusterBackend {
	b := &clusterBackend{t: t, secret: []byte(randomHex(16)), keys: map[string]bool{}, msgs: map[string][]string{}}
	b.srv = httptest.NewServer(http.HandlerFunc(b.serve))
	t.Cleanup(b.srv.Close)
	return b
}

func (b *clusterBackend) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	if msg := openAPI.CheckWebhook(r, body); msg != "" {
		b.t.Errorf("contract: %s", msg)
	}
	sig := r.Header.Get("Tether-Signature")
	var ts, v1 string
	for _, part := range strings.Split(sig, ",") {
		k, v, _ := strings.Cut(part, "=")
		switch k {
		case "t":
			ts = v
		case "v1":
			v1 = v
		}
	}
	mac := hmac.New(sha256.New, b.secret)
	mac.Write([]byte(ts + "." + string(body)))
	if want := hex.EncodeToString(mac.Sum(nil)); !hmac.Equal([]byte(want), []byte(v1)) {
		b.mu.Lock()
		b.badSig++
		b.mu.Unlock()
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	var ev struct {
		Type    string `json:"type"`
		Session string `json:"session"`
		Message *struct {
			Text string `json:"text"`
		} `json:"message"`
	}
	_ = json.Unmarshal(body, &ev)
	key := r.Header.Get("Tether-Idempotency-Key")
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.keys[key] {
		b.redelivs++
		return
	}
	b.keys[key] = true
	if ev.Type == "message" && ev.Message != nil {
		b.msgs[ev.Session] = append(b.msgs[ev.Session], ev.Message.Text)
	}
}

func (b *clusterBackend) messages(id string) []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.msgs[id]...)
}

// clusterNode is one tether process sharing Redis, and the fault proxy
// its clients go through.
type clusterNode struct {
	name  string
	p     *proc
	proxy *faultproxy.Proxy
	dead  atomic.Bool
}

func startNodes(t *testing.T, n int, redisAddr string, be *clusterBackend, extra ...string) ([]*clusterNode, string) {
	t.Helper()
	return startNodesVia(t, n, redisAddr, be, func(int) string { return redisAddr }, extra...)
}

// startNodesVia is startNodes where node i reaches Redis at via(i).
func startNodesVia(t *testing.T, n int, redisAddr string, be *clusterBackend, via func(int) string, extra ...string) ([]*clusterNode, string) {
	t.Helper()
	prefix := "tt" + randomHex(5)
	t.Cleanup(func() {
		c := redis.NewClient(&redis.Options{Addr: redisAddr})
		defer c.Close()
		iter := c.Scan(bg, 0, prefix+"*", 1000).Iterator()
		for iter.Next(bg) {
			c.Del(bg, iter.Val())
		}
	})
	var nodes []*clusterNode
	for i := range n {
		nd := &clusterNode{name: fmt.Sprintf("node%d", i)}
		args := append([]string{
			"-redis-addr", via(i), "-redis-prefix", prefix, "-node-name", nd.name, "-node-liveness", "1s",
			"-anonymous", "-api-key", "test-api-key-0123456789",
			"-webhook-url", be.srv.URL, "-webhook-secret", string(be.secret),
			"-heartbeat-interval", "300ms", "-heartbeat-timeout", "700ms", "-grace-window", "60s",
			"-rate-limit", "0", "-restart-jitter", "100ms",
		}, extra...)
		nd.p = start(t, procOpts{addr: fmt.Sprintf("127.0.0.%d:0", i+2), args: args})
		nd.p.apiKey = "test-api-key-0123456789"
		px, err := faultproxy.New(nd.p.addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { px.Close() })
		nd.proxy = px
		nodes = append(nodes, nd)
	}
	return nodes, prefix
}

// pick returns a random node, live or not: like a balancer without health
// checks, which is the hard case.
func pick(nodes []*clusterNode, rng *mrand.Rand, mu *sync.Mutex) *clusterNode {
	mu.Lock()
	defer mu.Unlock()
	return nodes[rng.IntN(len(nodes))]
}

// sequenceErrors checks that got holds prefix1..prefixN in order, once
// each, except the numbers in maybe, which may be missing.
func sequenceErrors(got []string, prefix string, n int, maybe map[int]bool) string {
	seen := map[int]int{}
	last, dups, reordered := 0, 0, 0
	for _, s := range got {
		v, err := strconv.Atoi(strings.TrimPrefix(s, prefix))
		if err != nil {
			continue
		}
		seen[v]++
		if seen[v] > 1 {
			dups++
		}
		if v < last {
			reordered++
		}
		last = v
	}
	lost := 0
	for i := 1; i <= n; i++ {
		if seen[i] == 0 && !maybe[i] {
			lost++
		}
	}
	if lost+dups+reordered == 0 {
		return ""
	}
	return fmt.Sprintf("%d lost, %d duplicated, %d reordered (of %d)", lost, dups, reordered, n)
}

// TestThreeNodesChaos: three tether processes share Redis. Clients land
// on random nodes, connections are cut at random, traffic flows both
// ways (server→client through the HTTP API of random nodes), messages are
// broadcast to the room every client is in (through the API of random
// nodes too), and one node is killed with SIGKILL in the middle. Nothing
// accepted is lost, duplicated or reordered; every member gets the room's
// messages in the same order, with offsets that follow each other.
func TestThreeNodesChaos(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-node chaos skipped in -short mode")
	}
	redisAddr := needRedis(t)
	be := newClusterBackend(t)
	nodes, _ := startNodes(t, 3, redisAddr, be)
	rng := mrand.New(mrand.NewPCG(7, 8))
	var rngMu sync.Mutex

	const k, n = 6, 120
	type cl struct {
		c    *client.Client
		r    *rec
		id   string
		mu   sync.Mutex
		mayS map[int]bool // server sends whose fate is unknown (the node died mid-call)
	}
	cls := make([]*cl, k)
	for i := range cls {
		x := &cl{r: &rec{}, mayS: map[int]bool{}}
		o := x.r.options("")
		o.MaxOutbox = 64
		o.NetDial = func(ctx context.Context, network, addr string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, pick(nodes, rng, &rngMu).proxy.Addr())
		}
		ctx, cancel := context.WithTimeout(bg, 20*time.Second)
		c, err := client.Dial(ctx, "ws://tether.invalid/ws?room=lobby", o)
		cancel()
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(bg, 3*time.Second)
			defer cancel()
			_ = c.Close(ctx)
			<-c.Done()
		})
		x.c, x.id = c, c.SessionID()
		cls[i] = x
	}

	var wg sync.WaitGroup
	var mayMu sync.Mutex
	mayR := map[int]bool{} // room broadcasts whose fate is unknown (the node died mid-call)
	wg.Add(1)
	go func() { // server → room, through the API of random nodes
		defer wg.Done()
		for j := 1; j <= n; j++ {
			for attempt := 0; ; attempt++ {
				nd := pick(nodes, rng, &rngMu)
				if nd.dead.Load() {
					continue
				}
				st, m := apiBroadcast(nd.p, "lobby", fmt.Sprintf("r%d", j))
				if st == 200 {
					break
				}
				if st == 0 {
					mayMu.Lock()
					mayR[j] = true
					mayMu.Unlock()
					break
				}
				if attempt > 200 {
					t.Errorf("broadcast r%d: %d %v", j, st, m)
					return
				}
				time.Sleep(20 * time.Millisecond)
			}
			time.Sleep(3 * time.Millisecond)
		}
	}()
	for i, x := range cls {
		wg.Add(2)
		go func() { // client → server
			defer wg.Done()
			for j := 1; j <= n; j++ {
				err := x.c.Send(bg, tether.Text, fmt.Appendf(nil, "c%d", j))
				for tries := 0; errors.Is(err, client.ErrOutboxFull) && tries < 4000; tries++ {
					time.Sleep(5 * time.Millisecond)
					err = x.c.Send(bg, tether.Text, fmt.Appendf(nil, "c%d", j))
				}
				if err != nil {
					t.Errorf("client %d send %d: %v", i, j, err)
					return
				}
				time.Sleep(3 * time.Millisecond)
			}
		}()
		go func() { // server → client, through the API of random nodes
			defer wg.Done()
			for j := 1; j <= n; j++ {
				for attempt := 0; ; attempt++ {
					nd := pick(nodes, rng, &rngMu)
					if nd.dead.Load() {
						continue
					}
					st, m := apiSend(nd.p, x.id, fmt.Sprintf("s%d", j))
					if st == 200 {
						break
					}
					if st == 0 {
						// The call failed in flight: accepted or not, nobody
						// knows. Do not send it again; allow it to be missing.
						x.mu.Lock()
						x.mayS[j] = true
						x.mu.Unlock()
						break
					}
					if attempt > 200 {
						t.Errorf("send s%d to client %d: %d %v", j, i, st, m)
						return
					}
					time.Sleep(20 * time.Millisecond) // refused (503): not accepted, try again
				}
				time.Sleep(3 * time.Millisecond)
			}
		}()
	}
	stop := make(chan struct{})
	chaosDone := make(chan struct{})
	go func() {
		defer close(chaosDone)
		crng := mrand.New(mrand.NewPCG(9, 10))
		killed := false
		begin := time.Now()
		for {
			select {
			case <-stop:
				return
			case <-time.After(time.Duration(100+crng.IntN(200)) * time.Millisecond):
			}
			if !killed && time.Since(begin) > 700*time.Millisecond {
				killed = true
				nd := nodes[1]
				nd.dead.Store(true)
				_ = nd.p.cmd.Process.Signal(syscall.SIGKILL)
				nd.proxy.Refuse(true)
				nd.proxy.CutAll()
				continue
			}
			nodes[crng.IntN(len(nodes))].proxy.CutAll()
		}
	}()
	wg.Wait()
	close(stop)
	<-chaosDone

	deadline := time.Now().Add(60 * time.Second)
	mayMu.Lock()
	maybeR := len(mayR)
	mayMu.Unlock()
	for i, x := range cls {
		for {
			x.mu.Lock()
			maybe := len(x.mayS)
			x.mu.Unlock()
			room := len(x.r.roomTexts("lobby"))
			if len(x.r.texts())-room >= n-maybe && room >= n-maybeR && len(be.messages(x.id)) >= n && x.c.Pending() == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Errorf("client %d did not settle: received %d (room: %d), the backend has %d, pending %d, status %v (%v); disconnects %+v",
					i, len(x.r.texts()), room, len(be.messages(x.id)), x.c.Pending(), x.c.Status(), x.c.Err(), eventsOf[client.Disconnected](x.r))
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	time.Sleep(300 * time.Millisecond)
	var uncertain int
	for i, x := range cls {
		if x.c.SessionID() != x.id {
			t.Errorf("client %d lost its session: %v", i, eventsOf[client.SessionLost](x.r))
		}
		x.mu.Lock()
		maybe := x.mayS
		uncertain += len(maybe)
		x.mu.Unlock()
		if v := sequenceErrors(x.r.texts(), "s", n, maybe); v != "" {
			t.Errorf("client %d received: %s", i, v)
		}
		if v := sequenceErrors(be.messages(x.id), "c", n, nil); v != "" {
			t.Errorf("clusterBackend from client %d: %s", i, v)
		}
	}
	// The room: every member got every broadcast accepted, once, in the
	// order it was published; the broadcasts of unknown fate either
	// reached every member or none; offsets follow each other.
	first := roomLog(cls[0].r)
	for i, x := range cls {
		got := roomLog(x.r)
		if v := sequenceErrors(got.texts, "r", n, mayR); v != "" {
			t.Errorf("client %d, room lobby: %s", i, v)
		}
		if !slices.Equal(got.texts, first.texts) {
			t.Errorf("client %d got the room's messages %q; client 0 got %q", i, got.texts, first.texts)
		}
		for j := 1; j < len(got.offsets); j++ {
			if got.offsets[j] != got.offsets[j-1]+1 {
				t.Errorf("client %d: room offsets %d then %d", i, got.offsets[j-1], got.offsets[j])
			}
		}
		if x.c.SessionID() == x.id && len(eventsOf[client.RoomJoined](x.r)) != 1 {
			t.Errorf("client %d joined the room %d times: %+v", i, len(eventsOf[client.RoomJoined](x.r)), eventsOf[client.RoomJoined](x.r))
		}
	}
	be.mu.Lock()
	t.Logf("%d clients × %d messages each way and %d room broadcasts, one node SIGKILLed: redelivered webhooks (same key) %d, API sends of unknown fate %d, broadcasts of unknown fate %d, bad signatures %d",
		k, n, n, be.redelivs, uncertain, maybeR, be.badSig)
	if be.badSig != 0 {
		t.Errorf("%d webhooks with a bad signature", be.badSig)
	}
	be.mu.Unlock()
}

// apiSend sends text to a session through a node's API; status 0 means
// the call itself failed.
func apiSend(p *proc, id, text string) (int, map[string]any) {
	body := fmt.Sprintf(`{"type":"text","text":%q}`, text)
	req, _ := http.NewRequest("POST", p.url("/api/sessions/"+id+"/send"), strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+p.apiKey)
	req.Header.Set("Content-Type", "application/json")
	hc := http.Client{Timeout: 5 * time.Second, Transport: openAPI.Transport(p.t, nil)}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, map[string]any{"error": err.Error()}
	}
	defer resp.Body.Close()
	var m map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&m)
	return resp.StatusCode, m
}

// apiBroadcast broadcasts text to a room through a node's API; status 0
// means the call itself failed.
func apiBroadcast(p *proc, room, text string) (int, map[string]any) {
	body := fmt.Sprintf(`{"type":"text","text":%q}`, text)
	req, _ := http.NewRequest("POST", p.url("/api/rooms/"+room+"/broadcast"), strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+p.apiKey)
	req.Header.Set("Content-Type", "application/json")
	hc := http.Client{Timeout: 5 * time.Second, Transport: openAPI.Transport(p.t, nil)}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, map[string]any{"error": err.Error()}
	}
	defer resp.Body.Close()
	var m map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&m)
	return resp.StatusCode, m
}

// roomMessages is what a client received from a room.
type roomMessages struct {
	texts   []string
	offsets []uint64
}

func roomLog(r *rec) roomMessages {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out roomMessages
	for _, m := range r.msgs {
		if m.Room == "lobby" {
			out.texts = append(out.texts, string(m.Data))
			out.offsets = append(out.offsets, m.Offset)
		}
	}
	return out
}

// TestNodePartitionedFromRedis: a node loses Redis while its clients send
// and are sent to. It refuses new work with a clear error; its clients
// move to the other nodes and lose nothing that was accepted.
func TestNodePartitionedFromRedis(t *testing.T) {
	if testing.Short() {
		t.Skip("partition test skipped in -short mode")
	}
	redisAddr := needRedis(t)
	be := newClusterBackend(t)
	rp, err := faultproxy.New(redisAddr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rp.Close() })
	nodes, _ := startNodesVia(t, 3, redisAddr, be, func(i int) string {
		if i == 0 {
			return rp.Addr() // node 0 reaches Redis through a proxy we can blackhole
		}
		return redisAddr
	})
	var toNode0 atomic.Bool
	toNode0.Store(true)
	var rr atomic.Int64
	const k, n = 4, 80
	type cl struct {
		c  *client.Client
		r  *rec
		id string
	}
	var cls []*cl
	for range k {
		x := &cl{r: &rec{}}
		o := x.r.options("")
		o.NetDial = func(ctx context.Context, network, addr string) (net.Conn, error) {
			nd := nodes[0]
			if !toNode0.Load() {
				nd = nodes[rr.Add(1)%3]
			}
			var d net.Dialer
			return d.DialContext(ctx, network, nd.proxy.Addr())
		}
		ctx, cancel := context.WithTimeout(bg, 10*time.Second)
		c, err := client.Dial(ctx, "ws://tether.invalid/ws?room=lobby", o)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(bg, 3*time.Second)
			defer cancel()
			_ = c.Close(ctx)
			<-c.Done()
		})
		x.c, x.id = c, c.SessionID()
		cls = append(cls, x)
	}
	toNode0.Store(false) // reconnections go round the three nodes

	var wg sync.WaitGroup
	var cut atomic.Bool
	for i, x := range cls {
		wg.Add(2)
		go func() {
			defer wg.Done()
			for j := 1; j <= n; j++ {
				err := x.c.Send(bg, tether.Text, fmt.Appendf(nil, "c%d", j))
				for tries := 0; errors.Is(err, client.ErrOutboxFull) && tries < 4000; tries++ {
					time.Sleep(5 * time.Millisecond)
					err = x.c.Send(bg, tether.Text, fmt.Appendf(nil, "c%d", j))
				}
				if err != nil {
					t.Errorf("client %d send %d: %v", i, j, err)
					return
				}
				time.Sleep(10 * time.Millisecond)
			}
		}()
		go func() {
			defer wg.Done()
			for j := 1; j <= n; j++ {
				nd := nodes[1+j%2] // the API of the healthy nodes
				for tries := 0; ; tries++ {
					if st, m := apiSend(nd.p, x.id, fmt.Sprintf("s%d", j)); st == 200 {
						break
					} else if tries > 100 {
						t.Errorf("send s%d: %d %v", j, st, m)
						return
					}
					time.Sleep(20 * time.Millisecond)
				}
				time.Sleep(10 * time.Millisecond)
			}
		}()
	}
	time.Sleep(300 * time.Millisecond)
	rp.Blackhole(true) // node 0 can no longer reach Redis
	cut.Store(true)

	// While cut off, node 0 refuses new work clearly.
	time.Sleep(2500 * time.Millisecond)
	st, m := apiSend(nodes[0].p, cls[0].id, "through the partitioned node")
	if st != http.StatusServiceUnavailable {
		t.Errorf("API of the partitioned node: %d %v, want 503", st, m)
	} else {
		t.Logf("API of the partitioned node: %d %v", st, m)
	}
	r := &rec{}
	o := r.options("")
	o.MaxAttempts = 1
	o.NetDial = func(ctx context.Context, network, addr string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, nodes[0].proxy.Addr())
	}
	ctx, cancel := context.WithTimeout(bg, 15*time.Second)
	_, err = client.Dial(ctx, "ws://tether.invalid/ws?room=lobby", o)
	cancel()
	if code := tether.CloseStatus(err); code != tether.CloseTryAgain {
		t.Errorf("new session on the partitioned node: %v, want close 4004", err)
	} else {
		t.Logf("new session on the partitioned node: %v", err)
	}

	wg.Wait()
	for i, x := range cls {
		deadline := time.Now().Add(30 * time.Second)
		for !(len(x.r.texts()) >= n && len(be.messages(x.id)) >= n && x.c.Pending() == 0) {
			if time.Now().After(deadline) {
				t.Errorf("client %d did not settle: received %d, the backend has %d, pending %d, status %v (%v)",
					i, len(x.r.texts()), len(be.messages(x.id)), x.c.Pending(), x.c.Status(), x.c.Err())
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	time.Sleep(300 * time.Millisecond)
	for i, x := range cls {
		if x.c.SessionID() != x.id {
			t.Errorf("client %d lost its session", i)
		}
		if v := sequenceErrors(x.r.texts(), "s", n, nil); v != "" {
			t.Errorf("client %d received: %s", i, v)
		}
		if v := sequenceErrors(be.messages(x.id), "c", n, nil); v != "" {
			t.Errorf("backend from client %d: %s", i, v)
		}
	}
	be.mu.Lock()
	t.Logf("webhooks delivered again with the same key after the partition: %d", be.redelivs)
	be.mu.Unlock()
}
