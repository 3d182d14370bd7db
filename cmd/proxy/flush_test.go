package proxy

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestFlushInterval: an upstream sends the first part of an answer, then
// waits until the test releases it; the client must see the first part
// before that, on the direct path and through ReverseProxy, for an answer
// of known length with FlushInterval -1 or 20ms, and for server-sent events
// (with and without Content-Length) with the default FlushInterval. (Whether
// the default holds a known-length answer back is not asserted: that would
// be a wait for something not to happen.)
func TestFlushInterval(t *testing.T) {
	for _, tc := range []struct {
		name     string
		interval time.Duration
		head     string // the upstream's answer head, without the blank line
	}{
		{"Content-Length, -1", -1, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n"},
		{"Content-Length, 20ms", 20 * time.Millisecond, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n"},
		{"SSE with Content-Length, default", 0, "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Length: 10\r\n"},
		{"SSE chunked, default", 0, "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream; charset=utf-8\r\nTransfer-Encoding: chunked\r\n"},
	} {
		for _, path := range []struct{ name, req string }{
			{"direct", "GET /x HTTP/1.1\r\nHost: front.example\r\n\r\n"},
			{"ReverseProxy", "POST /x HTTP/1.1\r\nHost: front.example\r\nContent-Length: 2\r\n\r\nab"},
		} {
			t.Run(tc.name+"/"+path.name, func(t *testing.T) {
				release := make(chan struct{})
				var once sync.Once
				chunked := strings.Contains(tc.head, "chunked")
				up := rawUpstream(t, func(c net.Conn) {
					req, err := http.ReadRequest(bufio.NewReader(c))
					if err != nil {
						return
					}
					io.Copy(io.Discard, req.Body)
					first, last := "first", "-last"
					if chunked {
						first, last = "5\r\nfirst\r\n", "5\r\n-last\r\n0\r\n\r\n"
					}
					if _, err := io.WriteString(c, tc.head+"\r\n"+first); err != nil {
						return
					}
					<-release
					io.WriteString(c, last)
				})
				t.Cleanup(func() { once.Do(func() { close(release) }) })
				h := startProxy(t, Config{Upstream: up, FlushInterval: tc.interval})
				c := dial(t, h.addr)
				write(t, c, path.req)
				c.SetReadDeadline(time.Now().Add(waitLong))
				res, err := http.ReadResponse(bufio.NewReader(c), nil)
				if err != nil {
					t.Fatalf("no answer's head before the upstream was released: %v", err)
				}
				buf := make([]byte, 5)
				if _, err := io.ReadFull(res.Body, buf); err != nil || string(buf) != "first" {
					t.Fatalf("read %q, %v before the upstream was released; want \"first\"", buf, err)
				}
				once.Do(func() { close(release) })
				rest, err := io.ReadAll(res.Body)
				if err != nil || string(rest) != "-last" {
					t.Errorf("then read %q, %v; want \"-last\"", rest, err)
				}
			})
		}
	}
}
