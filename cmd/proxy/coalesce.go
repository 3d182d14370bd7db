package proxy

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Coalescing: concurrent identical safe requests share one upstream request.
//
// Unlike x/sync/singleflight, which hands every caller the one finished
// value, a flight here is a response still being streamed: its waiters get
// the status and headers when they arrive, then the body as it comes. The body
// goes into a shared buffer of chunks that each waiter walks at its own pace;
// a waiter that joins late starts from the first byte, then follows the live
// stream. Memory is bounded by Config.CoalesceBuffer: while the whole body so
// far fits, new waiters may join; past it, the flight stops taking waiters
// (the next identical request starts its own) and keeps only the chunks its
// slowest waiter has yet to send. When that waiter holds up the others (they
// have sent everything and wait for more) for longer than
// Config.CoalesceLagTimeout, it is dropped: its connection is cut, so that
// one slow client costs the others a bounded delay.
//
// The upstream request runs on its own goroutine under its own context, not
// any client's: the first client leaving must not cancel it for the others.
// Waiters are counted; when the last one leaves, the context is cancelled
// (cause errWaitersGone, which matches hangup.ErrClientGone) and the upstream
// sees its request aborted as if a lone client had left. A flight is shared
// only while it is in flight: once its response is complete, it leaves the
// table and the next request goes upstream (no caching).
type coalescer struct {
	p      *Proxy
	vary   []string // canonical header names that are part of the key
	maxBuf int
	lag    time.Duration

	onJoin  func(refs int) // test hooks: a waiter joined or left a flight
	onLeave func(refs int)

	mu      sync.Mutex
	flights map[string]*flight // flights that may still take waiters, by key; guarded by mu
	wg      sync.WaitGroup     // running flights
}

// keyHeaders are always part of the key, whatever Config.CoalesceVary says.
// The credentials keep responses from crossing between users; the rest keep
// a client from getting a response to a question it did not ask (a range, a
// conditional 304, an encoding it cannot read).
var keyHeaders = []string{
	"Authorization", "Proxy-Authorization", "Cookie",
	"Range", "If-Range", "If-Match", "If-None-Match", "If-Modified-Since", "If-Unmodified-Since",
	"Accept-Encoding",
}

func newCoalescer(p *Proxy, vary []string, maxBuf int, lag time.Duration) *coalescer {
	c := &coalescer{p: p, maxBuf: maxBuf, lag: lag, flights: make(map[string]*flight)}
	seen := make(map[string]bool)
	for _, h := range append(append([]string(nil), keyHeaders...), vary...) {
		h = http.CanonicalHeaderKey(strings.TrimSpace(h))
		if h != "" && !seen[h] {
			seen[h] = true
			c.vary = append(c.vary, h)
		}
	}
	return c
}

// key returns the coalescing key of r, and false if r must go upstream on
// its own: anything but a GET or HEAD without a body, a protocol upgrade,
// or a request that asks for a fresh answer (Cache-Control: no-cache or
// no-store, Pragma: no-cache).
func (c *coalescer) key(r *http.Request) (string, bool) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return "", false
	}
	if r.ContentLength != 0 || len(r.TransferEncoding) > 0 || (r.Body != nil && r.Body != http.NoBody) {
		return "", false
	}
	if r.Header.Get("Upgrade") != "" ||
		hasToken(r.Header["Cache-Control"], "no-cache") || hasToken(r.Header["Cache-Control"], "no-store") ||
		hasToken(r.Header["Pragma"], "no-cache") {
		return "", false
	}
	// Header values cannot hold NUL or other control bytes (net/http
	// rejects them), so they separate the fields unambiguously.
	var b strings.Builder
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	uri := r.RequestURI
	if uri == "" {
		uri = r.URL.RequestURI()
	}
	b.WriteString(r.Method)
	b.WriteByte(0)
	b.WriteString(scheme)
	b.WriteString("://")
	b.WriteString(r.Host)
	// A separator, since Host may end in what a URI may start with: Host
	// "h" with "http://h/x" and Host "hhttp:" with "//h/x" are two requests
	// (found by FuzzCoalesceKey).
	b.WriteByte(0)
	b.WriteString(uri)
	for _, h := range c.vary {
		vv, ok := r.Header[h]
		b.WriteByte(0)
		if !ok {
			continue
		}
		b.WriteString(h)
		for _, v := range vv {
			b.WriteByte(1)
			b.WriteString(v)
		}
	}
	return b.String(), true
}

