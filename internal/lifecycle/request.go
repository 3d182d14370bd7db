package lifecycle

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// A Shell is the server's side of a request: the shell embeds the Request
// and implements these.
type Shell interface {
	// Books returns the counters and policy of the request's Guard.
	Books() *Books
	// Cancel cancels the request's context with cause, unless it already
	// was cancelled.
	Cancel(cause error)
	// Phase says what a request whose handler started is doing
	// (PhaseBeforeHandler while it waits in a line); r's lock is held.
	Phase() Phase
	// Woken runs, r's lock held, once Gone's channel is closed.
	Woken()
	// Answered reports, once the handler returned, whether any of its
	// response will reach the wire; a departed request that answered
	// nothing gets no response at all.
	Answered() bool
	// Complete reports, once the handler returned, whether its whole
	// response was written (see the function Complete).
	Complete() bool
}

// Request is the lifecycle of one request. The zero value is ready for
// Begin; it is embedded in the shell's request, so that one allocation holds
// both.
type Request struct {
	shell      Shell
	prev, next *Request // the Conn's active list, guarded by its mu

	// The fields below are guarded by mu, but for started. The departure
	// is held flat, so that the flags share its padding.
	mu          sync.Mutex
	at          time.Time // when the client went
	phase       Phase
	reason      Reason        // ReasonNone while the client is there
	finished    bool          // the handler returned
	detached    bool          // holds a detach slot
	started     atomic.Bool   // the handler is called (set by Start, or by Conn.Attach under its mu)
	goneCh      chan struct{} // made on demand by Gone
	mustFinish  time.Duration // MustFinish's deadline; 0 means cancel at once
	detachTimer *time.Timer
	route       string // set by SetRoute
}

// Begin counts the request in its shell's Books and ties r to the shell.
func (r *Request) Begin(s Shell) {
	r.shell = s
	b := s.Books()
	b.Requests.Add(1)
	b.InFlight.Add(1)
}

// Shell returns the shell Begin tied r to.
func (r *Request) Shell() Shell { return r.shell }

// Start records that the handler of a request that no Conn tracks is
// called.
func (r *Request) Start() { r.started.Store(true) }

// Lock and Unlock lock r's mutex, which the shell's own fields may share.
func (r *Request) Lock()   { r.mu.Lock() }
func (r *Request) Unlock() { r.mu.Unlock() }

// DepartedLocked reports whether the client left; r's lock is held.
func (r *Request) DepartedLocked() bool { return r.reason != ReasonNone }

// FinishedLocked reports whether the handler returned; r's lock is held.
func (r *Request) FinishedLocked() bool { return r.finished }

// Departure reports whether the client left, and when and in which phase.
func (r *Request) Departure() (Departure, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.departureLocked(), r.reason != ReasonNone
}

func (r *Request) departureLocked() Departure {
	return Departure{At: r.at, Phase: r.phase, Reason: r.reason}
}

// ClientGone records that the client left and cancels the request, unless
// it must finish: then it holds a detach slot and runs on, its context
// alive, for at most its deadline. It does nothing once the handler
// returned or a departure was recorded.
func (r *Request) ClientGone(reason Reason, at time.Time) {
	r.mu.Lock()
	if r.finished || r.reason != ReasonNone {
		r.mu.Unlock()
		return
	}
	phase := PhaseBeforeHandler
	if r.started.Load() {
		phase = r.shell.Phase()
	}
	r.at, r.phase, r.reason = at, phase, reason
	b := r.shell.Books()
	b.Gone[phase].Add(1)
	cause := Core.GoneError(r.departureLocked())
	err := cause
	if r.mustFinish > 0 && phase != PhaseBeforeHandler {
		if b.acquireDetach() {
			r.detached = true
			r.detachTimer = time.AfterFunc(r.mustFinish, func() {
				r.shell.Cancel(fmt.Errorf("%w: %w", Core.DetachTimeout, cause))
			})
			r.wakeGoneLocked() // the context lives on: Gone alone says it
			r.mu.Unlock()
			return
		}
		err = fmt.Errorf("%w: %w", Core.DetachLimit, cause)
	}
	r.mu.Unlock()
	// The context first, then Gone: whoever it wakes finds the cause
	// already set.
	r.shell.Cancel(err)
	r.mu.Lock()
	r.wakeGoneLocked()
	r.mu.Unlock()
}

