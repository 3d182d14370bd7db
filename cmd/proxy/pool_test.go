package proxy

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// refusedURL is an http:// URL on loopback where nothing listens: connects
// are refused. Its listener is closed at once, so its port is free to be
// listened on again (reopen).
func refusedURL(t *testing.T) *url.URL {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return &url.URL{Scheme: "http", Host: addr}
}

// answerer is an upstream that answers at once with its name.
func answerer(t *testing.T, name string) *upstream {
	return newUpstream(t, func(w http.ResponseWriter, r *http.Request, h *hit) {
		io.Copy(io.Discard, r.Body)
		io.WriteString(w, name)
	})
}

// TestPoolBalancing: two upstreams, one that holds every request and one
// that answers at once, and 20 requests one after the other, each sent once
// the one before has been answered or is held. least_inflight sends at most
// one to the slow upstream (both have none in flight only until it holds
// one; with two upstreams its two random choices are always both), and
// round_robin and first do what they say.
func TestPoolBalancing(t *testing.T) {
	const n = 20
	for _, tc := range []struct {
		policy  string
		minSlow int
		maxSlow int
	}{
		{BalanceLeastInflight, 0, 1},
		{BalanceRoundRobin, n / 2, n / 2},
		{BalanceFirst, n, n},
	} {
		t.Run(tc.policy, func(t *testing.T) {
			slow, fast := newUpstream(t, nil), answerer(t, "fast")
			h := startProxy(t, Config{Upstreams: []*url.URL{slow.url, fast.url}, Balance: tc.policy})
			c := client(t)
			answers := make(chan string, n)
			var wg sync.WaitGroup
			defer wg.Wait()
			held := 0
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					res, err := c.Get("http://" + h.addr + "/r" + string(rune('a'+i)))
					if err != nil {
						answers <- err.Error()
						return
					}
					b, _ := io.ReadAll(res.Body)
					res.Body.Close()
					answers <- string(b)
				}()
				select {
				case <-slow.arrived:
					held++
				case a := <-answers:
					if a != "fast" {
						t.Fatalf("answer %q, want fast", a)
					}
					// The answer may reach the client before the proxy
					// has counted the request done: wait for that.
					for fb := h.p.pool().backends[1]; fb.inflight.Load() != 0; {
						time.Sleep(time.Millisecond)
					}
				case <-time.After(waitLong):
					t.Fatal("a request was neither held nor answered")
				}
			}
			close(slow.release)
			for range held {
				if a := <-answers; !strings.HasPrefix(a, "released") {
					t.Errorf("held request answered %q", a)
				}
			}
			if held < tc.minSlow || held > tc.maxSlow {
				t.Errorf("%s: the slow upstream got %d of %d requests, want %d to %d", tc.policy, held, n, tc.minSlow, tc.maxSlow)
			}
		})
	}
}

// logged waits for a log line with message msg about upstream up.
func (s *logSink) logged(t *testing.T, msg, up string) map[string]any {
	t.Helper()
	return s.waitLine(t, msg+" "+up, func(l map[string]any) bool { return l["msg"] == msg && l["upstream"] == up })
}

// TestPoolEjectAndReturn: an upstream that refuses connections is ejected
// after MaxFails refusals in a row, the requests meanwhile retried on the
// other (never reached: any method); once it listens again, a request after
// the backoff finds it, and it is back.
func TestPoolEjectAndReturn(t *testing.T) {
	down := refusedURL(t)
	other := answerer(t, "other")
	h := startProxy(t, Config{Upstreams: []*url.URL{down, other.url}, Balance: BalanceFirst,
		MaxFails: 2, FailTimeout: 50 * time.Millisecond})
	c := client(t)
	for i, method := range []string{http.MethodGet, http.MethodPost} {
		body := ""
		if method == http.MethodPost {
			body = "body"
		}
		if code, got := do(t, c, method, "http://"+h.addr+"/x", body); code != 200 || got != "other" {
			t.Fatalf("request %d (%s): %d %q, want 200 from the other upstream", i, method, code, got)
		}
		l := h.logs.waitFor(t, "for "+method, func(l map[string]any) bool { return l["method"] == method })
		if l["upstream"] != other.url.Host {
			t.Errorf("access line's upstream %v, want %s", l["upstream"], other.url.Host)
		}
	}
	h.logs.logged(t, "upstream ejected", down.Host)
	b := h.p.pool().backends[0]
	if !b.health.down.Load() || b.health.ejected.Load() < 1 {
		t.Fatalf("after 2 refusals: down %v, ejections %d", b.health.down.Load(), b.health.ejected.Load())
	}
	if code, _ := do(t, c, http.MethodGet, "http://"+h.admin+"/healthz", ""); code != 200 {
		t.Errorf("/healthz with one healthy upstream: %d, want 200", code)
	}

	ln, err := net.Listen("tcp", down.Host)
	if err != nil {
		t.Skipf("cannot listen on %s again: %v", down.Host, err)
	}
	back := make(chan struct{}, 1)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case back <- struct{}{}:
		default:
		}
		io.WriteString(w, "back")
	})}
	go srv.Serve(ln)
	defer srv.Close()
	deadline := time.Now().Add(waitLong)
	for {
		if code, body := do(t, c, http.MethodGet, "http://"+h.addr+"/y", ""); code != 200 {
			t.Fatalf("while the upstream returns: %d %q", code, body)
		} else if body == "back" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the upstream got no request after its backoff")
		}
		time.Sleep(10 * time.Millisecond) // polling, not asserting a duration
	}
	h.logs.logged(t, "upstream returned", down.Host)
	if b.health.down.Load() {
		t.Error("the upstream answered and is still ejected")
	}
}

