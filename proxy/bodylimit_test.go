package proxy

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
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
	type seen struct {
		n   int64
		err error
	}
	bodies := make(chan seen, 8)
	u := newUpstream(t, func(w http.ResponseWriter, r *http.Request, h *hit) {
		n, err := io.Copy(io.Discard, r.Body)
		bodies <- seen{n, err}
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
		go func() {
			w := bufio.NewWriter(c)
			for i := 0; i < 64; i++ {
				fmt.Fprintf(w, "%x\r\n%s\r\n", 4096, big[:4096])
			}
			w.WriteString("0\r\n\r\n")
			w.Flush()
		}()
		res, body := readResponse(t, c, "POST")
		if res.StatusCode != http.StatusRequestEntityTooLarge {
			t.Errorf("got %d %q, want 413", res.StatusCode, body)
		}
		if s := <-bodies; s.err == nil {
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
		<-bodies
	})
}
