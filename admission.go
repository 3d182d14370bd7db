package hangup

import (
	"container/list"
	"context"
	"errors"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hangup-dev/hangup/internal/lifecycle"
)

// ErrQueueFull is returned by Admission.Acquire when the line is full.
var ErrQueueFull = errors.New("hangup: too many requests waiting; try again later")

// ErrQueueTimeout is returned by Admission.Acquire when a request waited its
// longest and no slot came free.
var ErrQueueTimeout = errors.New("hangup: no capacity came free in time; try again later")

// An Admission lets a bounded number of requests do their work at once and
// holds more in line, first come first served (HAProxy's maxconn queue). A
// request waits on its own context, which the Guard cancels the moment its
// client leaves: a client that gives up while in line is taken out at once
// and its work never starts (HAProxy's "option abortonclose"), and it is
// counted in phase PhaseBeforeHandler.
//
// Under overload a first-come line serves the requests that have waited
// longest, whose users are the likeliest to give up while being served; a
// MaxWait a little below users' patience turns those into quick 503s that a
// client can retry, so that capacity goes to requests somebody will read.
type Admission struct {
	limit   int
	size    int
	maxWait time.Duration
	// releaseSlot is a.release, made once: the method value made afresh
	// for each Acquire would be an allocation per request.
	releaseSlot func()

	mu      sync.Mutex
	active  int       // slots held; guarded by mu
	waiting list.List // of *admissionWaiter, oldest first; guarded by mu

	queued, full, timedOut, left atomic.Uint64
}

type admissionWaiter struct {
	ready   chan struct{}
	granted bool // guarded by Admission.mu
	elem    *list.Element
}

// AdmissionStats is a snapshot of an Admission.
type AdmissionStats struct {
	// Active is how many slots are held, Waiting how many requests are in
	// line now.
	Active, Waiting int
	// Queued counts every request that joined the line since the Admission
	// was made: those still waiting, those that got a slot after waiting,
	// and those that left the line (TimedOut and Left).
	Queued uint64
	// Dropped requests, by why: the line was full (they never joined it),
	// they waited maxWait, or their client left (or their context ended
	// otherwise) while in line.
	Full, TimedOut, Left uint64
}

// NewAdmission returns an Admission for limit requests at once, queue more
// waiting, each for at most maxWait (0: as long as its client waits). It
// panics if limit is not positive or queue is negative.
func NewAdmission(limit, queue int, maxWait time.Duration) *Admission {
	if limit <= 0 || queue < 0 {
		panic("hangup: NewAdmission needs limit > 0 and queue >= 0")
	}
	a := &Admission{limit: limit, size: queue, maxWait: maxWait}
	a.releaseSlot = a.release
	return a
}

// Acquire takes a slot, waiting in line if need be. It fails with
// ErrQueueFull at once when the line is full, with ErrQueueTimeout after
// maxWait in line, or with the cause of ctx when ctx ends first (a ctx
// already done still gets a slot that is free). On success the caller must
// call release exactly once when its work is done; a second call frees a
// slot nobody held and lets one request too many in.
func (a *Admission) Acquire(ctx context.Context) (release func(), err error) {
	a.mu.Lock()
	if a.takeFree() {
		a.mu.Unlock()
		return a.releaseSlot, nil
	}
	if a.waiting.Len() >= a.size {
		a.mu.Unlock()
		a.full.Add(1)
		return nil, ErrQueueFull
	}
	w := &admissionWaiter{ready: make(chan struct{})}
	w.elem = a.waiting.PushBack(w)
	a.queued.Add(1)
	a.mu.Unlock()

	var expired <-chan time.Time
	if a.maxWait > 0 {
		t := time.NewTimer(a.maxWait)
		defer t.Stop()
		expired = t.C
	}
	select {
	case <-w.ready:
		return a.releaseSlot, nil
	case <-ctx.Done():
		err = context.Cause(ctx)
		a.left.Add(1)
	case <-expired:
		err = ErrQueueTimeout
		a.timedOut.Add(1)
	}
	a.mu.Lock()
	granted := w.granted
	if !granted {
		a.waiting.Remove(w.elem)
	}
	a.mu.Unlock()
	if granted {
		// A slot arrived as we gave up: pass it on.
		a.release()
	}
	return nil, err
}

