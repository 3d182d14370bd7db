package demo

import (
	"context"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/hangup-dev/hangup"
	"github.com/hangup-dev/hangup/promhangup"
)

// afterGoneBounds are the upper bounds, in seconds, of the buckets of the
// work-after-gone histogram (Stats.AfterGone): those of promhangup's
// hangup_work_after_gone_seconds, from the tens of microseconds hangup
// takes to stop work to the minutes work runs on without it.
var afterGoneBounds = promhangup.Buckets()

// Stats is a snapshot of the demo's work: the numbers behind the page's
// charts and the demo_work_* gauges.
type Stats struct {
	// Working is how many pieces of work run now, WorkingGone how many of
	// them for a client that has already left: with cancellation only for
	// the instant the work takes to stop, with IgnoreDisconnect to its end.
	Working     int `json:"working"`
	WorkingGone int `json:"working_gone"`
	// Waiting is how many requests wait for a free worker, WaitingGone how
	// many of them for a client that has already left: with cancellation
	// none (a request leaves the line with its client), with
	// IgnoreDisconnect every one that will later work for nobody.
	Waiting     int `json:"waiting"`
	WaitingGone int `json:"waiting_gone"`
	// WastedSeconds is the work that ran to its end for clients that had
	// left: demo_work_seconds_total{outcome="wasted"} summed over the kinds.
	WastedSeconds float64 `json:"wasted_seconds"`
	// Abandoned counts the requests to /slow and /upload whose client left
	// before the handler returned (hangup's OnAbandon reports).
	Abandoned uint64 `json:"abandoned"`
	// AfterGone counts the abandoned requests by how long their handler
	// ran on after the client left (hangup's Report.StoppedAfter):
	// AfterGone[i] those above Info.AfterGoneBounds[i-1] and at most
	// Info.AfterGoneBounds[i] seconds; the last, one past the bounds, those
	// above every bound. AfterGoneSeconds is their sum.
	AfterGone        []uint64 `json:"after_gone"`
	AfterGoneSeconds float64  `json:"after_gone_seconds"`
}

// board keeps the work under way, each piece with the context of its
// request (which tells whether its client has left), and the totals of the
// work that ended: what Stats reports. The zero value is not usable: see
// newBoard.
type board struct {
	mu        sync.Mutex
	jobs      map[*boardJob]struct{} // under way, waiting or running; guarded by mu
	wasted    float64                // seconds; guarded by mu
	abandoned uint64                 // guarded by mu
	afterGone []uint64               // len(afterGoneBounds)+1; guarded by mu
	goneSum   float64                // seconds; guarded by mu
}

// boardJob is one piece of work on the board.
type boardJob struct {
	req     context.Context // the request's own context, never detached
	running bool            // guarded by board.mu
}

func newBoard() *board {
	return &board{
		jobs:      make(map[*boardJob]struct{}),
		afterGone: make([]uint64, len(afterGoneBounds)+1),
	}
}

// wait puts on the board, waiting for a worker, the work of the request
// whose context is req. Call start once it runs and leave once it ends.
func (b *board) wait(req context.Context) *boardJob {
	j := &boardJob{req: req}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.jobs[j] = struct{}{}
	return j
}

func (b *board) start(j *boardJob) {
	b.mu.Lock()
	defer b.mu.Unlock()
	j.running = true
}

// leave takes j off the board; wasted, if positive, is the work j did to
// its end for a client that had left.
func (b *board) leave(j *boardJob, wasted time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.jobs, j)
	if wasted > 0 {
		b.wasted += wasted.Seconds()
	}
}

// abandon counts a request whose client left, its handler having run on
// for stoppedAfter.
func (b *board) abandon(stoppedAfter time.Duration) {
	s := stoppedAfter.Seconds()
	b.mu.Lock()
	defer b.mu.Unlock()
	b.abandoned++
	b.afterGone[sort.SearchFloat64s(afterGoneBounds, s)]++
	b.goneSum += s
}

// stats is a snapshot of the board.
func (b *board) stats() Stats {
	b.mu.Lock()
	defer b.mu.Unlock()
	st := Stats{
		WastedSeconds:    b.wasted,
		Abandoned:        b.abandoned,
		AfterGone:        slices.Clone(b.afterGone),
		AfterGoneSeconds: b.goneSum,
	}
	for j := range b.jobs {
		_, gone := hangup.Departed(j.req)
		switch {
		case j.running && gone:
			st.Working++
			st.WorkingGone++
		case j.running:
			st.Working++
		case gone:
			st.Waiting++
			st.WaitingGone++
		default:
			st.Waiting++
		}
	}
	return st
}

// Stats is a snapshot of the demo's work now; the page gets one every
// statsEvery over /events.
func (s *Server) Stats() Stats { return s.board.stats() }
