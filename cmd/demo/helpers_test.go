package demo_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hangup-dev/hangup"
	"github.com/hangup-dev/hangup/cmd/demo"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// waitLong bounds every wait: generous, because CI is a loaded two-core
// machine (and SQLite under the race detector is a hundred times slower).
// No test asserts a duration.
const waitLong = 30 * time.Second

// sqliteRate is calibrated once for the whole package: calibration costs
// about a second under the race detector.
var sqliteRate struct {
	sync.Mutex
	rate float64
}

// testDemo is a demo server on loopback, with what the test needs to watch
// it: its live log and its OnAbandon reports.
type testDemo struct {
	t       *testing.T
	s       *demo.Server
	url     string
	events  <-chan demo.Event
	reports chan hangup.Report
}

func startDemo(t *testing.T, cfg demo.Config) *testDemo {
	t.Helper()
	d := &testDemo{t: t, reports: make(chan hangup.Report, 64)}
	if cfg.Logger == nil {
		cfg.Logger = testLogger(t)
	}
	cfg.OnAbandon = func(r hangup.Report) {
		select {
		case d.reports <- r:
		default:
		}
	}
	sqliteRate.Lock()
	if cfg.SQLiteRate == 0 {
		cfg.SQLiteRate = sqliteRate.rate
	}
	s, err := demo.New(context.Background(), cfg)
	if err == nil && sqliteRate.rate == 0 {
		sqliteRate.rate = s.SQLiteRate()
	}
	sqliteRate.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	d.s = s
	events, stop := s.Events().Subscribe()
	d.events = events
	ln := listen(t)
	d.url = "http://" + ln.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
		stop()
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return d
}

// testLogger logs to the test's output, shown with -v or on failure.
func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), nil))
}

func listen(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

func (d *testDemo) addr() string { return strings.TrimPrefix(d.url, "http://") }

// waitEvent returns the first event from now on that matches ok.
func (d *testDemo) waitEvent(what string, ok func(demo.Event) bool) demo.Event {
	d.t.Helper()
	timeout := time.After(waitLong)
	for {
		select {
		case e, open := <-d.events:
			if !open {
				d.t.Fatalf("event stream closed while waiting for %s", what)
			}
			if ok(e) {
				return e
			}
		case <-timeout:
			d.t.Fatalf("no event: %s", what)
		}
	}
}

// waitKind waits for the next event of kind about request id.
func (d *testDemo) waitKind(id uint64, kind string) demo.Event {
	d.t.Helper()
	return d.waitEvent(fmt.Sprintf("%s of request %d", kind, id), func(e demo.Event) bool {
		return e.ID == id && e.Kind == kind
	})
}

// waitStart waits for the start event of the request sent from local.
func (d *testDemo) waitStart(local net.Addr) uint64 {
	d.t.Helper()
	e := d.waitEvent("start from "+local.String(), func(e demo.Event) bool {
		return e.Kind == "start" && e.Client == local.String()
	})
	return e.ID
}

// waitReport waits for hangup's report on an abandoned request to path.
func (d *testDemo) waitReport(path string) hangup.Report {
	d.t.Helper()
	timeout := time.After(waitLong)
	for {
		select {
		case r := <-d.reports:
			if r.Path == path {
				return r
			}
		case <-timeout:
			d.t.Fatalf("no OnAbandon report for %s", path)
		}
	}
}

// send opens a raw connection and writes a request head on it.
func (d *testDemo) send(head string) net.Conn {
	d.t.Helper()
	c, err := net.DialTimeout("tcp", d.addr(), waitLong)
	if err != nil {
		d.t.Fatal(err)
	}
	d.t.Cleanup(func() { c.Close() })
	if _, err := io.WriteString(c, head); err != nil {
		d.t.Fatal(err)
	}
	return c
}

// get sends GET target on a raw connection, so that the test can hang up.
func (d *testDemo) get(target string) net.Conn {
	return d.send("GET " + target + " HTTP/1.1\r\nHost: demo\r\n\r\n")
}

// poll calls get until ok holds of what it returns, every interval, and
// returns that; after waitLong it fails t, saying what never happened.
func poll[T any](t *testing.T, what string, interval time.Duration, get func() T, ok func(T) bool) T {
	t.Helper()
	deadline := time.Now().Add(waitLong)
	for {
		v := get()
		if ok(v) {
			return v
		}
		if time.Now().After(deadline) {
			t.Fatalf("%+v: never %s", v, what)
		}
		time.Sleep(interval)
	}
}

// scrape reads /metrics: each sample's value by its series, the name with
// its labels in the exposition's order, e.g.
// demo_work_total{outcome="cancelled",work="cpu"}.
func (d *testDemo) scrape() map[string]float64 {
	d.t.Helper()
	resp, err := http.Get(d.url + "/metrics")
	if err != nil {
		d.t.Fatal(err)
	}
	defer resp.Body.Close()
	samples := make(map[string]float64)
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "#") {
			continue
		}
		series, v, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			continue
		}
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			d.t.Fatalf("/metrics: %q: %v", sc.Text(), err)
		}
		samples[series] = f
	}
	if err := sc.Err(); err != nil {
		d.t.Fatal(err)
	}
	return samples
}

// metric reads one sample from /metrics (see scrape for series).
func (d *testDemo) metric(series string) float64 {
	d.t.Helper()
	v, ok := d.scrape()[series]
	if !ok {
		d.t.Fatalf("no series %s in /metrics", series)
	}
	return v
}

// sum adds up the samples of metric name, whatever their labels.
func sum(samples map[string]float64, name string) float64 {
	var total float64
	for series, v := range samples {
		if series == name || strings.HasPrefix(series, name+"{") {
			total += v
		}
	}
	return total
}

func workSeries(name, work, outcome string) string {
	return fmt.Sprintf(`%s{outcome=%q,work=%q}`, name, outcome, work)
}

// expectGoneEnd checks the end event of a request whose client left.
func expectGoneEnd(t *testing.T, e demo.Event, outcome, phase string) {
	t.Helper()
	if e.Outcome != outcome || !e.Gone || e.Phase != phase {
		t.Fatalf("end event: outcome %q gone %v phase %q (err %q), want %s, gone, phase %s",
			e.Outcome, e.Gone, e.Phase, e.Err, outcome, phase)
	}
}

// waitBehindBusy occupies the demo's one worker with a minute of cpu work,
// then sends a minute of work behind it, and returns once that one waits
// for the worker: both connections and both requests' ids.
func (d *testDemo) waitBehindBusy(work string) (busy, waiting net.Conn, busyID, id uint64) {
	d.t.Helper()
	busy = d.get("/slow?seconds=60&work=cpu")
	busyID = d.waitStart(busy.LocalAddr())
	d.waitKind(busyID, "work")
	waiting = d.get("/slow?seconds=60&work=" + work)
	id = d.waitStart(waiting.LocalAddr())
	d.waitKind(id, "wait")
	return busy, waiting, busyID, id
}
