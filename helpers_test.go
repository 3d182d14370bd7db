package hangup_test

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/hangup-dev/hangup"
)

// waitLong bounds every wait in the tests: generous, because CI is a loaded
// two-core machine. No test asserts a duration.
const waitLong = 10 * time.Second

// outcome is what a handler saw of its context.
type outcome struct {
	cause     error
	departure hangup.Departure
	departed  bool
}

// server is a Guard-installed server on loopback whose handler tells the
// test when it runs and what happened to its context.
type server struct {
	t       *testing.T
	srv     *httptest.Server
	g       *hangup.Guard
	entered chan *http.Request
	results chan outcome
}

type serverOpts struct {
	tls, h2, h2c bool
	wrapTLS      bool         // TLS under a wrapper net/http takes for a plain conn (wrappedTLSListener)
	handler      http.Handler // default: wait for the context
	opts         []hangup.Option
	config       func(*http.Server) // if not nil, sets up the server before it starts
}

func startServer(t *testing.T, so serverOpts) *server {
	t.Helper()
	s := &server{t: t, entered: make(chan *http.Request, 16), results: make(chan outcome, 16)}
	h := so.handler
	if h == nil {
		h = http.HandlerFunc(s.waitHandler)
	}
	s.srv = httptest.NewUnstartedServer(h)
	if so.h2c {
		s.srv.Config.Protocols = new(http.Protocols)
		s.srv.Config.Protocols.SetHTTP1(true)
		s.srv.Config.Protocols.SetUnencryptedHTTP2(true)
	}
	s.srv.EnableHTTP2 = so.h2
	if so.config != nil {
		so.config(s.srv.Config)
	}
	s.g = hangup.Install(s.srv.Config, so.opts...)
	switch {
	case so.wrapTLS:
		s.srv.Listener = wrappedTLSListener{tls.NewListener(s.srv.Listener, testTLSConfig())}
		s.srv.Start()
	case so.tls || so.h2:
		s.srv.StartTLS()
	default:
		s.srv.Start()
	}
	t.Cleanup(s.srv.Close)
	return s
}

// waitHandler reads nothing, tells the test it runs and waits for its
// context to end.
// wrappedTLSListener hands net/http each *tls.Conn under a wrapper that
// shows it only through NetConn, as hangup proxy's listener does: net/http
// serves it as a plain connection, and hangup must look under the wrapper.
type wrappedTLSListener struct{ net.Listener }

func (l wrappedTLSListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return netConnWrapper{c}, nil
}

type netConnWrapper struct{ net.Conn }

func (w netConnWrapper) NetConn() net.Conn { return w.Conn }

// testTLSConfig is a server config with httptest's certificate.
func testTLSConfig() *tls.Config {
	ts := httptest.NewUnstartedServer(nil)
	ts.StartTLS()
	ts.Close()
	return &tls.Config{Certificates: ts.TLS.Certificates}
}

func (s *server) waitHandler(w http.ResponseWriter, r *http.Request) {
	s.entered <- r
	s.report(r.Context())
}

func (s *server) report(ctx context.Context) {
	select {
	case <-ctx.Done():
	case <-time.After(waitLong):
	}
	d, ok := hangup.Departed(ctx)
	s.results <- outcome{cause: context.Cause(ctx), departure: d, departed: ok}
}

func (s *server) addr() string { return s.srv.Listener.Addr().String() }

func (s *server) waitEntered() *http.Request {
	s.t.Helper()
	select {
	case r := <-s.entered:
		return r
	case <-time.After(waitLong):
		s.t.Fatal("handler never ran")
		return nil
	}
}

func (s *server) waitResult() outcome {
	s.t.Helper()
	select {
	case o := <-s.results:
		return o
	case <-time.After(2 * waitLong):
		s.t.Fatal("handler never returned")
		return outcome{}
	}
}

// expectGone asserts that the handler's context was cancelled because the
// client went away, in the given phase.
func expectGone(t *testing.T, o outcome, phase hangup.Phase) {
	t.Helper()
	if !errors.Is(o.cause, hangup.ErrClientGone) {
		t.Fatalf("context cause = %v, want ErrClientGone", o.cause)
	}
	if !o.departed {
		t.Fatalf("Departed reported false")
	}
	if o.departure.Phase != phase {
		t.Fatalf("phase = %v, want %v (reason %v)", o.departure.Phase, phase, o.departure.Reason)
	}
}

func dialTCP(t *testing.T, addr string) *net.TCPConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, waitLong)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c.(*net.TCPConn)
}

func dialTLS(t *testing.T, addr string, protos ...string) (*tls.Conn, *net.TCPConn) {
	t.Helper()
	tc := dialTCP(t, addr)
	c := tls.Client(tc, &tls.Config{InsecureSkipVerify: true, NextProtos: protos})
	if err := c.Handshake(); err != nil {
		t.Fatal(err)
	}
	return c, tc
}

func write(t *testing.T, c net.Conn, s string) {
	t.Helper()
	if _, err := c.Write([]byte(s)); err != nil {
		t.Fatal(err)
	}
}
