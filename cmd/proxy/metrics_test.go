package proxy

import (
	"strings"
	"testing"
)

// TestAdminEndpoints: /metrics has the core's and the proxy's metrics, and
// /healthz answers.
func TestAdminEndpoints(t *testing.T) {
	u := newUpstream(t, nil)
	close(u.release)
	h := startProxy(t, Config{Upstream: u.url, MaxInflight: 4, Queue: 4, Coalesce: true})
	c := client(t)
	res, err := c.Get("http://" + h.addr + "/warm")
	if err != nil {
		t.Fatal(err)
	}
	readAll(t, res)

	res, err = c.Get("http://" + h.admin + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	if body := readAll(t, res); res.StatusCode != 200 || body != "ok\n" {
		t.Errorf("/healthz: %d %q", res.StatusCode, body)
	}
	res, err = c.Get("http://" + h.admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body := readAll(t, res)
	for _, want := range []string{
		"hangup_requests_in_flight",
		`hangup_client_gone_total{phase="before_handler"}`,
		`hangup_proxy_upstream_requests_total{outcome="completed"} 1`,
		`hangup_proxy_upstream_requests_total{outcome="cancelled"} 0`,
		`hangup_proxy_upstream_requests_total{outcome="error"} 0`,
		`hangup_proxy_upstream_requests_total{outcome="timeout"} 0`,
		"hangup_proxy_queue_depth 0",
		"hangup_proxy_queued_total 0",
		`hangup_proxy_queue_dropped_total{reason="full"} 0`,
		`hangup_proxy_queue_dropped_total{reason="timeout"} 0`,
		`hangup_proxy_queue_dropped_total{reason="client_gone"} 0`,
		"hangup_proxy_coalesced_total 0",
	} {
		if !strings.Contains(body, want+"\n") && !strings.Contains(body, want+" ") {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}
