package proxy

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// joinHooks reports the waiter count of a flight each time one joins or
// leaves.
func joinHooks(p *Proxy) (joined, left chan int) {
	var fj, fl func(int)
	fj, joined = signal()
	fl, left = signal()
	p.co.onJoin, p.co.onLeave = fj, fl
	return joined, left
}

// bigBody is what the upstream streams: 1 MiB in 64 KiB writes, flushed.
func bigBody() []byte {
	var b bytes.Buffer
	for i := 0; b.Len() < 1<<20; i++ {
		fmt.Fprintf(&b, "line %07d ................................................................\n", i)
	}
	return b.Bytes()
}

func streamBody(w http.ResponseWriter, body []byte) {
	rc := http.NewResponseController(w)
	for len(body) > 0 {
		n := min(64<<10, len(body))
		if _, err := w.Write(body[:n]); err != nil {
			return
		}
		rc.Flush()
		body = body[n:]
	}
}

// TestCoalesceTen: ten identical concurrent GETs make one upstream request,
// and every client gets the whole body.
func TestCoalesceTen(t *testing.T) {
	want := bigBody()
	u := newUpstream(t, nil)
	u.handler = func(w http.ResponseWriter, r *http.Request, h *hit) {
		if u.wait(r, h) {
			w.Header().Set("X-Upstream", "yes")
			streamBody(w, want)
		}
	}
	var joined chan int
	h := startProxyWith(t, Config{Upstream: u.url, Coalesce: true}, func(p *Proxy) { joined, _ = joinHooks(p) })
	c := client(t)

	var wg sync.WaitGroup
	bodies := make([][]byte, 10)
	for i := range bodies {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := c.Get("http://" + h.addr + "/big?x=1")
			if err != nil {
				t.Error(err)
				return
			}
			defer res.Body.Close()
			if res.StatusCode != 200 || res.Header.Get("X-Upstream") != "yes" {
				t.Errorf("client %d: %d %v", i, res.StatusCode, res.Header)
			}
			bodies[i], err = io.ReadAll(res.Body)
			if err != nil {
				t.Errorf("client %d: %v", i, err)
			}
		}()
	}
	waitValue(t, joined, 10, "ten waiters on one flight")
	close(u.release)
	wg.Wait()
	for i, b := range bodies {
		if !bytes.Equal(b, want) {
			t.Errorf("client %d got %d bytes, want the %d of the upstream's body", i, len(b), len(want))
		}
	}
	if n := u.hits.Load(); n != 1 {
		t.Errorf("upstream hits = %d, want 1", n)
	}
	if got := testCounter(t, h.p.m.coalesced); got != 9 {
		t.Errorf("coalesced = %v, want 9", got)
	}
	h.logs.waitFor(t, "of a coalesced request", func(l map[string]any) bool {
		return l["coalesced"] == true && l["status"] == 200.0 && l["upstream_status"] == 200.0
	})

	// Done means done: the next identical request goes upstream again.
	res, err := c.Get("http://" + h.addr + "/big?x=1")
	if err != nil {
		t.Fatal(err)
	}
	if b := readAll(t, res); b != string(want) {
		t.Errorf("the request after the flight got %d bytes", len(b))
	}
	if n := u.hits.Load(); n != 2 {
		t.Errorf("upstream hits = %d after a later request, want 2 (no caching)", n)
	}
}

// TestCoalesceLastWaiterCancels: the shared upstream request lives while any
// waiter does, and is cancelled when the last one leaves.
func TestCoalesceLastWaiterCancels(t *testing.T) {
	u := newUpstream(t, nil)
	var joined, left chan int
	h := startProxyWith(t, Config{Upstream: u.url, Coalesce: true}, func(p *Proxy) { joined, left = joinHooks(p) })
	conns := make([]*net.TCPConn, 10)
	for i := range conns {
		conns[i] = dial(t, h.addr)
		write(t, conns[i], "GET /shared HTTP/1.1\r\nHost: x\r\n\r\n")
	}
	waitValue(t, joined, 10, "ten waiters on one flight")
	hit := u.waitHit()
	for _, c := range conns[:9] {
		closeFIN(c)
	}
	waitValue(t, left, 1, "nine waiters to leave")
	if !hit.isLive() {
		t.Fatalf("the upstream request was cancelled while a waiter remained (cause %v)", hit.cause)
	}
	closeRST(conns[9])
	hit.waitEnded(t)
	if n := u.hits.Load(); n != 1 {
		t.Errorf("upstream hits = %d, want 1", n)
	}
	h.logs.waitFor(t, "of the last waiter, with status 499", func(l map[string]any) bool {
		return l["status"] == 499.0 && l["gone_reason"] == "reset"
	})
	// The flight's goroutine counts the outcome when its RoundTrip returns,
	// which may be after the upstream saw the cancellation and after the
	// waiter's log line.
	deadline := time.Now().Add(waitLong)
	for testCounter(t, h.p.m.upstream.WithLabelValues(outcomeCancelled)) != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("upstream requests cancelled = %v, want 1", testCounter(t, h.p.m.upstream.WithLabelValues(outcomeCancelled)))
		}
		time.Sleep(time.Millisecond)
	}
}

