package storm

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

// The tests run real load on loopback for a few seconds. CI is a loaded
// two-core machine: they assert behaviour with wide bounds (within 40%),
// never a tight timing.
const tolerance = 0.4

// serviceServer answers GET after a fixed service time, or stops early when
// the client leaves, as a server with good disconnect handling would.
func serviceServer(t *testing.T, service time.Duration, status int) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var inflight atomic.Int64
	srv := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		inflight.Add(1)
		defer inflight.Add(-1)
		select {
		case <-time.After(service):
			w.WriteHeader(status)
			w.Write([]byte("done\n"))
		case <-r.Context().Done():
		}
	}), nil)
	return srv, &inflight
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

// near reports whether got is within tolerance of want.
func near(got, want float64) bool {
	return got >= want*(1-tolerance) && got <= want*(1+tolerance)
}
