package storm

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

// The tests run real load on loopback, on CI machines that other work may
// saturate: they check what can be counted (at the server, in the
// accounting identities) and bounds that no load can break (a user cannot
// make more requests than its cycle allows, a response cannot come before
// its service time), never a rate the machine has to keep up.

// served is what a serviceServer did: requests in flight, answered, and
// ended early because the client left.
type served struct {
	inflight, answered, gone atomic.Int64
}

// serviceServer answers GET after a fixed service time, or stops early when
// the client leaves, as a server with good disconnect handling would.
func serviceServer(t *testing.T, service time.Duration, status int) (*httptest.Server, *served) {
	t.Helper()
	var s served
	srv := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.inflight.Add(1)
		defer s.inflight.Add(-1)
		select {
		case <-time.After(service):
			w.WriteHeader(status)
			w.Write([]byte("done\n"))
			s.answered.Add(1)
		case <-r.Context().Done():
			s.gone.Add(1)
		}
	}), nil)
	return srv, &s
}

// startServer starts h on loopback, after configure (if not nil) has set up
// the server.
func startServer(t *testing.T, h http.Handler, configure func(*http.Server)) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(h)
	if configure != nil {
		configure(srv.Config)
	}
	srv.Start()
	t.Cleanup(srv.Close)
	return srv
}

func run(t *testing.T, cfg Config) *Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), cfg.Duration+30*time.Second)
	defer cancel()
	res, err := Run(ctx, cfg)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	tt := res.Totals
	t.Logf("sent %d goodput %d (%.1f/s) abandoned %d (reloads %d, left %d) errors %d %+v unfinished %d dropped %d p50 %.1fms p99 %.1fms",
		tt.Sent, tt.Goodput, tt.GoodputPerS, tt.Abandoned, tt.Reloads, tt.Left, tt.Errors, tt.ErrorsByKind, tt.Unfinished, tt.Dropped, tt.Latency.P50, tt.Latency.P99)
	checkInvariants(t, res)
	return res
}

// checkInvariants checks the accounting identities every run must keep.
func checkInvariants(t *testing.T, res *Result) {
	t.Helper()
	tt := res.Totals
	if got := tt.Goodput + tt.Abandoned + tt.Errors + tt.Unfinished; got != tt.Sent {
		t.Errorf("goodput+abandoned+errors+unfinished = %d, want sent = %d", got, tt.Sent)
	}
	if tt.Reloads+tt.Left != tt.Abandoned {
		t.Errorf("reloads %d + left %d != abandoned %d", tt.Reloads, tt.Left, tt.Abandoned)
	}
	e := tt.ErrorsByKind
	if e.Connect+e.Status4xx+e.Status5xx+e.Reset+e.Timeout+e.Other != tt.Errors {
		t.Errorf("errors by kind %+v do not sum to %d", e, tt.Errors)
	}
	st := tt.Status
	if st.S4xx != e.Status4xx || st.S5xx != e.Status5xx || st.S2xx+st.S3xx != tt.Goodput {
		t.Errorf("status classes %+v disagree with goodput %d and errors %+v", st, tt.Goodput, e)
	}
	var codes int64
	for _, n := range tt.StatusCodes {
		codes += n
	}
	if codes != st.S1xx+st.S2xx+st.S3xx+st.S4xx+st.S5xx {
		t.Errorf("status codes %v do not sum to the classes %+v", tt.StatusCodes, st)
	}
	var sent, good, ab, errs int64
	for i, s := range res.Series {
		if s.T != float64(i) {
			t.Errorf("series[%d].t = %v", i, s.T)
		}
		sent += s.Sent
		good += s.Goodput
		ab += s.Abandoned
		errs += s.Errors
	}
	if sent != tt.Sent || good != tt.Goodput || ab != tt.Abandoned || errs != tt.Errors {
		t.Errorf("series sums sent %d goodput %d abandoned %d errors %d, totals %d %d %d %d",
			sent, good, ab, errs, tt.Sent, tt.Goodput, tt.Abandoned, tt.Errors)
	}
	if want := int(res.Config.DurationS + 0.999); want > 0 && len(res.Series) != want {
		t.Errorf("series has %d seconds, want %d", len(res.Series), want)
	}
}

// atMost is the most events a user can have in d when each takes at least
// cycle: one per cycle, and one more begun at the start.
func atMost(users int, d, cycle time.Duration) int64 {
	return int64(users) * (int64(d/cycle) + 1)
}
