package proxy

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hangup-dev/hangup"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// waitLong bounds every wait in the tests: generous, because CI is a loaded
// two-core machine. No test asserts a duration.
const waitLong = 10 * time.Second

// upstream is a real upstream server on loopback. It has hangup installed,
// so that it notices a closed connection even while it holds a request body
// unread (plain net/http would not: that is the point of hangup), and it
// records every request it gets and whether and when its context ended.
type upstream struct {
	t       *testing.T
	srv     *httptest.Server
	url     *url.URL
	hits    atomic.Int64
	arrived chan *hit
	release chan struct{} // closed: held requests answer
	stop    chan struct{} // closed at cleanup: held requests return
	handler func(w http.ResponseWriter, r *http.Request, h *hit)
}

// hit is one request the upstream got.
type hit struct {
	r     *http.Request
	ended chan struct{} // closed when the handler saw its context end before release
	at    time.Time     // when, set before ended is closed
	cause error
}

// newUpstream starts an upstream whose handler is h; nil means hold: wait
// for release (then answer "released <path>") or for the context to end,
// without reading the body.
func newUpstream(t *testing.T, h func(w http.ResponseWriter, r *http.Request, hit *hit)) *upstream {
	t.Helper()
	return newUpstreamWith(t, h, (*httptest.Server).Start)
}

// newUpstreamWith is newUpstream with the server started by start (StartTLS,
// or after other settings).
func newUpstreamWith(t *testing.T, h func(w http.ResponseWriter, r *http.Request, hit *hit), start func(*httptest.Server)) *upstream {
	t.Helper()
	u := &upstream{t: t, arrived: make(chan *hit, 64), release: make(chan struct{}), stop: make(chan struct{}), handler: h}
	if u.handler == nil {
		u.handler = u.hold
	}
	u.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.hits.Add(1)
		h := &hit{r: r, ended: make(chan struct{})}
		select {
		case u.arrived <- h:
		default: // a test that does not look at arrivals (many requests)
		}
		u.handler(w, r, h)
	}))
	hangup.Install(u.srv.Config)
	start(u.srv)
	u.url, _ = url.Parse(u.srv.URL)
	t.Cleanup(func() {
		close(u.stop)
		u.srv.Close()
	})
	return u
}

// wait blocks until release, stop or the end of the request's context, and
// reports whether the request was released.
func (u *upstream) wait(r *http.Request, h *hit) bool {
	select {
	case <-u.release:
		return true
	case <-r.Context().Done():
		h.at, h.cause = time.Now(), context.Cause(r.Context())
		close(h.ended)
		return false
	case <-u.stop:
		return false
	}
}

func (u *upstream) hold(w http.ResponseWriter, r *http.Request, h *hit) {
	if u.wait(r, h) {
		io.WriteString(w, "released "+r.URL.Path)
	}
}

func (u *upstream) waitHit() *hit {
	u.t.Helper()
	select {
	case h := <-u.arrived:
		return h
	case <-time.After(waitLong):
		u.t.Fatal("the upstream got no request")
		return nil
	}
}

// noHit asserts that no request is pending arrival at the upstream.
func (u *upstream) noHit() {
	u.t.Helper()
	select {
	case h := <-u.arrived:
		u.t.Fatalf("the upstream got an unexpected request for %s", h.r.URL)
	default:
	}
}

func (h *hit) waitEnded(t *testing.T) {
	t.Helper()
	select {
	case <-h.ended:
	case <-time.After(waitLong):
		t.Fatal("the upstream request was never cancelled")
	}
}

// isLive reports whether the upstream request's context is still alive.
func (h *hit) isLive() bool {
	select {
	case <-h.ended:
		return false
	default:
		return true
	}
}

// harness is a Proxy served on loopback by Serve, with its admin listener
// and its access log.
type harness struct {
	t     *testing.T
	p     *Proxy
	addr  string
	admin string
	logs  *logSink
}

func startProxy(t *testing.T, cfg Config) *harness {
	t.Helper()
	return startProxyWith(t, cfg, nil)
}

