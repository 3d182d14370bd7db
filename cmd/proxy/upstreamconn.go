package proxy

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/http/httptrace"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Keeping an early answer that the upstream resets.
//
// A net/http upstream that answered before it read the request body resets
// the connection 500 ms after its handler returned (see linger.go). Linux
// keeps what had arrived of the answer readable after a reset; the proxy
// loses the rest, in three ways, unless it has read the answer by then,
// which a loaded machine does not promise:
//
//   - Bytes still in the upstream's send queue, because the proxy's receive
//     window was full: the reset throws them away. So a connection that
//     carries a request body gets a receive buffer that holds an early
//     answer of Config.EarlyAnswerBuffer (within the system's
//     net.core.rmem_max), and the upstream's kernel sends the answer at once.
//     (Setting the buffer ends the kernel's tuning of it for that
//     connection.)
//   - The whole answer, when the Transport's write of the request body, which
//     fails with the reset, reaches it before the answer's head does: it
//     fails the request (502).
//   - Bytes in the proxy's receive queue, when the Transport, after that
//     failed write, closes the connection: the queue goes with it.
//
// So a write that fails because the upstream reset the connection waits
// before it returns: for the answer's head to come in (at most answerGrace),
// and then for the answer to be read ahead (modifyResponse settles the
// connection), or for the connection to be closed (the client left, the
// upstream timed out: the Transport closes it at once, as always). Only
// connections the proxy's own Transport dialed (Config.Transport unset) are
// treated so, and only over HTTP/1 (not HTTP/2 over TLS, not h2c: h2c.go).

// answerGrace bounds how long a write that the upstream reset waits for the
// answer's head.
const answerGrace = time.Second

// upstreamConn is a connection that the proxy's Transport dialed.
type upstreamConn struct {
	net.Conn
	written atomic.Int64 // bytes written
	mark    atomic.Int64 // written when the current request took it
	mu      sync.Mutex
	widened bool
	head    chan struct{} // closed when the current request's answer came in
	settled chan struct{} // closed when it was read ahead, or the connection closed
}

// dialUpstream dials as http.DefaultTransport does, or addr on network if
// addr is not empty (a unix socket), and wraps the connection.
func dialUpstream(network, addr string) func(ctx context.Context, network, addr string) (net.Conn, error) {
	dial := dialUpstreamTo(upstreamDialer(), network, addr)
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dial(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return &upstreamConn{Conn: c}, nil
	}
}

// upstreamDialer dials upstreams as http.DefaultTransport does.
func upstreamDialer() *net.Dialer {
	return &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}
}

// carry readies c for a request with a body: its receive buffer holds an
// early answer of want bytes, and a reset write waits for the answer. The
// wait it returns is that request's alone.
func (c *upstreamConn) carry(want int64) *answerWait {
	c.mu.Lock()
	widen := !c.widened
	c.widened = true
	c.head, c.settled = make(chan struct{}), make(chan struct{})
	w := &answerWait{c: c, settled: c.settled}
	c.mu.Unlock()
	c.mark.Store(c.written.Load())
	if tc, ok := c.Conn.(*net.TCPConn); ok && widen && want > 0 {
		tc.SetReadBuffer(int(min(want+64<<10, 1<<30)))
	}
	return w
}

// answerWait is one request's wait on an upstreamConn. Its answer may come
// in after the connection went on to the next request: the Transport puts a
// connection back in its pool before it hands over an answer of no body, so
// the next request may have carried the connection by then, and the answer
// then ends nothing (the next request's write waits for its own).
type answerWait struct {
	c       *upstreamConn
	settled chan struct{} // the request's, as carry made it
}

// answered says that the request's answer came in; the returned settle,
// that it has been read ahead (or never will be).
func (w *answerWait) answered() (settle func()) {
	c := w.c
	c.mu.Lock()
	if c.settled == w.settled {
		c.headInLocked()
	}
	c.mu.Unlock()
	return w.settle
}

func (w *answerWait) settle() {
	c := w.c
	c.mu.Lock()
	if c.settled == w.settled {
		c.settleLocked()
	}
	c.mu.Unlock()
}

// headInLocked says the current request's answer came in; c.mu is held.
func (c *upstreamConn) headInLocked() {
	if c.head != nil {
		close(c.head)
		c.head = nil
	}
}

// settleLocked ends the current request's wait; c.mu is held.
func (c *upstreamConn) settleLocked() {
	c.headInLocked()
	if c.settled != nil {
		close(c.settled)
		c.settled = nil
	}
}

func (c *upstreamConn) Write(b []byte) (int, error) {
	n, err := c.Conn.Write(b)
	c.written.Add(int64(n))
	if err == nil || !(errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)) {
		return n, err
	}
	c.mu.Lock()
	head, settled := c.head, c.settled
	c.mu.Unlock()
	if settled == nil {
		return n, err // no request with a body waits for its answer
	}
	if head != nil {
		t := time.NewTimer(answerGrace)
		defer t.Stop()
		select {
		case <-head:
		case <-settled:
		case <-t.C:
			return n, err // no answer came
		}
	}
	<-settled
	return n, err
}

// wrote reports whether a byte of the current request was written on c
// (retry.go).
func (c *upstreamConn) wrote() bool { return c.written.Load() != c.mark.Load() }

// Close closes the connection, and lets a reset write waiting on it go on.
func (c *upstreamConn) Close() error {
	c.mu.Lock()
	c.settleLocked()
	c.mu.Unlock()
	return c.Conn.Close()
}

// upstreamConnTrace readies the connection the Transport sends the request
// on, if it is one of the proxy's own over HTTP/1, for an early answer of up
// to want bytes, and records in rec the request's wait on it.
func upstreamConnTrace(rec *record, want int64) *httptrace.ClientTrace {
	return &httptrace.ClientTrace{GotConn: func(info httptrace.GotConnInfo) {
		c := info.Conn
		if tc, ok := c.(*tls.Conn); ok {
			if tc.ConnectionState().NegotiatedProtocol == "h2" {
				return // streams: an early answer does not close the connection
			}
			c = tc.NetConn()
		}
		if uc, ok := c.(*upstreamConn); ok {
			if info.Reused && peerClosed(uc.Conn) {
				// The upstream closed this idle connection and the
				// Transport has not noticed yet: a request written on it
				// would be lost with its body. Closed now, the write fails
				// with nothing written, and the Transport sends the request
				// on a new connection (the body is replayable until read,
				// see replayBody).
				uc.Close()
				return
			}
			rec.upstreamWait.Store(uc.carry(want))
		}
	}}
}
