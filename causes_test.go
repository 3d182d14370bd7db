package hangup_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/hangup-dev/hangup"
)

// Who ended a request (issue 15): the client, the server or the handler.
// Each test below has a real client on loopback and a handler that would
// run for 30 s on its own, so that a context left alive shows as a wait
// past waitLong, never as a timing assertion.

const handlerLong = 30 * time.Second

// TestServerCloseErrPolled: a handler that only polls ctx.Err(), never
// waiting on Done, sees Server.Close: Err turns non-nil and the cause is
// http.ErrServerClosed, not counted as a departure.
func TestServerCloseErrPolled(t *testing.T) {
	got := make(chan error, 1)
	in := make(chan struct{})
	stop := make(chan struct{})
	defer close(stop)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(in)
		ctx := r.Context()
		give := time.After(handlerLong)
		for ctx.Err() == nil {
			select {
			case <-stop:
				return
			case <-give:
				got <- errors.New("Err() still nil")
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
		got <- context.Cause(ctx)
	})}
	g := hangup.Install(srv)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { srv.Serve(ln); close(done) }()
	c := dialTCP(t, ln.Addr().String())
	write(t, c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	<-in
	srv.Close()
	select {
	case err := <-got:
		if !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("cause after Server.Close: %v, want http.ErrServerClosed", err)
		}
	case <-time.After(waitLong):
		t.Fatal("ctx.Err() still nil after Server.Close")
	}
	<-done
	if s := g.Stats(); s.GoneTotal() != 0 {
		t.Errorf("the server's own close counted as %d departures", s.GoneTotal())
	}
}

// startH2 is a Guard-installed HTTP/2-over-TLS server whose handler waits
// on its context (for up to waitLong) and reports what it saw; setup may
// change the http.Server first.
func startH2(t *testing.T, h http.HandlerFunc, setup func(*http.Server)) *server {
	t.Helper()
	s := &server{t: t, entered: make(chan *http.Request, 16), results: make(chan outcome, 16)}
	if h == nil {
		h = s.waitHandler
	}
	s.srv = httptest.NewUnstartedServer(h)
	s.srv.EnableHTTP2 = true
	if setup != nil {
		setup(s.srv.Config)
	}
	s.g = hangup.Install(s.srv.Config)
	s.srv.StartTLS()
	t.Cleanup(s.srv.Close)
	return s
}

// get sends a GET over tr in the background; the returned channel gets its
// error once the exchange ended.
func get(t *testing.T, tr http.RoundTripper, ctx context.Context, url string) <-chan error {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() {
		resp, err := tr.RoundTrip(req)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		errc <- err
	}()
	return errc
}

// expectNotGone asserts that the handler's context ended, not with
// ErrClientGone, and that nothing was counted as a departure.
func expectNotGone(t *testing.T, s *server, o outcome, want error) {
	t.Helper()
	if o.cause == nil {
		t.Fatalf("the context did not end")
	}
	if errors.Is(o.cause, hangup.ErrClientGone) || o.departed {
		t.Errorf("cause = %v, departure %+v: the server's doing reported as the client's", o.cause, o.departure)
	}
	if want != nil && !errors.Is(o.cause, want) {
		t.Errorf("cause = %v, want %v", o.cause, want)
	}
	if n := s.g.Stats().GoneTotal(); n != 0 {
		t.Errorf("counted %d departures, want 0", n)
	}
}

// TestServerCloseHTTP2: Server.Close ends an HTTP/2 stream with cause
// http.ErrServerClosed, as on HTTP/1, and counts no departure; over TLS and
// over h2c (http.Server.Protocols).
func TestServerCloseHTTP2(t *testing.T) {
	for _, h2c := range []bool{false, true} {
		name := "TLS"
		if h2c {
			name = "h2c"
		}
		t.Run(name, func(t *testing.T) {
			s := startServer(t, serverOpts{h2: !h2c, h2c: h2c})
			tr := h2Transport(h2c, make(chan net.Conn, 1))
			defer tr.CloseIdleConnections()
			url := s.srv.URL
			if h2c {
				url = "http://" + s.addr() + "/"
			}
			errc := get(t, tr, context.Background(), url)
			if r := s.waitEntered(); r.ProtoMajor != 2 {
				t.Fatalf("request came over %s, want HTTP/2", r.Proto)
			}
			s.srv.Config.Close()
			expectNotGone(t, s, s.waitResult(), http.ErrServerClosed)
			<-errc
		})
	}
}

// TestHTTP2ServerResetsStream: the server's WriteTimeout resets the stream
// (RST_STREAM from the server, the connection alive): the request ends,
// and it is no departure of the client's. The client's own RST_STREAM
// still is one (TestDisconnectHTTP2).
func TestHTTP2ServerResetsStream(t *testing.T) {
	s := startH2(t, nil, func(srv *http.Server) { srv.WriteTimeout = 2 * time.Second })
	tr := h2Transport(false, make(chan net.Conn, 1))
	defer tr.CloseIdleConnections()
	errc := get(t, tr, context.Background(), s.srv.URL)
	if r := s.waitEntered(); r.ProtoMajor != 2 {
		t.Fatalf("request came over %s, want HTTP/2", r.Proto)
	}
	expectNotGone(t, s, s.waitResult(), nil)
	<-errc
}

