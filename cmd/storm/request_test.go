package storm

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestAbortStyles checks on the server side that a user who gives up really
// sends FIN (the server's read returns io.EOF) or RST (ECONNRESET).
func TestAbortStyles(t *testing.T) {
	for _, tc := range []struct {
		abort Abort
		want  error
	}{
		{AbortFIN, io.EOF},
		{AbortRST, syscall.ECONNRESET},
	} {
		t.Run(tc.abort.String(), func(t *testing.T) {
			t.Parallel()
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			// The server reads a request and never answers; once the
			// user has given up it reads again to see how the
			// connection ended.
			seen := make(chan error, 1)
			done := make(chan struct{})
			go func() {
				defer close(done)
				for {
					c, err := ln.Accept()
					if err != nil {
						return
					}
					c.SetDeadline(time.Now().Add(10 * time.Second))
					br := bufio.NewReader(c)
					req, err := http.ReadRequest(br)
					if err != nil { // the reachability probe sends nothing
						c.Close()
						continue
					}
					req.Body.Close()
					_, err = br.ReadByte()
					c.Close()
					seen <- err
					return
				}
			}()
			res, err := Run(context.Background(), Config{
				URL: "http://" + ln.Addr().String() + "/slow", Users: 1, Abort: tc.abort,
				// A patience long enough for a busy machine's server
				// to read the request before the user gives up: an RST
				// before that would discard it unread.
				Patience: Fixed(time.Second), Think: Fixed(time.Minute), Duration: 2 * time.Second,
			})
			ln.Close()
			<-done
			if err != nil {
				t.Fatal(err)
			}
			if res.Totals.Abandoned != 1 || res.Totals.Left != 1 {
				t.Errorf("abandoned %d left %d, want 1 and 1", res.Totals.Abandoned, res.Totals.Left)
			}
			select {
			case err := <-seen:
				if !errors.Is(err, tc.want) {
					t.Errorf("server read after the user gave up: %v, want %v", err, tc.want)
				}
			default:
				t.Fatal("the server never saw a request")
			}
		})
	}
}

// TestKeepAlive: patient users reuse their connection; a server that closes
// idle connections does not cost them errors.
func TestKeepAlive(t *testing.T) {
	t.Parallel()
	conns := make(chan struct{}, 1000)
	srv := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("ok\n"))
	}), func(s *http.Server) {
		s.ConnState = func(_ net.Conn, s http.ConnState) {
			if s == http.StateNew {
				conns <- struct{}{}
			}
		}
		// Close idle connections quickly so that some reuses race
		// with the close.
		s.IdleTimeout = 30 * time.Millisecond
	})
	res := run(t, Config{URL: srv.URL, Users: 2, Patience: Fixed(time.Second), Think: Uniform(0, 60*time.Millisecond), Duration: time.Second})
	if res.Totals.Errors != 0 {
		t.Errorf("%d errors: stale keep-alive connections must be retried, not counted", res.Totals.Errors)
	}
	t.Logf("%d connections for %d requests", len(conns), res.Totals.Sent)
	if n := len(conns); n >= int(res.Totals.Sent)+1 {
		t.Errorf("%d connections for %d requests: no keep-alive", n, res.Totals.Sent)
	}
}

// TestResetError: a server that resets the connection is a reset error.
func TestResetError(t *testing.T) {
	t.Parallel()
	srv := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, _, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		c.(*net.TCPConn).SetLinger(0)
		c.Close()
	}), nil)
	res := run(t, Config{URL: srv.URL, Users: 1, Patience: Fixed(time.Second), Duration: time.Second})
	if res.Totals.Errors == 0 || res.Totals.ErrorsByKind.Reset != res.Totals.Errors {
		t.Errorf("errors %+v, want only resets", res.Totals.ErrorsByKind)
	}
}

func TestUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + ln.Addr().String() + "/"
	ln.Close()
	_, err = Run(context.Background(), Config{URL: url, Users: 1, Patience: Fixed(time.Second), Duration: time.Second})
	want := "cannot reach " + url + ": connection refused — is the server running?"
	if err == nil || err.Error() != want {
		t.Errorf("Run against a closed port: %v\nwant %s", err, want)
	}
}

func TestValidate(t *testing.T) {
	ok := Config{URL: "http://localhost:1/", Users: 1, Patience: Fixed(time.Second)}
	if err := ok.Validate(); err != nil {
		t.Fatalf("valid config rejected: %v", err)
	}
	for _, tc := range []struct {
		mod  func(*Config)
		want string
	}{
		{func(c *Config) { c.URL = "" }, "required"},
		{func(c *Config) { c.URL = "localhost:8888" }, "has no scheme: write http://localhost:8888"},
		{func(c *Config) { c.URL = "ftp://x/" }, "use http:// or https://"},
		{func(c *Config) { c.URL = "http:///path" }, "no host"},
		{func(c *Config) { c.Users = 0 }, "users must be at least 1"},
		{func(c *Config) { c.Users = 0; c.Rate = 5 }, "open-loop"},
		{func(c *Config) { c.Rate = -1 }, "rate"},
		{func(c *Config) { c.Duration = -time.Second }, "duration must not be negative"},
		{func(c *Config) { c.ReloadProb = 1.5 }, "between 0 and 1"},
		{func(c *Config) { c.ReloadProb = -0.1 }, "between 0 and 1"},
		{func(c *Config) { c.Patience = Fixed(0) }, "patience must be positive"},
		{func(c *Config) { c.MetricsURL = "localhost:9/metrics" }, "metrics URL"},
	} {
		c := ok
		tc.mod(&c)
		err := c.Validate()
		var ce *ConfigError
		if err == nil || !errors.As(err, &ce) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Validate(%+v) = %v, want a ConfigError containing %q", c, err, tc.want)
		}
	}
}
