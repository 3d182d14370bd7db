package hangup_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hangup-dev/hangup"
)

// benchServer is a loopback server, plain net/http or with hangup
// installed, whose handler reports when its context ends.
type benchServer struct {
	srv     *httptest.Server
	g       *hangup.Guard
	entered chan struct{}
	ended   chan time.Time
	conns   atomic.Int64
}

func newBenchServer(withHangup bool) *benchServer {
	bs := &benchServer{entered: make(chan struct{}, 1), ended: make(chan time.Time, 1)}
	bs.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/hello" {
			io.WriteString(w, "hello")
			return
		}
		bs.entered <- struct{}{}
		select {
		case <-r.Context().Done():
			bs.ended <- time.Now()
		case <-time.After(200 * time.Millisecond):
			bs.ended <- time.Time{} // not detected
		}
	}))
	bs.srv.Config.ConnState = func(c net.Conn, s http.ConnState) {
		switch s {
		case http.StateNew:
			bs.conns.Add(1)
		case http.StateClosed, http.StateHijacked:
			bs.conns.Add(-1)
		}
	}
	if withHangup {
		bs.g = hangup.Install(bs.srv.Config)
	}
	bs.srv.Start()
	return bs
}

var servers = []struct {
	name   string
	hangup bool
}{{"net-http", false}, {"hangup", true}}

// BenchmarkDetection measures how long after the client's FIN or RST the
// handler's context is done, per case, for plain net/http and for hangup in
// the same run. Run with -benchtime=200x: each iteration is one connection.
// Metrics: p50 and p99 in µs over the detected ones, and the share detected
// within 200 ms.
func BenchmarkDetection(b *testing.B) {
	cases := []struct {
		name, request string
		leave         func(*net.TCPConn)
	}{
		{"GET-FIN", reqGET, func(c *net.TCPConn) { c.Close() }},
		{"GET-RST", reqGET, func(c *net.TCPConn) { c.SetLinger(0); c.Close() }},
		{"GET-half-close", reqGET, func(c *net.TCPConn) { c.CloseWrite() }},
		{"POST-unread-FIN", reqPostPartial, func(c *net.TCPConn) { c.Close() }},
		{"POST-unread-RST", reqPostPartial, func(c *net.TCPConn) { c.SetLinger(0); c.Close() }},
		{"POST-whole-unread-FIN", reqPostWhole, func(c *net.TCPConn) { c.Close() }},
		{"pipelined-FIN", reqGET + "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n", func(c *net.TCPConn) { c.Close() }},
		// The next request arrives while the handler runs (golang/go#37145).
		{"pipelined-late-FIN", reqGET, func(c *net.TCPConn) { c.Close() }},
	}
	for _, tc := range cases {
		for _, sv := range servers {
			b.Run(tc.name+"/"+sv.name, func(b *testing.B) {
				bs := newBenchServer(sv.hangup)
				defer bs.srv.Close()
				var lat []time.Duration
				for i := 0; i < b.N; i++ {
					c, err := net.Dial("tcp", bs.srv.Listener.Addr().String())
					if err != nil {
						b.Fatal(err)
					}
					io.WriteString(c, tc.request)
					<-bs.entered
					if strings.HasPrefix(tc.name, "pipelined-late") {
						io.WriteString(c, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
						time.Sleep(5 * time.Millisecond)
					}
					t0 := time.Now()
					tc.leave(c.(*net.TCPConn))
					if t1 := <-bs.ended; !t1.IsZero() {
						lat = append(lat, t1.Sub(t0))
					}
					c.Close()
				}
				b.ReportMetric(100*float64(len(lat))/float64(b.N), "%detected")
				if len(lat) > 0 {
					slices.Sort(lat)
					b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds())/1e3, "p50-µs")
					b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds())/1e3, "p99-µs")
				}
				b.ReportMetric(0, "ns/op")
			})
		}
	}
}