// startProxyWith starts a proxy; setup, if not nil, runs on the Proxy
// before it serves (to set test hooks).
func startProxyWith(t *testing.T, cfg Config, setup func(p *Proxy)) *harness {
	t.Helper()
	logs := newLogSink()
	cfg.Logger = slog.New(slog.NewJSONHandler(logs, nil))
	if cfg.AccessLog == nil {
		// As the command has it: access lines written by the proxy, the
		// other lines by the Logger.
		cfg.AccessLog, cfg.AccessLogJSON = logs, true
	} else {
		cfg.AccessLog = nil // the test wants them through the Logger
	}
	if cfg.ShutdownTimeout == 0 {
		cfg.ShutdownTimeout = waitLong
	}
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if setup != nil {
		setup(p)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	admin, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Serve(ctx, ln, admin) }()
	t.Cleanup(func() {
		if t.Failed() {
			logs.dump(t)
		}
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Serve: %v", err)
			}
		case <-time.After(3 * waitLong):
			t.Error("Serve did not return after its context was cancelled")
		}
	})
	return &harness{t: t, p: p, addr: ln.Addr().String(), admin: admin.Addr().String(), logs: logs}
}

// client returns an HTTP client for the test, closed at cleanup.
func client(t *testing.T) *http.Client {
	tr := &http.Transport{DisableCompression: true, MaxIdleConnsPerHost: 32}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 3 * waitLong}
}

func dial(t *testing.T, addr string) *net.TCPConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, waitLong)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c.(*net.TCPConn)
}

func write(t *testing.T, c net.Conn, s string) {
	t.Helper()
	if _, err := io.WriteString(c, s); err != nil {
		t.Fatal(err)
	}
}

// readResponse reads one whole response from c.
func readResponse(t *testing.T, c net.Conn, method string) (*http.Response, []byte) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(waitLong))
	res, err := http.ReadResponse(bufio.NewReader(c), &http.Request{Method: method})
	if err != nil {
		t.Fatalf("reading the response: %v", err)
	}
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("reading the response body: %v", err)
	}
	return res, body
}

func closeFIN(c *net.TCPConn) { c.Close() }
func closeRST(c *net.TCPConn) { c.SetLinger(0); c.Close() }

// logSink collects JSON log lines and lets a test wait for one.
type logSink struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	lines   []map[string]any
	changed chan struct{}
}

func newLogSink() *logSink { return &logSink{changed: make(chan struct{})} }

func (s *logSink) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.buf.Write(p)
	for {
		line, err := s.buf.ReadBytes('\n')
		if err != nil {
			s.buf.Write(line) // incomplete: keep it for the next Write
			break
		}
		var m map[string]any
		if json.Unmarshal(line, &m) == nil {
			s.lines = append(s.lines, m)
		}
	}
	close(s.changed)
	s.changed = make(chan struct{})
	return len(p), nil
}

// waitFor returns the first access log line for which match is true.
func (s *logSink) waitFor(t *testing.T, what string, match func(map[string]any) bool) map[string]any {
	t.Helper()
	return s.waitLine(t, "access log line "+what, func(l map[string]any) bool { return l["msg"] == "request" && match(l) })
}

// waitLine returns the first log line, of any message, for which match is
// true.
func (s *logSink) waitLine(t *testing.T, what string, match func(map[string]any) bool) map[string]any {
	t.Helper()
	deadline := time.After(waitLong)
	seen := 0
	for {
		s.mu.Lock()
		for ; seen < len(s.lines); seen++ {
			if l := s.lines[seen]; match(l) {
				s.mu.Unlock()
				return l
			}
		}
		ch := s.changed
		s.mu.Unlock()
		select {
		case <-ch:
		case <-deadline:
			t.Fatalf("no %s", what)
			return nil
		}
	}
}

// signal returns a func that sends on a channel, and the channel: a test
// hook that tells the test what happened without sleeping.
func signal() (func(int), chan int) {
	ch := make(chan int, 256)
	return func(n int) { ch <- n }, ch
}

func waitValue(t *testing.T, ch chan int, want int, what string) {
	t.Helper()
	deadline := time.After(waitLong)
	for {
		select {
		case v := <-ch:
			if v == want {
				return
			}
		case <-deadline:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func testCounter(t *testing.T, c prometheus.Collector) float64 {
	t.Helper()
	return testutil.ToFloat64(c)
}

func (s *logSink) dump(t *testing.T) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, l := range s.lines {
		t.Log(l)
	}
}