// hasToken reports whether a comma-separated header holds token.
func hasToken(values []string, token string) bool {
	for _, v := range values {
		for _, t := range strings.Split(v, ",") {
			if name, _, _ := strings.Cut(strings.TrimSpace(t), "="); strings.EqualFold(name, token) {
				return true
			}
		}
	}
	return false
}

// flight is one shared upstream request and its buffered response.
type flight struct {
	c      *coalescer
	key    string
	ctx    context.Context // the upstream request's; cancelled when the last waiter leaves
	cancel context.CancelCauseFunc
	rec    *record // the upstream request's record: status, error, queueing
	refs   int     // waiters attached; guarded by c.mu

	mu         sync.Mutex
	joinable   bool        // every body byte so far is buffered: new waiters may join
	header     http.Header // the response's, once it arrived; never modified after
	status     int
	chunks     [][]byte // buffered body chunks, oldest first; a chunk is never modified
	first      int64    // index of chunks[0] in the body's chunk sequence
	buffered   int      // bytes in chunks
	done       bool     // the response is complete or broke off: no more chunks
	broken     bool     // it broke off, or never got a response to relay
	members    map[*member]struct{}
	changed    chan struct{} // closed and renewed when header, chunks or done change
	advanced   chan struct{} // closed and renewed when a member moves on, if writerWaits
	writerWait bool          // the upstream side waits for the slowest member
}

// member is one waiter of a flight.
type member struct {
	next    int64  // index of the next chunk to send; guarded by flight.mu
	dropped bool   // too slow, cut off; guarded by flight.mu
	cut     func() // makes a write to the client that blocks fail now
}

// serve answers r from a flight for key, joining one in progress or
// starting it.
func (c *coalescer) serve(w http.ResponseWriter, r *http.Request, key string, rec *record) {
	rc := http.NewResponseController(w)
	m := &member{cut: func() { rc.SetWriteDeadline(time.Now()) }}
	f, joined := c.join(r, key, m)
	defer c.leave(f, m)
	rec.coalesced = joined
	if joined {
		c.p.m.coalesced.Inc()
	}
	err := f.relay(w, r, m)
	f.mu.Lock()
	if m.dropped {
		err = errSlowWaiter
	}
	rec.queued, rec.queueWait = f.rec.queued, f.rec.queueWait
	f.mu.Unlock()
	rec.up.Store(f.rec.up.Load())
	upstreamStatus, upstreamErr := f.rec.snapshot()
	rec.setUpstreamStatus(upstreamStatus)
	rec.setUpstreamTimes(f.rec.upstreamTimes())
	if upstreamErr != nil {
		rec.setErr(upstreamErr)
	}
	if err != nil {
		rec.setErr(err)
		if ctxErr := r.Context().Err(); ctxErr != nil {
			return // the client is gone: nothing to cut
		}
		// The response is cut short: abort the connection, so that the
		// client cannot take a truncated body for a whole one.
		panic(http.ErrAbortHandler)
	}
	rec.complete = true
}

func (c *coalescer) join(r *http.Request, key string, m *member) (f *flight, joined bool) {
	c.mu.Lock()
	if f = c.flights[key]; f != nil {
		f.mu.Lock()
		if f.joinable {
			f.members[m] = struct{}{}
			joined = true
		}
		f.mu.Unlock()
	}
	if !joined {
		rec := &record{start: time.Now()}
		// The shared upstream request belongs to no single client: it is
		// cancelled when the last waiter leaves, not with the first.
		//hangup:detached
		ctx, cancel := context.WithCancelCause(context.WithValue(context.Background(), recordKey{}, rec))
		f = &flight{
			c: c, key: key, ctx: ctx, cancel: cancel, rec: rec,
			joinable: true,
			members:  map[*member]struct{}{m: {}},
			changed:  make(chan struct{}),
			advanced: make(chan struct{}),
		}
		c.flights[key] = f // replaces a flight that no longer takes waiters
		c.wg.Add(1)
		go f.run(r)
	}
	f.refs++
	refs := f.refs
	c.mu.Unlock()
	if c.onJoin != nil {
		c.onJoin(refs)
	}
	return f, joined
}

