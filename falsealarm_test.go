package hangup_test

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hangup-dev/hangup"
)

// TestNoFalseAlarms: live clients are never reported gone.
func TestNoFalseAlarms(t *testing.T) {
	echo := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := io.Copy(io.Discard, r.Body)
		if err := r.Context().Err(); err != nil {
			http.Error(w, "cancelled: "+err.Error(), http.StatusInternalServerError)
			return
		}
		fmt.Fprintf(w, "read %d", n)
	})
	cases := []struct {
		name string
		run  func(t *testing.T, addr string)
	}{
		{"keep-alive/200-requests", func(t *testing.T, addr string) {
			c := dialTCP(t, addr)
			br := bufio.NewReader(c)
			for i := 0; i < 200; i++ {
				write(t, c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
				expectOK(t, br)
			}
		}},
		{"pipelined/20-requests", func(t *testing.T, addr string) {
			c := dialTCP(t, addr)
			write(t, c, strings.Repeat("GET / HTTP/1.1\r\nHost: x\r\n\r\n", 20))
			br := bufio.NewReader(c)
			for i := 0; i < 20; i++ {
				expectOK(t, br)
			}
		}},
		{"slow-uploader", func(t *testing.T, addr string) {
			c := dialTCP(t, addr)
			write(t, c, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n")
			for i := 0; i < 10; i++ {
				time.Sleep(50 * time.Millisecond) // a slow client, not a wait for the server
				write(t, c, "x")
			}
			expectOK(t, bufio.NewReader(c))
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := startServer(t, serverOpts{handler: echo})
			tc.run(t, s.addr())
			if n := s.g.Stats().GoneTotal(); n != 0 {
				t.Fatalf("%d requests reported gone, want 0", n)
			}
		})
	}
}

func expectOK(t *testing.T, br *bufio.Reader) {
	t.Helper()
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, b)
	}
}

// TestHalfCloseWaits: with the option, a client that only shut down its
// writing side gets its full answer, and the context is never cancelled;
// a client that closed fully is still found once the server writes.
func TestHalfCloseWaits(t *testing.T) {
	t.Run("half-closed-client-gets-answer", func(t *testing.T) {
		var s *server
		release := make(chan struct{})
		s = startServer(t, serverOpts{opts: []hangup.Option{hangup.HalfCloseWaits()},
			handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				s.entered <- r
				<-release
				if err := r.Context().Err(); err != nil {
					http.Error(w, "cancelled", 500)
					return
				}
				io.WriteString(w, "answer")
			})})
		c := dialTCP(t, s.addr())
		write(t, c, reqGET)
		s.waitEntered()
		halfClose(t, c)
		// Give the watcher every chance to get it wrong before answering.
		time.Sleep(100 * time.Millisecond)
		close(release)
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 || string(b) != "answer" {
			t.Fatalf("got %d %q, want 200 answer", resp.StatusCode, b)
		}
		if n := s.g.Stats().GoneTotal(); n != 0 {
			t.Fatalf("%d requests reported gone, want 0", n)
		}
	})
	t.Run("closed-client-found-when-written", func(t *testing.T) {
		var s *server
		s = startServer(t, serverOpts{opts: []hangup.Option{hangup.HalfCloseWaits()},
			handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				s.entered <- r
				rc := http.NewResponseController(w)
				deadline := time.After(waitLong)
				for r.Context().Err() == nil {
					io.WriteString(w, strings.Repeat("x", 1024))
					rc.Flush()
					select {
					case <-deadline:
						s.report(r.Context())
						return
					case <-time.After(10 * time.Millisecond):
					case <-r.Context().Done():
					}
				}
				s.report(r.Context())
			})})
		c := dialTCP(t, s.addr())
		write(t, c, reqGET)
		s.waitEntered()
		c.Close()
		expectGone(t, s.waitResult(), hangup.PhaseWritingResponse)
	})
}

// TestHijackStopsWatching: after Hijack the connection is the handler's, and
// its close is no longer reported (as with CloseNotifier).
func TestHijackStopsWatching(t *testing.T) {
	var s *server
	s = startServer(t, serverOpts{handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		defer conn.Close()
		s.entered <- r
		brw.ReadByte() // returns when the client closes
		time.Sleep(50 * time.Millisecond)
		d, gone := hangup.Departed(r.Context())
		s.results <- outcome{cause: r.Context().Err(), departure: d, departed: gone}
	})})
	c := dialTCP(t, s.addr())
	write(t, c, reqGET)
	s.waitEntered()
	if st := s.g.Stats(); st.Watched != 0 {
		t.Errorf("%d connections watched after Hijack, want 0", st.Watched)
	}
	c.Close()
	o := s.waitResult()
	if o.departed || o.cause != nil {
		t.Fatalf("hijacked request reported gone (%v, %+v)", o.cause, o.departure)
	}
}
