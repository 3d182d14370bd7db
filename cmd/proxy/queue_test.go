package proxy

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hangup-dev/hangup"
)

// waitQueued waits until n requests in all have joined the proxy's line.
func waitQueued(t *testing.T, h *harness, n uint64) {
	t.Helper()
	deadline := time.Now().Add(waitLong)
	for h.p.line.Stats().Queued < n {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for request %d to queue", n)
		}
		time.Sleep(time.Millisecond)
	}
}

// metric is the value of one series on the proxy's /metrics, as a
// Prometheus scraper sees it: the proxy's own and the core's (hangup_*).
func (h *harness) metric(t *testing.T, series string) float64 {
	t.Helper()
	res, err := client(t).Get("http://" + h.admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	sc := bufio.NewScanner(res.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), series+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("/metrics: %s: %v", series, err)
			}
			return f
		}
	}
	t.Fatalf("/metrics has no %s", series)
	return 0
}

// leaveInLine sends /first, which takes the one upstream slot of h and is
// held by u, then /leaver, whose client leaves once it waits in line; it
// returns /first's connection and /leaver's access line.
func leaveInLine(t *testing.T, h *harness, u *upstream) (first net.Conn, line map[string]any) {
	t.Helper()
	first = dial(t, h.addr)
	write(t, first, "GET /first HTTP/1.1\r\nHost: x\r\n\r\n")
	u.waitHit()
	leaver := dial(t, h.addr)
	write(t, leaver, "GET /leaver HTTP/1.1\r\nHost: x\r\n\r\n")
	waitQueued(t, h, 1)
	closeFIN(leaver)
	return first, h.logs.waitFor(t, "for the queued client that left", func(l map[string]any) bool { return l["uri"] == "/leaver" })
}

// TestQueueClientLeaves: with one upstream slot, a queued client that
// leaves is taken out of the line at once and never reaches the upstream;
// its work never started, so it is counted and logged in phase
// before_handler, like any client that leaves hangup.Admission's line.
func TestQueueClientLeaves(t *testing.T) {
	u := newUpstream(t, nil)
	h := startProxy(t, Config{Upstream: u.url, MaxInflight: 1, Queue: 2})

	first, line := leaveInLine(t, h, u)
	if line["status"] != 499.0 || line["queued"] != true || line["gone_phase"] != hangup.PhaseBeforeHandler.String() || line["gone_reason"] != hangup.ReasonClosed.String() {
		t.Errorf("access log line = %v, want status 499, queued, gone_phase before_handler, gone_reason closed", line)
	}
	for _, m := range []struct {
		series string
		want   float64
	}{
		{"hangup_proxy_queue_depth", 0},
		{`hangup_proxy_queue_dropped_total{reason="client_gone"}`, 1},
		{`hangup_client_gone_total{phase="before_handler"}`, 1},
		{`hangup_client_gone_total{phase="handler"}`, 0},
	} {
		if got := h.metric(t, m.series); got != m.want {
			t.Errorf("%s = %v after the queued client left, want %v", m.series, got, m.want)
		}
	}

	// A third request queues behind the first. If the leaver were still in
	// line, it would go upstream before the third: the upstream would see
	// /leaver next.
	third := dial(t, h.addr)
	write(t, third, "GET /third HTTP/1.1\r\nHost: x\r\n\r\n")
	waitQueued(t, h, 2)
	close(u.release)
	if res, body := readResponse(t, first, "GET"); res.StatusCode != 200 || string(body) != "released /first" {
		t.Fatalf("first: %d %q", res.StatusCode, body)
	}
	if hit := u.waitHit(); hit.r.URL.Path != "/third" {
		t.Fatalf("the upstream got %s after /first, want /third", hit.r.URL.Path)
	}
	if res, body := readResponse(t, third, "GET"); res.StatusCode != 200 || string(body) != "released /third" {
		t.Fatalf("third: %d %q", res.StatusCode, body)
	}
	if n := u.hits.Load(); n != 2 {
		t.Errorf("upstream hits = %d, want 2 (the client that left never reaches it)", n)
	}
}

// TestQueueFull: with one slot and two places in line, a fourth request gets
// 503 with Retry-After at once.
func TestQueueFull(t *testing.T) {
	u := newUpstream(t, nil)
	h := startProxy(t, Config{Upstream: u.url, MaxInflight: 1, Queue: 2, RetryAfter: 3 * time.Second})
	c := client(t)

	var wg sync.WaitGroup
	statuses := make(chan int, 3)
	get := func(path string) {
		defer wg.Done()
		res, err := c.Get("http://" + h.addr + path)
		if err != nil {
			t.Error(err)
			return
		}
		res.Body.Close()
		statuses <- res.StatusCode
	}
	wg.Add(1)
	go get("/1")
	u.waitHit()
	wg.Add(2)
	go get("/2")
	go get("/3")
	waitQueued(t, h, 2)

	res, err := c.Get("http://" + h.addr + "/4")
	if err != nil {
		t.Fatal(err)
	}
	body := readAll(t, res)
	if res.StatusCode != http.StatusServiceUnavailable || res.Header.Get("Retry-After") != "3" {
		t.Errorf("full queue: %d Retry-After %q, want 503 Retry-After 3", res.StatusCode, res.Header.Get("Retry-After"))
	}
	if !strings.Contains(body, "retry in 3 s") {
		t.Errorf("body %q does not say when to retry", body)
	}
	if got := h.metric(t, `hangup_proxy_queue_dropped_total{reason="full"}`); got != 1 {
		t.Errorf("queue drops{full} = %v, want 1", got)
	}
	close(u.release)
	wg.Wait()
	close(statuses)
	for s := range statuses {
		if s != 200 {
			t.Errorf("a request that had a place got %d", s)
		}
	}
	if n := u.hits.Load(); n != 3 {
		t.Errorf("upstream hits = %d, want 3", n)
	}
}

// TestQueueTimeout: a request that waits longer than QueueTimeout gets 503.
func TestQueueTimeout(t *testing.T) {
	u := newUpstream(t, nil)
	h := startProxy(t, Config{Upstream: u.url, MaxInflight: 1, Queue: 2, QueueTimeout: 50 * time.Millisecond})
	c := client(t)
	done := make(chan struct{})
	go func() {
		defer close(done)
		res, err := c.Get("http://" + h.addr + "/holder")
		if err == nil {
			res.Body.Close()
		}
	}()
	u.waitHit()
	res, err := c.Get("http://" + h.addr + "/waiter")
	if err != nil {
		t.Fatal(err)
	}
	readAll(t, res)
	if res.StatusCode != http.StatusServiceUnavailable || res.Header.Get("Retry-After") == "" {
		t.Errorf("queue timeout: %d Retry-After %q, want 503 with Retry-After", res.StatusCode, res.Header.Get("Retry-After"))
	}
	if got := h.metric(t, `hangup_proxy_queue_dropped_total{reason="timeout"}`); got != 1 {
		t.Errorf("queue drops{timeout} = %v, want 1", got)
	}
	close(u.release)
	<-done
	if n := u.hits.Load(); n != 1 {
		t.Errorf("upstream hits = %d, want 1", n)
	}
}

func readAll(t *testing.T, res *http.Response) string {
	t.Helper()
	defer res.Body.Close()
	var b strings.Builder
	if _, err := io.Copy(&b, res.Body); err != nil {
		t.Fatal(err)
	}
	return b.String()
}
