package demo_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hangup-dev/hangup/cmd/demo"
)

// TestSlowClientGoneStopsWork: a client asks for long work of each kind and
// hangs up once it runs; the work stops, as the OnAbandon report, the end
// event, the work's own error and the metrics show.
func TestSlowClientGoneStopsWork(t *testing.T) {
	d := startDemo(t, demo.Config{})
	for _, tc := range []struct {
		work    string
		wantErr string
	}{
		{demo.WorkSQLite, "interrupted"},
		{demo.WorkUpstream, "client went away"},
		{demo.WorkCPU, "cpu loop stopped"},
	} {
		t.Run(tc.work, func(t *testing.T) {
			d.t = t
			c := d.get("/slow?seconds=60&work=" + tc.work)
			id := d.waitStart(c.LocalAddr())
			d.waitKind(id, "progress") // the work runs
			hungUp := time.Now()
			c.Close()

			var end, upstreamNote demo.Event
			d.waitEvent("end (and the upstream's note)", func(e demo.Event) bool {
				switch {
				case e.ID == id && e.Kind == "end":
					end = e
				case e.ID == id && e.Kind == "note":
					upstreamNote = e
				}
				return end.Kind != "" && (tc.work != demo.WorkUpstream || upstreamNote.Kind != "")
			})
			expectGoneEnd(t, end, demo.OutcomeCancelled, "handler")
			if !strings.Contains(end.Err, tc.wantErr) {
				t.Errorf("work error %q, want it to say %q", end.Err, tc.wantErr)
			}
			rep := d.waitReport("/slow")
			if rep.Phase.String() != "handler" || rep.Reason.String() != "closed" {
				t.Errorf("report: phase %v reason %v, want handler, closed", rep.Phase, rep.Reason)
			}
			if tc.work == demo.WorkUpstream && !strings.Contains(upstreamNote.Detail, "cancelled") {
				t.Errorf("upstream note %q", upstreamNote.Detail)
			}
			t.Logf("%s: work stopped %v after the disconnect (report), end event %.2f ms after; %s",
				tc.work, rep.StoppedAfter, end.StoppedAfterMs, upstreamNote.Detail)
			if since := time.Since(hungUp); since > 10*time.Second {
				t.Errorf("work took %v to stop", since)
			}
			if got := d.metric(workSeries("demo_work_total", tc.work, demo.OutcomeCancelled)); got != 1 {
				t.Errorf("demo_work_total cancelled %s = %v, want 1", tc.work, got)
			}
		})
	}
	d.t = t
}

// TestSlowCompleted: a client that waits gets its answer; the work counts
// as completed.
func TestSlowCompleted(t *testing.T) {
	t.Parallel()
	d := startDemo(t, demo.Config{})
	for _, work := range []string{demo.WorkSQLite, demo.WorkUpstream, demo.WorkCPU} {
		resp, err := http.Get(d.url + "/slow?seconds=0.2&work=" + work)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.HasPrefix(string(b), "done in") {
			t.Fatalf("%s: %s %q", work, resp.Status, b)
		}
		if got := d.metric(workSeries("demo_work_total", work, demo.OutcomeCompleted)); got != 1 {
			t.Errorf("demo_work_total completed %s = %v, want 1", work, got)
		}
	}
}

// TestIgnoreDisconnectWasted: with cancellation switched off, the work runs
// to its end for a client that left, and counts as wasted.
func TestIgnoreDisconnectWasted(t *testing.T) {
	t.Parallel()
	d := startDemo(t, demo.Config{IgnoreDisconnect: true})
	c := d.get("/slow?seconds=1.5&work=cpu")
	id := d.waitStart(c.LocalAddr())
	d.waitKind(id, "work")
	c.Close()
	end := d.waitKind(id, "end")
	expectGoneEnd(t, end, demo.OutcomeWasted, "handler")
	rep := d.waitReport("/slow")
	t.Logf("the work ran on %v after the client left", rep.StoppedAfter)
	if rep.StoppedAfter < 500*time.Millisecond {
		t.Errorf("StoppedAfter = %v: the work should have gone on", rep.StoppedAfter)
	}
	if got := d.metric(workSeries("demo_work_total", "cpu", demo.OutcomeWasted)); got != 1 {
		t.Errorf("demo_work_total wasted = %v, want 1", got)
	}
	if got := d.metric(workSeries("demo_work_seconds_total", "cpu", demo.OutcomeWasted)); got < 1 {
		t.Errorf("demo_work_seconds_total wasted = %v, want ≥ 1", got)
	}
}

