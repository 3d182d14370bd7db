package proxy

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// TestAbortMidUpload: a client that leaves in the middle of its upload,
// while the proxy is forwarding the body to an upstream that reads it, is
// logged 499 with the watcher's reason and counted as a cancelled upstream
// request, every time: never 502, never an upstream error, whichever of the
// body's read and hangup's watcher hears of it first. The upstream never
// sees a complete request, and a client that only half-closed gets nothing
// at all, not an answer nobody gave.
func TestAbortMidUpload(t *testing.T) {
	const trials = 20
	cases := []struct {
		name   string
		leave  func(*net.TCPConn)
		reason string
	}{
		{"FIN", closeFIN, "closed"},
		{"RST", closeRST, "reset"},
		{"half-close", func(c *net.TCPConn) { c.CloseWrite() }, "closed"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var completeBodies atomic.Int64
			reading := make(chan struct{}, trials)
			u := newUpstream(t, func(w http.ResponseWriter, r *http.Request, h *hit) {
				buf := make([]byte, 32<<10)
				if _, err := io.ReadFull(r.Body, buf); err == nil {
					reading <- struct{}{}
				}
				if _, err := io.Copy(io.Discard, r.Body); err == nil {
					completeBodies.Add(1)
				}
			})
			h := startProxy(t, Config{Upstream: u.url})
			chunk := strings.Repeat("x", 64<<10)
			for i := 0; i < trials; i++ {
				c := dial(t, h.addr)
				write(t, c, fmt.Sprintf("POST /upload/%d HTTP/1.1\r\nHost: example.test\r\nContent-Length: %d\r\n\r\n", i, 10<<20))
				for n := 0; n < 1<<20; n += len(chunk) {
					write(t, c, chunk)
				}
				select {
				case <-reading:
				case <-time.After(waitLong):
					t.Fatal("the upstream never read the body")
				}
				tc.leave(c)
				uri := fmt.Sprintf("/upload/%d", i)
				line := h.logs.waitFor(t, "for "+uri, func(l map[string]any) bool { return l["uri"] == uri })
				if line["status"] != 499.0 || line["gone_reason"] != tc.reason {
					t.Errorf("trial %d: status %v, gone_reason %v; want 499, %s (line %v)", i, line["status"], line["gone_reason"], tc.reason, line)
				}
				if tc.name == "half-close" {
					c.SetReadDeadline(time.Now().Add(waitLong))
					got, err := io.ReadAll(c)
					if len(got) != 0 || (err != nil && !errors.Is(err, syscall.ECONNRESET)) {
						t.Errorf("trial %d: the half-closed client got %q (%v), want nothing", i, got, err)
					}
				}
			}
			if got := testCounter(t, h.p.m.upstream.WithLabelValues(outcomeError)); got != 0 {
				t.Errorf("upstream requests counted as errors = %v, want 0", got)
			}
			if got := testCounter(t, h.p.m.upstream.WithLabelValues(outcomeCancelled)); got != trials {
				t.Errorf("upstream requests cancelled = %v, want %d", got, trials)
			}
			if n := completeBodies.Load(); n != 0 {
				t.Errorf("the upstream read %d complete bodies, want none", n)
			}
		})
	}
}

// TestHalfCloseNoInventedAnswer: a client that sends its request and
// half-closes (nc -N, socat) gets the upstream's real answer or nothing at
// all, never an empty 200 that nobody wrote, whatever the timing, on the
// direct path (GET) and through ReverseProxy (POST).
func TestHalfCloseNoInventedAnswer(t *testing.T) {
	const answer = "the upstream's own answer"
	u := newUpstream(t, func(w http.ResponseWriter, r *http.Request, h *hit) {
		io.Copy(io.Discard, r.Body)
		io.WriteString(w, answer)
	})
	h := startProxy(t, Config{Upstream: u.url})
	for _, req := range []string{
		"GET /half HTTP/1.1\r\nHost: example.test\r\n\r\n",
		"GET /half HTTP/1.0\r\n\r\n",
		"POST /half HTTP/1.1\r\nHost: example.test\r\nContent-Length: 4\r\n\r\nbody",
	} {
		for i := 0; i < 50; i++ {
			c := dial(t, h.addr)
			write(t, c, req)
			c.CloseWrite()
			c.SetReadDeadline(time.Now().Add(waitLong))
			got, err := io.ReadAll(c)
			if err != nil && !errors.Is(err, syscall.ECONNRESET) {
				t.Fatalf("reading the answer: %v", err)
			}
			if len(got) != 0 && !strings.HasSuffix(string(got), "\r\n\r\n"+answer) {
				t.Errorf("%q, half-closed: the client got %q, want the upstream's answer or nothing", req, got)
			}
			c.Close()
		}
	}
}
