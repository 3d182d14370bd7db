package proxy

import (
	"net/http"
	"sync"
	"time"
)

// Flushing answers (Config.FlushInterval). ReverseProxy decides it for the
// answers it copies (its flushInterval): immediately after each write for a
// body of unknown length or text/event-stream, else every FlushInterval, or
// after each write if FlushInterval is negative, or never (net/http's
// buffer, 4 KiB, fills and goes) if it is zero. The direct path copies
// bodies itself (copyBody) and must flush alike, or a known-length answer
// that trickles (a long poll, a progress page) would reach the client late
// on one path and not on the other: forwardDirect asks flushMode, and a
// positive interval writes through a delayedFlusher, ReverseProxy's
// maxLatencyWriter in small.

// flushMode says how forwardDirect flushes the answer res: after each write
// (immediate), every interval (> 0), or not at all (0 and !immediate).
func (p *Proxy) flushMode(res *http.Response) (immediate bool, interval time.Duration) {
	if res.ContentLength == -1 || eventStream(res.Header.Get("Content-Type")) || p.cfg.FlushInterval < 0 {
		return true, 0
	}
	return false, p.cfg.FlushInterval
}

// delayedFlusher writes to w and flushes what was written at most interval
// later, on a timer armed by the first write after a flush. Write and the
// timer's flush hold mu, since a ResponseWriter is not safe for concurrent
// use; stop must be called before the handler returns, after which the
// timer never touches w.
type delayedFlusher struct {
	w        http.ResponseWriter
	rc       *http.ResponseController
	interval time.Duration

	mu      sync.Mutex
	t       *time.Timer // guarded by mu
	pending bool        // written and not flushed; guarded by mu
	stopped bool        // guarded by mu
}

func newDelayedFlusher(w http.ResponseWriter, interval time.Duration) *delayedFlusher {
	return &delayedFlusher{w: w, rc: http.NewResponseController(w), interval: interval}
}

func (d *delayedFlusher) Write(b []byte) (int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	n, err := d.w.Write(b)
	if !d.pending && !d.stopped {
		d.pending = true
		if d.t == nil {
			d.t = time.AfterFunc(d.interval, d.flush)
		} else {
			d.t.Reset(d.interval)
		}
	}
	return n, err
}

func (d *delayedFlusher) flush() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.pending || d.stopped {
		return
	}
	d.pending = false
	d.rc.Flush() // an error shows in the next Write
}

// stop ends the timer; what is left unflushed goes with the handler's end.
func (d *delayedFlusher) stop() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.stopped = true
	if d.t != nil {
		d.t.Stop()
	}
}