// TestWaitingForWorkerNeverStarts: with every worker busy, a request whose
// client leaves while it waits never starts its work.
func TestWaitingForWorkerNeverStarts(t *testing.T) {
	t.Parallel()
	d := startDemo(t, demo.Config{Workers: 1})
	busy, c, busyID, id := d.waitBehindBusy("sqlite")
	c.Close()
	end := d.waitEvent("end of the waiting request", func(e demo.Event) bool {
		if e.ID == id && e.Kind == "work" {
			t.Fatal("the work started for a client that had left")
		}
		return e.ID == id && e.Kind == "end"
	})
	// Its work never started: hangup's Admission counts it before the handler.
	expectGoneEnd(t, end, demo.OutcomeCancelled, "before_handler")
	if !strings.Contains(end.Err, "waiting for a worker") {
		t.Errorf("err %q", end.Err)
	}
	for _, o := range []string{demo.OutcomeCompleted, demo.OutcomeCancelled, demo.OutcomeWasted, demo.OutcomeFailed} {
		if got := d.metric(workSeries("demo_work_total", "sqlite", o)); got != 0 {
			t.Errorf("sqlite work %s = %v, want none", o, got)
		}
	}
	busy.Close()
	d.waitKind(busyID, "end")
}

// TestBadParams: bad query parameters are answered 400 with a clear message.
func TestBadParams(t *testing.T) {
	t.Parallel()
	d := startDemo(t, demo.Config{})
	for _, tc := range []struct{ query, want string }{
		{"seconds=abc", "not a number"},
		{"seconds=NaN", "not a number"},
		{"seconds=Inf", "not a number"},
		{"seconds=0", "out of range"},
		{"seconds=-3", "out of range"},
		{"seconds=601", "out of range"},
		{"work=gpu", `unknown work "gpu"`},
		{"work=postgres", "--db"},
	} {
		resp, err := http.Get(d.url + "/slow?" + tc.query)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(b), tc.want) {
			t.Errorf("%s: %s %q, want 400 saying %q", tc.query, resp.Status, b, tc.want)
		}
	}
}

// TestMetricsAndEvents: /metrics has hangup's and the demo's metrics, and
// /events starts with the demo's settings.
func TestMetricsAndEvents(t *testing.T) {
	t.Parallel()
	d := startDemo(t, demo.Config{Workers: 3})
	for _, series := range []string{
		"hangup_requests_in_flight",
		`hangup_client_gone_total{phase="reading_body"}`,
		workSeries("demo_work_seconds_total", "sqlite", "wasted"),
		"demo_work_in_flight",
	} {
		d.metric(series)
	}

	ctx, cancel := context.WithTimeout(context.Background(), waitLong)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, d.url+"/events", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("Content-Type %q", ct)
	}
	line, err := bufio.NewReader(resp.Body).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	var hello demo.Event
	if err := json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &hello); err != nil {
		t.Fatalf("%q: %v", line, err)
	}
	if hello.Kind != "hello" || hello.Info == nil || hello.Info.Workers != 3 {
		t.Fatalf("first event %+v", hello)
	}

	page, err := http.Get(d.url + "/")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(page.Body)
	page.Body.Close()
	if !strings.Contains(string(b), `id="fetch-start"`) {
		t.Fatalf("page: %s", b)
	}
}

// TestShutdownCancelsRunningWork: Serve's shutdown lets running work finish
// for the grace period, then cancels it and returns.
func TestShutdownCancelsRunningWork(t *testing.T) {
	t.Parallel()
	sqliteRate.Lock()
	rate := sqliteRate.rate
	sqliteRate.Unlock()
	s, err := demo.New(context.Background(), demo.Config{ShutdownGrace: 200 * time.Millisecond, SQLiteRate: rate,
		Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	events, stop := s.Events().Subscribe()
	defer stop()
	d := &testDemo{t: t, s: s, events: events}
	ln := listen(t)
	d.url = "http://" + ln.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	c := d.get("/slow?seconds=60&work=sqlite")
	id := d.waitStart(c.LocalAddr())
	d.waitKind(id, "work")
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(waitLong):
		t.Fatal("Serve did not return")
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("status %s, want 503", resp.Status)
	}
}

// TestQueueTimeout: with QueueTimeout, a request that waits too long for a
// worker is answered 503 with Retry-After, and its work never starts.
func TestQueueTimeout(t *testing.T) {
	t.Parallel()
	d := startDemo(t, demo.Config{Workers: 1, QueueTimeout: 50 * time.Millisecond})
	busy := d.get("/slow?seconds=60&work=cpu")
	d.waitKind(d.waitStart(busy.LocalAddr()), "work")

	resp, err := http.Get(d.url + "/slow?seconds=1&work=sqlite")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("got %d, Retry-After %q, body %q; want 503 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"), body)
	}
	if !strings.Contains(string(body), "no capacity came free") {
		t.Errorf("body %q does not say why", body)
	}
	busy.Close()
}

// TestWaitingGauge: demo_work_waiting counts the requests in the worker
// line, and no longer the one that got a worker after waiting.
func TestWaitingGauge(t *testing.T) {
	t.Parallel()
	d := startDemo(t, demo.Config{Workers: 1})
	busy, c, _, id := d.waitBehindBusy("cpu")
	busy.Close()           // its worker goes to the waiting request
	d.waitKind(id, "work") // (busy's end may come before or after)
	if got := d.metric("demo_work_waiting"); got != 0 {
		t.Errorf("demo_work_waiting = %v while the request that waited works, want 0", got)
	}
	c.Close()
	d.waitKind(id, "end")
}
