package proxy

import (
	"bytes"
	"context"
	"crypto/tls"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"
)

// Requests net/http refuses before any handler runs (issue 16): a malformed
// request line or header (400), headers past MaxHeaderBytes (431), an
// unknown Transfer-Encoding (501), an unsupported HTTP version (505), an
// Expect it cannot meet (417). net/http writes those answers itself, straight
// to the connection, and tells nobody: no handler, no hook, nothing in
// ErrorLog. nginx logs them; so does the proxy, from the one place that sees
// them: the connection. Serve wraps its listener so that each HTTP/1
// connection watches what it writes while it is "armed", from its start and
// from each return to idle (ConnState StateIdle) until a request reaches
// ServeHTTP, which disarms it. A write made armed that begins with an
// "HTTP/1.1 4xx" or "5xx" status line is net/http's refusal: it gets an
// access line with the status, the peer, and the reason net/http wrote.
//
// StateActive cannot disarm: net/http sets it once it has read bytes of a
// request, before it knows whether the request is good. And ErrorLog was
// rejected because net/http logs none of these. Under TLS the wrapper must
// sit above the *tls.Conn (below it, it sees only records), where it would
// hide the *tls.Conn from net/http (handshake, ALPN, r.TLS): so on a TLS
// listener the proxy terminates TLS itself and wraps only the HTTP/1
// connections, in a tlsWatchConn (tlslisten.go).
//
// The cost is a type assertion and an atomic store per request and a
// compare of the first bytes of each write made while armed (once per
// request: the first write after a request is the handler's, disarmed).

// watchKey is the context key under which a request finds its watchConn.
type watchKey struct{}

// watchListener wraps the conns of a listener in watchConns.
type watchListener struct {
	net.Listener
	p *Proxy
}

func (l *watchListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	wc := &watchConn{Conn: c, p: l.p}
	wc.armed.Store(true)
	return wc, nil
}

// watchRejections makes srv log net/http's refusals of the requests it reads
// from ln, and returns the listener srv must serve: under TLS
// (srv.TLSConfig set) one that terminates TLS (listenTLS; its error if the
// config has no certificate). It sets srv.ConnContext and srv.ConnState, so
// it runs before hangup.Install, which chains them.
func (p *Proxy) watchRejections(srv *http.Server, ln net.Listener) (net.Listener, error) {
	srv.ConnContext = func(ctx context.Context, c net.Conn) context.Context {
		if wc := watched(c); wc != nil {
			return context.WithValue(ctx, watchKey{}, wc)
		}
		return ctx
	}
	srv.ConnState = func(c net.Conn, s http.ConnState) {
		if s == http.StateIdle {
			if wc := watched(c); wc != nil {
				wc.armed.Store(true)
			}
		}
	}
	if srv.TLSConfig != nil {
		return p.listenTLS(srv, ln)
	}
	return &watchListener{Listener: ln, p: p}, nil
}

// watched is the watchConn of c, nil if it has none (HTTP/2 over TLS).
func watched(c net.Conn) *watchConn {
	switch c := c.(type) {
	case *watchConn:
		return c
	case *tlsWatchConn:
		return &c.watchConn
	}
	return nil
}

// handled disarms the connection of r, which reached the handler.
func handled(r *http.Request) {
	if wc, ok := r.Context().Value(watchKey{}).(*watchConn); ok {
		wc.armed.Store(false)
	}
}

// watchConn is a client connection that logs the refusal net/http writes
// to it while armed. It keeps the optional interfaces net/http and hangup
// look for on a connection: NetConn (hangup finds the socket through it),
// CloseWrite (net/http's closeWriteAndWait, after a 431 and on graceful
// closes) and ReadFrom (net/http's sendfile and splice path).
type watchConn struct {
	net.Conn
	p     *Proxy
	armed atomic.Bool
}

func (c *watchConn) NetConn() net.Conn { return c.Conn }

// tlsWatchConn is the watchConn of an HTTP/1 connection over TLS, over the
// *tls.Conn (tlslisten.go). net/http sets r.TLS from its ConnectionState,
// and takes it for a TLS connection (one that does not speak h2c); hangup
// finds the *tls.Conn under it, through NetConn, for a client's
// close_notify.
type tlsWatchConn struct {
	watchConn
	tc *tls.Conn
}

func (c *tlsWatchConn) ConnectionState() tls.ConnectionState { return c.tc.ConnectionState() }

func (c *watchConn) Write(b []byte) (int, error) {
	if c.armed.Load() {
		c.armed.Store(false)
		if status, ok := refusalStatus(b); ok {
			c.p.logRejected(c.Conn.RemoteAddr().String(), status, refusalReason(b, status))
		}
	}
	return c.Conn.Write(b)
}

func (c *watchConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

func (c *watchConn) ReadFrom(r io.Reader) (int64, error) {
	if rf, ok := c.Conn.(io.ReaderFrom); ok {
		return rf.ReadFrom(r)
	}
	return io.Copy(struct{ io.Writer }{c.Conn}, r)
}

// refusalStatus is the status of b if it begins with an HTTP/1.1 status
// line of 400 to 599.
func refusalStatus(b []byte) (int, bool) {
	const prefix = "HTTP/1.1 "
	if len(b) < len(prefix)+3 || string(b[:len(prefix)]) != prefix {
		return 0, false
	}
	code, err := strconv.Atoi(string(b[len(prefix) : len(prefix)+3]))
	if err != nil || code < 400 || code > 599 {
		return 0, false
	}
	return code, true
}

// refusalReason is what net/http said of a refusal, b: its body ("400 Bad
// Request: malformed Host header", "Unsupported transfer encoding") without
// the status it repeats, or the status text if that is all there is.
func refusalReason(b []byte, status int) string {
	_, body, ok := bytes.Cut(b, []byte("\r\n\r\n"))
	if !ok {
		return http.StatusText(status)
	}
	s := string(bytes.TrimSpace(body))
	if len(s) > 200 {
		s = s[:200]
	}
	code := strconv.Itoa(status) + " " + http.StatusText(status)
	switch {
	case s == "" || s == code:
		return http.StatusText(status)
	case len(s) > len(code)+2 && s[:len(code)+2] == code+": ":
		return s[len(code)+2:]
	}
	return s
}

// logRejected writes the access line of a request net/http refused: no
// method, URI or host (it may have had none), the peer, the status, and
// net/http's reason as the error.
func (p *Proxy) logRejected(remote string, status int, reason string) {
	p.m.refused(status)
	now := time.Now()
	fields := func(s fieldSink) {
		s.str("method", "")
		s.str("uri", "")
		s.str("host", "")
		s.str("proto", "")
		s.str("remote", remote)
		s.int("status", int64(status))
		s.bool("rejected", true)
		s.str("error", reason)
	}
	switch {
	case p.accessLog != nil:
		s := linePool.Get().(*lineSink)
		s.json = p.cfg.AccessLogJSON
		s.begin(now, "request")
		fields(s)
		p.accessLog.Write(s.end())
		linePool.Put(s)
	case p.log != nil:
		s := attrSink{attrs: make([]slog.Attr, 0, 8)}
		fields(&s)
		p.log.LogAttrs(context.Background(), slog.LevelInfo, "request", s.attrs...)
	}
}
