package proxy

import (
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// connWatch counts an upstream server's open connections, and signals each
// close.
type connWatch struct {
	open   atomic.Int64
	closed chan struct{}
}

// watchedUpstream is newUpstream with its connections counted.
func watchedUpstream(t *testing.T, h func(w http.ResponseWriter, r *http.Request, hit *hit)) (*upstream, *connWatch) {
	cw := &connWatch{closed: make(chan struct{}, 1024)}
	u := newUpstreamWith(t, h, func(s *httptest.Server) {
		installed := s.Config.ConnState // hangup's
		s.Config.ConnState = func(c net.Conn, st http.ConnState) {
			installed(c, st)
			switch st {
			case http.StateNew:
				cw.open.Add(1)
			case http.StateClosed, http.StateHijacked:
				cw.open.Add(-1)
				cw.closed <- struct{}{}
			}
		}
		s.Start()
	})
	return u, cw
}

// waitAllClosed waits until the server has no connection open.
func (cw *connWatch) waitAllClosed(t *testing.T, what string) {
	t.Helper()
	for cw.open.Load() > 0 {
		select {
		case <-cw.closed:
		case <-time.After(waitLong):
			t.Fatalf("%s: %d connections still open", what, cw.open.Load())
		}
	}
}

// reloadTo returns a loader of cfg, for Reload.
func reloadTo(cfg Config) func() (Config, error) {
	return func() (Config, error) { return cfg, nil }
}

// TestReloadUnderLoad: while clients send requests without a pause, a
// reload swaps upstream A for B. No client sees an error; every request
// sent after Reload returned is answered by B; a slow request that was at A
// completes there with 200; and A's connections are closed once it is done.
// GET (the direct path) and POST (ReverseProxy) alike.
func TestReloadUnderLoad(t *testing.T) {
	var a *upstream
	a, aConns := watchedUpstream(t, func(w http.ResponseWriter, r *http.Request, h *hit) {
		io.Copy(io.Discard, r.Body)
		if r.URL.Path == "/slow" {
			a.hold(w, r, h)
			return
		}
		io.WriteString(w, "A")
	})
	b := answerer(t, "B")
	h := startProxy(t, Config{Upstreams: []*url.URL{a.url}})
	c := client(t)

	slow := make(chan string, 1)
	go func() {
		res, err := c.Get("http://" + h.addr + "/slow")
		if err != nil {
			slow <- err.Error()
			return
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		slow <- res.Status + " " + string(body)
	}()
	a.waitHit()

	var (
		swapped  atomic.Bool
		stop     = make(chan struct{})
		wg       sync.WaitGroup
		mu       sync.Mutex
		failures []string
		atB      atomic.Int64
	)
	for _, method := range []string{http.MethodGet, http.MethodPost} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				after := swapped.Load()
				var body io.Reader
				if method == http.MethodPost {
					body = strings.NewReader("a body")
				}
				req, _ := http.NewRequest(method, "http://"+h.addr+"/r", body)
				res, err := c.Do(req)
				var got string
				if err == nil {
					bb, _ := io.ReadAll(res.Body)
					res.Body.Close()
					got = string(bb)
					if res.StatusCode != 200 {
						err = errors.New(res.Status + " " + got)
					}
				}
				mu.Lock()
				switch {
				case err != nil:
					failures = append(failures, method+": "+err.Error())
				case after && got != "B":
					failures = append(failures, method+" sent after the reload answered by "+got)
				case after:
					atB.Add(1)
				}
				mu.Unlock()
			}
		}()
	}
	// Some requests before the swap, then the swap, then some after.
	for a.hits.Load() < 20 {
		a.waitHit()
	}
	if err := h.p.Reload(reloadTo(Config{Upstreams: []*url.URL{b.url}})); err != nil {
		t.Fatal(err)
	}
	swapped.Store(true)
	line := h.logs.waitLine(t, "the reload's line", func(l map[string]any) bool { return l["msg"] == "config reloaded" })
	if want := "upstream +" + b.url.Host + "; upstream -" + a.url.Host; line["changed"] != want {
		t.Errorf("reload logged changed=%q, want %q", line["changed"], want)
	}
	for atB.Load() < 40 {
		b.waitHit()
	}
	close(stop)
	wg.Wait()
	for _, f := range failures {
		t.Error(f)
	}

	close(a.release)
	if body := <-slow; body != "200 OK released /slow" {
		t.Errorf("the slow request at A got %q, want its answer", body)
	}
	aConns.waitAllClosed(t, "A, retired, after its last request")
	if n := testCounter(t, h.p.m.reloads[true]); n != 1 {
		t.Errorf("reloads ok: %v, want 1", n)
	}
}