// TestPoolAllEjected: with every upstream ejected, requests still go to one
// (panic mode), and /healthz says 503.
func TestPoolAllEjected(t *testing.T) {
	h := startProxy(t, Config{Upstreams: []*url.URL{refusedURL(t), refusedURL(t)}, MaxFails: 1, FailTimeout: time.Hour})
	c := client(t)
	for range 3 {
		if code, _ := do(t, c, http.MethodGet, "http://"+h.addr+"/", ""); code != http.StatusBadGateway {
			t.Fatalf("status %d, want 502", code)
		}
	}
	if h.p.pool().healthy() {
		t.Fatal("two refusing upstreams, MaxFails 1: still healthy")
	}
	if code, body := do(t, c, http.MethodGet, "http://"+h.admin+"/healthz", ""); code != http.StatusServiceUnavailable || !strings.Contains(body, "no upstream is healthy") {
		t.Errorf("/healthz: %d %q, want 503", code, body)
	}
}

// countingUpstream is an upstream on a raw listener that reads each request and
// does with it what act says, recording the path and method of every
// request it read whole.
type countingUpstream struct {
	url    *url.URL
	mu     sync.Mutex
	seen   []string
	closed chan struct{} // a token each time it closed a connection after answering
}

// rawAct: answer (keep the connection open), answer and close it at once
// without saying so (a dead pooled connection for the proxy), or close it
// without answering.
type rawAct int

const (
	rawAnswer rawAct = iota
	rawAnswerThenClose
	rawDrop
)

func newCountingUpstream(t *testing.T, act func(r *http.Request) rawAct) *countingUpstream {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := &countingUpstream{url: &url.URL{Scheme: "http", Host: ln.Addr().String()}, closed: make(chan struct{}, 1024)}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				c.SetDeadline(time.Now().Add(3 * waitLong))
				br := bufio.NewReader(c)
				for {
					r, err := http.ReadRequest(br)
					if err != nil {
						return
					}
					io.Copy(io.Discard, r.Body)
					u.mu.Lock()
					u.seen = append(u.seen, r.Method+" "+r.URL.Path)
					u.mu.Unlock()
					a := act(r)
					if a == rawDrop {
						return
					}
					io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nraw")
					if a == rawAnswerThenClose {
						c.Close()
						u.closed <- struct{}{}
						return
					}
				}
			}()
		}
	}()
	return u
}

func (u *countingUpstream) requests() []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]string(nil), u.seen...)
}

