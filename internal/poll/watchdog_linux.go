//go:build linux

package poll

import (
	"sync/atomic"
	"time"
)

// watchdog hands a loop to another goroutine when its OnData, past
// MayBlock, runs longer than Options.SlowAfter. A hand-off per message
// costs a goroutine wake-up (and often a thread's) on the way from a
// message to its reply; the watchdog makes it the exception. It ticks
// only while callbacks come: idle, its goroutine waits for the next.
type watchdog struct {
	awake atomic.Bool   // the goroutine ticks, or a kick is on its way
	kick  chan struct{} // wakes the goroutine; one buffered
	stop  chan struct{} // closed by Close
	done  chan struct{} // closed when the goroutine is gone
}

// idleTicks: the watchdog sleeps after this many ticks without a
// MayBlock.
const idleTicks = 64

// start runs the watchdog's goroutine, asleep until the first MayBlock.
func (p *Poller) startWatchdog() {
	d := &p.dog
	d.kick, d.stop, d.done = make(chan struct{}, 1), make(chan struct{}), make(chan struct{})
	go p.watch()
}

// stopWatchdog stops the goroutine, if it was started, and waits for it.
func (p *Poller) stopWatchdog() {
	if p.dog.stop == nil {
		return
	}
	close(p.dog.stop)
	<-p.dog.done
}

// busy wakes the watchdog if it sleeps: a MayBlock was recorded.
func (d *watchdog) busy() {
	if d.awake.Load() || !d.awake.CompareAndSwap(false, true) {
		return
	}
	select {
	case d.kick <- struct{}{}:
	default:
	}
}

func (p *Poller) watch() {
	defer close(p.dog.done)
	t := time.NewTicker(p.o.SlowAfter)
	t.Stop()
	defer t.Stop()
	for {
		select {
		case <-p.dog.stop:
			return
		case <-p.dog.kick:
		}
		t.Reset(p.o.SlowAfter)
		last, idle := p.look(), 0
		for idle < idleTicks {
			select {
			case <-p.dog.stop:
				return
			case <-t.C:
			}
			if n := p.look(); n != last {
				last, idle = n, 0
			} else {
				idle++
			}
			if idle == idleTicks {
				// Going to sleep. A MayBlock recorded before this store
				// saw awake and did not kick: look once more for one.
				p.dog.awake.Store(false)
				if p.blocking() && p.dog.awake.CompareAndSwap(false, true) {
					idle = 0
				}
			}
		}
		t.Stop()
	}
}

// look hands off the loops whose callback has run since the last look
// at least, calls OnSlow for their connections, and returns how many
// MayBlocks the loops have seen.
func (p *Poller) look() uint64 {
	var n uint64
	var slow []*Conn
	for _, l := range p.loops {
		l.hmu.Lock()
		if l.inData && l.mayBlock {
			if l.seen == l.calls {
				slow = append(slow, l.cur)
				l.handOff()
			} else {
				l.seen = l.calls
			}
		}
		n += l.calls
		l.hmu.Unlock()
	}
	if p.o.OnSlow != nil {
		for _, c := range slow {
			p.o.OnSlow(c)
		}
	}
	return n
}

// blocking reports whether a loop's callback is past MayBlock.
func (p *Poller) blocking() bool {
	for _, l := range p.loops {
		l.hmu.Lock()
		b := l.inData && l.mayBlock
		l.hmu.Unlock()
		if b {
			return true
		}
	}
	return false
}