// TestReloadLine: the line is kept across a reload and resized to the new
// pool's slots. A request in line stays in line and goes to the new pool;
// nobody is let in beyond the new limit while the old pool's requests are
// in flight, and a larger line lets a waiter in at once.
func TestReloadLine(t *testing.T) {
	get := func(h *harness, path string) *net.TCPConn {
		c := dial(t, h.addr)
		write(t, c, "GET "+path+" HTTP/1.1\r\nHost: x\r\n\r\n")
		return c
	}
	answered := func(c *net.TCPConn, want string) {
		t.Helper()
		if res, body := readResponse(t, c, "GET"); res.StatusCode != 200 || string(body) != want {
			t.Errorf("%d %q, want 200 %q", res.StatusCode, body, want)
		}
	}
	// swapWithWaiter has /1 at A, /2 waiting, and A swapped for B with
	// limit slots.
	swapWithWaiter := func(t *testing.T, limit int) (a, b *upstream, h *harness, c1, c2 *net.TCPConn) {
		a, b = newUpstream(t, nil), newUpstream(t, nil)
		h = startProxy(t, Config{Upstreams: []*url.URL{a.url}, MaxInflight: 1, Queue: 10})
		c1 = get(h, "/1")
		a.waitHit()
		c2 = get(h, "/2")
		waitQueued(t, h, 1)
		if err := h.p.Reload(reloadTo(Config{Upstreams: []*url.URL{b.url}, MaxInflight: limit, Queue: 10})); err != nil {
			t.Fatal(err)
		}
		return a, b, h, c1, c2
	}
	t.Run("as many slots: the waiter waits for the old slot", func(t *testing.T) {
		a, b, h, c1, c2 := swapWithWaiter(t, 1)
		if st := h.p.line.Stats(); st.Waiting != 1 || st.Active != 1 {
			t.Fatalf("line after the reload: %+v, want /1 in and /2 waiting", st)
		}
		b.noHit()
		close(a.release)
		answered(c1, "released /1")
		if hit := b.waitHit(); hit.r.URL.Path != "/2" {
			t.Fatalf("B got %s, want /2", hit.r.URL.Path)
		}
		a.noHit()
		close(b.release)
		answered(c2, "released /2")
	})
	t.Run("more slots: the waiter goes in at once", func(t *testing.T) {
		a, b, _, c1, c2 := swapWithWaiter(t, 2)
		if hit := b.waitHit(); hit.r.URL.Path != "/2" {
			t.Fatalf("B got %s, want /2", hit.r.URL.Path)
		}
		close(b.release)
		answered(c2, "released /2")
		close(a.release)
		answered(c1, "released /1")
	})
	t.Run("fewer slots: nobody in until fewer than the new limit are held", func(t *testing.T) {
		a, b := newUpstream(t, nil), newUpstream(t, nil)
		h := startProxy(t, Config{Upstreams: []*url.URL{a.url, b.url}, MaxInflight: 1, Queue: 10})
		c1, c2 := get(h, "/1"), get(h, "/2")
		hits := map[*upstream]string{}
		for range 2 {
			select {
			case hit := <-a.arrived:
				hits[a] = hit.r.URL.Path
			case hit := <-b.arrived:
				hits[b] = hit.r.URL.Path
			case <-time.After(waitLong):
				t.Fatal("a request reached no upstream")
			}
		}
		c3 := get(h, "/3")
		waitQueued(t, h, 1)
		if err := h.p.Reload(reloadTo(Config{Upstreams: []*url.URL{b.url}, MaxInflight: 1, Queue: 10})); err != nil {
			t.Fatal(err)
		}
		// B's request ends: one slot less is held, still not fewer than one.
		close(b.release)
		answered(map[string]*net.TCPConn{"/1": c1, "/2": c2}[hits[b]], "released "+hits[b])
		if st := h.p.line.Stats(); st.Waiting != 1 {
			t.Fatalf("line after B's request ended: %+v, want /3 still waiting (A's request holds the one slot)", st)
		}
		b.noHit()
		close(a.release)
		answered(map[string]*net.TCPConn{"/1": c1, "/2": c2}[hits[a]], "released "+hits[a])
		if hit := b.waitHit(); hit.r.URL.Path != "/3" {
			t.Fatalf("B got %s, want /3", hit.r.URL.Path)
		}
		answered(c3, "released /3")
	})
}

// TestReloadRefused: a configuration that cannot be loaded or that New
// would refuse is rejected with one ERROR line that says why, counted, and
// the pool that was serves on.
func TestReloadRefused(t *testing.T) {
	a := answerer(t, "A")
	h := startProxy(t, Config{Upstreams: []*url.URL{a.url}})
	c := client(t)
	for i, tc := range []struct {
		name string
		load func() (Config, error)
		want string
	}{
		{"the file does not load", func() (Config, error) { return Config{}, errors.New("hangup.yaml:3: unknown key \"upstreams\"") }, `unknown key "upstreams"`},
		{"a bad upstream", reloadTo(Config{Upstreams: []*url.URL{{Scheme: "ftp", Host: "x"}}}), "the scheme must be http, https, h2c or unix"},
		{"options of no upstream", reloadTo(Config{Upstreams: []*url.URL{a.url}, UpstreamOptions: map[string]UpstreamOptions{"elsewhere:1": {MaxInflight: 1}}}), `UpstreamOptions for "elsewhere:1", which is no upstream`},
		{"a line where there was none", reloadTo(Config{Upstreams: []*url.URL{a.url}, MaxInflight: 4}), "not from no limit to a limit"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := h.p.Reload(tc.load)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Reload: %v, want an error that says %q", err, tc.want)
			}
			line := h.logs.waitLine(t, "the refusal", func(l map[string]any) bool {
				return l["msg"] == "config reload failed; the running configuration stays" && strings.Contains(l["error"].(string), tc.want)
			})
			if line["level"] != "ERROR" {
				t.Errorf("logged at %v, want ERROR", line["level"])
			}
			if status, body := do(t, c, http.MethodGet, "http://"+h.addr+"/", ""); status != 200 || body != "A" {
				t.Errorf("after the refusal: %d %q, want A's answer", status, body)
			}
			if n := testCounter(t, h.p.m.reloads[false]); n != float64(i+1) {
				t.Errorf("reloads error: %v, want %d", n, i+1)
			}
		})
	}
	if n := testCounter(t, h.p.m.reloads[true]); n != 0 {
		t.Errorf("reloads ok: %v, want 0", n)
	}
}

