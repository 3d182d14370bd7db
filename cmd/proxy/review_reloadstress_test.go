package proxy

import (
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestReviewReloadStress: reloads swap among pools of three upstreams, one
// of which fails its health checks half the time, while clients send
// requests and checks run every millisecond. No request fails but with a
// 503 of the line; at the end nothing is held in the line or in flight.
func TestReviewReloadStress(t *testing.T) {
	var sick atomic.Bool
	mk := func(name string, flaky bool) *upstream {
		return newUpstream(t, func(w http.ResponseWriter, r *http.Request, h *hit) {
			io.Copy(io.Discard, r.Body)
			if r.URL.Path == "/health" {
				if flaky && sick.Load() {
					w.WriteHeader(503)
				}
				return
			}
			time.Sleep(100 * time.Microsecond)
			io.WriteString(w, name)
		})
	}
	a, b, c := mk("A", false), mk("B", false), mk("C", true)
	base := func(max int, ups ...*upstream) Config {
		cfg := Config{MaxInflight: max, Queue: 64, QueueTimeout: 5 * time.Second, HealthPath: "/health", HealthInterval: time.Millisecond, HealthTimeout: time.Second, MaxFails: 1}
		for _, u := range ups {
			cfg.Upstreams = append(cfg.Upstreams, u.url)
		}
		return cfg
	}
	configs := []Config{base(2, a, b, c), base(1, c), base(3, a), base(1, a, c), base(2, b, c), base(4, a, b, c)}
	h := startProxy(t, configs[0])
	cl := client(t)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	var failures []string
	var n atomic.Int64
	for g := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				var res *http.Response
				var err error
				if g%2 == 0 {
					res, err = cl.Get("http://" + h.addr + "/r")
				} else {
					res, err = cl.Post("http://"+h.addr+"/r", "text/plain", strings.NewReader("body"))
				}
				n.Add(1)
				if err != nil {
					mu.Lock()
					failures = append(failures, err.Error())
					mu.Unlock()
					continue
				}
				body, _ := io.ReadAll(res.Body)
				res.Body.Close()
				if res.StatusCode != 200 {
					mu.Lock()
					failures = append(failures, res.Status+" "+string(body))
					mu.Unlock()
				}
			}
		}()
	}
	for i := range 200 {
		sick.Store(i%3 == 0)
		if err := h.p.Reload(reloadTo(configs[i%len(configs)])); err != nil {
			t.Fatal(err)
		}
		time.Sleep(3 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	sick.Store(false)
	if err := h.p.Reload(reloadTo(configs[0])); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d requests, %d failures", n.Load(), len(failures))
	for i, f := range failures {
		if i < 10 {
			t.Error(f)
		}
	}
	deadline := time.Now().Add(waitLong)
	for {
		st := h.p.line.Stats()
		bad := ""
		for _, bk := range h.p.ups.all() {
			if bk.inflight.Load() != 0 || bk.own.Load() != 0 {
				bad += bk.name + " "
			}
		}
		h.p.ups.mu.Lock()
		owed, held := h.p.ups.owed, h.p.ups.held
		h.p.ups.mu.Unlock()
		if st.Active == held && st.Waiting == 0 && bad == "" && owed == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the storm: line %+v, owed %d held %d, in flight at %s", st, owed, held, bad)
		}
		time.Sleep(10 * time.Millisecond)
	}
	// Every upstream of configs[0] is healthy: nothing withheld, the whole
	// line free.
	time.Sleep(50 * time.Millisecond)
	h.p.ups.mu.Lock()
	held := h.p.ups.held
	h.p.ups.mu.Unlock()
	if st := h.p.line.Stats(); held != 0 || st.Active != 0 {
		t.Errorf("all healthy, yet %d slots held, line %+v", held, st)
	}
}
