package proxy

import (
	"container/list"
	"context"
	"sync"
	"time"
)

// queue admits at most max requests to the upstream at once and lets up to
// size more wait, first come first served. A waiter waits on its request's
// context, which hangup cancels the moment the client leaves: a client that
// gives up while queued is taken out of the line at once and never reaches
// the upstream (HAProxy's "option abortonclose" does the same for its queue,
// but nothing for requests already sent).
//
// A nil *queue admits everything.
type queue struct {
	max     int
	size    int
	timeout time.Duration // 0: wait as long as the client does
	m       *metrics
	onWait  func() // test hook: a request joined the line

	mu      sync.Mutex
	active  int       // requests holding a slot; guarded by mu
	waiting list.List // of *waiter, oldest first; guarded by mu
}

// waiter is one request in line.
type waiter struct {
	ready   chan struct{} // closed when a slot is handed over
	granted bool          // guarded by queue.mu
	elem    *list.Element
}

func newQueue(max, size int, timeout time.Duration, m *metrics) *queue {
	if max <= 0 {
		return nil
	}
	return &queue{max: max, size: size, timeout: timeout, m: m}
}

// acquire takes an upstream slot, waiting in line if need be. It reports
// whether the request had to wait, and fails with ErrQueueFull,
// ErrQueueTimeout or the context's cause. On success the caller must call
// release once.
func (q *queue) acquire(ctx context.Context) (queued bool, err error) {
	if q == nil {
		return false, nil
	}
	q.mu.Lock()
	if q.active < q.max && q.waiting.Len() == 0 {
		q.active++
		q.mu.Unlock()
		return false, nil
	}
	if q.waiting.Len() >= q.size {
		q.mu.Unlock()
		q.m.dropped(dropFull)
		return false, ErrQueueFull
	}
	w := &waiter{ready: make(chan struct{})}
	w.elem = q.waiting.PushBack(w)
	q.mu.Unlock()
	if q.onWait != nil {
		q.onWait()
	}

	var expired <-chan time.Time
	if q.timeout > 0 {
		t := time.NewTimer(q.timeout)
		defer t.Stop()
		expired = t.C
	}
	reason := dropClientGone
	select {
	case <-w.ready:
		return true, nil
	case <-ctx.Done():
		err = context.Cause(ctx)
	case <-expired:
		err, reason = ErrQueueTimeout, dropTimeout
	}
	q.mu.Lock()
	if w.granted {
		// The slot arrived as we gave up: pass it on rather than waste it.
		q.mu.Unlock()
		q.release()
	} else {
		q.waiting.Remove(w.elem)
		q.mu.Unlock()
	}
	q.m.dropped(reason)
	return true, err
}

// release gives the slot back: to the oldest waiter if there is one.
func (q *queue) release() {
	if q == nil {
		return
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if front := q.waiting.Front(); front != nil {
		w := q.waiting.Remove(front).(*waiter)
		w.granted = true
		close(w.ready)
		return
	}
	q.active--
}

// depth is the number of requests waiting in line.
func (q *queue) depth() int {
	if q == nil {
		return 0
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.waiting.Len()
}
