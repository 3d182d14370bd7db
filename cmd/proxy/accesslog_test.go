package proxy

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/hangup-dev/hangup/internal/adaptertest"
)

// TestAccessLineHostileValues: a client's user agent and referer, whatever
// bytes they hold, stay inside their fields on both formats of the proxy's
// own line writer: one line, no field of the client's making, the value
// read back as sent.
func TestAccessLineHostileValues(t *testing.T) {
	for _, tc := range adaptertest.HostileValues {
		for _, isJSON := range []bool{false, true} {
			t.Run(tc.Name+map[bool]string{false: "/text", true: "/json"}[isJSON], func(t *testing.T) {
				r := httptest.NewRequest("GET", "/", nil)
				r.Header["User-Agent"] = []string{tc.Value}
				r.Header["Referer"] = []string{tc.Value}
				rec := &record{start: time.Now(), requestID: requestID(r), complete: true}
				s := &lineSink{json: isJSON}
				now := time.Now()
				s.begin(now, "request")
				(&Proxy{}).accessFields(r, rec, rec.verdict(r, now), s)
				fields := adaptertest.WantContained(t, isJSON, string(s.end()), tc.Value, "user_agent", "referer")
				if fields["status"] != "200" {
					t.Errorf("status %q, want 200: forged", fields["status"])
				}
			})
		}
	}
}

// TestAccessLineFields: what a proxied request's line says besides the
// request line, from a real client's raw bytes, on the direct path (GET),
// through ReverseProxy (POST), and for a waiter of a coalesced request: the
// client's user agent (hostile bytes included) and referer, the trace id of
// a sampled traceparent, the upstream, and the upstream's times to the head
// and to the end of its answer.
func TestAccessLineFields(t *testing.T) {
	const traceID = "0af7651916cd43dd8448eb211c80319c"
	u := newUpstream(t, func(w http.ResponseWriter, r *http.Request, h *hit) {
		io.Copy(io.Discard, r.Body)
		io.WriteString(w, "ok")
	})
	ua := "evil\" level=ERROR msg=\"forged\t\xff"
	for _, tc := range []struct {
		name, method string
		coalesce     bool
	}{
		{"direct", "GET", false},
		{"reverseproxy", "POST", false},
		{"coalesced", "GET", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := startProxy(t, Config{Upstream: u.url, Coalesce: tc.coalesce})
			method := tc.method
			c := dial(t, h.addr)
			path := "/fields/" + tc.name
			req := method + " " + path + " HTTP/1.1\r\nHost: x\r\nUser-Agent: " + ua + "\r\nReferer: https://example.com/\r\n" +
				"Traceparent: 00-" + traceID + "-b7ad6b7169203331-01\r\n"
			if method == "POST" {
				req += "Content-Length: 2\r\n\r\nhi"
			} else {
				req += "\r\n"
			}
			write(t, c, req)
			readResponse(t, c, method)
			line := h.logs.waitFor(t, path, func(l map[string]any) bool { return l["uri"] == path })
			want := map[string]any{
				"user_agent": strings.ToValidUTF8(ua, "\ufffd"),
				"referer":    "https://example.com/",
				"trace_id":   traceID,
				"upstream":   u.url.Host,
				"status":     200.0,
			}
			for k, v := range want {
				if line[k] != v {
					t.Errorf("%s = %q, want %q; line %v", k, line[k], v, line)
				}
			}
			head, _ := line["upstream_header_time"].(float64)
			total, _ := line["upstream_response_time"].(float64)
			dur, _ := line["duration"].(float64)
			if head <= 0 || total < head || dur < total {
				t.Errorf("upstream_header_time %v, upstream_response_time %v, duration %v: want 0 < head <= total <= duration", head, total, dur)
			}
		})
	}
}
