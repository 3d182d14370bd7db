package demo_test

import (
	"testing"
	"time"

	"github.com/hangup-dev/hangup/cmd/demo"
)

// waitStats polls the demo's Stats until ok holds, and returns them.
func (d *testDemo) waitStats(what string, ok func(demo.Stats) bool) demo.Stats {
	d.t.Helper()
	return poll(d.t, "stats: "+what, 20*time.Millisecond, d.s.Stats, ok)
}

// TestStatsForNobody: a client that hangs up on running work and one that
// hangs up while in line for a worker. With cancellation neither is worked
// for once its handler is done; with IgnoreDisconnect both are, for nobody,
// as Stats and the gauges on /metrics both tell, and the abandoned requests
// land in the work-after-gone histogram when their handlers return.
func TestStatsForNobody(t *testing.T) {
	for _, tc := range []struct {
		name   string
		ignore bool
	}{
		{"cancellation", false},
		{"ignore disconnect", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			// With IgnoreDisconnect the minute of work goes on for nobody
			// until the end of the test: the shutdown cancels it.
			d := startDemo(t, demo.Config{Workers: 1, IgnoreDisconnect: tc.ignore, ShutdownGrace: time.Millisecond})
			busy := d.get("/slow?seconds=60&work=upstream")
			busyID := d.waitStart(busy.LocalAddr())
			d.waitKind(busyID, "work")
			waiting := d.get("/slow?seconds=60&work=upstream")
			d.waitKind(d.waitStart(waiting.LocalAddr()), "wait")
			busy.Close()
			waiting.Close()
			if !tc.ignore {
				st := d.waitStats("both abandoned", func(s demo.Stats) bool { return s.Abandoned == 2 })
				if st.Working != 0 || st.WorkingGone != 0 || st.Waiting != 0 || st.WaitingGone != 0 {
					t.Errorf("stats %+v: want no work under way", st)
				}
				if st.WastedSeconds != 0 {
					t.Errorf("wasted %v s, want none", st.WastedSeconds)
				}
				return
			}
			st := d.waitStats("one working and one waiting, both for nobody", func(s demo.Stats) bool {
				return s.WorkingGone == 1 && s.WaitingGone == 1
			})
			if st.Working != 1 || st.Waiting != 1 || st.Abandoned != 0 {
				t.Errorf("stats %+v: want 1 working and 1 waiting, none abandoned yet", st)
			}
			for series, want := range map[string]float64{
				"demo_work_in_flight": 1, "demo_work_in_flight_client_gone": 1,
				"demo_work_waiting": 1, "demo_work_waiting_client_gone": 1,
			} {
				if got := d.metric(series); got != want {
					t.Errorf("%s = %v, want %v", series, got, want)
				}
			}
		})
	}
}

// TestStatsAfterGone: each abandoned request lands in the work-after-gone
// histogram once its handler returns, with how long it ran on: little with
// cancellation, the rest of its work with IgnoreDisconnect.
func TestStatsAfterGone(t *testing.T) {
	for _, tc := range []struct {
		name    string
		ignore  bool
		minGone time.Duration // the least the work ran on after the client left
		maxGone time.Duration // and the most
		wasted  bool
	}{
		{"cancellation", false, 0, time.Second, false},
		{"ignore disconnect", true, 500 * time.Millisecond, time.Minute, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			d := startDemo(t, demo.Config{IgnoreDisconnect: tc.ignore})
			c := d.get("/slow?seconds=1.5&work=upstream")
			id := d.waitStart(c.LocalAddr())
			d.waitKind(id, "work")
			c.Close()
			d.waitKind(id, "end")
			st := d.waitStats("one abandoned", func(s demo.Stats) bool { return s.Abandoned == 1 })
			var n uint64
			for _, c := range st.AfterGone {
				n += c
			}
			gone := time.Duration(st.AfterGoneSeconds * float64(time.Second))
			if n != 1 || gone < tc.minGone || gone > tc.maxGone {
				t.Errorf("histogram %v holds %d requests that ran on %v in all; want 1, between %v and %v",
					st.AfterGone, n, gone, tc.minGone, tc.maxGone)
			}
			metric := d.metric(workSeries("demo_work_seconds_total", demo.WorkUpstream, demo.OutcomeWasted))
			if st.WastedSeconds != metric || (st.WastedSeconds > 0) != tc.wasted {
				t.Errorf("wasted %v s, /metrics says %v; want some: %v", st.WastedSeconds, metric, tc.wasted)
			}
		})
	}
}
