package proxy

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
)

// halfBody is what a dying upstream sends of its 2*halfBody-byte body: more
// than net/http buffers before it writes a response head (4 KiB).
const halfBody = 64 << 10

// dyingUpstream is a raw TCP upstream. Its first request gets half a
// response (the headers and half the body, framed by
// Content-Length or chunked), after which the upstream closes the
// connection (FIN) or resets it (RST). Every later request gets a whole
// "whole" answer.
type dyingUpstream struct {
	url  *url.URL
	hits atomic.Int64
}

func newDyingUpstream(t *testing.T, chunked, rst bool) *dyingUpstream {
	t.Helper()
	u := &dyingUpstream{}
	u.url = rawUpstream(t, func(c net.Conn) { u.serve(c.(*net.TCPConn), chunked, rst) })
	return u
}

// serve answers on c, which rawUpstream closes after it: with an RST when
// rst set the linger to 0.
func (u *dyingUpstream) serve(c *net.TCPConn, chunked, rst bool) {
	if _, err := http.ReadRequest(bufio.NewReader(c)); err != nil {
		return
	}
	if u.hits.Add(1) > 1 {
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nwhole")
		return
	}
	half := strings.Repeat("x", halfBody)
	if chunked {
		fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n", len(half), half)
	} else {
		fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", 2*len(half), half)
	}
	if rst {
		c.SetLinger(0)
	}
}

// TestUpstreamDiesMidResponse: when the upstream's connection ends in the
// middle of a response body, the client sees the response cut short, never
// a clean end: a short body for Content-Length, no last chunk for chunked, a
// reset stream for HTTP/2. The access log and the metrics say so, and the
// proxy serves the next request as usual.
func TestUpstreamDiesMidResponse(t *testing.T) {
	for _, tc := range []struct {
		name         string
		chunked, rst bool
		h2c          bool
	}{
		{name: "content-length FIN"},
		{name: "content-length RST", rst: true},
		{name: "chunked FIN", chunked: true},
		{name: "chunked RST", chunked: true, rst: true},
		{name: "h2c content-length", h2c: true},
		{name: "h2c chunked", chunked: true, h2c: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u := newDyingUpstream(t, tc.chunked, tc.rst)
			h := startProxy(t, Config{Upstream: u.url, H2C: tc.h2c})

			if tc.h2c {
				tr := &http.Transport{Protocols: new(http.Protocols)}
				tr.Protocols.SetUnencryptedHTTP2(true)
				t.Cleanup(tr.CloseIdleConnections) // before the proxy shuts down
				c := &http.Client{Transport: tr, Timeout: waitLong}
				res, err := c.Get("http://" + h.addr + "/half")
				var body []byte
				if err == nil {
					body, err = io.ReadAll(res.Body)
					res.Body.Close()
				}
				// The reset comes in the body, or before the head if the
				// proxy had not flushed it yet.
				if err == nil || len(body) >= 2*halfBody {
					t.Fatalf("HTTP/2 client read %d bytes, err %v; want the stream reset before the end", len(body), err)
				}
				if !strings.Contains(err.Error(), "INTERNAL_ERROR") {
					t.Errorf("err = %v, want a stream reset with INTERNAL_ERROR", err)
				}
			} else {
				c := dial(t, h.addr)
				write(t, c, "GET /half HTTP/1.1\r\nHost: x\r\n\r\n")
				res, err := http.ReadResponse(bufio.NewReader(c), &http.Request{Method: "GET"})
				if err != nil {
					// An upstream RST may discard the bytes the proxy had
					// yet to read: then nothing is relayed, and the client
					// sees the connection end with no response at all.
					if !tc.rst || !errors.Is(err, io.ErrUnexpectedEOF) {
						t.Fatalf("reading the response head: %v", err)
					}
				} else {
					if res.StatusCode != 200 {
						t.Fatalf("status %d, want the upstream's 200", res.StatusCode)
					}
					if tc.chunked {
						// The head and the first chunk were flushed at once
						// (ReverseProxy flushes a body of unknown length).
						if len(res.TransferEncoding) != 1 || res.TransferEncoding[0] != "chunked" {
							t.Fatalf("Transfer-Encoding %q, want chunked", res.TransferEncoding)
						}
					} else if res.ContentLength != 2*halfBody {
						t.Fatalf("Content-Length %d, want the upstream's %d", res.ContentLength, 2*halfBody)
					}
					body, err := io.ReadAll(res.Body)
					if !errors.Is(err, io.ErrUnexpectedEOF) {
						t.Errorf("reading the body: err = %v after %d bytes, want io.ErrUnexpectedEOF (no clean end)", err, len(body))
					}
					if len(body) >= 2*halfBody {
						t.Errorf("read %d bytes, want fewer than %d", len(body), 2*halfBody)
					}
				}
			}

			line := h.logs.waitFor(t, "for the cut response", func(l map[string]any) bool { return l["uri"] == "/half" })
			if line["status"] != 200.0 || line["error"] == nil {
				t.Errorf("access log line = %v, want status 200 with an error", line)
			}
			if got := testCounter(t, h.p.m.upstream.WithLabelValues(outcomeError)); got != 1 {
				t.Errorf("upstream requests with outcome error = %v, want 1", got)
			}

			// The proxy carries on.
			res, err := client(t).Get("http://" + h.addr + "/next")
			if err != nil {
				t.Fatal(err)
			}
			if body := readAll(t, res); res.StatusCode != 200 || body != "whole" {
				t.Errorf("next request: %d %q, want 200 \"whole\"", res.StatusCode, body)
			}
			if n := u.hits.Load(); n != 2 {
				t.Errorf("upstream hits = %d, want 2", n)
			}
		})
	}
}
