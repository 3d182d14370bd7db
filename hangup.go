// Package hangup cancels a request's context the moment its client goes away,
// in every case, including the ones net/http misses.
//
// net/http cancels r.Context() when a client disconnects only once the
// request body has been read to EOF: an upload handler that first checks
// auth, quota or a database keeps working for a client that is long gone
// (golang/go#23262). Install wires an *http.Server so that every request's
// context is cancelled with cause ErrClientGone as soon as the kernel reports
// the client's FIN or RST, whatever the handler is doing:
//
//	srv := &http.Server{Addr: ":8080", Handler: mux}
//	hangup.Install(srv)
//	srv.ListenAndServe()
//
//	// in a handler:
//	rows, err := db.QueryContext(r.Context(), heavyQuery)
//	if errors.Is(context.Cause(r.Context()), hangup.ErrClientGone) { ... }
//
// On Linux one shared epoll instance watches every connection for
// EPOLLRDHUP, EPOLLHUP and EPOLLERR: no goroutine per connection, no polling
// and no read of bytes that belong to the next request. On other systems, and
// for connections whose file descriptor cannot be reached, hangup falls back
// to what net/http detects (see Guard.Handler).
package hangup

import (
	"context"
	"errors"
	"time"

	"github.com/hangup-dev/hangup/internal/lifecycle"
)

// ErrClientGone is the cause (see context.Cause) of a request context that
// hangup cancelled because its client went away. The cause itself is a
// *GoneError that tells when and in which phase; test it with errors.Is.
var ErrClientGone = errors.New("hangup: client went away")

// ErrDetachTimeout is part of the cause of a MustFinish request that kept
// running after its client left for longer than its deadline. Such a cause
// also matches ErrClientGone.
var ErrDetachTimeout = errors.New("hangup: work kept running after the client left and ran past its MustFinish deadline")

// ErrDetachLimit is part of the cause of a MustFinish request that was
// cancelled anyway because the cap on detached work (WithDetachLimit) was
// reached. Such a cause also matches ErrClientGone.
var ErrDetachLimit = errors.New("hangup: too much detached work running; raise WithDetachLimit if this work must finish")

// Phase says what a request was doing when its client went away.
type Phase uint8

const (
	// PhaseNone means the client has not gone away.
	PhaseNone Phase = iota
	// PhaseBeforeHandler: the client left before the handler started; the
	// handler is not called and the client gets no response. (The one
	// request that follows a FIN seen while no handler ran is the
	// exception: a half-closed client may read its answer, so it runs, its
	// context cancelled, and its departure says PhaseHandler.)
	PhaseBeforeHandler
	// PhaseReadingBody: the handler had started reading the request body
	// and had not reached its end.
	PhaseReadingBody
	// PhaseHandler: the handler was running and had neither written a
	// response nor was it in the middle of reading the body.
	PhaseHandler
	// PhaseWritingResponse: the handler had started writing the response.
	PhaseWritingResponse

	numPhases
)

// Phases returns every phase in which a client can leave, in request order
// (a new slice each time).
func Phases() []Phase {
	return []Phase{PhaseBeforeHandler, PhaseReadingBody, PhaseHandler, PhaseWritingResponse}
}

// String returns the phase's name as used in metrics labels and logs.
func (p Phase) String() string { return lifecycle.Phase(p).String() }

// Reason says how hangup learned that the client went away.
type Reason uint8

const (
	// ReasonNone means the client has not gone away.
	ReasonNone Reason = iota
	// ReasonClosed: the client closed its side of the connection (TCP FIN).
	// A full close and a half-close look the same here; see HalfCloseWaits.
	ReasonClosed
	// ReasonReset: the connection was reset (TCP RST).
	ReasonReset
	// ReasonTimeout: the peer vanished; TCP keepalive gave up on it, or it
	// left data or a probe unanswered for WithUserTimeout's duration.
	ReasonTimeout
	// ReasonStreamReset: net/http's HTTP/2 server cancelled the stream (the
	// client reset it, or the connection was lost).
	ReasonStreamReset
	// ReasonNetHTTP: net/http cancelled the request context on its own; the
	// fallback where hangup does not watch the connection.
	ReasonNetHTTP
)

