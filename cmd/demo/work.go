package demo

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/hangup-dev/hangup"
)

// Work kinds, the values of /slow's work parameter and of the metrics' work
// label.
const (
	WorkSQLite   = "sqlite"
	WorkPostgres = "postgres"
	WorkUpstream = "upstream"
	WorkCPU      = "cpu"
	WorkUpload   = "upload"
)

// A worker does one kind of work for about a given duration.
type worker interface {
	// do works for about d on behalf of request id and returns a line
	// about what it did, or the error that stopped it. It returns soon
	// after ctx is done.
	do(ctx context.Context, id uint64, d time.Duration) (string, error)
}

// job is one piece of work run by runJob: on a worker, with progress
// reported each second.
type job struct {
	kind    string
	seconds float64 // expected duration, if known
	run     func(ctx context.Context) (string, error)
	// progress tells, after elapsed, how far the work is (0..1) and, if it
	// has something to say, how.
	progress func(elapsed time.Duration) (float64, string)
}

// timeProgress is the progress of work expected to take d.
func timeProgress(d time.Duration) func(time.Duration) (float64, string) {
	return func(el time.Duration) (float64, string) {
		return min(el.Seconds()/d.Seconds(), 0.99), fmt.Sprintf("%.0f/%g s", el.Seconds(), d.Seconds())
	}
}

// jobResult is what runJob tells of a job.
type jobResult struct {
	res     string
	err     error
	outcome string
	elapsed time.Duration // of the work itself, after a worker was free
	started bool          // a worker was free and the work started
}

// errShutdown is the cause of the contexts of work still running when the
// demo's shutdown grace period is over.
var errShutdown = errors.New("demo: server shutting down")

// workContext is the context the work of r runs on: r's own, cancelled the
// moment the client goes away, or with IgnoreDisconnect a detached one, as
// without hangup (only the server's shutdown stops it).
func (s *Server) workContext(r *http.Request) (context.Context, context.CancelFunc) {
	if !s.cfg.IgnoreDisconnect {
		return r.Context(), func() {}
	}
	ctx, cancel := context.WithCancelCause(context.WithoutCancel(r.Context())) //hangup:detached: IgnoreDisconnect shows work without hangup
	stop := context.AfterFunc(s.base, func() { cancel(context.Cause(s.base)) })
	return ctx, func() { stop(); cancel(context.Canceled) }
}

// runJob waits for a free worker (giving up when ctx is done), runs j on
// it and reports its progress each second, to the log and the page.
func (s *Server) runJob(ctx context.Context, r *http.Request, rs *reqState, j job) (out jobResult) {
	bj := s.board.wait(r.Context())
	release, free := s.admit.TryAcquire()
	if !free {
		rs.log.Info("waiting for a free worker", "workers", s.cfg.Workers)
		s.publish(rs, Event{Kind: "wait", Detail: fmt.Sprintf("all %d workers busy: waiting", s.cfg.Workers)})
		var err error
		if release, err = s.admit.Wait(ctx); err != nil {
			s.board.leave(bj, 0)
			err = fmt.Errorf("gave up waiting for a worker: %w", err)
			return jobResult{err: err, outcome: outcomeOf(r, err)}
		}
	}
	defer release()
	// Off the board before the worker is free, so that the board never
	// shows more work running than there are workers.
	defer func() {
		var wasted time.Duration
		if out.outcome == OutcomeWasted {
			wasted = out.elapsed
		}
		s.board.leave(bj, wasted)
	}()
	s.board.start(bj)
	s.publish(rs, Event{Kind: "work", Work: j.kind, Seconds: j.seconds})

	start := time.Now()
	done := make(chan jobResult, 1)
	go func() {
		res, err := j.run(ctx)
		done <- jobResult{res: res, err: err}
	}()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	// With IgnoreDisconnect the work goes on when the client leaves: say so
	// at that moment.
	var gone <-chan struct{}
	if s.cfg.IgnoreDisconnect {
		gone = hangup.Gone(r.Context())
	}
wait:
	for {
		select {
		case out = <-done:
			break wait
		case <-gone:
			gone = nil
			d, _ := hangup.Departed(r.Context())
			rs.log.Warn("client gone, but the work goes on (--ignore-disconnect)", "phase", d.Phase, "reason", d.Reason)
			s.publish(rs, Event{Kind: "note", Detail: fmt.Sprintf(
				"client gone (phase %s, reason %s), but the work goes on: cancellation is off", d.Phase, d.Reason)})
		case <-tick.C:
			frac, detail := j.progress(time.Since(start))
			attrs := []any{"progress", detail}
			if d, gone := hangup.Departed(r.Context()); gone {
				attrs = append(attrs, "client_gone_for", time.Since(d.At).Round(time.Millisecond))
			}
			rs.log.Info("working", attrs...)
			s.publish(rs, Event{Kind: "progress", Progress: frac, Detail: detail})
		}
	}
	out.started = true
	out.elapsed = time.Since(start)
	out.outcome = outcomeOf(r, out.err)
	s.metrics.workDone(j.kind, out.outcome, out.elapsed)
	return out
}

// outcomeOf classifies work that ended with err: departure is read from
// r's own context, which reports it even when the work ran detached.
func outcomeOf(r *http.Request, err error) string {
	_, gone := hangup.Departed(r.Context())
	switch {
	case err == nil && gone:
		return OutcomeWasted
	case err == nil:
		return OutcomeCompleted
	case gone:
		return OutcomeCancelled
	default:
		return OutcomeFailed
	}
}
