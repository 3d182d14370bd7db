package proxy

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/textproto"
	"net/url"
	"os"
	"sync"
	"time"
)

// h1Transport sends body-less GET, HEAD and OPTIONS requests (see serves) to
// one plain http:// upstream over HTTP/1.1 keep-alive connections of its own,
// on the caller's goroutine; upstreamTransport sends everything else through
// an http.Transport.
//
// http.Transport runs every request on three goroutines: the caller hands it
// to the connection's write loop, and the connection's read loop hands the
// answer back. For a small answer those hand-offs, and the allocations that
// go with them, were the largest part of the proxy's cost that was not the
// kernel's (BENCH.md). Here the caller writes the request, reads the answer
// and, once its body ends, puts the connection back; the only other party is
// the request's context, whose end closes the connection at once, which is
// how the upstream learns that the client left.
//
// What it keeps of http.Transport's behaviour: a request that finds a reused
// connection closed by the upstream before any byte of the answer arrived is
// sent again on a new one (these methods are safe to repeat); 1xx answers are
// passed to the request's httptrace.ClientTrace (ReverseProxy forwards them);
// idle connections are closed after idleTimeout; a connection is reused only
// after its answer was read to the end and neither side asked to close it.
type h1Transport struct {
	host        string      // the upstream's URL's host, as in the requests
	fwd         *forwarding // the direct path's Host and X-Forwarded-*
	network     string      // "tcp", or "unix" for a socket
	addr        string      // host:port (or the socket's path) to dial
	dialer      net.Dialer
	maxIdle     int
	idleTimeout time.Duration

	mu    sync.Mutex
	idle  []*h1Conn // most recently used last
	sweep *time.Timer
}

// h1Conn is one connection to the upstream.
type h1Conn struct {
	nc       net.Conn
	br       *bufio.Reader
	bw       *bufio.Writer
	reused   bool
	idleFrom time.Time
}

const (
	h1MaxIdle     = 128
	h1IdleTimeout = 90 * time.Second // http.DefaultTransport's
	h1Max1xx      = 5                // 1xx answers allowed before the final one
)

func newH1Transport(upstream *url.URL) *h1Transport {
	addr := upstream.Host
	if upstream.Port() == "" {
		addr = net.JoinHostPort(upstream.Hostname(), "80")
	}
	return &h1Transport{
		host:        upstream.Host,
		fwd:         &forwarding{upstreamHost: upstream.Host},
		network:     "tcp",
		addr:        addr,
		dialer:      net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second},
		maxIdle:     h1MaxIdle,
		idleTimeout: h1IdleTimeout,
	}
}

// serves reports whether req, an upstream request, goes through t.
func (t *h1Transport) serves(req *http.Request) bool {
	switch req.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
	default:
		return false
	}
	return (req.Body == nil || req.Body == http.NoBody) &&
		req.URL.Scheme == "http" && req.URL.Host == t.host &&
		req.Header.Get("Upgrade") == "" && len(req.TransferEncoding) == 0
}

// roundTrip sends req, which t serves, and returns the answer's
// head. Its body, if any, holds the connection until it ends or is closed.
// The answer's head must arrive before deadline, if not zero, or the error is
// ErrUpstreamTimeout; if the request's context ends first, the error is its
// cause.
//
// With w nil, req is an upstream request, sent as it is, and 1xx answers go
// to its httptrace.ClientTrace. With w, req is the client's own request,
// sent as forwardDirect says, and 1xx answers go to w.
func (t *h1Transport) roundTrip(req *http.Request, deadline time.Time, w http.ResponseWriter) (*http.Response, error) {
	ctx := req.Context()
	for {
		c, err := t.get(ctx, deadline)
		if err != nil {
			return nil, err
		}
		res, err := t.exchange(ctx, c, req, deadline, w)
		if err == nil {
			return res, nil
		}
		if !c.reused || ctx.Err() != nil || !errors.Is(err, errNothingRead) {
			return nil, err
		}
		// The upstream closed a connection that sat idle as the request
		// went out on it: try again, on a new one (get dials when no idle
		// connection is left, so this ends).
	}
}

