package proxy

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"slices"
	"sync"
	"time"
)

// Serve terminates TLS itself, in its listener, instead of leaving it to
// ServeTLS (issue 16): net/http's refusals (rejected.go) can be watched only
// above the *tls.Conn, and net/http, handed a wrapper instead of its
// *tls.Conn, would neither run the handshake nor negotiate HTTP/2. So the
// listener runs each handshake, in a goroutine of its own, and hands
// net/http what came out of it: for ALPN "h2" (or any protocol but HTTP/1)
// the *tls.Conn itself, which net/http's HTTP/2 server needs (HTTP/2 has no
// refusals to watch: a malformed request is a stream error); for HTTP/1 a
// tlsWatchConn over the *tls.Conn. That one has the *tls.Conn's
// ConnectionState, from which net/http sets r.TLS (it does so for any
// connection with that method since Go 1.26, golang/go#56104) and learns
// that the connection is not cleartext (no h2c on it under Config.H2C).
//
// What ServeTLS and net/http's connection did around the handshake, the
// listener does the same way: the config is cloned and its NextProtos offer
// "h2" and "http/1.1" as the server's protocols allow (adjustNextProtos);
// the handshake is bounded by the server's ReadHeaderTimeout (net/http
// bounds it by the smallest of its timeouts, and the proxy sets no other);
// its failure is logged to the server's ErrorLog in net/http's words, and a
// client that spoke cleartext HTTP gets net/http's 400, which the proxy
// also logs as a refusal. A handshake never holds up Accept, nor any other
// handshake. Close ends the handshakes under way and waits for their
// goroutines: a connection still in its handshake is closed, as one in the
// listen queue is (net/http's Shutdown would have let it finish: it is not
// net/http's yet).
//
// The cost, against ServeTLS: one more goroutine per connection, for its
// handshake (net/http's own still serves it), a channel send to hand it to
// Accept, and on HTTP/1 the watch of rejected.go. Nothing per request
// beyond the watch: a kept-alive connection costs the same.

// tlsListener terminates TLS on the connections of a TCP listener (see
// above).
type tlsListener struct {
	net.Listener // the TCP listener
	p            *Proxy
	errorLog     *log.Logger // the server's; nil: the log package's
	config       *tls.Config
	timeout      time.Duration   // bounds each handshake
	ready        chan net.Conn   // handshake done; unbuffered
	failed       chan error      // the TCP listener's Accept failed; unbuffered
	ctx          context.Context // done once Close began: the handshakes end
	cancel       context.CancelFunc
	wg           sync.WaitGroup // the accept loop and the handshakes
	closeOnce    sync.Once
	closeErr     error
}

// listenTLS returns the listener srv serves for ln: ln's connections with
// TLS terminated as above. It sets srv.TLSConfig to a clone of it whose
// NextProtos are adjusted, so that Serve sets up HTTP/2 as ServeTLS would
// (Serve sets it up only when TLSConfig mentions "h2": golang/go#15908); the
// config passed in is left as it is. It fails if the config has no
// certificate.
func (p *Proxy) listenTLS(srv *http.Server, ln net.Listener) (net.Listener, error) {
	config := srv.TLSConfig.Clone()
	if len(config.Certificates) == 0 && config.GetCertificate == nil && config.GetConfigForClient == nil {
		return nil, errors.New("proxy: Config.TLSConfig has no certificate: load one with tls.LoadX509KeyPair into its Certificates, or set GetCertificate")
	}
	config.NextProtos = adjustNextProtos(config.NextProtos, protocols(srv))
	srv.TLSConfig = config.Clone() // net/http's HTTP/2 set-up writes to it
	timeout := srv.ReadHeaderTimeout
	if timeout <= 0 {
		timeout = DefaultReadHeaderTimeout
	}
	ctx, cancel := context.WithCancel(context.Background())
	l := &tlsListener{
		Listener: ln, p: p, errorLog: srv.ErrorLog, config: config, timeout: timeout,
		ready: make(chan net.Conn), failed: make(chan error), ctx: ctx, cancel: cancel,
	}
	l.wg.Add(1)
	go l.acceptLoop()
	return l, nil
}

// protocols is the set of protocols srv serves: net/http's default when
// srv.Protocols is nil (the proxy sets no TLSNextProto).
func protocols(srv *http.Server) http.Protocols {
	if srv.Protocols != nil {
		return *srv.Protocols
	}
	var p http.Protocols
	p.SetHTTP1(true)
	p.SetHTTP2(true)
	return p
}

