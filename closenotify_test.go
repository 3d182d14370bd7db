package hangup_test

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/hangup-dev/hangup"
)

// TestTLSCloseNotify: a TLS client that sends close_notify
// (tls.Conn.CloseWrite) without closing TCP has half-closed its side, as a
// FIN does in plain TCP; the socket shows no FIN, so the watcher alone never
// hears of it. Under the default policy the request is cancelled (reason
// closed, phase handler), also when net/http's connection is a wrapper of
// the *tls.Conn (hangup proxy's); under HalfCloseWaits the handler's answer
// reaches the client.
func TestTLSCloseNotify(t *testing.T) {
	for _, tc := range []struct {
		name string
		so   serverOpts
	}{
		{"default", serverOpts{tls: true}},
		{"wrapped", serverOpts{wrapTLS: true}}, // net/http's conn is a wrapper of the *tls.Conn
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := startServer(t, tc.so)
			c, _ := dialTLS(t, s.addr(), "http/1.1")
			write(t, c, "GET /wait HTTP/1.1\r\nHost: example.test\r\n\r\n")
			s.waitEntered()
			if err := c.CloseWrite(); err != nil {
				t.Fatal(err)
			}
			o := s.waitResult()
			expectGone(t, o, hangup.PhaseHandler)
			if o.departure.Reason != hangup.ReasonClosed {
				t.Errorf("reason = %v, want closed", o.departure.Reason)
			}
		})
	}
	t.Run("HalfCloseWaits", func(t *testing.T) {
		released := make(chan struct{})
		var s *server
		s = startServer(t, serverOpts{tls: true, opts: []hangup.Option{hangup.HalfCloseWaits()}, handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			s.entered <- r
			<-released
			io.WriteString(w, "still answered")
		})})
		c, _ := dialTLS(t, s.addr(), "http/1.1")
		write(t, c, "GET /wait HTTP/1.1\r\nHost: example.test\r\n\r\n")
		s.waitEntered()
		if err := c.CloseWrite(); err != nil {
			t.Fatal(err)
		}
		close(released)
		res, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatalf("the half-closed client got no answer: %v", err)
		}
		body, _ := io.ReadAll(res.Body)
		if string(body) != "still answered" {
			t.Errorf("body = %q", body)
		}
	})
}

// TestTLSReadTimeoutIsNoCloseNotify: net/http's read of a TLS connection
// also ends when the server's ReadTimeout passes while a handler runs long;
// that is no close_notify, and the client, still there, is not gone.
func TestTLSReadTimeoutIsNoCloseNotify(t *testing.T) {
	const readTimeout = 300 * time.Millisecond
	var s *server
	s = startServer(t, serverOpts{tls: true, config: func(srv *http.Server) { srv.ReadTimeout = readTimeout }, handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.entered <- r
		select {
		case <-r.Context().Done():
			io.WriteString(w, "cancelled: "+context.Cause(r.Context()).Error())
		case <-time.After(5 * readTimeout):
			io.WriteString(w, "not cancelled")
		}
	})})
	c, _ := dialTLS(t, s.addr(), "http/1.1")
	write(t, c, "GET /long HTTP/1.1\r\nHost: example.test\r\n\r\n")
	s.waitEntered()
	c.SetReadDeadline(time.Now().Add(waitLong))
	res, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	if string(body) != "not cancelled" {
		t.Errorf("the handler said %q, want \"not cancelled\"", body)
	}
}