// errNothingRead marks a connection that failed before any byte of the
// answer arrived.
var errNothingRead = errors.New("proxy: upstream connection closed before the answer began")

// exchange sends req on c and reads the answer's head. The connection is
// closed when ctx ends before the answer's body is done with.
func (t *h1Transport) exchange(ctx context.Context, c *h1Conn, req *http.Request, deadline time.Time, w http.ResponseWriter) (*http.Response, error) {
	stop := context.AfterFunc(ctx, func() { c.nc.Close() })
	fail := func(err error) (*http.Response, error) {
		stop()
		c.nc.Close()
		if cause := context.Cause(ctx); cause != nil {
			return nil, cause
		}
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return nil, ErrUpstreamTimeout
		}
		return nil, err
	}
	if !deadline.IsZero() {
		c.nc.SetDeadline(deadline)
	}
	var err error
	if w != nil {
		err = writeForwarded(c.bw, req, t.fwd)
	} else {
		err = req.Write(c.bw)
	}
	if err != nil {
		return fail(fmt.Errorf("%w: %w", errNothingRead, err))
	}
	if err := c.bw.Flush(); err != nil {
		return fail(fmt.Errorf("%w: %w", errNothingRead, err))
	}
	var trace *httptrace.ClientTrace
	if w == nil {
		trace = httptrace.ContextClientTrace(ctx)
	}
	for n1xx := 0; ; n1xx++ {
		if n1xx == 0 {
			// Nothing of the answer yet: a reused connection that fails
			// here may be tried again (roundTrip).
			if _, err := c.br.Peek(1); err != nil {
				return fail(fmt.Errorf("%w: %w", errNothingRead, err))
			}
		}
		res, err := http.ReadResponse(c.br, req)
		if err != nil {
			return fail(fmt.Errorf("proxy: reading the upstream's answer: %w", err))
		}
		if res.StatusCode < 200 && res.StatusCode != http.StatusSwitchingProtocols {
			// 100 Continue (unasked for: no body was sent) and 103 Early
			// Hints come before the answer.
			if n1xx >= h1Max1xx {
				return fail(errors.New("proxy: the upstream sent too many 1xx answers"))
			}
			if w != nil {
				h := w.Header()
				copyHeader(h, res.Header)
				w.WriteHeader(res.StatusCode)
				clear(h) // WriteHeader keeps them for a 1xx
			} else if trace != nil && trace.Got1xxResponse != nil {
				if err := trace.Got1xxResponse(res.StatusCode, textproto.MIMEHeader(res.Header)); err != nil {
					return fail(err)
				}
			}
			continue
		}
		if res.StatusCode == http.StatusSwitchingProtocols {
			// Not asked for (no Upgrade header was sent): a connection in
			// an unknown state.
			return fail(errors.New("proxy: the upstream switched protocols unasked"))
		}
		if !deadline.IsZero() {
			// The body may take as long as it takes.
			c.nc.SetDeadline(time.Time{})
		}
		keep := !res.Close && !req.Close
		if res.Body == http.NoBody || req.Method == http.MethodHead {
			t.release(c, stop, keep)
			res.Body = http.NoBody
			return res, nil
		}
		res.Body = &h1Body{t: t, c: c, rc: res.Body, stop: stop, keep: keep}
		return res, nil
	}
}

// release ends an exchange on c: it goes back to the pool when keep is set
// and the request's context did not close it.
func (t *h1Transport) release(c *h1Conn, stop func() bool, keep bool) {
	if !stop() || !keep || c.br.Buffered() > 0 {
		c.nc.Close()
		return
	}
	t.put(c)
}

// h1Body is an answer's body: when it ends, its connection is released.
// Close may be called concurrently with Read, to stop it.
type h1Body struct {
	t    *h1Transport
	c    *h1Conn
	rc   io.ReadCloser
	stop func() bool
	keep bool

	mu   sync.Mutex
	done bool
}

