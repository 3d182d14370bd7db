package hangup

import (
	"context"
	"net/http"
	"time"

	"github.com/hangup-dev/hangup/internal/lifecycle"
)

// MustFinish marks h as work that must finish even when its client goes away,
// such as a payment or any write that must not stop half-way. When the client
// leaves, the request's context is not cancelled; Gone and Departed still
// report the departure. The work may then go on for at most deadline before
// its context is cancelled with a cause matching ErrDetachTimeout, and only
// while fewer than the Guard's detach limit (WithDetachLimit) of such requests
// run at once; beyond the limit it is cancelled at once with a cause matching
// ErrDetachLimit. Guard.Shutdown waits for such work.
//
// MustFinish needs a Guard in front of it (Install or Guard.Handler); without
// one, h runs unchanged. It panics if deadline is not positive.
func MustFinish(h http.Handler, deadline time.Duration) http.Handler {
	if deadline <= 0 {
		panic("hangup: MustFinish needs a positive deadline")
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		SetMustFinish(r.Context(), deadline)
		h.ServeHTTP(w, r)
	})
}

// SetMustFinish gives the request that ctx belongs to the MustFinish policy
// with the given deadline, for frameworks whose middleware sees a context
// rather than an http.Handler. It reports false when ctx is not guarded by
// hangup or the client already left (the work has not started: nothing to
// finish).
func SetMustFinish(ctx context.Context, deadline time.Duration) bool {
	lr := lifecycle.From(ctx)
	return lr != nil && lr.SetMustFinish(deadline)
}