// TryAcquire takes a slot if one is free and nobody is in line, without
// waiting, as golang.org/x/sync/semaphore's TryAcquire does. When it fails
// (ok false) it counts nothing: the caller may then Acquire or Wait to wait
// in line, which takes, without joining the line or counting in Queued, a
// slot that was freed in between. On success the caller must call release
// exactly once when its work is done.
func (a *Admission) TryAcquire() (release func(), ok bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.takeFree() {
		return a.releaseSlot, true
	}
	return nil, false
}

// takeFree takes a slot if one is free and nobody is ahead in line; a.mu is
// held.
func (a *Admission) takeFree() bool {
	if a.active < a.limit && a.waiting.Len() == 0 {
		a.active++
		return true
	}
	return false
}

// release hands the slot to the oldest waiter, or frees it: frees it while
// more slots are held than the limit (SetLimit lowered it).
func (a *Admission) release() {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.active <= a.limit && a.grant() {
		return
	}
	a.active--
}

// grant hands a slot to the oldest waiter, if any; a.mu is held.
func (a *Admission) grant() bool {
	e := a.waiting.Front()
	if e == nil {
		return false
	}
	w := a.waiting.Remove(e).(*admissionWaiter)
	w.granted = true
	close(w.ready)
	return true
}

// SetLimit makes limit the number of requests that may hold a slot at once,
// from now on. A higher limit lets waiters in at once, oldest first. A lower
// one takes nothing back: the requests that hold a slot keep it, and nobody
// gets one until fewer than limit are held; the line keeps its waiters, in
// their order. So the work in flight never exceeds the larger of the old
// limit and the new, and drops to the new one as requests end (a proxy's
// pool that a reload resizes, cmd/proxy). It panics if limit is not
// positive.
func (a *Admission) SetLimit(limit int) {
	if limit <= 0 {
		panic("hangup: Admission.SetLimit needs limit > 0")
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.limit = limit
	for a.active < a.limit && a.grant() {
		a.active++
	}
}

// Stats returns a snapshot of the Admission's counters.
func (a *Admission) Stats() AdmissionStats {
	a.mu.Lock()
	s := AdmissionStats{Active: a.active, Waiting: a.waiting.Len()}
	a.mu.Unlock()
	s.Queued, s.Full, s.TimedOut, s.Left = a.queued.Load(), a.full.Load(), a.timedOut.Load(), a.left.Load()
	return s
}

// Handler returns h behind the Admission: a request runs h once it holds a
// slot. A request that cannot get one is answered 503 with Retry-After; one
// whose client left in line is answered nothing (the Guard logs it 499).
func (a *Admission) Handler(h http.Handler) http.Handler {
	retryAfter := strconv.Itoa(max(1, int((a.maxWait+time.Second-1)/time.Second)))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		release, err := a.Wait(r.Context())
		switch {
		case err == nil:
			defer release()
			h.ServeHTTP(w, r)
		case errors.Is(err, ErrQueueFull), errors.Is(err, ErrQueueTimeout):
			w.Header().Set("Retry-After", retryAfter)
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
		}
	})
}

// Wait is Acquire for a request guarded by hangup (net/http's or
// fasthttphangup's): while the request waits in line, a departure of its
// client counts as PhaseBeforeHandler, since its work has not started.
func (a *Admission) Wait(ctx context.Context) (release func(), err error) {
	if lr := lifecycle.From(ctx); lr != nil {
		lr.EnterLine()
		defer lr.LeaveLine()
	}
	return a.Acquire(ctx)
}