func (b *h1Body) Read(p []byte) (int, error) {
	b.mu.Lock()
	done := b.done
	b.mu.Unlock()
	if done {
		return 0, errBodyClosed
	}
	n, err := b.rc.Read(p)
	if err != nil {
		// A read cut by the request's context fails with the closed
		// connection's error; upstreamBody puts the context's cause in its
		// place.
		b.finish(err == io.EOF)
	}
	return n, err
}

var errBodyClosed = errors.New("proxy: read on a closed upstream body")

func (b *h1Body) Close() error {
	b.finish(false)
	return nil
}

// finish releases the connection once: kept for the next request when the
// body ended cleanly (atEOF), closed otherwise.
func (b *h1Body) finish(atEOF bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.done {
		return
	}
	b.done = true
	if atEOF {
		b.t.release(b.c, b.stop, b.keep)
		return
	}
	b.stop()
	b.c.nc.Close()
}

// get returns an idle connection, or dials a new one by deadline. Expired
// connections are closeExpired's business.
func (t *h1Transport) get(ctx context.Context, deadline time.Time) (*h1Conn, error) {
	t.mu.Lock()
	if n := len(t.idle); n > 0 {
		c := t.idle[n-1]
		t.idle[n-1] = nil
		t.idle = t.idle[:n-1]
		t.mu.Unlock()
		c.reused = true
		return c, nil
	}
	t.mu.Unlock()
	d := t.dialer
	if !deadline.IsZero() {
		d.Deadline = deadline
	}
	nc, err := d.DialContext(ctx, t.network, t.addr)
	if err != nil {
		if cause := context.Cause(ctx); cause != nil {
			return nil, cause
		}
		if !deadline.IsZero() && !time.Now().Before(deadline) {
			return nil, ErrUpstreamTimeout
		}
		return nil, &dialError{err} // never reached it (retry.go)
	}
	return &h1Conn{nc: nc, br: bufio.NewReader(nc), bw: bufio.NewWriter(nc)}, nil
}

// put makes c idle, or closes it when the pool is full.
func (t *h1Transport) put(c *h1Conn) {
	c.idleFrom = time.Now()
	t.mu.Lock()
	if len(t.idle) >= t.maxIdle {
		t.mu.Unlock()
		c.nc.Close()
		return
	}
	t.idle = append(t.idle, c)
	if t.sweep == nil {
		t.sweep = time.AfterFunc(t.idleTimeout, t.closeExpired)
	}
	t.mu.Unlock()
}

// closeExpired closes the connections idle for idleTimeout or more, and
// runs again while any are left.
func (t *h1Transport) closeExpired() {
	now := time.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	keep := t.idle[:0]
	for _, c := range t.idle {
		if now.Sub(c.idleFrom) >= t.idleTimeout {
			c.nc.Close()
			continue
		}
		keep = append(keep, c)
	}
	clear(t.idle[len(keep):])
	t.idle = keep
	t.sweep = nil
	if len(t.idle) > 0 {
		t.sweep = time.AfterFunc(t.idleTimeout-now.Sub(t.idle[0].idleFrom), t.closeExpired)
	}
}

// retire makes t keep no connection idle from now on (a reload took its
// upstream out of the pool: reload.go), and closes those it has.
func (t *h1Transport) retire() {
	t.mu.Lock()
	t.maxIdle = 0
	t.mu.Unlock()
	t.CloseIdleConnections()
}

// CloseIdleConnections closes the idle connections.
func (t *h1Transport) CloseIdleConnections() {
	t.mu.Lock()
	for _, c := range t.idle {
		c.nc.Close()
	}
	clear(t.idle)
	t.idle = t.idle[:0]
	if t.sweep != nil {
		t.sweep.Stop()
		t.sweep = nil
	}
	t.mu.Unlock()
}