// TestCoalesceFirstLeaves: the client that started the flight leaving does
// not cost the others their response.
func TestCoalesceFirstLeaves(t *testing.T) {
	u := newUpstream(t, nil)
	var joined, left chan int
	h := startProxyWith(t, Config{Upstream: u.url, Coalesce: true}, func(p *Proxy) { joined, left = joinHooks(p) })
	first := dial(t, h.addr)
	write(t, first, "GET /shared HTTP/1.1\r\nHost: x\r\n\r\n")
	waitValue(t, joined, 1, "the first waiter")
	hit := u.waitHit()
	second := dial(t, h.addr)
	write(t, second, "GET /shared HTTP/1.1\r\nHost: x\r\n\r\n")
	waitValue(t, joined, 2, "the second waiter")
	closeFIN(first)
	waitValue(t, left, 1, "the first waiter to leave")
	close(u.release)
	res, body := readResponse(t, second, "GET")
	if res.StatusCode != 200 || string(body) != "released /shared" {
		t.Errorf("second waiter got %d %q", res.StatusCode, body)
	}
	if !hit.isLive() {
		t.Errorf("the upstream request was cancelled")
	}
}

// TestCoalesceKey: only requests that are the same for the upstream share
// its request; credentials never cross.
func TestCoalesceKey(t *testing.T) {
	type hdrs map[string]string
	cases := []struct {
		name   string
		a, b   hdrs
		shared bool
	}{
		{"same", hdrs{"Authorization": "Bearer a"}, hdrs{"Authorization": "Bearer a"}, true},
		{"different Authorization", hdrs{"Authorization": "Bearer a"}, hdrs{"Authorization": "Bearer b"}, false},
		{"one without Authorization", hdrs{"Authorization": "Bearer a"}, hdrs{}, false},
		{"different Cookie", hdrs{"Cookie": "session=a"}, hdrs{"Cookie": "session=b"}, false},
		{"no-cache", hdrs{"Cache-Control": "no-cache"}, hdrs{"Cache-Control": "no-cache"}, false},
		{"max-age=0, no-cache", hdrs{"Cache-Control": "max-age=0, no-cache"}, hdrs{}, false},
		{"Pragma no-cache", hdrs{"Pragma": "no-cache"}, hdrs{"Pragma": "no-cache"}, false},
		{"different Range", hdrs{"Range": "bytes=0-9"}, hdrs{"Range": "bytes=10-19"}, false},
		{"different vary header", hdrs{"X-Tenant": "a"}, hdrs{"X-Tenant": "b"}, false},
		{"same vary header", hdrs{"X-Tenant": "a"}, hdrs{"X-Tenant": "a"}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			u := newUpstream(t, nil)
			u.handler = func(w http.ResponseWriter, r *http.Request, h *hit) {
				if u.wait(r, h) {
					fmt.Fprintf(w, "auth=%s cookie=%s tenant=%s range=%s",
						r.Header.Get("Authorization"), r.Header.Get("Cookie"), r.Header.Get("X-Tenant"), r.Header.Get("Range"))
				}
			}
			var joined chan int
			h := startProxyWith(t, Config{Upstream: u.url, Coalesce: true, CoalesceVary: []string{"x-tenant"}},
				func(p *Proxy) { joined, _ = joinHooks(p) })
			c := client(t)
			var wg sync.WaitGroup
			got := make([]string, 2)
			for i, hs := range []hdrs{tc.a, tc.b} {
				wg.Add(1)
				go func() {
					defer wg.Done()
					req, _ := http.NewRequest("GET", "http://"+h.addr+"/k", nil)
					for k, v := range hs {
						req.Header.Set(k, v)
					}
					res, err := c.Do(req)
					if err != nil {
						t.Error(err)
						return
					}
					got[i] = readAll(t, res)
				}()
				if !tc.shared || i == 0 {
					u.waitHit() // one request at a time reaches the upstream
				}
			}
			if tc.shared {
				waitValue(t, joined, 2, "the second request to join")
			}
			close(u.release)
			wg.Wait()
			wantHits := int64(2)
			if tc.shared {
				wantHits = 1
			}
			if n := u.hits.Load(); n != wantHits {
				t.Errorf("upstream hits = %d, want %d", n, wantHits)
			}
			for i, hs := range []hdrs{tc.a, tc.b} {
				want := fmt.Sprintf("auth=%s cookie=%s tenant=%s range=%s", hs["Authorization"], hs["Cookie"], hs["X-Tenant"], hs["Range"])
				if got[i] != want {
					t.Errorf("client %d got %q, want %q", i, got[i], want)
				}
			}
		})
	}
}