// String returns the reason's name as used in logs.
func (r Reason) String() string { return lifecycle.Reason(r).String() }

// Departure records that a client went away.
type Departure struct {
	At     time.Time // when hangup learned of it
	Phase  Phase
	Reason Reason
}

// GoneError is the cause of a context that hangup cancelled because the
// client went away. errors.Is(err, ErrClientGone) reports true for it.
type GoneError struct {
	Departure
}

func (e *GoneError) Error() string {
	return "hangup: client went away (" + e.Reason.String() + ") in phase " + e.Phase.String()
}

// Is reports whether target is ErrClientGone.
func (e *GoneError) Is(target error) bool { return target == ErrClientGone }

// Gone returns a channel that is closed when the client of the request that
// ctx belongs to goes away, like the old http.CloseNotifier. Unlike
// ctx.Done(), it also fires for MustFinish requests, whose context stays
// alive after the client left. For a context that hangup does not guard, Gone
// returns ctx.Done().
func Gone(ctx context.Context) <-chan struct{} {
	lr := lifecycle.From(ctx)
	if lr == nil {
		return ctx.Done()
	}
	return lr.Gone()
}

// Departed reports whether the client of the request that ctx belongs to has
// gone away, and when and in which phase. It reports false for a context that
// hangup does not guard.
func Departed(ctx context.Context) (Departure, bool) {
	lr := lifecycle.From(ctx)
	if lr == nil {
		return Departure{}, false
	}
	d, ok := lr.Departure()
	return departureOf(d), ok
}

// SetRoute names the route of the request that ctx belongs to, for reports
// and logs, when the router is not http.ServeMux (whose pattern hangup reads
// by itself) or copies the request before matching (chi, gin). It reports
// false for a context that hangup does not guard.
func SetRoute(ctx context.Context, route string) bool {
	lr := lifecycle.From(ctx)
	if lr == nil {
		return false
	}
	lr.SetRoute(route)
	return true
}

// Report describes one request once its handler has returned. OnAbandon
// receives those whose client went away before the handler returned, unless
// the response was already complete (ResponseComplete); OnDone receives
// every one.
type Report struct {
	Departure
	Method     string
	Path       string
	Route      string // the ServeMux pattern that matched, if any
	Proto      string
	RemoteAddr string
	Start      time.Time
	// Elapsed is the time from the request's start to its handler's return.
	Elapsed time.Duration
	// StoppedAfter is how long the handler kept running after the client
	// left: the work hangup could not stop any sooner.
	StoppedAfter time.Duration
	BytesIn      int64 // request body bytes the handler read
	BytesOut     int64 // response body bytes the handler wrote
	Status       int   // status the handler wrote, 0 if none
	MustFinish   bool  // the request was allowed to finish (MustFinish)
	// ResponseComplete: the client left only after the whole response had
	// been written (a Content-Length body written in full, or no body). Such
	// a request is counted gone but is not abandoned: OnAbandon is not
	// called for it and the access log keeps its real status.
	ResponseComplete bool
	// Context is the request's context as hangup handed it to the handler,
	// cancelled by now. Its values are the server's (BaseContext,
	// ConnContext) and those of middleware outside the Guard, and Departed
	// reads it; what handlers under the Guard put in their own contexts is
	// not in it (under Install, otelhttp's span: otelhangup.SpanContext
	// finds that one). It is for correlating, not for new work.
	Context context.Context
}

// Abandoned reports whether the client went away before the handler returned
// and before the response was complete: the requests OnAbandon receives, and
// those the access log writes with status 499.
func (r Report) Abandoned() bool { return r.Reason != ReasonNone && !r.ResponseComplete }
