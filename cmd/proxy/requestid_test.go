package proxy

import (
	cryptorand "crypto/rand"
	"encoding/hex"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
)

var idSink string

// BenchmarkRequestID: the cost of a made request id, against crypto/rand
// for the same 128 bits (see requestid.go for the choice).
func BenchmarkRequestID(b *testing.B) {
	b.Run("math-rand-v2", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			idSink = newRequestID()
		}
	})
	b.Run("crypto-rand", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var raw [16]byte
			cryptorand.Read(raw[:])
			idSink = hex.EncodeToString(raw[:])
		}
	})
}

// TestRequestID: the request id a client sends is kept, logged and passed
// upstream when it is sane and alone; otherwise a new one replaces it, on
// both the direct path (GET) and ReverseProxy's (POST). The client's answer
// carries none unless the upstream set one.
func TestRequestID(t *testing.T) {
	u := newUpstream(t, func(w http.ResponseWriter, r *http.Request, h *hit) {
		if r.URL.Query().Has("upstream-sets") {
			w.Header().Set("X-Request-Id", "from-upstream")
		}
		io.Copy(io.Discard, r.Body)
		io.WriteString(w, "ok")
	})
	h := startProxy(t, Config{Upstream: u.url})
	made := regexp.MustCompile(`^[0-9a-f]{32}$`)
	for _, tc := range []struct {
		name    string
		headers string
		keep    string // the id that must go upstream; "" for a made one
	}{
		{"sane", "X-Request-Id: 7fb3693f-4061-4070-95d4-3889aa8a22a5\r\n", "7fb3693f-4061-4070-95d4-3889aa8a22a5"},
		{"lower-case name", "x-request-id: svc/1234\r\n", "svc/1234"},
		{"none", "", ""},
		{"empty", "X-Request-Id: \r\n", ""},
		{"space", "X-Request-Id: a b\r\n", ""},
		{"quote", "X-Request-Id: a\"b\r\n", ""},
		{"non-ascii", "X-Request-Id: \xc3\xa9t\xc3\xa9\r\n", ""},
		{"too long", "X-Request-Id: " + strings.Repeat("x", 129) + "\r\n", ""},
		{"two", "X-Request-Id: a\r\nX-Request-Id: b\r\n", ""},
	} {
		for _, method := range []string{"GET", "POST"} {
			t.Run(tc.name+"/"+method, func(t *testing.T) {
				c := dial(t, h.addr)
				path := "/" + strings.ReplaceAll(tc.name, " ", "-") + "/" + method
				body := ""
				if method == "POST" {
					body = "Content-Length: 2\r\n\r\nhi"
				} else {
					body = "\r\n"
				}
				write(t, c, method+" "+path+" HTTP/1.1\r\nHost: x\r\n"+tc.headers+body)
				res, _ := readResponse(t, c, method)
				if v, ok := res.Header["X-Request-Id"]; ok {
					t.Errorf("the answer carries X-Request-Id %q, want none", v)
				}
				up := u.waitHit().r.Header["X-Request-Id"]
				if len(up) != 1 || (tc.keep != "" && up[0] != tc.keep) || (tc.keep == "" && !made.MatchString(up[0])) {
					t.Fatalf("upstream got X-Request-Id %q, want %q (empty: a made one)", up, tc.keep)
				}
				line := h.logs.waitFor(t, path, func(l map[string]any) bool { return l["uri"] == path })
				if line["request_id"] != up[0] {
					t.Errorf("logged request_id %v, want %q, what went upstream", line["request_id"], up[0])
				}
			})
		}
	}
	t.Run("upstream sets one", func(t *testing.T) {
		res, err := client(t).Get("http://" + h.addr + "/?upstream-sets")
		if err != nil {
			t.Fatal(err)
		}
		readAll(t, res)
		if got := res.Header.Get("X-Request-Id"); got != "from-upstream" {
			t.Errorf("X-Request-Id %q, want the upstream's", got)
		}
	})
}

// TestRequestIDsDiffer: made ids do not repeat.
func TestRequestIDsDiffer(t *testing.T) {
	seen := map[string]bool{}
	for range 10000 {
		id := newRequestID()
		if seen[id] {
			t.Fatalf("%s made twice", id)
		}
		seen[id] = true
	}
}
