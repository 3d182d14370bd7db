package storm

import (
	"context"
	"net/http"
	"testing"
	"time"
)

// TestPatientUsers: with patience far above the service time every request
// is goodput, and a closed loop of N users delivers N/(service+think) per
// second.
func TestPatientUsers(t *testing.T) {
	t.Parallel()
	const users, service, think = 10, 50 * time.Millisecond, 50 * time.Millisecond
	srv, _ := serviceServer(t, service, http.StatusOK)
	res := run(t, Config{URL: srv.URL, Users: users, Patience: Fixed(time.Second), Think: Fixed(think), Duration: 3 * time.Second})
	tt := res.Totals
	want := users / (service + think).Seconds()
	if !near(tt.GoodputPerS, want) {
		t.Errorf("goodput %.1f/s, want %.0f/s ± %.0f%%", tt.GoodputPerS, want, 100*tolerance)
	}
	if tt.Abandoned != 0 || tt.Errors != 0 {
		t.Errorf("patient users abandoned %d and saw %d errors, want none", tt.Abandoned, tt.Errors)
	}
	l := tt.Latency
	ms := service.Seconds() * 1000
	if l.P50 < ms || l.P50 > ms*3 || l.P90 < l.P50 || l.P99 < l.P90 || l.Max < l.P99 {
		t.Errorf("latency p50 %.1f p90 %.1f p99 %.1f max %.1f ms, want ordered and p50 near the %vms service time", l.P50, l.P90, l.P99, l.Max, ms)
	}
	if int64(l.Count) != tt.Goodput {
		t.Errorf("latency count %d != goodput %d", l.Count, tt.Goodput)
	}
	for _, s := range res.Series {
		if s.Goodput > 0 && (s.P99Ms == nil || *s.P99Ms < ms) {
			t.Errorf("second %v: goodput %d but p99 %v", s.T, s.Goodput, s.P99Ms)
		}
		if s.Inflight != nil || s.Work != nil {
			t.Errorf("second %v has server metrics without a metrics URL", s.T)
		}
	}
}

// TestImpatientReloads: the server takes 500ms, users wait 100ms and
// reload at once: nothing is delivered and each user abandons every 100ms.
func TestImpatientReloads(t *testing.T) {
	t.Parallel()
	const users, duration, patience = 5, 2 * time.Second, 100 * time.Millisecond
	srv, _ := serviceServer(t, 500*time.Millisecond, http.StatusOK)
	res := run(t, Config{URL: srv.URL, Users: users, Patience: Fixed(patience), ReloadProb: 1, Duration: duration})
	tt := res.Totals
	want := float64(users) * duration.Seconds() / patience.Seconds()
	if tt.Goodput != 0 {
		t.Errorf("goodput %d, want 0: the service takes 5 times the patience", tt.Goodput)
	}
	if !near(float64(tt.Abandoned), want) {
		t.Errorf("abandoned %d, want %.0f ± %.0f%%", tt.Abandoned, want, 100*tolerance)
	}
	if tt.Left != 0 || tt.Reloads != tt.Abandoned {
		t.Errorf("reload probability 1: reloads %d left %d, want all reloads", tt.Reloads, tt.Left)
	}
	if tt.Latency.Count != 0 || tt.Latency.P99 != 0 {
		t.Errorf("latency measured without goodput: %+v", tt.Latency)
	}
}

// TestImpatientLeave: users who give up leave for the think time: one
// abandonment every patience+think.
func TestImpatientLeave(t *testing.T) {
	t.Parallel()
	const users, duration, patience, think = 5, 2 * time.Second, 100 * time.Millisecond, 150 * time.Millisecond
	srv, _ := serviceServer(t, 500*time.Millisecond, http.StatusOK)
	res := run(t, Config{URL: srv.URL, Users: users, Patience: Fixed(patience), Think: Fixed(think), ReloadProb: 0, Duration: duration, Abort: AbortRST})
	tt := res.Totals
	want := float64(users) * duration.Seconds() / (patience + think).Seconds()
	if tt.Goodput != 0 || !near(float64(tt.Abandoned), want) {
		t.Errorf("goodput %d abandoned %d, want 0 and %.0f ± %.0f%%", tt.Goodput, tt.Abandoned, want, 100*tolerance)
	}
	if tt.Reloads != 0 || tt.Left != tt.Abandoned {
		t.Errorf("reload probability 0: reloads %d left %d, want all left", tt.Reloads, tt.Left)
	}
}

