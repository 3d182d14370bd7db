package proxy

import (
	"io"
	"net/http"
	"net/url"
	"sync/atomic"
	"testing"
	"time"
)

// checkedUpstream answers "A" and, at /healthz, the status in health, or
// nothing until the check gives up when health is 0.
func checkedUpstream(t *testing.T) (*upstream, *atomic.Int32) {
	var health atomic.Int32
	health.Store(http.StatusOK)
	u := newUpstream(t, func(w http.ResponseWriter, r *http.Request, h *hit) {
		if r.URL.Path != "/healthz" {
			io.WriteString(w, "A")
			return
		}
		if r.Header.Get("User-Agent") != "hangup-proxy health check" {
			t.Errorf("health check with User-Agent %q", r.Header.Get("User-Agent"))
		}
		st := int(health.Load())
		if st == 0 {
			<-r.Context().Done()
			return
		}
		w.WriteHeader(st)
	})
	return u, &health
}

// TestHealthCheck: an upstream whose health checks fail MaxFails times in a
// row is ejected (a status other than 2xx or 3xx, or no answer in
// HealthTimeout), and gets no request, not even a probe once FailTimeout
// has passed, until a check passes; then it is back. Checks that a reload
// turns on run as those of the start.
func TestHealthCheck(t *testing.T) {
	for _, tc := range []struct {
		name    string
		fail    int32 // what /healthz answers while unhealthy; 0: nothing
		timeout time.Duration
		why     string
		reload  bool // checks turned on by a reload, not at start
	}{
		// A timeout long enough that a loaded machine's answers make it,
		// but for the one whose upstream does not answer.
		{"503", http.StatusServiceUnavailable, waitLong, "GET /healthz: 503 Service Unavailable", false},
		{"404", http.StatusNotFound, waitLong, "GET /healthz: 404 Not Found", false},
		{"no answer", 0, time.Second, "no answer in 1s", false},
		{"turned on by a reload", http.StatusServiceUnavailable, waitLong, "GET /healthz: 503 Service Unavailable", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, health := checkedUpstream(t)
			b := answerer(t, "B")
			cfg := Config{Upstreams: []*url.URL{a.url, b.url}, Balance: BalanceFirst, MaxFails: 2, FailTimeout: time.Millisecond,
				HealthPath: "/healthz", HealthInterval: 10 * time.Millisecond, HealthTimeout: tc.timeout}
			start := cfg
			if tc.reload {
				start.HealthPath = ""
			}
			h := startProxy(t, start)
			if tc.reload {
				if err := h.p.Reload(reloadTo(cfg)); err != nil {
					t.Fatal(err)
				}
			}
			c := client(t)
			if status, body := do(t, c, http.MethodGet, "http://"+h.addr+"/", ""); status != 200 || body != "A" {
				t.Fatalf("healthy: %d %q, want A", status, body)
			}
			health.Store(tc.fail)
			line := h.logs.logged(t, "upstream ejected", a.url.Host)
			if line["health_check"] != tc.why || line["fails"] != 2.0 || line["for"] != "until a health check passes" {
				t.Errorf("ejected: %v, want 2 failed checks: %s", line, tc.why)
			}
			for i := range 5 {
				// Past FailTimeout (sleeping: only time passing is
				// waited for): without checks, this would be A's probe.
				time.Sleep(2 * time.Millisecond)
				if status, body := do(t, c, http.MethodGet, "http://"+h.addr+"/", ""); status != 200 || body != "B" {
					t.Fatalf("request %d while A is ejected: %d %q, want B", i, status, body)
				}
			}
			health.Store(http.StatusOK)
			h.logs.logged(t, "upstream returned", a.url.Host)
			if status, body := do(t, c, http.MethodGet, "http://"+h.addr+"/", ""); status != 200 || body != "A" {
				t.Fatalf("returned: %d %q, want A", status, body)
			}
		})
	}
}
