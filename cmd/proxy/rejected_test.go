package proxy

import (
	"bufio"
	"context"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestRejectedRequestsLogged: requests net/http refuses before the handler
// (400, 417, 431, 501, 505)
// (raw bytes on a socket, on a plain and on a TLS listener) get one access
// line each, with the status the
// client got, its address, and net/http's reason; on a keep-alive
// connection, a refusal after a good request too; a good request's line is
// not marked rejected.
func TestRejectedRequestsLogged(t *testing.T) {
	const good = "GET /ok HTTP/1.1\r\nHost: x\r\n\r\n"
	for _, tc := range []struct {
		name   string
		before string // a good request first, on the same connection
		raw    string
		status int
		reason string
	}{
		{"malformed request line", "", "GARBAGE\r\n\r\n", 400, "Bad Request"},
		{"malformed Host", "", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400, "malformed Host header"},
		{"headers too large", "", "GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", 16<<10) + "\r\n\r\n", 431, "Request Header Fields Too Large"},
		{"unknown Transfer-Encoding", "", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", 501, "Unsupported transfer encoding"},
		{"HTTP/3.0", "", "GET / HTTP/3.0\r\nHost: x\r\n\r\n", 505, "unsupported protocol version"},
		{"Expect other than 100-continue", "", "GET / HTTP/1.1\r\nHost: x\r\nExpect: teapot\r\n\r\n", 417, "Expectation Failed"},
		{"after a good request", good, "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400, "malformed Host header"},
	} {
		for _, ln := range listeners {
			t.Run(ln.name+"/"+tc.name, func(t *testing.T) {
				h, _ := framingProxy(t, ln.config(t, Config{MaxHeaderBytes: 4 << 10}))
				c := ln.dial(t, h.addr)
				br := bufio.NewReader(c)
				c.SetReadDeadline(time.Now().Add(waitLong))
				if tc.before != "" {
					write(t, c, tc.before)
					res, err := http.ReadResponse(br, nil)
					if err != nil || res.StatusCode != 200 {
						t.Fatalf("the good request: %v, %v", res, err)
					}
					res.Body.Close()
					l := h.logs.waitFor(t, "for the good request", func(l map[string]any) bool { return l["uri"] == "/ok" })
					if _, ok := l["rejected"]; ok {
						t.Errorf("the good request's line says rejected: %v", l)
					}
				}
				write(t, c, tc.raw)
				res, err := http.ReadResponse(br, nil)
				if err != nil {
					t.Fatalf("reading the refusal: %v", err)
				}
				res.Body.Close()
				if res.StatusCode != tc.status {
					t.Fatalf("client got %d, want %d", res.StatusCode, tc.status)
				}
				l := h.logs.waitFor(t, "of the refusal", func(l map[string]any) bool { return l["rejected"] == true })
				if got, _ := l["status"].(float64); int(got) != tc.status {
					t.Errorf("logged status %v, want %d", l["status"], tc.status)
				}
				if l["error"] != tc.reason {
					t.Errorf("logged error %q, want %q", l["error"], tc.reason)
				}
				if l["remote"] != c.LocalAddr().String() {
					t.Errorf("logged remote %v, want %s", l["remote"], c.LocalAddr())
				}
				c.Close()
				h.logs.mu.Lock()
				n := 0
				for _, l := range h.logs.lines {
					if l["msg"] == "request" {
						n++
					}
				}
				h.logs.mu.Unlock()
				want := 1
				if tc.before != "" {
					want = 2
				}
				if n != want {
					t.Errorf("%d access lines, want %d", n, want)
				}
			})
		}
	}
}

// nopConn is a net.Conn whose writes go nowhere, for BenchmarkRejectWatch.
type nopConn struct{ net.Conn }

func (nopConn) Write(b []byte) (int, error) { return len(b), nil }

// BenchmarkRejectWatch: what rejected.go adds to each request, apart from
// the network: the handler's lookup of its connection (through a context
// chain as deep as a request's under net/http and hangup), the ConnState
// re-arm, and the first write of the answer on an armed connection, against
// a plain write. (BenchmarkProxyHello is too noisy on a shared machine to
// show a difference this small: see the report in BENCH.md.)
func BenchmarkRejectWatch(b *testing.B) {
	wc := &watchConn{Conn: nopConn{}, p: &Proxy{}}
	ctx := context.WithValue(context.Background(), http.ServerContextKey, nil)
	ctx = context.WithValue(ctx, http.LocalAddrContextKey, nil)
	ctx = context.WithValue(ctx, watchKey{}, wc)
	for range 6 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithCancel(ctx)
		defer cancel()
	}
	r := (&http.Request{}).WithContext(ctx)
	head := []byte("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n")
	b.Run("plain write", func(b *testing.B) {
		var c net.Conn = nopConn{}
		for b.Loop() {
			c.Write(head)
		}
	})
	b.Run("watched request", func(b *testing.B) {
		var c net.Conn = wc
		for b.Loop() {
			wc.armed.Store(true) // StateIdle
			handled(r)
			c.Write(head)
		}
	})
	b.Run("armed write", func(b *testing.B) {
		var c net.Conn = wc
		for b.Loop() {
			wc.armed.Store(true)
			c.Write(head)
		}
	})
}