func do(t *testing.T, c *http.Client, method, url, body string) (int, string) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, _ := http.NewRequest(method, url, rd)
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// TestRetryDeadPooledConnection finds out who retries a request sent on a
// pooled connection that the upstream had closed: the proxy's transports
// (net/http's Transport, h1Transport) send it again on a fresh connection
// to the same upstream, or it never left on the dead one; either way the
// upstream reads each request once, and the pool sends none to the other.
func TestRetryDeadPooledConnection(t *testing.T) {
	a := newCountingUpstream(t, func(*http.Request) rawAct { return rawAnswerThenClose })
	b := newCountingUpstream(t, func(*http.Request) rawAct { return rawAnswer })
	h := startProxy(t, Config{Upstreams: []*url.URL{a.url, b.url}, Balance: BalanceFirst})
	c := client(t)
	var want []string
	for i := range 6 {
		method, body := http.MethodGet, ""
		if i%2 == 1 {
			method, body = http.MethodPost, "some body"
		}
		path := "/" + string(rune('a'+i))
		if code, got := do(t, c, method, "http://"+h.addr+path, body); code != 200 || got != "raw" {
			t.Fatalf("%s %s: %d %q", method, path, code, got)
		}
		want = append(want, method+" "+path)
		// The next request goes once the upstream has closed the
		// connection (its FIN is then at the proxy): without this, an
		// upstream that closes late under load races the request, which
		// no proxy can win for a body it already sent.
		select {
		case <-a.closed:
		case <-time.After(waitLong):
			t.Fatal("the upstream did not close its connection")
		}
	}
	if got := a.requests(); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("the upstream read %q, want each request once: %q", got, want)
	}
	if got := b.requests(); len(got) != 0 {
		t.Errorf("the other upstream got %q, want nothing", got)
	}
}

// TestRetryNeverDuplicates: a request that reached an upstream which then
// failed it is retried on the other only when idempotent and with
// RetryIdempotent, within the budget (one retry per five requests); a
// request never goes twice to the same upstream, and without the option
// never to a second. Counted at each upstream.
func TestRetryNeverDuplicates(t *testing.T) {
	for _, tc := range []struct {
		name      string
		retry     bool
		wantCodes []int // GET /die, POST /die, GET /die again (budget spent)
		wantOther []string
	}{
		{"off", false, []int{502, 502, 502}, nil},
		{"retry-idempotent", true, []int{200, 502, 502}, []string{"GET /die"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Connection: close on every answer, so that no pooled
			// connection is reused and retried by the Transport itself.
			a := newCountingUpstream(t, func(r *http.Request) rawAct {
				if r.URL.Path == "/die" {
					return rawDrop
				}
				return rawAnswerThenClose
			})
			other := newCountingUpstream(t, func(*http.Request) rawAct { return rawAnswerThenClose })
			h := startProxy(t, Config{Upstreams: []*url.URL{a.url, other.url}, Balance: BalanceFirst, RetryIdempotent: tc.retry, MaxFails: -1})
			c := client(t)
			for range 5 {
				if code, _ := do(t, c, http.MethodGet, "http://"+h.addr+"/ok", ""); code != 200 {
					t.Fatalf("GET /ok: %d", code)
				}
			}
			for i, r := range []struct{ method, body string }{{http.MethodGet, ""}, {http.MethodPost, "x"}, {http.MethodGet, ""}} {
				if code, _ := do(t, c, r.method, "http://"+h.addr+"/die", r.body); code != tc.wantCodes[i] {
					t.Errorf("%d: %s /die: %d, want %d", i, r.method, code, tc.wantCodes[i])
				}
			}
			if got, want := strings.Join(a.requests()[5:], ","), "GET /die,POST /die,GET /die"; got != want {
				t.Errorf("the first upstream got %q, want %q: each once", got, want)
			}
			if got := other.requests(); strings.Join(got, ",") != strings.Join(tc.wantOther, ",") {
				t.Errorf("the other upstream got %q, want %q", got, tc.wantOther)
			}
		})
	}
}

// TestPoolAbortAtSecond: a client that leaves while its request is at the
// second upstream (the first refused it) cancels it there at once: GET on
// the direct path, and POST with an unread body through ReverseProxy.
func TestPoolAbortAtSecond(t *testing.T) {
	for _, tc := range []struct {
		name, req string
	}{
		{"GET", "GET /held HTTP/1.1\r\nHost: x\r\n\r\n"},
		{"POST unread body", "POST /held HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\nsome"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			second := newUpstream(t, nil)
			h := startProxy(t, Config{Upstreams: []*url.URL{refusedURL(t), second.url}, Balance: BalanceFirst})
			conn := dial(t, h.addr)
			write(t, conn, tc.req)
			hit := second.waitHit()
			closeFIN(conn)
			hit.waitEnded(t)
			l := h.logs.waitFor(t, "for the request", func(l map[string]any) bool { return l["uri"] == "/held" })
			if l["status"] != 499.0 || l["upstream"] != second.url.Host {
				t.Errorf("access line status %v upstream %v, want 499 at %s", l["status"], l["upstream"], second.url.Host)
			}
		})
	}
}