// TestReloadChanges: what each reload logs as changed, and which backends
// it keeps: an upstream left as it was keeps its backend (its connections,
// health and counts); one whose settings change gets a new one.
func TestReloadChanges(t *testing.T) {
	a, b := answerer(t, "A"), answerer(t, "B")
	an, bn := a.url.Host, b.url.Host
	h := startProxy(t, Config{Upstreams: []*url.URL{a.url}, MaxInflight: 2})
	for _, tc := range []struct {
		name    string
		cfg     Config
		changed string
		keptA   bool
	}{
		{"nothing", Config{Upstreams: []*url.URL{a.url}, MaxInflight: 2}, "nothing", true},
		{"one more", Config{Upstreams: []*url.URL{a.url, b.url}, MaxInflight: 2}, "upstream +" + bn, true},
		{"a limit of its own", Config{Upstreams: []*url.URL{a.url, b.url}, MaxInflight: 2,
			UpstreamOptions: map[string]UpstreamOptions{an: {MaxInflight: 5}}}, "upstream ~" + an + " (max_inflight 2→5)", false},
		{"balancing and health", Config{Upstreams: []*url.URL{a.url, b.url}, MaxInflight: 2, Balance: BalanceRoundRobin, MaxFails: 7,
			UpstreamOptions: map[string]UpstreamOptions{an: {MaxInflight: 5}}},
			"upstream ~" + an + " (max_fails 3→7); upstream ~" + bn + " (max_fails 3→7); lb least_inflight→round_robin", false},
		{"one less", Config{Upstreams: []*url.URL{b.url}, MaxInflight: 2, Balance: BalanceRoundRobin, MaxFails: 7},
			"upstream -" + an, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := h.p.pool().named(an)
			if err := h.p.Reload(reloadTo(tc.cfg)); err != nil {
				t.Fatal(err)
			}
			line := h.logs.waitLine(t, "the reload's line", func(l map[string]any) bool {
				return l["msg"] == "config reloaded" && l["changed"] == tc.changed
			})
			if line["level"] != "INFO" {
				t.Errorf("logged at %v, want INFO", line["level"])
			}
			if kept := h.p.pool().named(an) == before; kept != tc.keptA {
				t.Errorf("A's backend kept: %v, want %v", kept, tc.keptA)
			}
		})
	}
}

// TestReloadReaddedUpstreamLimit: upstream A, at its limit of one
// with a request in flight, is taken out by a reload and put back by the
// next. The request still at A counts against A's limit: a new request goes
// to B, not to A beyond its max_inflight.
func TestReloadReaddedUpstreamLimit(t *testing.T) {
	a, b := newUpstream(t, nil), newUpstream(t, nil)
	both := Config{Upstreams: []*url.URL{a.url, b.url}, MaxInflight: 1, Queue: 10, Balance: BalanceFirst}
	h := startProxy(t, both)
	c1 := dial(t, h.addr)
	write(t, c1, "GET /1 HTTP/1.1\r\nHost: x\r\n\r\n")
	if hit := a.waitHit(); hit.r.URL.Path != "/1" {
		t.Fatalf("A got %s", hit.r.URL.Path)
	}
	if err := h.p.Reload(reloadTo(Config{Upstreams: []*url.URL{b.url}, MaxInflight: 1, Queue: 10, Balance: BalanceFirst})); err != nil {
		t.Fatal(err)
	}
	if err := h.p.Reload(reloadTo(both)); err != nil {
		t.Fatal(err)
	}
	c2 := dial(t, h.addr)
	write(t, c2, "GET /2 HTTP/1.1\r\nHost: x\r\n\r\n")
	select {
	case hit := <-a.arrived:
		t.Errorf("A got %s while /1 holds its one slot (max_inflight 1)", hit.r.URL.Path)
	case hit := <-b.arrived:
		t.Logf("B got %s", hit.r.URL.Path)
	}
	close(a.release)
	close(b.release)
	readResponse(t, c1, "GET")
	readResponse(t, c2, "GET")
}