// leave detaches a waiter; the last one out cancels the upstream request.
func (c *coalescer) leave(f *flight, m *member) {
	c.mu.Lock()
	f.refs--
	refs := f.refs
	f.mu.Lock()
	delete(f.members, m)
	f.wakeWriter()
	f.mu.Unlock()
	if refs == 0 {
		if c.flights[f.key] == f {
			delete(c.flights, f.key)
		}
		f.cancel(errWaitersGone)
	}
	c.mu.Unlock()
	if c.onLeave != nil {
		c.onLeave(refs)
	}
}

// run sends the shared request upstream, through the admission queue like
// any other, and broadcasts the response.
func (f *flight) run(r *http.Request) {
	defer f.c.wg.Done()
	p := f.c.p
	bw := &broadcast{f: f, h: make(http.Header)}
	defer f.finish()
	// The clone carries none of the client's context: not its cancellation
	// (see above), and not http.ServerContextKey either, without which
	// ReverseProxy reports a broken response body by returning rather than
	// by panicking (which would kill this goroutine's process).
	req := r.Clone(f.ctx)
	start := time.Now()
	release, queued, err := p.take(f.ctx, f.rec)
	f.mu.Lock()
	f.rec.queued, f.rec.queueWait = queued, time.Since(start)
	f.mu.Unlock()
	if err != nil {
		p.writeError(bw, req, err)
		return
	}
	defer p.ups.done(f.rec, release)
	f.rec.upstreamBegins()
	p.rp.ServeHTTP(bw, req)
}

// finish marks the response complete, or broken when it did not end as the
// upstream meant it to.
func (f *flight) finish() {
	c := f.c
	c.mu.Lock()
	if c.flights[f.key] == f {
		delete(c.flights, f.key)
	}
	c.mu.Unlock()
	_, err := f.rec.snapshot()
	outcome := f.rec.upstreamOutcome()
	f.mu.Lock()
	f.done = true
	// An error answer written by the proxy (502, 503, 504) is complete; an
	// upstream response is complete only if its body reached its end.
	f.broken = f.header == nil || (err == nil && outcome != outcomeCompleted)
	f.wakeMembers()
	f.mu.Unlock()
	f.cancel(context.Canceled)
}

// relay copies the flight's response to one waiter, as it arrives.
func (f *flight) relay(w http.ResponseWriter, r *http.Request, m *member) error {
	rc := http.NewResponseController(w)
	clientGone := r.Context().Done()
	wroteHeader := false
	for {
		f.mu.Lock()
		switch {
		case m.dropped:
			f.mu.Unlock()
			return errSlowWaiter
		case !wroteHeader && f.header != nil:
			h, status := f.header, f.status
			f.mu.Unlock()
			dst := w.Header()
			for k, vv := range h {
				dst[k] = append([]string(nil), vv...)
			}
			w.WriteHeader(status)
			wroteHeader = true
		case wroteHeader && m.next < f.first+int64(len(f.chunks)):
			// Copy the chunk list: the upstream side trims and compacts
			// f.chunks, but never touches a chunk's bytes.
			batch := append([][]byte(nil), f.chunks[m.next-f.first:]...)
			m.next += int64(len(batch))
			f.wakeWriter()
			f.mu.Unlock()
			for _, b := range batch {
				if _, err := w.Write(b); err != nil {
					return err
				}
			}
			rc.Flush()
		case f.done:
			broken := f.broken
			f.mu.Unlock()
			if broken {
				return errUpstreamBroken
			}
			return nil
		default:
			changed := f.changed
			f.mu.Unlock()
			select {
			case <-changed:
			case <-clientGone:
				return context.Cause(r.Context())
			}
		}
	}
}

