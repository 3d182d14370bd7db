package lifecycle_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/hangup-dev/hangup"
	"github.com/hangup-dev/hangup/internal/lifecycle"
	"go.uber.org/goleak"
)

// Package hangup fills lifecycle.Core when it is initialised; importing it
// is what a shell does.
var _ = hangup.ErrClientGone

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// shell is a Shell whose handler is always in phase handler.
type shell struct {
	lc       lifecycle.Request
	books    *lifecycle.Books
	cause    error
	answered bool
}

func newShell(b *lifecycle.Books) *shell {
	s := &shell{books: b}
	s.lc.Begin(s, b)
	return s
}

func (s *shell) Cancel(cause error) {
	if s.cause == nil {
		s.cause = cause
	}
}
func (s *shell) Phase() lifecycle.Phase { return lifecycle.PhaseHandler }
func (s *shell) Woken()                 {}
func (s *shell) Answered() bool         { return s.answered }
func (s *shell) Complete() bool         { return false }

// TestConnRequests: which requests on a connection run, are skipped or are
// cancelled, and in which phase, for a departure before, during and after
// them.
func TestConnRequests(t *testing.T) {
	for _, tc := range []struct {
		name      string
		halfOnly  bool
		running   bool // a request runs when the client leaves
		wantRun   []bool
		wantPhase []lifecycle.Phase
	}{
		{"fin-while-idle", true, false, []bool{true, false}, []lifecycle.Phase{lifecycle.PhaseHandler, lifecycle.PhaseBeforeHandler}},
		{"reset-while-idle", false, false, []bool{false, false}, []lifecycle.Phase{lifecycle.PhaseBeforeHandler, lifecycle.PhaseBeforeHandler}},
		{"fin-while-running", true, true, []bool{false}, []lifecycle.Phase{lifecycle.PhaseBeforeHandler}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b lifecycle.Books
			var c lifecycle.Conn
			if tc.running {
				s := newShell(&b)
				if c.Attach(&s.lc) {
					t.Fatal("skipped a request before any departure")
				}
				c.Depart(lifecycle.ReasonClosed, time.Now(), tc.halfOnly)
				if !errors.Is(s.cause, hangup.ErrClientGone) {
					t.Errorf("running request's cause %v, want ErrClientGone", s.cause)
				}
				s.lc.Finish(&c)
				if d, _ := s.lc.Departure(); d.Phase != lifecycle.PhaseHandler || !s.lc.Silent() {
					t.Errorf("running request ended %+v (silent %v), want phase handler, silent", d, s.lc.Silent())
				}
			} else {
				c.Depart(lifecycle.ReasonClosed, time.Now(), tc.halfOnly)
			}
			if c.Depart(lifecycle.ReasonReset, time.Now(), false) {
				t.Error("a second departure was recorded")
			}
			for i, want := range tc.wantRun {
				s := newShell(&b)
				if run := !c.Attach(&s.lc); run != want {
					t.Errorf("request %d after the departure: runs %v, want %v", i, run, want)
				}
				s.lc.Finish(&c)
				if d, _ := s.lc.Departure(); d.Phase != tc.wantPhase[i] || d.Reason != lifecycle.ReasonClosed {
					t.Errorf("request %d: departure %+v, want phase %v, reason closed", i, d, tc.wantPhase[i])
				}
			}
			if n := b.InFlight.Load(); n != 0 {
				t.Errorf("in flight %d after every request finished", n)
			}
		})
	}
}

// TestMustFinish: a request with the policy outlives its client while a
// detach slot is free; without one it is cancelled at once; the policy is
// refused once the client left.
func TestMustFinish(t *testing.T) {
	for _, tc := range []struct {
		name      string
		limit     int
		wantCause error // nil: the context lives on
	}{
		{"detached", 1, nil},
		{"over-limit", 0, hangup.ErrDetachLimit},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var reported []lifecycle.Report
			b := lifecycle.Books{DetachLimit: tc.limit, OnAbandon: func(rep lifecycle.Report) { reported = append(reported, rep) }}
			s := newShell(&b)
			s.lc.Start()
			if !s.lc.SetMustFinish(time.Hour) {
				t.Fatal("SetMustFinish refused a request whose client is there")
			}
			gone := s.lc.Gone()
			s.lc.ClientGone(lifecycle.ReasonReset, time.Now())
			<-gone
			if tc.wantCause == nil && s.cause != nil || tc.wantCause != nil && !errors.Is(s.cause, tc.wantCause) {
				t.Errorf("cause %v, want %v", s.cause, tc.wantCause)
			}
			if s.lc.SetMustFinish(time.Hour) {
				t.Error("SetMustFinish accepted a request whose client left")
			}
			if !s.lc.Finish(nil) || !s.lc.Reports() {
				t.Fatal("Finish forgot the departure")
			}
			s.lc.Report(lifecycle.Report{}, time.Now())
			if len(reported) != 1 || !reported[0].MustFinish {
				t.Errorf("reported %+v, want one report with MustFinish", reported)
			}
			select {
			case <-b.DetachDone():
			default:
				t.Error("a detach slot is still held after Finish")
			}
			if !errors.Is(s.cause, context.Canceled) && !errors.Is(s.cause, hangup.ErrClientGone) {
				t.Errorf("cause after Finish %v", s.cause)
			}
		})
	}
}

func TestComplete(t *testing.T) {
	for _, tc := range []struct {
		name              string
		status            int
		head              bool
		declared, written int64
		want              bool
	}{
		{"nothing-written", 0, false, -1, 0, false},
		{"no-content", 204, false, -1, 0, true},
		{"not-modified", 304, false, -1, 0, true},
		{"head", 200, true, -1, 0, true},
		{"declared-and-written", 200, false, 5, 5, true},
		{"declared-short", 200, false, 5, 4, false},
		{"undeclared", 200, false, -1, 5, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := lifecycle.Complete(tc.status, tc.head, tc.declared, tc.written); got != tc.want {
				t.Errorf("Complete = %v, want %v", got, tc.want)
			}
		})
	}
}