// BenchmarkRequest measures a whole request over a loopback keep-alive
// connection, plain net/http against hangup, to put the per-request cost in
// proportion.
func BenchmarkRequest(b *testing.B) {
	for _, sv := range servers {
		b.Run(sv.name, func(b *testing.B) {
			bs := newBenchServer(sv.hangup)
			defer bs.srv.Close()
			c, err := net.Dial("tcp", bs.srv.Listener.Addr().String())
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			br := bufio.NewReader(c)
			req := []byte("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
			b.ReportAllocs()
			for b.Loop() {
				c.Write(req)
				resp, err := http.ReadResponse(br, nil)
				if err != nil {
					b.Fatal(err)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		})
	}
}

// BenchmarkIdleConnMemory measures the heap held per idle connection
// (accepted, no request yet), plain net/http against hangup: the difference
// is what watching costs. Metric B/conn; b.N is ignored beyond one round.
func BenchmarkIdleConnMemory(b *testing.B) {
	const n = 2000
	for _, sv := range servers {
		b.Run(sv.name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				bs := newBenchServer(sv.hangup)
				before := heapInUse()
				conns := make([]net.Conn, 0, n)
				for len(conns) < n {
					c, err := net.Dial("tcp", bs.srv.Listener.Addr().String())
					if err != nil {
						b.Fatal(err)
					}
					conns = append(conns, c)
				}
				for bs.conns.Load() < n {
					time.Sleep(time.Millisecond)
				}
				if bs.g != nil && bs.g.Stats().Watched < n {
					b.Fatalf("only %d connections watched", bs.g.Stats().Watched)
				}
				after := heapInUse()
				b.ReportMetric(float64(after-before)/n, "B/conn")
				b.ReportMetric(0, "ns/op")
				for _, c := range conns {
					c.Close()
				}
				bs.srv.Close()
			}
		})
	}
}

func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}

// BenchmarkHold10k holds 10,000 concurrent watched connections, each with a
// request waiting in its handler, opened by a client in another process
// (each process may open 20,000 files). The client then exits; the metric
// is how long it took hangup to cancel all 10,000 requests.
func BenchmarkHold10k(b *testing.B) {
	const n = 10000
	for i := 0; i < b.N; i++ {
		var entered, cancelled atomic.Int64
		var last atomic.Int64
		srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			entered.Add(1)
			<-r.Context().Done()
			cancelled.Add(1)
			last.Store(time.Now().UnixNano())
		}))
		g := hangup.Install(srv.Config)
		srv.Start()
		cmd := exec.Command(os.Args[0], "-test.run=^TestHelperHoldConns$")
		cmd.Env = append(os.Environ(), "HANGUP_HOLD_ADDR="+srv.Listener.Addr().String(), "HANGUP_HOLD_N="+strconv.Itoa(n))
		stdin, _ := cmd.StdinPipe()
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		deadline := time.Now().Add(60 * time.Second)
		for entered.Load() < n {
			if time.Now().After(deadline) {
				b.Fatalf("only %d of %d requests arrived", entered.Load(), n)
			}
			time.Sleep(10 * time.Millisecond)
		}
		st := g.Stats()
		if st.Watched < n || st.InFlight < n {
			b.Fatalf("watched %d, in flight %d; want %d", st.Watched, st.InFlight, n)
		}
		t0 := time.Now()
		stdin.Close() // the client exits and its kernel closes every socket
		cmd.Wait()
		for cancelled.Load() < n {
			if time.Now().After(deadline) {
				b.Fatalf("only %d of %d requests cancelled", cancelled.Load(), n)
			}
			time.Sleep(time.Millisecond)
		}
		b.ReportMetric(float64(n), "conns")
		b.ReportMetric(float64(time.Unix(0, last.Load()).Sub(t0).Milliseconds()), "ms-to-cancel-all")
		b.ReportMetric(0, "ns/op")
		srv.Close()
	}
}

// TestHelperHoldConns is BenchmarkHold10k's client, run in its own process.
func TestHelperHoldConns(t *testing.T) {
	addr := os.Getenv("HANGUP_HOLD_ADDR")
	if addr == "" {
		t.Skip("helper process for BenchmarkHold10k")
	}
	n, _ := strconv.Atoi(os.Getenv("HANGUP_HOLD_N"))
	conns := make([]net.Conn, n)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 100)
	for i := range conns {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			c, err := net.Dial("tcp", addr)
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(1)
			}
			io.WriteString(c, reqGET)
			conns[i] = c
		}()
	}
	wg.Wait()
	io.Copy(io.Discard, os.Stdin) // until the benchmark closes it
	os.Exit(0)
}

var _ = context.Background
