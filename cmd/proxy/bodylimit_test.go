package proxy

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestMaxBodySize: a body larger than Config.MaxBodySize gets 413, whole,
// while the client is still sending it. Declared by Content-Length, the
// upstream never hears of it; streamed (chunked) past the limit, the
// upstream's request is aborted, so it never reads a complete body. A body
// within the limit goes through.
func TestMaxBodySize(t *testing.T) {
	// Larger than the Transport's write buffer, so that the streamed
	// request's head has reached the upstream when the limit is passed.
	const limit = 64 << 10
	bodies := make(chan bodySeen, 8)
	started := make(chan struct{}, 8)
	u := newUpstream(t, func(w http.ResponseWriter, r *http.Request, h *hit) {
		n, err := io.ReadFull(r.Body, make([]byte, limit/2))
		if err == nil {
			started <- struct{}{}
			var m int64
			m, err = io.Copy(io.Discard, r.Body)
			n += int(m)
		}
		bodies <- bodySeen{int64(n), err}
		fmt.Fprintf(w, "read %d", n)
	})
	h := startProxy(t, Config{Upstream: u.url, MaxBodySize: limit})
	big := strings.Repeat("b", 1<<20)

	t.Run("declared", func(t *testing.T) {
		c := dial(t, h.addr)
		write(t, c, fmt.Sprintf("POST /declared HTTP/1.1\r\nHost: example.test\r\nContent-Length: %d\r\n\r\n", len(big)))
		go io.WriteString(c, big)
		res, body := readResponse(t, c, "POST")
		if res.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(string(body), "larger than this proxy accepts") {
			t.Errorf("got %d %q, want 413", res.StatusCode, body)
		}
		line := h.logs.waitFor(t, "for /declared", func(l map[string]any) bool { return l["uri"] == "/declared" })
		if line["status"] != 413.0 || line["upstream_status"] != 0.0 {
			t.Errorf("access log line = %v, want status 413 and no upstream status", line)
		}
		if n := u.hits.Load(); n != 0 {
			t.Errorf("the upstream got %d requests, want none", n)
		}
	})
	t.Run("streamed", func(t *testing.T) {
		c := dial(t, h.addr)
		write(t, c, "POST /streamed HTTP/1.1\r\nHost: example.test\r\nTransfer-Encoding: chunked\r\n\r\n")
		chunks := func(n int) {
			w := bufio.NewWriter(c)
			for i := 0; i < n; i++ {
				fmt.Fprintf(w, "%x\r\n%s\r\n", 4096, big[:4096])
			}
			w.Flush()
		}
		chunks(limit / 2 / 4096)
		select {
		case <-started:
		case <-time.After(waitLong):
			t.Fatal("the upstream never got the first half of the body")
		}
		go func() {
			chunks(64)
			io.WriteString(c, "0\r\n\r\n")
		}()
		res, body := readResponse(t, c, "POST")
		if res.StatusCode != http.StatusRequestEntityTooLarge {
			t.Errorf("got %d %q, want 413", res.StatusCode, body)
		}
		if s := waitBody(t, bodies); s.err == nil {
			t.Errorf("the upstream read a complete body of %d bytes, want its request aborted", s.n)
		}
	})
	t.Run("within", func(t *testing.T) {
		res, err := client(t).Post("http://"+h.addr+"/within", "text/plain", strings.NewReader(big[:limit]))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusOK || string(body) != fmt.Sprintf("read %d", limit) {
			t.Errorf("got %d %q, want 200 \"read %d\"", res.StatusCode, body, limit)
		}
		waitBody(t, bodies)
	})
}

// bodySeen is what an upstream made of a request body.
type bodySeen struct {
	n   int64
	err error
}

func waitBody(t *testing.T, bodies chan bodySeen) bodySeen {
	t.Helper()
	select {
	case s := <-bodies:
		return s
	case <-time.After(waitLong):
		t.Fatal("the upstream never finished reading the body")
		return bodySeen{}
	}
}