// TestServerCloseTLS: Server.Close on HTTP/1 over TLS. Its close_notify
// makes the client close, and the watcher may see that FIN before the
// socket is closed: still the server's doing.
func TestServerCloseTLS(t *testing.T) {
	for i := 0; i < 5; i++ {
		s := startServer(t, serverOpts{tls: true})
		c, _ := dialTLS(t, s.addr())
		write(t, c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		s.waitEntered()
		go func() { io.Copy(io.Discard, c); c.Close() }() // close as soon as the server does
		s.srv.Config.Close()
		expectNotGone(t, s, s.waitResult(), http.ErrServerClosed)
	}
}

// TestHijackClientCloses: after Hijack the connection is the handler's and
// hangup stops watching it (TestHijackStopsWatching). The client closes,
// the handler reads EOF through the hijacked bufio.Reader (net/http then
// cancels its own context) and closes the socket itself: the context is
// left alone, and no cause may say that the server closed (it did not) or
// that the client left (hangup no longer watches).
func TestHijackClientCloses(t *testing.T) {
	for _, how := range []string{"Done", "Err"} {
		t.Run(how, func(t *testing.T) {
			got := make(chan error, 1)
			srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				ctx := r.Context()
				if how == "Done" {
					ctx.Done() // someone waits: hangup listens for net/http's cancellation
				}
				nc, brw, err := http.NewResponseController(w).Hijack()
				if err != nil {
					got <- err
					return
				}
				brw.WriteString("HTTP/1.1 101 Switching Protocols\r\n\r\n")
				brw.Flush()
				io.Copy(io.Discard, brw) // until the client closes
				nc.Close()
				// A false cause comes within microseconds (an AfterFunc, or
				// Err asking); give it ample time to show.
				for i := 0; i < 20 && ctx.Err() == nil; i++ {
					time.Sleep(5 * time.Millisecond)
				}
				if ctx.Err() == nil {
					got <- nil
					return
				}
				got <- context.Cause(ctx)
			}))
			hangup.Install(srv.Config)
			srv.Start()
			defer srv.Close()
			c := dialTCP(t, srv.Listener.Addr().String())
			write(t, c, "GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: test\r\n\r\n")
			buf := make([]byte, 64)
			if _, err := c.Read(buf); err != nil {
				t.Fatal(err)
			}
			c.Close()
			select {
			case err := <-got:
				if err != nil {
					t.Errorf("cause after the client closed a hijacked connection: %v, want the context left alone", err)
				}
			case <-time.After(waitLong):
				t.Fatal("handler still running")
			}
		})
	}
}

// TestShutdownClientLeaves: during a graceful Shutdown the server ends no
// request itself, so a client that leaves is still a departure: a FIN on
// HTTP/1, a stream reset on HTTP/2. Only Server.Close is the server's.
func TestShutdownClientLeaves(t *testing.T) {
	for _, proto := range []string{"HTTP/1", "HTTP/2"} {
		t.Run(proto, func(t *testing.T) {
			var s *server
			var c net.Conn
			cancel := func() {}
			var errc <-chan error
			if proto == "HTTP/1" {
				s = startServer(t, serverOpts{})
				c = dialTCP(t, s.addr())
				write(t, c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
			} else {
				s = startH2(t, nil, nil)
				tr := h2Transport(false, make(chan net.Conn, 1))
				defer tr.CloseIdleConnections()
				var ctx context.Context
				ctx, cancel = context.WithCancel(context.Background())
				defer cancel()
				errc = get(t, tr, ctx, s.srv.URL)
			}
			s.waitEntered()
			shut := make(chan error, 1)
			go func() { shut <- s.srv.Config.Shutdown(context.Background()) }()
			for give := time.Now().Add(waitLong); !s.g.Draining(); time.Sleep(time.Millisecond) {
				if time.Now().After(give) {
					t.Fatal("Shutdown's hook never ran")
				}
			}
			if proto == "HTTP/1" {
				c.Close()
			} else {
				cancel()
			}
			expectGone(t, s.waitResult(), hangup.PhaseHandler)
			if errc != nil {
				<-errc
			}
			if err := <-shut; err != nil {
				t.Errorf("Shutdown: %v", err)
			}
		})
	}
}

// TestHTTP2HandlerWriteDeadline: a write deadline the handler sets itself
// (http.ResponseController.SetWriteDeadline) makes the HTTP/2 server reset
// the stream when it passes: the server's doing, not the client's.
func TestHTTP2HandlerWriteDeadline(t *testing.T) {
	var s *server
	s = startH2(t, func(w http.ResponseWriter, r *http.Request) {
		if err := http.NewResponseController(w).SetWriteDeadline(time.Now().Add(time.Second)); err != nil {
			t.Errorf("SetWriteDeadline: %v", err)
		}
		s.waitHandler(w, r)
	}, nil)
	tr := h2Transport(false, make(chan net.Conn, 1))
	defer tr.CloseIdleConnections()
	errc := get(t, tr, context.Background(), s.srv.URL)
	s.waitEntered()
	expectNotGone(t, s, s.waitResult(), nil)
	<-errc
}
