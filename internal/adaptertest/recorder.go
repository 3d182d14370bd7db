package adaptertest

import (
	"context"
	"errors"
	"log/slog"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/hangup-dev/hangup"
)

// Outcome is what a handler saw of its request's context.
type Outcome struct {
	Cancelled bool  // the context was done (or a framework's own Done channel closed)
	Gone      bool  // the adapter's Gone channel was closed
	Cause     error // the adapter's Cause, or context.Cause
	Departure hangup.Departure
	Departed  bool // the adapter's Departed, with Departure
	Status    int  // the adapter's Status, where it has one
}

// Recorder is the test's side of a handler that reports its context's
// fate. The handler, written for each framework, does
//
//	o := rec.Observe(ctx, gone)  // gone: the adapter's Gone(ctx)
//	o.Cause = ...                // what the adapter reports
//	o.Departure, o.Departed = ...
//	o.Status = ...
//	rec.Record(o)
//
// and then writes a response; the test waits for it with WaitEntered and
// Result. A Recorder serves any number of requests, one after the other.
type Recorder struct {
	wait    time.Duration
	entered chan struct{}
	results chan Outcome
	hold    chan struct{} // MustFinish: Observe waits for Release
	release sync.Once
}

// NewRecorder returns a Recorder whose handler waits for at most wait: for
// WaitLong when its context must end, for Quiet when it must not.
func NewRecorder(wait time.Duration) *Recorder {
	return &Recorder{wait: wait, entered: make(chan struct{}, 16), results: make(chan Outcome, 16)}
}

// Observe tells the test that the handler runs, then waits until ctx is
// done or one of more (a framework's own Done channels) is closed, or the
// Recorder's wait passes. In the MustFinish test, whose context stays alive,
// it waits for gone instead, and then until the test releases it. It
// returns what it saw of ctx, gone and more; the handler adds what the
// adapter reports.
func (r *Recorder) Observe(ctx context.Context, gone <-chan struct{}, more ...<-chan struct{}) Outcome {
	r.entered <- struct{}{}
	timer := time.NewTimer(r.wait)
	defer timer.Stop()
	cases := []reflect.SelectCase{recv(timer.C)}
	if r.hold != nil {
		cases = append(cases, recv(gone))
	} else {
		cases = append(cases, recv(ctx.Done()))
		for _, ch := range more {
			cases = append(cases, recv(ch))
		}
	}
	reflect.Select(cases)
	if r.hold != nil {
		select {
		case <-r.hold:
		case <-time.After(WaitLong):
		}
	}
	o := Outcome{Cancelled: ctx.Err() != nil, Gone: Closed(gone)}
	for _, ch := range more {
		o.Cancelled = o.Cancelled || Closed(ch)
	}
	return o
}

func recv[T any](ch <-chan T) reflect.SelectCase {
	return reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(ch)}
}

// Record hands o over to the test.
func (r *Recorder) Record(o Outcome) { r.results <- o }

// Release lets a handler held in Observe go on (MustFinish).
func (r *Recorder) Release() {
	r.release.Do(func() {
		if r.hold != nil {
			close(r.hold)
		}
	})
}

// WaitEntered waits until the handler runs.
func (r *Recorder) WaitEntered(t testing.TB) {
	t.Helper()
	select {
	case <-r.entered:
	case <-time.After(WaitLong):
		t.Fatal("handler never ran")
	}
}

// Pending is how many times the handler ran that WaitEntered has not seen.
func (r *Recorder) Pending() int { return len(r.entered) }

// Result waits for the handler's Outcome.
func (r *Recorder) Result(t testing.TB) Outcome {
	t.Helper()
	select {
	case o := <-r.results:
		return o
	case <-time.After(WaitLong):
		t.Fatal("handler never returned")
		return Outcome{}
	}
}

// Closed reports whether ch is closed (or, for a channel that carries
// values, ready).
func Closed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// WantGone fails t unless o shows a context cancelled because its client
// left, for reason, while the handler ran: cancelled, with a cause that is
// hangup.ErrClientGone and a *hangup.GoneError, and the same departure from
// the adapter's Departed.
func WantGone(t testing.TB, o Outcome, reason hangup.Reason) {
	t.Helper()
	if !o.Cancelled {
		t.Fatalf("context not cancelled after the client left (cause %v)", o.Cause)
	}
	if !errors.Is(o.Cause, hangup.ErrClientGone) {
		t.Fatalf("cause = %v, want hangup.ErrClientGone", o.Cause)
	}
	var ge *hangup.GoneError
	if !errors.As(o.Cause, &ge) {
		t.Fatalf("cause %T is not a *hangup.GoneError", o.Cause)
	}
	if ge.Reason != reason || ge.Phase != hangup.PhaseHandler {
		t.Errorf("departure = %v/%v, want %v/%v", ge.Phase, ge.Reason, hangup.PhaseHandler, reason)
	}
	if !o.Departed || o.Departure != ge.Departure {
		t.Errorf("Departed = %v, %v; want %v, true", o.Departure, o.Departed, ge.Departure)
	}
}

// WantAlive fails t if o shows a context that ended or a client that left.
func WantAlive(t testing.TB, o Outcome) {
	t.Helper()
	if o.Cancelled || o.Gone || o.Departed || o.Cause != nil {
		t.Fatalf("a request on a live connection was cancelled: %+v", o)
	}
}

// Logs is a slog.Handler that hands each record's attributes to the test.
type Logs chan map[string]any

// NewLogs returns a Logs with room for a few lines.
func NewLogs() Logs { return make(Logs, 16) }

// Logger returns a logger that writes to l.
func (l Logs) Logger() *slog.Logger { return slog.New(l) }

// Next waits for the next line.
func (l Logs) Next(t testing.TB) map[string]any {
	t.Helper()
	select {
	case line := <-l:
		return line
	case <-time.After(WaitLong):
		t.Fatal("no access log line")
		return nil
	}
}

func (l Logs) Enabled(context.Context, slog.Level) bool { return true }
func (l Logs) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l Logs) WithGroup(string) slog.Handler            { return l }

func (l Logs) Handle(_ context.Context, r slog.Record) error {
	m := map[string]any{}
	r.Attrs(func(a slog.Attr) bool { m[a.Key] = a.Value.Any(); return true })
	l <- m
	return nil
}

// WantAttrs fails t unless line holds each of want's attributes.
func WantAttrs(t testing.TB, line, want map[string]any) {
	t.Helper()
	for k, v := range want {
		if line[k] != v {
			t.Errorf("log line %v: %s = %v (%T), want %v (%T)", line, k, line[k], line[k], v, v)
		}
	}
}

// Want499 fails t unless line is the access log line of a request for path
// whose client closed its connection while the handler ran: status 499,
// gone_reason "closed", gone_phase "handler".
func Want499(t testing.TB, line map[string]any, path string) {
	t.Helper()
	WantAttrs(t, line, map[string]any{
		"status":      int64(hangup.StatusClientClosedRequest),
		"path":        path,
		"gone_reason": "closed",
		"gone_phase":  "handler",
	})
}
