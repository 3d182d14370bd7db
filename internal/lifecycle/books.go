package lifecycle

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
)

// Books are a Guard's counters and the policy its requests share. The
// policy fields are set before the first request and not changed after; the
// zero value counts and reports nothing, and lets no request detach.
type Books struct {
	DetachLimit int          // how many MustFinish requests may run after their client left
	OnAbandon   func(Report) // gets the report of every request abandoned before its response was complete
	AccessLog   *slog.Logger // gets one line per request
	OnDone      func(Report) // gets the report of every request
	// TraceID, if not nil, gives the access log a request's trace id from
	// its context (see AccessFields).
	TraceID func(ctx context.Context) string

	Requests atomic.Uint64
	InFlight atomic.Int64
	Gone     [NumPhases]atomic.Uint64
	Detached atomic.Int64 // MustFinish requests running after their client left; written under mu

	// A sync.WaitGroup cannot count detached work: a request may detach at
	// any time, also while Shutdown waits at zero (its context ended while
	// handlers ran), and an Add from zero concurrent with Wait is a misuse.
	mu   sync.Mutex
	idle chan struct{} // closed when Detached drops to zero; nil while it is zero; guarded by mu
}

var closedChan = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

// DetachDone returns a channel that is closed once no MustFinish request is
// running after its client left; it is closed already when none is.
func (b *Books) DetachDone() <-chan struct{} {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.idle == nil {
		return closedChan
	}
	return b.idle
}

func (b *Books) acquireDetach() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := b.Detached.Load()
	if n >= int64(b.DetachLimit) {
		return false
	}
	b.Detached.Store(n + 1)
	if b.idle == nil {
		b.idle = make(chan struct{})
	}
	return true
}

func (b *Books) releaseDetach() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.Detached.Add(-1) == 0 {
		close(b.idle)
		b.idle = nil
	}
}
