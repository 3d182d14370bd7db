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
	// Cancel cancels the request's context with cause, unless it already
	// was cancelled.
	Cancel(cause error)
	// Phase says what a request whose handler started, and that does not
	// wait in a line (EnterLine), is doing; r's lock is held.
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
	books      *Books
	prev, next *Request // the Conn's active list, guarded by its mu

	// The fields below are guarded by mu, but for flags. The departure
	// is held flat, so that the flags share its padding.
	mu          sync.Mutex
	at          time.Time // when the client went
	phase       Phase
	reason      Reason        // ReasonNone while the client is there
	finished    bool          // the handler returned
	detached    bool          // holds a detach slot
	flags       atomic.Uint32 // flagStarted (set by Start, or by Conn.Attach under its mu), flagInLine
	goneCh      chan struct{} // made on demand by Gone
	mustFinish  time.Duration // MustFinish's deadline; 0 means cancel at once
	detachTimer *time.Timer
	route       string // set by SetRoute
}

// Begin counts the request in b, the counters and policy of its Guard, and
// ties r to its shell s.
func (r *Request) Begin(s Shell, b *Books) {
	r.shell, r.books = s, b
	b.Requests.Add(1)
	b.InFlight.Add(1)
}

// The bits of Request.flags.
const (
	flagStarted uint32 = 1 << iota // the handler is called
	flagInLine                     // the handler waits in a line (EnterLine)
)

// Shell returns the shell Begin tied r to.
func (r *Request) Shell() Shell { return r.shell }

// Start records that the handler of a request that no Conn tracks is
// called.
func (r *Request) Start() { r.flags.Or(flagStarted) }

// EnterLine marks r as waiting in a line (hangup.Admission's) until
// LeaveLine: a departure meanwhile is in PhaseBeforeHandler, since the work
// it waits to do has not started.
func (r *Request) EnterLine() { r.flags.Or(flagInLine) }

// LeaveLine ends what EnterLine began.
func (r *Request) LeaveLine() { r.flags.And(^flagInLine) }

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
	if f := r.flags.Load(); f&flagStarted != 0 && f&flagInLine == 0 {
		phase = r.shell.Phase()
	}
	r.at, r.phase, r.reason = at, phase, reason
	b := r.books
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

// Finish ends r once its handler returned (or panicked): it takes r off c
// (nil when no Conn tracks it), gives back its detach slot, cancels its
// context with context.Canceled and counts it out, and reports whether the
// client had left. Once r is off c and finished, no departure can land on it
// any more: what Silent, Reports and Report read of the departure cannot
// change after Finish, and needs no lock.
func (r *Request) Finish(c *Conn) (gone bool) {
	if c != nil {
		c.Detach(r)
	}
	r.mu.Lock()
	r.finished = true
	gone = r.reason != ReasonNone
	detached := r.detached
	r.detached = false
	if r.detachTimer != nil {
		r.detachTimer.Stop()
	}
	r.mu.Unlock()
	if detached {
		r.books.releaseDetach()
	}
	r.shell.Cancel(context.Canceled)
	r.books.InFlight.Add(-1)
	return gone
}

// Silent reports, after Finish, whether the client left and the handler
// answered nothing (Shell.Answered): the shell sends no response.
func (r *Request) Silent() bool { return r.reason != ReasonNone && !r.shell.Answered() }

// Reports reports, after Finish, whether Report wants a report: the client
// left, or there is an access log or an OnDone hook.
func (r *Request) Reports() bool {
	return r.reason != ReasonNone || r.books.AccessLog != nil || r.books.OnDone != nil
}

// Report completes rep, which the shell filled in with what its server
// knows (method, path, proto, remote address, start, bytes and status), with
// the departure, the route SetRoute named and the end time, and hands it to
// OnAbandon when the client left before the response was complete, to the
// access log, and to OnDone. It runs after Finish.
func (r *Request) Report(rep Report, end time.Time) {
	b := r.books
	// A goroutine the handler left behind may still call SetRoute or
	// SetMustFinish: those two are read under the lock.
	r.mu.Lock()
	rep.Departure = r.departureLocked()
	rep.MustFinish = r.mustFinish > 0
	if r.route != "" {
		rep.Route = r.route
	}
	r.mu.Unlock()
	rep.Elapsed = end.Sub(rep.Start)
	if rep.Departure.Gone() {
		rep.StoppedAfter = max(end.Sub(rep.Departure.At), 0)
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
