package proxy

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

func queueHook(p *Proxy) chan int {
	f, ch := signal()
	p.queue.onWait = func() { f(1) }
	return ch
}

// TestQueueClientLeaves: with one upstream slot, a queued client that
// leaves is taken out of the line at once and never reaches the upstream.
func TestQueueClientLeaves(t *testing.T) {
	u := newUpstream(t, nil)
	var queued chan int
	h := startProxyWith(t, Config{Upstream: u.url, MaxInflight: 1, Queue: 2}, func(p *Proxy) { queued = queueHook(p) })

	first := dial(t, h.addr)
	write(t, first, "GET /first HTTP/1.1\r\nHost: x\r\n\r\n")
	u.waitHit()

	leaver := dial(t, h.addr)
	write(t, leaver, "GET /leaver HTTP/1.1\r\nHost: x\r\n\r\n")
	waitValue(t, queued, 1, "the second request to queue")
	closeFIN(leaver)
	line := h.logs.waitFor(t, "for the queued client that left", func(l map[string]any) bool { return l["uri"] == "/leaver" })
	if line["status"] != 499.0 || line["queued"] != true {
		t.Errorf("access log line = %v, want status 499, queued", line)
	}
	if d := h.p.queue.depth(); d != 0 {
		t.Errorf("queue depth = %d after the queued client left, want 0", d)
	}
	if got := testCounter(t, h.p.m.drops.WithLabelValues(dropClientGone)); got != 1 {
		t.Errorf("queue drops{client_gone} = %v, want 1", got)
	}

	// A third request queues behind the first. If the leaver were still in
	// line, it would go upstream before the third: the upstream would see
	// /leaver next.
	third := dial(t, h.addr)
	write(t, third, "GET /third HTTP/1.1\r\nHost: x\r\n\r\n")
	waitValue(t, queued, 1, "the third request to queue")
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
	var queued chan int
	h := startProxyWith(t, Config{Upstream: u.url, MaxInflight: 1, Queue: 2, RetryAfter: 3 * time.Second}, func(p *Proxy) { queued = queueHook(p) })
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
	waitValue(t, queued, 1, "a request to queue")
	waitValue(t, queued, 1, "another request to queue")

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
	if got := testCounter(t, h.p.m.drops.WithLabelValues(dropFull)); got != 1 {
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
	if got := testCounter(t, h.p.m.drops.WithLabelValues(dropTimeout)); got != 1 {
		t.Errorf("queue drops{timeout} = %v, want 1", got)
	}
	close(u.release)
	<-done
	if n := u.hits.Load(); n != 1 {
		t.Errorf("upstream hits = %d, want 1", n)
	}
}

// TestQueueFIFO exercises the queue alone: slots go to waiters in arrival
// order, and a waiter that gives up is skipped.
func TestQueueFIFO(t *testing.T) {
	m := newMetrics(func() int { return 0 })
	q := newQueue(1, 10, 0, m)
	entered := make(chan int, 10)
	q.onWait = func() { entered <- 0 }
	if _, err := q.acquire(context.Background()); err != nil {
		t.Fatal(err)
	}
	order := make(chan int, 5)
	var wg sync.WaitGroup
	ctxGone, cancel := context.WithCancelCause(context.Background())
	gaveUp := make(chan struct{})
	for i := 0; i < 5; i++ {
		ctx := context.Background()
		if i == 2 {
			ctx = ctxGone
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := q.acquire(ctx); err != nil {
				if i != 2 || !errors.Is(err, errTestGone) {
					t.Errorf("waiter %d: %v", i, err)
				}
				close(gaveUp)
				return
			}
			order <- i
			q.release()
		}()
		<-entered // in line before the next one starts
	}
	cancel(errTestGone)
	<-gaveUp
	if d := q.depth(); d != 4 {
		t.Fatalf("depth = %d after a waiter gave up, want 4", d)
	}
	q.release()
	wg.Wait()
	close(order)
	var got []int
	for i := range order {
		got = append(got, i)
	}
	if want := []int{0, 1, 3, 4}; !equalInts(got, want) {
		t.Errorf("slots went to %v, want %v", got, want)
	}
}

var errTestGone = errors.New("test: client gone")

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
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
