package storm

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"syscall"
	"time"
)

// Abort is how a user who gives up closes its connection.
type Abort uint8

const (
	// AbortFIN closes the connection normally: the server sees a FIN,
	// as when a browser tab is closed or a page reloaded.
	AbortFIN Abort = iota
	// AbortRST resets the connection (SO_LINGER 0, then close): the
	// server sees an RST, as from a client killed or a middlebox timing out.
	AbortRST
)

// ParseAbort parses "fin" or "rst".
func ParseAbort(s string) (Abort, error) {
	switch s {
	case "fin", "FIN":
		return AbortFIN, nil
	case "rst", "RST":
		return AbortRST, nil
	}
	return 0, fmt.Errorf("bad abort style %q: want fin or rst", s)
}

// String returns "fin" or "rst".
func (a Abort) String() string {
	if a == AbortRST {
		return "rst"
	}
	return "fin"
}

// target is the URL under load, prepared once for all users.
type target struct {
	url            *url.URL
	addr           string      // host:port to dial
	request        []byte      // the HTTP/1.1 request, serialized once
	tls            *tls.Config // nil for http
	connectTimeout time.Duration
	abort          Abort
}

func newTarget(u *url.URL, connectTimeout time.Duration, abort Abort) (*target, error) {
	t := &target{url: u, connectTimeout: connectTimeout, abort: abort}
	port := u.Port()
	if port == "" {
		port = "80"
		if u.Scheme == "https" {
			port = "443"
		}
	}
	t.addr = net.JoinHostPort(u.Hostname(), port)
	if u.Scheme == "https" {
		t.tls = &tls.Config{ServerName: u.Hostname(), NextProtos: []string{"http/1.1"}}
	}
	req, err := http.NewRequest(http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("User-Agent", "hangup-storm")
	req.Header.Set("Accept", "*/*")
	var b bytes.Buffer
	if err := req.Write(&b); err != nil {
		return nil, err
	}
	t.request = b.Bytes()
	return t, nil
}

// probe makes one connection to tell an unreachable server from a slow one
// before any user starts.
func (t *target) probe(ctx context.Context) error {
	d := net.Dialer{Timeout: t.connectTimeout}
	c, err := d.DialContext(ctx, "tcp", t.addr)
	if err != nil {
		return fmt.Errorf("cannot reach %s: %s — is the server running?", t.url, dialReason(err, t.connectTimeout))
	}
	return c.Close()
}

// dialReason says in a few words why a dial failed.
func dialReason(err error, timeout time.Duration) string {
	var dnsErr *net.DNSError
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.As(err, &dnsErr):
		return "cannot resolve " + dnsErr.Name + ": " + dnsErr.Err
	case errors.Is(err, os.ErrDeadlineExceeded):
		return fmt.Sprintf("no answer within %v (see --connect-timeout)", timeout)
	}
	var opErr *net.OpError
	if errors.As(err, &opErr) {
		return opErr.Err.Error()
	}
	return err.Error()
}

// conn is a user's connection. The user keeps the *net.TCPConn so that it
// can choose how the connection ends: FIN or RST.
type conn struct {
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

func (t *target) dial(ctx context.Context, deadline time.Time) (*conn, error) {
	d := net.Dialer{Timeout: t.connectTimeout, Deadline: deadline}
	nc, err := d.DialContext(ctx, "tcp", t.addr)
	if err != nil {
		return nil, err
	}
	tcp, ok := nc.(*net.TCPConn)
	if !ok {
		nc.Close()
		return nil, fmt.Errorf("dial %s: not a TCP connection", t.addr)
	}
	c := &conn{tcp: tcp, rw: tcp}
	if t.tls != nil {
		tc := tls.Client(tcp, t.tls)
		tcp.SetDeadline(deadline)
		hctx, cancel := context.WithTimeout(ctx, t.connectTimeout)
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

// attempt makes one request on *cp, dialing a new connection if *cp is nil,
// and waits for the response until deadline (the user's patience). It
// returns how the request ended and, for goodput, its latency. On return
// *cp holds a connection fit for the next request, or nil: a connection
// that saw anything but a complete keep-alive response is never reused.
func (t *target) attempt(ctx context.Context, cp **conn, start, deadline time.Time) (outcome, time.Duration) {
	c := *cp
	*cp = nil
	for {
		if c == nil {
			var err error
			c, err = t.dial(ctx, deadline)
			if err != nil {
				return dialOutcome(ctx, err, deadline), 0
			}
		}
		o, keep, stale := t.exchange(ctx, c, deadline)
		if stale {
			// The server closed an idle keep-alive connection just as
			// we reused it; a browser retries on a new connection
			// without the user noticing, and so do we.
			c.close()
			c = nil
			continue
		}
		switch {
		case o == outAbandoned:
			c.abort(t.abort)
		case o == outGood && keep:
			c.reused = true
			*cp = c
		default:
			c.close()
		}
		if o == outGood {
			return o, time.Since(start)
		}
		return o, 0
	}
}

// exchange writes the request on c and reads the response to its end. keep
// reports whether the server allows reusing c; stale, that c was a reused
// connection the server had closed before it read the request.
func (t *target) exchange(ctx context.Context, c *conn, deadline time.Time) (o outcome, keep, stale bool) {
	c.tcp.SetDeadline(deadline)
	// The end of the run interrupts a request by moving the deadline to the
	// past; no goroutine per request is needed.
	stop := context.AfterFunc(ctx, func() { c.tcp.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	if _, err := c.rw.Write(t.request); err != nil {
		return classify(ctx, err), false, c.reused && isStale(err) && ctx.Err() == nil
	}
	// Wait for the first byte apart from the rest: ReadResponse turns a
	// clean EOF into ErrUnexpectedEOF, and a clean EOF before any byte is
	// how a stale keep-alive connection shows.
	if _, err := c.br.Peek(1); err != nil {
		return classify(ctx, err), false, c.reused && isStale(err) && ctx.Err() == nil
	}
	resp, err := http.ReadResponse(c.br, nil)
	if err != nil {
		return classify(ctx, err), false, false
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil {
		return classify(ctx, err), false, false
	}
	switch {
	case resp.StatusCode >= 500:
		return outStatus5xx, false, false
	case resp.StatusCode >= 200 && resp.StatusCode < 400:
		return outGood, !resp.Close, false
	}
	return outOther, false, false
}

// isStale tells the errors of a keep-alive connection the server had
// already closed: nothing read at all, or a reset.
func isStale(err error) bool {
	return err == io.EOF || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

func classify(ctx context.Context, err error) outcome {
	switch {
	case ctx.Err() != nil:
		return outUnfinished
	case errors.Is(err, os.ErrDeadlineExceeded):
		return outAbandoned
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return outReset
	}
	return outOther
}

func dialOutcome(ctx context.Context, err error, deadline time.Time) outcome {
	switch {
	case ctx.Err() != nil:
		return outUnfinished
	case !time.Now().Before(deadline):
		// Patience ran out while connecting: the user gave up on a
		// server too busy to accept.
		return outAbandoned
	}
	return outConnect
}