// adjustNextProtos is net/http's (server.go), which ServeTLS applies to the
// config's NextProtos: "http/1.1" and "h2" are offered if and only if protos
// has them, after the config's own protocols.
func adjustNextProtos(nextProtos []string, protos http.Protocols) []string {
	var have http.Protocols
	nextProtos = slices.DeleteFunc(slices.Clone(nextProtos), func(s string) bool {
		switch s {
		case "http/1.1":
			if !protos.HTTP1() {
				return true
			}
			have.SetHTTP1(true)
		case "h2":
			if !protos.HTTP2() {
				return true
			}
			have.SetHTTP2(true)
		}
		return false
	})
	if protos.HTTP2() && !have.HTTP2() {
		nextProtos = append(nextProtos, "h2")
	}
	if protos.HTTP1() && !have.HTTP1() {
		nextProtos = append(nextProtos, "http/1.1")
	}
	return nextProtos
}

// Accept returns the next connection whose handshake is done. After Close
// it returns an error that wraps net.ErrClosed.
func (l *tlsListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ready:
		return c, nil
	case err := <-l.failed:
		return nil, err
	case <-l.ctx.Done():
		return nil, &net.OpError{Op: "accept", Net: l.Addr().Network(), Addr: l.Addr(), Err: net.ErrClosed}
	}
}

// Close closes the TCP listener, ends the handshakes under way (their
// connections are closed) and returns once their goroutines have.
func (l *tlsListener) Close() error {
	l.closeOnce.Do(func() {
		l.cancel()
		l.closeErr = l.Listener.Close()
		l.wg.Wait()
	})
	return l.closeErr
}

// acceptLoop accepts TCP connections and starts their handshakes until the
// TCP listener fails for good. Its errors go to Accept, one at a time: after
// a temporary one (EMFILE), net/http's Serve pauses before it calls Accept
// again, and so the loop waits as long before it accepts again.
func (l *tlsListener) acceptLoop() {
	defer l.wg.Done()
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			select {
			case l.failed <- err:
			case <-l.ctx.Done():
				return
			}
			if ne, ok := err.(net.Error); ok && ne.Temporary() { // as net/http's Serve
				continue
			}
			return
		}
		l.wg.Add(1)
		go l.handshake(c)
	}
}

// handshake runs c's TLS handshake and hands the connection to Accept.
func (l *tlsListener) handshake(c net.Conn) {
	defer l.wg.Done()
	tc := tls.Server(c, l.config)
	c.SetDeadline(time.Now().Add(l.timeout))
	if err := tc.HandshakeContext(l.ctx); err != nil {
		if l.ctx.Err() == nil {
			l.handshakeFailed(c, err)
		}
		c.Close()
		return
	}
	c.SetDeadline(time.Time{})
	var nc net.Conn = tc
	switch tc.ConnectionState().NegotiatedProtocol {
	case "", "http/1.1", "http/1.0": // HTTP/1; any other is net/http's TLSNextProto's, or refused
		wc := &tlsWatchConn{watchConn: watchConn{Conn: tc, p: l.p}, tc: tc}
		wc.armed.Store(true)
		nc = wc
	}
	select {
	case l.ready <- nc:
	case <-l.ctx.Done():
		c.Close()
	}
}

// handshakeFailed logs a failed handshake as net/http does, and answers a
// client that spoke cleartext HTTP with net/http's 400, logged as a refusal.
func (l *tlsListener) handshakeFailed(c net.Conn, err error) {
	reason := err.Error()
	var re tls.RecordHeaderError
	if errors.As(err, &re) && re.Conn != nil && recordLooksLikeHTTP(re.RecordHeader) {
		io.WriteString(re.Conn, "HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n")
		reason = "client sent an HTTP request to an HTTPS server"
		l.p.logRejected(c.RemoteAddr().String(), http.StatusBadRequest, reason)
	}
	const format = "http: TLS handshake error from %s: %v"
	if l.errorLog != nil {
		l.errorLog.Printf(format, c.RemoteAddr(), reason)
	} else {
		log.Printf(format, c.RemoteAddr(), reason)
	}
}

// recordLooksLikeHTTP is net/http's tlsRecordHeaderLooksLikeHTTP: whether
// the first 5 bytes a client sent, read as a TLS record header, are the
// start of a cleartext HTTP request.
func recordLooksLikeHTTP(hdr [5]byte) bool {
	switch string(hdr[:]) {
	case "GET /", "HEAD ", "POST ", "PUT /", "OPTIO":
		return true
	}
	return false
}