// TestMixedPatience: patience uniform around the service time: some users
// get their response, the others give up.
func TestMixedPatience(t *testing.T) {
	t.Parallel()
	srv, _ := serviceServer(t, 100*time.Millisecond, http.StatusOK)
	res := run(t, Config{URL: srv.URL, Users: 8, Patience: Uniform(20*time.Millisecond, 400*time.Millisecond), ReloadProb: 0.5, Think: Fixed(20 * time.Millisecond), Duration: 2 * time.Second})
	tt := res.Totals
	if tt.Goodput == 0 || tt.Abandoned == 0 || tt.Reloads == 0 || tt.Left == 0 {
		t.Errorf("want some goodput, abandonments, reloads and departures; got %+v", tt)
	}
	if tt.Latency.Max > 400 {
		t.Errorf("a response took %.0fms, longer than any user's patience", tt.Latency.Max)
	}
}

// TestOpenLoop: visitors arrive at the given rate whatever the server does.
func TestOpenLoop(t *testing.T) {
	t.Parallel()
	const rate, duration = 50, 2 * time.Second
	srv, _ := serviceServer(t, 20*time.Millisecond, http.StatusOK)
	res := run(t, Config{URL: srv.URL, Rate: rate, Users: 1000, Patience: Fixed(time.Second), Duration: duration})
	tt := res.Totals
	want := rate * duration.Seconds()
	if !near(float64(tt.Sent), want) || !near(float64(tt.Goodput), want) {
		t.Errorf("sent %d goodput %d, want both %.0f ± %.0f%%", tt.Sent, tt.Goodput, want, 100*tolerance)
	}
	if res.Config.Mode != "open" {
		t.Errorf("mode %q, want open", res.Config.Mode)
	}
}

// TestOpenLoopCap: arrivals beyond Users outstanding are dropped, not sent.
func TestOpenLoopCap(t *testing.T) {
	t.Parallel()
	srv, _ := serviceServer(t, time.Second, http.StatusOK)
	res := run(t, Config{URL: srv.URL, Rate: 100, Users: 5, Patience: Fixed(5 * time.Second), Duration: time.Second})
	tt := res.Totals
	if tt.Sent > 5 || tt.Dropped < 20 {
		t.Errorf("sent %d dropped %d, want at most 5 sent and the rest (about 95) dropped", tt.Sent, tt.Dropped)
	}
}

// TestErrors: a server that answers 503 delivers no goodput; every
// response is a status_5xx error.
func TestErrors(t *testing.T) {
	t.Parallel()
	srv, _ := serviceServer(t, 5*time.Millisecond, http.StatusServiceUnavailable)
	res := run(t, Config{URL: srv.URL, Users: 2, Patience: Fixed(time.Second), Duration: time.Second})
	tt := res.Totals
	if tt.Goodput != 0 || tt.Errors == 0 || tt.ErrorsByKind.Status5xx != tt.Errors {
		t.Errorf("got goodput %d errors %d by kind %+v, want only status_5xx errors", tt.Goodput, tt.Errors, tt.ErrorsByKind)
	}
}

// TestUnbounded: with no duration, cancelling the context ends the run early with a result.
func TestUnbounded(t *testing.T) {
	t.Parallel()
	srv, _ := serviceServer(t, 5*time.Millisecond, http.StatusOK)
	cfg := Config{URL: srv.URL, Users: 2, Patience: Fixed(time.Second), Duration: 0}
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	res, err := Run(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if res.Totals.Goodput == 0 || len(res.Series) != 2 || res.Totals.ElapsedS < 1.4 {
		t.Errorf("interrupted after 1.5s: goodput %d, %d seconds, elapsed %.2fs; want goodput, 2 seconds, 1.5s",
			res.Totals.Goodput, len(res.Series), res.Totals.ElapsedS)
	}
}