// wakeGoneLocked closes Gone's channel, once the departure is recorded, and
// tells the shell; r.mu is held. (Gone makes no channel once there is a
// departure, so the one closed here is the only one.)
func (r *Request) wakeGoneLocked() {
	if r.goneCh != nil && r.goneCh != closedChan {
		close(r.goneCh)
		r.goneCh = closedChan
	}
	r.shell.Woken()
}

// Gone returns a channel that is closed when the client leaves; it is made
// on the first call.
func (r *Request) Gone() <-chan struct{} {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.goneCh == nil {
		if r.reason != ReasonNone {
			return closedChan
		}
		r.goneCh = make(chan struct{})
	}
	return r.goneCh
}

// SetMustFinish gives r the MustFinish policy with deadline. It reports
// false when deadline is not positive or the client already left (the work
// has not started: nothing to finish).
func (r *Request) SetMustFinish(deadline time.Duration) bool {
	if deadline <= 0 {
		return false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.reason != ReasonNone {
		return false
	}
	r.mustFinish = deadline
	return true
}

// SetRoute names r's route for its report.
func (r *Request) SetRoute(route string) {
	r.mu.Lock()
	r.route = route
	r.mu.Unlock()
}

// Ended is what Finish knew of a request.
type Ended struct {
	Departure
	MustFinish bool
	Route      string // what SetRoute said
	// Silent: the client left and the handler answered nothing
	// (Shell.Answered); the shell sends no response.
	Silent bool
}

// Finish ends r once its handler returned (or panicked): it takes r off c
// (nil when no Conn tracks it), gives back its detach slot, cancels its
// context with context.Canceled and counts it out. Once r is off c and
// finished, no departure can land on it any more, so what Finish returns
// cannot change after the shell acts on it.
func (r *Request) Finish(c *Conn) Ended {
	if c != nil {
		c.Detach(r)
	}
	r.mu.Lock()
	r.finished = true
	e := Ended{Departure: r.departureLocked(), MustFinish: r.mustFinish > 0, Route: r.route}
	detached := r.detached
	r.detached = false
	if r.detachTimer != nil {
		r.detachTimer.Stop()
	}
	r.mu.Unlock()
	e.Silent = e.Gone() && !r.shell.Answered()
	b := r.shell.Books()
	if detached {
		b.releaseDetach()
	}
	r.shell.Cancel(context.Canceled)
	b.InFlight.Add(-1)
	return e
}

// Reports reports whether Report wants a report for e: its client left, or
// there is an access log or an OnDone hook.
func (r *Request) Reports(e Ended) bool {
	b := r.shell.Books()
	return e.Gone() || b.AccessLog != nil || b.OnDone != nil
}

// Report completes rep, which the shell filled in with what its server
// knows (method, path, proto, remote address, start, bytes and status), with
// what Finish returned and the end time, and hands it to OnAbandon when the
// client left before the response was complete, to the access log, and to
// OnDone.
func (r *Request) Report(e Ended, rep Report, end time.Time) {
	b := r.shell.Books()
	rep.Departure = e.Departure
	rep.MustFinish = e.MustFinish
	if e.Route != "" {
		rep.Route = e.Route
	}
	rep.Elapsed = end.Sub(rep.Start)
	if e.Gone() {
		rep.StoppedAfter = max(end.Sub(e.At), 0)
		rep.ResponseComplete = r.shell.Complete()
		if b.OnAbandon != nil && !rep.ResponseComplete {
			b.OnAbandon(rep)
		}
	}
	if b.AccessLog != nil {
		rep.log(b.AccessLog)
	}
	if b.OnDone != nil {
		b.OnDone(rep)
	}
}
