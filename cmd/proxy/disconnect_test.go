package proxy

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/hangup-dev/hangup"
)

// TestClientGoneCancelsUpstream: whatever the request is doing, the upstream
// request made for a client that leaves is aborted, and the access log says
// 499.
func TestClientGoneCancelsUpstream(t *testing.T) {
	get := "GET /work HTTP/1.1\r\nHost: example.test\r\n\r\n"
	// The upstream holds the body unread; the client sent 64 KiB of 1 MiB.
	postUnread := "POST /upload HTTP/1.1\r\nHost: example.test\r\nContent-Length: 1048576\r\n\r\n" + strings.Repeat("x", 64<<10)
	cases := []struct {
		name    string
		request string
		leave   func(*net.TCPConn)
		reason  string
	}{
		{"GET/FIN", get, closeFIN, "closed"},
		{"GET/RST", get, closeRST, "reset"},
		{"POST-unread-body/FIN", postUnread, closeFIN, "closed"},
		{"POST-unread-body/RST", postUnread, closeRST, "reset"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			u := newUpstream(t, nil)
			h := startProxy(t, Config{Upstream: u.url})
			c := dial(t, h.addr)
			write(t, c, tc.request)
			hit := u.waitHit()
			tc.leave(c)
			hit.waitEnded(t)
			if !errors.Is(hit.cause, hangup.ErrClientGone) {
				t.Errorf("upstream context cause = %v, want the upstream's connection closed", hit.cause)
			}
			line := h.logs.waitFor(t, "with status 499", func(l map[string]any) bool { return l["status"] == 499.0 })
			if line["gone_reason"] != tc.reason {
				t.Errorf("gone_reason = %v, want %s (line %v)", line["gone_reason"], tc.reason, line)
			}
			if got := testCounter(t, h.p.m.upstream.WithLabelValues(outcomeCancelled)); got != 1 {
				t.Errorf("upstream requests cancelled = %v, want 1", got)
			}
		})
	}
}

// TestForwarding: a request that stays goes through, with the X-Forwarded
// headers and without hop-by-hop ones, and the body the upstream reads.
func TestForwarding(t *testing.T) {
	u := newUpstream(t, func(w http.ResponseWriter, r *http.Request, h *hit) {
		body, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "xff=%s proto=%s host=%s conn=%q te=%q body=%s",
			r.Header.Get("X-Forwarded-For"), r.Header.Get("X-Forwarded-Proto"), r.Header.Get("X-Forwarded-Host"),
			r.Header.Get("Connection"), r.Header.Get("Keep-Alive"), body)
	})
	h := startProxy(t, Config{Upstream: u.url})
	req, _ := http.NewRequest("POST", "http://"+h.addr+"/echo", strings.NewReader("ping"))
	req.Host = "front.example"
	req.Header.Set("Connection", "keep-alive, X-Secret")
	req.Header.Set("Keep-Alive", "timeout=5")
	res, err := client(t).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	want := `xff=127.0.0.1 proto=http host=front.example conn="" te="" body=ping`
	if string(body) != want {
		t.Errorf("upstream saw %q, want %q", body, want)
	}
	line := h.logs.waitFor(t, "for /echo", func(l map[string]any) bool { return l["uri"] == "/echo" })
	if line["status"] != 200.0 || line["upstream_status"] != 200.0 || line["bytes_in"] != 4.0 {
		t.Errorf("access log line = %v", line)
	}
	if got := testCounter(t, h.p.m.upstream.WithLabelValues(outcomeCompleted)); got != 1 {
		t.Errorf("upstream requests completed = %v, want 1", got)
	}
}