// broadcast is the ResponseWriter that ReverseProxy writes the shared
// response to.
type broadcast struct {
	f     *flight
	h     http.Header
	wrote bool
}

func (b *broadcast) Header() http.Header { return b.h }

func (b *broadcast) WriteHeader(code int) {
	if b.wrote || code < 200 {
		// 1xx informational responses are not relayed to waiters.
		return
	}
	b.wrote = true
	f := b.f
	f.mu.Lock()
	f.header, f.status = b.h.Clone(), code
	f.wakeMembers()
	f.mu.Unlock()
}

func (b *broadcast) Write(p []byte) (int, error) {
	if !b.wrote {
		b.WriteHeader(http.StatusOK)
	}
	if len(p) == 0 {
		return 0, nil
	}
	if err := b.f.append(bytes.Clone(p)); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Flush does nothing: every Write reaches the waiters at once.
func (b *broadcast) Flush() {}

// append adds a body chunk for the waiters, waiting while the buffer is
// full with bytes the slowest waiter has not sent yet.
func (f *flight) append(chunk []byte) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.joinable && f.buffered+len(chunk) > f.c.maxBuf {
		// The body no longer fits whole: from here on, a new waiter could
		// not get it from its first byte.
		f.joinable = false
	}
	var stalled time.Time
	for !f.joinable && len(f.chunks) > 0 && f.buffered+len(chunk) > f.c.maxBuf {
		f.trim()
		if len(f.chunks) == 0 || f.buffered+len(chunk) <= f.c.maxBuf {
			break
		}
		// Someone has yet to send the oldest chunk. If nobody else is
		// waiting for more, that is plain backpressure, as with one client;
		// if others are, the laggard gets CoalesceLagTimeout to catch up.
		head := f.first + int64(len(f.chunks))
		starving := false
		for m := range f.members {
			if m.next == head {
				starving = true
				break
			}
		}
		var timer *time.Timer
		var expired <-chan time.Time
		if !starving {
			stalled = time.Time{}
		} else {
			if stalled.IsZero() {
				stalled = time.Now()
			}
			left := f.c.lag - time.Since(stalled)
			if left <= 0 {
				f.dropLaggards()
				stalled = time.Time{}
				continue
			}
			timer = time.NewTimer(left)
			expired = timer.C
		}
		f.writerWait = true
		advanced := f.advanced
		f.mu.Unlock()
		var err error
		select {
		case <-advanced:
		case <-expired:
		case <-f.ctx.Done():
			err = context.Cause(f.ctx)
		}
		if timer != nil {
			timer.Stop()
		}
		f.mu.Lock()
		f.writerWait = false
		if err != nil {
			return err
		}
	}
	f.chunks = append(f.chunks, chunk)
	f.buffered += len(chunk)
	f.wakeMembers()
	return nil
}

// trim drops the chunks every member has sent, once the flight takes no
// more members. f.mu is held.
func (f *flight) trim() {
	if f.joinable {
		return
	}
	low := f.first + int64(len(f.chunks))
	for m := range f.members {
		low = min(low, m.next)
	}
	k := int(low - f.first)
	for i := 0; i < k; i++ {
		f.buffered -= len(f.chunks[i])
		f.chunks[i] = nil
	}
	f.chunks = f.chunks[k:]
	f.first = low
}

// dropLaggards cuts off the members that have not sent the oldest chunk:
// most likely each is stuck writing to a client that does not read, so the
// write is made to fail at once (a write deadline in the past), which frees
// its goroutine and aborts its connection. f.mu is held.
func (f *flight) dropLaggards() {
	for m := range f.members {
		if m.next == f.first {
			m.dropped = true
			delete(f.members, m)
			m.cut()
		}
	}
	f.wakeMembers()
}

// wakeMembers wakes every member waiting for news. f.mu is held.
func (f *flight) wakeMembers() {
	close(f.changed)
	f.changed = make(chan struct{})
}

// wakeWriter wakes the upstream side if it waits for a member. f.mu is held.
func (f *flight) wakeWriter() {
	if f.writerWait {
		close(f.advanced)
		f.advanced = make(chan struct{})
		f.writerWait = false
	}
}
