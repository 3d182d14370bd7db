package storm

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"syscall"
	"time"
)

// conn is a user's HTTP/1.1 connection. The user keeps the *net.TCPConn so
// that it can choose how the connection ends: FIN or RST.
type conn struct {
	addr   string
	tcp    *net.TCPConn
	rw     net.Conn // tcp, or TLS over it
	br     *bufio.Reader
	reused bool // has carried a request before
}

// abort ends the connection of a user who gave up.
func (c *conn) abort(style Abort) {
	if style == AbortRST {
		// SO_LINGER 0: close discards unsent data and sends RST
		// instead of FIN.
		c.tcp.SetLinger(0)
	}
	c.tcp.Close()
}

// close ends a connection normally (FIN), without TLS close_notify: the
// connection is being dropped, not shut down politely.
func (c *conn) close() { c.tcp.Close() }

// h1Session is a user speaking HTTP/1.1 on a connection of its own, so that
// an abandoned request ends the way it does in a browser: the connection is
// closed and never reused. It serializes each target once and reads the
// response itself, which keeps a request's cost to the client small and
// its timing plain.
type h1Session struct {
	c    *client
	conn *conn // kept between requests while the server keeps it alive
}

func (s *h1Session) close() {
	if s.conn != nil {
		s.conn.close()
		s.conn = nil
	}
}

func (s *h1Session) dial(ctx context.Context, t *target, deadline time.Time) (*conn, error) {
	d := net.Dialer{Timeout: s.c.connectTimeout, Deadline: deadline}
	nc, err := d.DialContext(ctx, "tcp", t.addr)
	if err != nil {
		return nil, err
	}
	tcp, ok := nc.(*net.TCPConn)
	if !ok {
		nc.Close()
		return nil, fmt.Errorf("dial %s: not a TCP connection", t.addr)
	}
	c := &conn{addr: t.addr, tcp: tcp, rw: tcp}
	if t.url.Scheme == "https" {
		tc := tls.Client(tcp, s.c.tlsFor(t, "http/1.1"))
		tcp.SetDeadline(deadline)
		hctx, cancel := context.WithTimeout(ctx, s.c.connectTimeout)
		err := tc.HandshakeContext(hctx)
		cancel()
		if err != nil {
			tcp.Close()
			return nil, err
		}
		c.rw = tc
	}
	c.br = bufio.NewReaderSize(c.rw, 16<<10)
	return c, nil
}

// do makes one request on the session's connection, dialing a new one if
// there is none or it leads elsewhere. On return the session holds a
// connection fit for the next request, or none: a connection that saw
// anything but a complete keep-alive response (of any status) is never
// reused.
func (s *h1Session) do(ctx context.Context, t *target, deadline time.Time, timedOut bool) exchange {
	c := s.conn
	s.conn = nil
	if c != nil && c.addr != t.addr {
		c.close()
		c = nil
	}
	for {
		if c == nil {
			var err error
			c, err = s.dial(ctx, t, deadline)
			if err != nil {
				return exchange{outcome: dialOutcome(ctx, deadline, timedOut)}
			}
		}
		x, keep, stale := s.exchange(ctx, c, t, deadline, timedOut)
		if stale {
			// The server closed an idle keep-alive connection just as
			// we reused it; a browser retries on a new connection
			// without the user noticing, and so do we.
			c.close()
			c = nil
			continue
		}
		switch {
		case x.outcome == outAbandoned:
			c.abort(s.c.abort)
		case keep:
			c.reused = true
			s.conn = c
		default:
			c.close()
		}
		return x
	}
}

// exchange writes the request on c and reads the response to its end. keep
// reports whether the server allows reusing c; stale, that c was a reused
// connection the server had closed before it read the request.
func (s *h1Session) exchange(ctx context.Context, c *conn, t *target, deadline time.Time, timedOut bool) (x exchange, keep, stale bool) {
	c.tcp.SetDeadline(deadline)
	// The end of the run interrupts a request by moving the deadline to the
	// past; no goroutine per request is needed.
	stop := context.AfterFunc(ctx, func() { c.tcp.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	fail := func(err error) exchange { return exchange{outcome: classify(ctx, err, timedOut)} }
	if _, err := c.rw.Write(t.request); err != nil {
		return fail(err), false, c.reused && isStale(err) && ctx.Err() == nil
	}
	// Wait for the first byte apart from the rest: ReadResponse turns a
	// clean EOF into ErrUnexpectedEOF, and a clean EOF before any byte is
	// how a stale keep-alive connection shows.
	if _, err := c.br.Peek(1); err != nil {
		return fail(err), false, c.reused && isStale(err) && ctx.Err() == nil
	}
	var req *http.Request
	if t.method() == http.MethodHead {
		req = &http.Request{Method: http.MethodHead} // a HEAD response has no body
	}
	resp, err := http.ReadResponse(c.br, req)
	if err != nil {
		return fail(err), false, false
	}
	n, err := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil {
		x = fail(err)
		x.status, x.bytes = resp.StatusCode, n
		return x, false, false
	}
	x = exchange{outcome: statusOutcome(resp.StatusCode), status: resp.StatusCode, bytes: n}
	return x, !resp.Close, false
}

// isStale tells the errors of a keep-alive connection the server had
// already closed: nothing read at all, or a reset.
func isStale(err error) bool {
	return err == io.EOF || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}