// TestCoalesceStreams: waiters get the body as it arrives, and a late
// joiner gets the bytes so far, then the live stream.
func TestCoalesceStreams(t *testing.T) {
	part2 := make(chan struct{})
	u := newUpstream(t, func(w http.ResponseWriter, r *http.Request, h *hit) {
		io.WriteString(w, "part1 ")
		http.NewResponseController(w).Flush()
		select {
		case <-part2:
			io.WriteString(w, "part2")
		case <-r.Context().Done():
		}
	})
	var joined chan int
	h := startProxyWith(t, Config{Upstream: u.url, Coalesce: true}, func(p *Proxy) { joined, _ = joinHooks(p) })
	c := client(t)
	get := func() (*http.Response, []byte) {
		res, err := c.Get("http://" + h.addr + "/stream")
		if err != nil {
			t.Fatal(err)
		}
		b := make([]byte, 6)
		if _, err := io.ReadFull(res.Body, b); err != nil {
			t.Fatal(err)
		}
		return res, b
	}
	res1, b1 := get()
	res2, b2 := get() // joins while part2 is still to come
	waitValue(t, joined, 2, "the late joiner")
	if string(b1) != "part1 " || string(b2) != "part1 " {
		t.Fatalf("before part2: %q and %q", b1, b2)
	}
	close(part2)
	for i, res := range []*http.Response{res1, res2} {
		if rest := readAll(t, res); rest != "part2" {
			t.Errorf("client %d: rest = %q, want part2", i, rest)
		}
	}
	if n := u.hits.Load(); n != 1 {
		t.Errorf("upstream hits = %d, want 1", n)
	}
}

// TestCoalesceBufferCap: once a shared response outgrows the buffer, it
// takes no new waiters; the next identical request gets its own.
func TestCoalesceBufferCap(t *testing.T) {
	first := strings.Repeat("a", 100<<10)
	u := newUpstream(t, nil)
	u.handler = func(w http.ResponseWriter, r *http.Request, h *hit) {
		io.WriteString(w, first)
		http.NewResponseController(w).Flush()
		if u.wait(r, h) {
			io.WriteString(w, "end")
		}
	}
	h := startProxy(t, Config{Upstream: u.url, Coalesce: true, CoalesceBuffer: 64 << 10})
	c := client(t)
	res1, err := c.Get("http://" + h.addr + "/cap")
	if err != nil {
		t.Fatal(err)
	}
	u.waitHit()
	head := make([]byte, len(first))
	if _, err := io.ReadFull(res1.Body, head); err != nil {
		t.Fatal(err)
	}
	// The flight is past its buffer now: the same request does not join it.
	done := make(chan string)
	go func() {
		res2, err := c.Get("http://" + h.addr + "/cap")
		if err != nil {
			t.Error(err)
			close(done)
			return
		}
		done <- readAll(t, res2)
	}()
	u.waitHit()
	close(u.release)
	if rest := readAll(t, res1); string(head)+rest != first+"end" {
		t.Errorf("first client got %d bytes, want %d", len(head)+len(rest), len(first)+3)
	}
	if b := <-done; b != first+"end" {
		t.Errorf("second client got %d bytes, want %d", len(b), len(first)+3)
	}
}

// TestCoalesceSlowWaiterDropped: a waiter that stops reading holds the
// others up for at most CoalesceLagTimeout, then is cut off; the others get
// the whole body.
func TestCoalesceSlowWaiterDropped(t *testing.T) {
	if testing.Short() {
		t.Skip("moves 16 MiB")
	}
	want := bytes.Repeat([]byte("0123456789abcdef"), 1<<20) // 16 MiB: more than the sockets hold
	u := newUpstream(t, nil)
	u.handler = func(w http.ResponseWriter, r *http.Request, h *hit) {
		if u.wait(r, h) {
			streamBody(w, want)
		}
	}
	var joined chan int
	h := startProxyWith(t, Config{Upstream: u.url, Coalesce: true, CoalesceBuffer: 256 << 10, CoalesceLagTimeout: 100 * time.Millisecond},
		func(p *Proxy) { joined, _ = joinHooks(p) })
	slow := dial(t, h.addr)
	slow.SetReadBuffer(4096)
	write(t, slow, "GET /huge HTTP/1.1\r\nHost: "+h.addr+"\r\n\r\n") // the same Host as the fast client's
	waitValue(t, joined, 1, "the slow waiter")
	done := make(chan []byte)
	c := client(t)
	go func() {
		res, err := c.Get("http://" + h.addr + "/huge")
		if err != nil {
			t.Error(err)
			close(done)
			return
		}
		b, err := io.ReadAll(res.Body)
		res.Body.Close()
		if err != nil {
			t.Error(err)
		}
		done <- b
	}()
	waitValue(t, joined, 2, "the fast waiter")
	close(u.release)
	select {
	case b := <-done:
		if !bytes.Equal(b, want) {
			t.Errorf("the fast waiter got %d bytes, want %d", len(b), len(want))
		}
	case <-time.After(3 * waitLong):
		h.logs.dump(t)
		t.Fatal("the fast waiter never got its body")
	}
	h.logs.waitFor(t, "of the dropped slow waiter", func(l map[string]any) bool {
		e, _ := l["error"].(string)
		return strings.Contains(e, "too slow")
	})
}
