package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"sync"
	"time"

	"github.com/centrifugal/centrifuge-go"
	gobwas "github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"

	"github.com/tether-ws/tether"
	"github.com/tether-ws/tether/client"
)

var discardLog = slog.New(slog.DiscardHandler)

// maxPerWorker bounds the clients of one worker process: each holds one
// descriptor, its proxy two, and no process may hold 20,000.
const maxPerWorker = 9500

// checkLoopbackURL refuses a URL whose host is not on 127.0.0.0/8.
func checkLoopbackURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return err
	}
	host := u.Hostname()
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return fmt.Errorf("%s: only loopback servers may be benchmarked", raw)
	}
	return nil
}

// --- Tether, with the Go client -------------------------------------------

type tetherConn struct{ c *client.Client }

// ackDelayEnv passes -client-ack-delay to the workers.
const ackDelayEnv = "TETHER_BENCH_ACK_DELAY"

// clientAckDelay is the workers' client.Options.AckDelay, read once.
var clientAckDelay = sync.OnceValue(func() time.Duration {
	d, _ := time.ParseDuration(os.Getenv(ackDelayEnv))
	return d
})

func dialTether(ctx context.Context, c *bclient, url string, nd netDialFunc) (driverConn, error) {
	cl, err := client.Dial(ctx, url, &client.Options{
		NetDial:   nd,
		AckDelay:  clientAckDelay(),
		Logger:    discardLog,
		OnMessage: func(m tether.Message) { c.onMessage(m.Data, m.Room, m.Offset) },
		OnEvent: func(e client.Event) {
			switch e := e.(type) {
			case client.Connected:
				c.onSessionID(e.SessionID)
				c.onSession(false)
			case client.Resumed:
				c.onSession(true)
			case client.RoomJoined:
				c.onRoomJoined(e.Room, e.Position.Epoch, e.Position.Offset, e.Recovered, e.Skipped, e.Lost)
			case client.RoomLeft:
				c.onRoomLeft(e.Room, e.NotReadmitted)
			case client.Disconnected:
				c.onDisconnect()
			case client.SessionLost:
				unsent := make([][]byte, len(e.Unsent))
				for i, m := range e.Unsent {
					unsent[i] = m.Data
				}
				c.onLost(e.ToClient, unsent, e.Carried)
			case client.Failed:
				c.onDisconnect()
				c.onFailed(e.Err)
			}
		},
	})
	if err != nil {
		return nil, err
	}
	return tetherConn{cl}, nil
}

func (t tetherConn) send(ctx context.Context, p []byte) error {
	return t.c.Send(ctx, tether.Text, p)
}

func (t tetherConn) pending() int { return t.c.Pending() }

func (t tetherConn) close(ctx context.Context) { _ = t.c.Close(ctx) }

// --- raw gobwas/ws: no session layer ---------------------------------------

type rawConn struct {
	mu sync.Mutex
	nc net.Conn
}

func dialRaw(ctx context.Context, c *bclient, url string, nd netDialFunc) (driverConn, error) {
	nc, br, _, err := gobwas.Dialer{NetDial: nd}.Dial(ctx, url)
	if err != nil {
		return nil, err
	}
	if br != nil {
		gobwas.PutReader(br) // the raw server says nothing before it is asked
	}
	rc := &rawConn{nc: nc}
	c.onSession(false)
	go func() {
		for {
			p, _, err := wsutil.ReadServerData(nc)
			if err != nil {
				c.onDisconnect()
				return
			}
			c.onMessage(p, "", 0)
		}
	}()
	return rc, nil
}

func (r *rawConn) send(_ context.Context, p []byte) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	_ = r.nc.SetWriteDeadline(time.Now().Add(5 * time.Second))
	return wsutil.WriteClientMessage(r.nc, gobwas.OpText, p)
}

func (r *rawConn) pending() int { return 0 }

func (r *rawConn) close(context.Context) { r.nc.Close() }

// --- Centrifugo, with centrifuge-go ----------------------------------------

type centrifugoConn struct{ c *centrifuge.Client }

func dialCentrifugo(ctx context.Context, c *bclient, url string, nd netDialFunc) (driverConn, error) {
	cl := centrifuge.NewJsonClient(url, centrifuge.Config{NetDialContext: nd, Name: "tether-bench"})
	sub, err := cl.NewSubscription(channel, centrifuge.SubscriptionConfig{Recoverable: true, Positioned: true})
	if err != nil {
		cl.Close()
		return nil, err
	}
	ready := make(chan struct{})
	var once sync.Once
	sub.OnPublication(func(e centrifuge.PublicationEvent) { c.onMessage(e.Data, "", 0) })
	sub.OnSubscribed(func(e centrifuge.SubscribedEvent) {
		first := false
		once.Do(func() { first = true; close(ready) })
		switch {
		case first:
			c.onSession(false)
		case e.WasRecovering && e.Recovered:
			c.onSession(true)
		default:
			// Recovery failed or was not possible: an unknown loss.
			c.onLost(-1, nil, 0)
			c.onSession(false)
		}
	})
	sub.OnSubscribing(func(e centrifuge.SubscribingEvent) {
		select {
		case <-ready:
			c.onDisconnect()
		default:
		}
	})
	sub.OnError(func(e centrifuge.SubscriptionErrorEvent) { c.w.noteErr(fmt.Errorf("subscription: %w", e.Error)) })
	if err := sub.Subscribe(); err != nil {
		cl.Close()
		return nil, err
	}
	if err := cl.Connect(); err != nil {
		cl.Close()
		return nil, err
	}
	select {
	case <-ready:
	case <-ctx.Done():
		cl.Close()
		return nil, fmt.Errorf("not subscribed: %w", ctx.Err())
	}
	return centrifugoConn{cl}, nil
}

func (c centrifugoConn) send(context.Context, []byte) error {
	return errors.New("the Centrifugo peer is fan-out only")
}

func (c centrifugoConn) pending() int { return 0 }

func (c centrifugoConn) close(context.Context) { c.c.Close() }
