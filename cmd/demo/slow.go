package demo

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/hangup-dev/hangup"
)

// handleSlow is the seed's slow page, with real work: it parses seconds and
// work, waits for a worker and works, reporting progress each second.
func (s *Server) handleSlow(w http.ResponseWriter, r *http.Request, rs *reqState) {
	secs, kind, err := s.slowParams(r)
	if err != nil {
		rs.outcome, rs.status, rs.err = OutcomeRejected, http.StatusBadRequest, err
		rs.log.Info("rejected", "status", rs.status, "err", err)
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	rs.work = kind
	d := time.Duration(secs * float64(time.Second))
	ctx, cancel := s.workContext(r)
	defer cancel()
	wk := s.works[kind]
	out := s.runJob(ctx, r, rs, job{
		kind:     kind,
		seconds:  secs,
		run:      func(ctx context.Context) (string, error) { return wk.do(ctx, rs.id, d) },
		progress: timeProgress(d),
	})
	s.finishJob(w, r, rs, out)
	if out.outcome == OutcomeCompleted || out.outcome == OutcomeWasted {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintf(w, "done in %.1f s: %s\n", out.elapsed.Seconds(), out.res)
	}
}

// finishJob logs how the work of rs ended, in the seed's words, and
// answers an error if there is one to answer.
func (s *Server) finishJob(w http.ResponseWriter, r *http.Request, rs *reqState, out jobResult) {
	rs.outcome, rs.err, rs.result = out.outcome, out.err, out.res
	switch out.outcome {
	case OutcomeCompleted:
		rs.status = http.StatusOK
		rs.log.Info("completed", "work", rs.work, "took", out.elapsed.Round(time.Millisecond), "result", out.res)
	case OutcomeWasted:
		rs.status = http.StatusOK
		d, _ := hangup.Departed(r.Context())
		rs.log.Warn("completed for nobody: the client had left",
			"work", rs.work, "took", out.elapsed.Round(time.Millisecond),
			"client_gone_at", d.At.Format("15:04:05.000"), "wasted", time.Since(d.At).Round(time.Millisecond))
	case OutcomeCancelled:
		d, _ := hangup.Departed(r.Context())
		rs.log.Info("cancelled: the client disconnected",
			"at", d.At.Format("15:04:05.000"), "reason", d.Reason, "phase", d.Phase,
			"cause", context.Cause(r.Context()), "work_err", out.err,
			"worked", out.elapsed.Round(time.Millisecond), "work_stopped_after", time.Since(d.At).Round(10*time.Microsecond))
		if !out.started {
			rs.log.Info("never started: the client left while waiting for a worker")
		}
	default:
		rs.status = http.StatusInternalServerError
		if errors.Is(out.err, errShutdown) || errors.Is(context.Cause(r.Context()), errShutdown) {
			rs.status = http.StatusServiceUnavailable
		}
		if errors.Is(out.err, hangup.ErrQueueFull) || errors.Is(out.err, hangup.ErrQueueTimeout) {
			rs.status = http.StatusServiceUnavailable
			w.Header().Set("Retry-After", "1")
		}
		rs.log.Error("failed", "work", rs.work, "err", out.err)
		http.Error(w, out.err.Error(), rs.status)
	}
}

// slowParams reads /slow's parameters: seconds (default Config.Seconds,
// 0 < s ≤ 600) and work (default sqlite).
func (s *Server) slowParams(r *http.Request) (float64, string, error) {
	q := r.URL.Query()
	secs := s.cfg.Seconds
	if v := q.Get("seconds"); v != "" {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return 0, "", fmt.Errorf("seconds=%q is not a number", v)
		}
		if f <= 0 || f > maxSeconds {
			return 0, "", fmt.Errorf("seconds=%g is out of range: want 0 < seconds ≤ %d", f, maxSeconds)
		}
		secs = f
	}
	kind := q.Get("work")
	if kind == "" {
		kind = WorkSQLite
	}
	if _, ok := s.works[kind]; !ok {
		if kind == WorkPostgres {
			return 0, "", errors.New("work=postgres needs a database: start the demo with --db postgres://user@host/dbname")
		}
		return 0, "", fmt.Errorf("unknown work %q: want one of sqlite, postgres, upstream, cpu", kind)
	}
	return secs, kind, nil
}