// TestPoolQueue: MaxInflight per upstream, one line for the pool: with one
// slot at each of two upstreams, a third request waits, and takes the first
// slot that comes free, whichever upstream's; a queued client that leaves
// reaches no upstream.
func TestPoolQueue(t *testing.T) {
	a, b := newUpstream(t, nil), newUpstream(t, nil)
	h := startProxy(t, Config{Upstreams: []*url.URL{a.url, b.url}, MaxInflight: 1, Queue: 10})
	var conns []*net.TCPConn
	send := func(path string) *net.TCPConn {
		c := dial(t, h.addr)
		write(t, c, "GET "+path+" HTTP/1.1\r\nHost: x\r\n\r\n")
		conns = append(conns, c)
		return c
	}
	send("/1")
	send("/2")
	first, second := a.waitHit(), b.waitHit()
	if first.r.URL.Path == second.r.URL.Path {
		t.Fatal("both upstreams got the same request")
	}
	leaver := send("/leaves")
	waitQueued(t, h, 1)
	closeFIN(leaver)
	for deadline := time.Now().Add(waitLong); h.p.line.Stats().Left < 1; {
		if time.Now().After(deadline) {
			t.Fatal("the client that left is still in line")
		}
		time.Sleep(time.Millisecond) // polling for the line's count
	}
	send("/3")
	waitQueued(t, h, 2) // /leaves and /3 both joined
	close(b.release)    // b's request answers: its slot is /3's
	if third := b.waitHit(); third.r.URL.Path != "/3" {
		t.Errorf("the free slot went to %s, want /3", third.r.URL.Path)
	}
	a.noHit()
	close(a.release)
	for i, c := range []*net.TCPConn{conns[0], conns[1], conns[3]} {
		if res, _ := readResponse(t, c, "GET"); res.StatusCode != 200 {
			t.Errorf("request %d: %d", i, res.StatusCode)
		}
	}
}

// TestPoolWithholdsEjectedSlots: the slots of an ejected upstream leave the
// line, so that requests wait for the healthy one's rather than go to it.
func TestPoolWithholdsEjectedSlots(t *testing.T) {
	healthy := newUpstream(t, nil)
	h := startProxy(t, Config{Upstreams: []*url.URL{refusedURL(t), healthy.url}, Balance: BalanceFirst,
		MaxInflight: 1, Queue: 10, MaxFails: 1, FailTimeout: time.Hour})
	c1 := dial(t, h.addr)
	write(t, c1, "GET /1 HTTP/1.1\r\nHost: x\r\n\r\n") // refused, ejected, retried
	healthy.waitHit()
	c2 := dial(t, h.addr)
	write(t, c2, "GET /2 HTTP/1.1\r\nHost: x\r\n\r\n")
	waitQueued(t, h, 1)
	close(healthy.release)
	for _, c := range []*net.TCPConn{c1, c2} {
		if res, body := readResponse(t, c, "GET"); res.StatusCode != 200 || !strings.HasPrefix(string(body), "released") {
			t.Errorf("%d %q, want 200 from the healthy upstream", res.StatusCode, body)
		}
	}
}

// TestRetryNeverReachedFull: a request that never reached its upstream
// (refused) goes to the other even when that one is at MaxInflight, rather
// than get a 502 that no upstream earned: the moment between an upstream's
// death and its ejection, when the line still hands out its slots (the kill
// storm of bench/FLEET.md). Each request reaches the healthy upstream once.
func TestRetryNeverReachedFull(t *testing.T) {
	for _, tc := range []struct {
		name, req string
	}{
		{"GET", "GET /%d HTTP/1.1\r\nHost: x\r\n\r\n"},
		{"POST", "POST /%d HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nsome"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			healthy := newUpstream(t, nil)
			h := startProxy(t, Config{Upstreams: []*url.URL{refusedURL(t), healthy.url}, Balance: BalanceFirst,
				MaxInflight: 1, Queue: 10, MaxFails: -1})
			var conns []*net.TCPConn
			for i := range 2 {
				c := dial(t, h.addr)
				write(t, c, fmt.Sprintf(tc.req, i))
				conns = append(conns, c)
				// The first fills the healthy upstream; the second, refused
				// too, finds it full.
				if hit := healthy.waitHit(); hit.r.URL.Path != fmt.Sprintf("/%d", i) {
					t.Fatalf("the healthy upstream got %s, want /%d", hit.r.URL.Path, i)
				}
			}
			close(healthy.release)
			for i, c := range conns {
				if res, _ := readResponse(t, c, tc.name); res.StatusCode != 200 {
					t.Errorf("request %d: %d, want 200 from the healthy upstream", i, res.StatusCode)
				}
			}
			healthy.noHit()
		})
	}
}
