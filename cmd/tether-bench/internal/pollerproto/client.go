//go:build linux

package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	gobwas "github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"

	"github.com/tether-ws/tether/cmd/tether-bench/internal/loadtest"
)

// child holds -clients connections to -url: each sends "hello" and waits
// for the echo. With -msgs > 0 each then reads that many messages and the
// child prints "received R on K min M" when all are done.
func child() int {
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		os.Exit(0)
	}()
	time.AfterFunc(*flagTimeout, func() {
		fmt.Fprintln(os.Stderr, "pollerproto client: timed out")
		os.Exit(3)
	})
	src := net.ParseIP(*flagSrc)
	if src == nil || !src.IsLoopback() {
		fmt.Println("fail: -src must be a loopback address")
		return 1
	}
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: src}, Timeout: 10 * time.Second, Control: loadtest.BindNoPort}
	var (
		mu      sync.Mutex
		held    []net.Conn
		firstEr error
		next    atomic.Int64
		wg      sync.WaitGroup
	)
	total := int64(*flagClients)
	for range *flagConc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= total {
				c, err := dialEcho(d)
				mu.Lock()
				if err != nil {
					if firstEr == nil {
						firstEr = err
					}
					mu.Unlock()
					return
				}
				held = append(held, c)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if firstEr != nil {
		fmt.Printf("fail: after %d connections: %v\n", len(held), firstEr)
		return 1
	}
	fmt.Printf("ready %d\n", len(held))
	if *flagMsgs <= 0 {
		select {} // until stdin's EOF or the timeout exits the process
	}
	var rcv atomic.Int64
	low := atomic.Int64{}
	low.Store(int64(*flagMsgs))
	var rg sync.WaitGroup
	for _, c := range held {
		rg.Add(1)
		go func() {
			defer rg.Done()
			br := bufio.NewReaderSize(c, 4096)
			got := 0
			for got < *flagMsgs {
				h, err := gobwas.ReadHeader(br)
				if err != nil {
					break
				}
				if _, err := br.Discard(int(h.Length)); err != nil {
					break
				}
				if h.OpCode == gobwas.OpText {
					got++
				}
			}
			rcv.Add(int64(got))
			for {
				l := low.Load()
				if int64(got) >= l || low.CompareAndSwap(l, int64(got)) {
					break
				}
			}
		}()
	}
	rg.Wait()
	fmt.Printf("received %d on %d min %d\n", rcv.Load(), len(held), low.Load())
	select {}
}

func dialEcho(d *net.Dialer) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, br, _, err := gobwas.Dialer{NetDial: d.DialContext}.Dial(ctx, *flagURL)
	if err != nil {
		return nil, err
	}
	if br != nil {
		gobwas.PutReader(br)
	}
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	if err := wsutil.WriteClientText(conn, []byte("hello")); err != nil {
		conn.Close()
		return nil, err
	}
	msg, err := wsutil.ReadServerText(conn)
	if err != nil || string(msg) != "hello" {
		conn.Close()
		return nil, fmt.Errorf("echo: %q, %v", msg, err)
	}
	_ = conn.SetDeadline(time.Time{})
	return conn, nil
}
