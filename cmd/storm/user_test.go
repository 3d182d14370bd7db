package storm

import (
	"context"
	"net/http"
	"testing"
	"time"
)

// TestPatientUsers: with patience far above the service time every request
// is goodput, counted as the server answered it, and no user makes more
// than one request per service+think.
func TestPatientUsers(t *testing.T) {
	t.Parallel()
	const users, service, think, duration = 10, 50 * time.Millisecond, 50 * time.Millisecond, 3 * time.Second
	srv, s := serviceServer(t, service, http.StatusOK)
	res := run(t, Config{URL: srv.URL, Users: users, Patience: Fixed(time.Minute), Think: Fixed(think), Duration: duration})
	srv.Close() // the handlers still running end
	tt := res.Totals
	if most := atMost(users, duration, service+think); tt.Goodput < users || tt.Goodput > most {
		t.Errorf("goodput %d, want between %d (one per user) and %d (one per cycle)", tt.Goodput, users, most)
	}
	if a := s.answered.Load(); a < tt.Goodput || a > tt.Goodput+tt.Unfinished {
		t.Errorf("the server answered %d, storm counted %d goodput and %d unfinished", a, tt.Goodput, tt.Unfinished)
	}
	if tt.Abandoned != 0 || tt.Errors != 0 {
		t.Errorf("patient users abandoned %d and saw %d errors, want none", tt.Abandoned, tt.Errors)
	}
	l := tt.Latency
	ms := service.Seconds() * 1000
	if l.P50 < ms || l.P90 < l.P50 || l.P99 < l.P90 || l.Max < l.P99 {
		t.Errorf("latency p50 %.1f p90 %.1f p99 %.1f max %.1f ms, want ordered and at least the %vms service time", l.P50, l.P90, l.P99, l.Max, ms)
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
// reload at once: nothing is delivered, each user abandons at most every
// 100ms, and every request the server started ended with its client gone.
func TestImpatientReloads(t *testing.T) {
	t.Parallel()
	const users, duration, patience = 5, 2 * time.Second, 100 * time.Millisecond
	srv, s := serviceServer(t, 500*time.Millisecond, http.StatusOK)
	res := run(t, Config{URL: srv.URL, Users: users, Patience: Fixed(patience), ReloadProb: 1, Duration: duration})
	tt := res.Totals
	// The server may still answer into a connection its client closed
	// (a busy machine runs its disconnect check late): no user reads it.
	if tt.Goodput != 0 {
		t.Errorf("goodput %d, want 0: the service takes 5 times the patience", tt.Goodput)
	}
	if g := s.gone.Load() + s.answered.Load(); g > tt.Sent {
		t.Errorf("the server ended %d requests, storm sent %d", g, tt.Sent)
	}
	if most := atMost(users, duration, patience); tt.Abandoned < users || tt.Abandoned > most {
		t.Errorf("abandoned %d, want between %d and %d", tt.Abandoned, users, most)
	}
	if tt.Left != 0 || tt.Reloads != tt.Abandoned {
		t.Errorf("reload probability 1: reloads %d left %d, want all reloads", tt.Reloads, tt.Left)
	}
	if tt.Latency.Count != 0 || tt.Latency.P99 != 0 {
		t.Errorf("latency measured without goodput: %+v", tt.Latency)
	}
}

// TestImpatientLeave: users who give up leave for the think time: at most
// one abandonment every patience+think.
func TestImpatientLeave(t *testing.T) {
	t.Parallel()
	const users, duration, patience, think = 5, 2 * time.Second, 100 * time.Millisecond, 150 * time.Millisecond
	srv, _ := serviceServer(t, 500*time.Millisecond, http.StatusOK)
	res := run(t, Config{URL: srv.URL, Users: users, Patience: Fixed(patience), Think: Fixed(think), ReloadProb: 0, Duration: duration, Abort: AbortRST})
	tt := res.Totals
	if most := atMost(users, duration, patience+think); tt.Goodput != 0 || tt.Abandoned < users || tt.Abandoned > most {
		t.Errorf("goodput %d abandoned %d, want 0 and between %d and %d", tt.Goodput, tt.Abandoned, users, most)
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

// TestOpenLoop: visitors arrive at random at the given rate whatever the
// server does; each one the server answered is goodput.
func TestOpenLoop(t *testing.T) {
	t.Parallel()
	const rate, duration = 50, 2 * time.Second
	srv, s := serviceServer(t, 20*time.Millisecond, http.StatusOK)
	res := run(t, Config{URL: srv.URL, Rate: rate, Users: 1000, Patience: Fixed(time.Minute), Duration: duration, Seed: 1})
	srv.Close()
	tt := res.Totals
	// Seed 1 draws 103 arrivals in 2s; a machine too busy to keep up
	// can only delay some of the last past the end.
	if tt.Sent > 103 || tt.Sent < 103/2 || tt.Goodput+tt.Unfinished != tt.Sent {
		t.Errorf("sent %d goodput %d unfinished %d, want at most the 103 arrivals seed 1 draws, all answered", tt.Sent, tt.Goodput, tt.Unfinished)
	}
	if a := s.answered.Load(); a < tt.Goodput || a > tt.Sent {
		t.Errorf("the server answered %d, storm counted %d goodput of %d sent", a, tt.Goodput, tt.Sent)
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
