package hangup

import (
	"context"
	"errors"
	"net"
	"net/http"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
	"weak"

	"github.com/hangup-dev/hangup/internal/lifecycle"
)

// A Guard cancels requests whose clients went away and keeps the books on
// them. Create one with Install (the whole server, every case) or New plus
// Guard.Handler (middleware only, what net/http detects).
type Guard struct {
	cfg config
	srv *http.Server // set by Install

	books lifecycle.Books // the counters, and the policy of cfg they apply

	mu    sync.Mutex
	conns map[net.Conn]*conn // guarded by mu; connections seen by ConnContext

	draining atomic.Bool // srv.Shutdown has begun (its RegisterOnShutdown hook ran)
}

// Stats is a snapshot of a Guard's counters.
type Stats struct {
	Requests uint64 // requests seen
	InFlight int64  // requests whose handler is running
	Detached int64  // MustFinish requests still running after their client left
	Conns    int    // connections the Guard currently tracks
	Watched  int    // of those, connections watched by the kernel-event watcher
	gone     [numPhases]uint64
}

// GoneIn is the number of requests whose client went away in phase p; 0 for
// a Phase that is none of Phases.
func (s Stats) GoneIn(p Phase) uint64 {
	if p >= numPhases {
		return 0
	}
	return s.gone[p]
}

// GoneTotal is the number of requests whose client went away, in any phase.
func (s Stats) GoneTotal() uint64 {
	var n uint64
	for _, v := range s.gone {
		n += v
	}
	return n
}

// statsOf is the Stats of books, with the connection counts left to the
// caller.
func statsOf(b *lifecycle.Books) Stats {
	s := Stats{
		Requests: b.Requests.Load(),
		InFlight: b.InFlight.Load(),
		Detached: b.Detached.Load(),
	}
	for i := range s.gone {
		s.gone[i] = b.Gone[i].Load()
	}
	return s
}

// New returns a Guard that is not yet installed on a server: use its Handler
// as middleware, or call Install instead.
func New(opts ...Option) *Guard {
	g := &Guard{cfg: newConfig(opts), conns: make(map[net.Conn]*conn)}
	g.books.DetachLimit = g.cfg.detachLimit
	g.books.OnAbandon = hookOf(g.cfg.onAbandon)
	g.books.OnDone = hookOf(g.cfg.onDone)
	g.books.AccessLog = g.cfg.accessLog
	g.books.TraceID = g.cfg.traceID
	return g
}

// Install wires srv so that every request's context is cancelled with cause
// ErrClientGone the moment its client goes away, and returns the Guard that
// does it. It chains, never replaces, the ConnContext, ConnState and Handler
// that srv already has (a nil Handler means http.DefaultServeMux), so call it
// after setting them and before serving. If srv.Handler is x/net's
// h2c.NewHandler, the HTTP/2 streams it serves on the connections it
// hijacks are guarded too.
//
// Install panics if srv already has a Guard (a second Install, or
// echohangup.Install and then Install on the same server), and leaves srv as
// the first call wired it. Two Guards on one server cannot both watch its
// sockets: the second one's connections would fall back to net/http's
// detection without a word, and the second call's options could not apply.
// Keep the Guard the first call returned, and pass every option to that call.
func Install(srv *http.Server, opts ...Option) *Guard {
	if !installed.add(srv) {
		panic("hangup: Install called twice on the same *http.Server: its sockets are watched by the first Guard only; keep the *Guard the first Install returned and pass all options to that call")
	}
	g := New(opts...)
	g.srv = srv
	srv.RegisterOnShutdown(func() { g.draining.Store(true) })
	userConnContext := srv.ConnContext
	srv.ConnContext = func(ctx context.Context, nc net.Conn) context.Context {
		if userConnContext != nil {
			ctx = userConnContext(ctx, nc)
		}
		return g.track(ctx, nc)
	}
	userConnState := srv.ConnState
	srv.ConnState = func(nc net.Conn, s http.ConnState) {
		if s == http.StateHijacked || s == http.StateClosed {
			// As in the CloseNotifier commit: once hijacked, the conn is
			// the handler's, and a close is no longer news for us.
			g.untrack(nc, s == http.StateHijacked)
		}
		if userConnState != nil {
			userConnState(nc, s)
		}
	}
	h := srv.Handler
	if h == nil {
		h = http.DefaultServeMux
	}
	srv.Handler = g.Handler(g.guardH2C(h))
	return g
}

// Handler returns h wrapped so that each request's context is cancelled with
// cause ErrClientGone when its client goes away, and the request is counted,
// reported and logged. When the client went away and h wrote nothing (no
// status, no byte, no flush), the request ends with http.ErrAbortHandler, so
// that net/http closes the connection (HTTP/2: resets the stream) instead of
// sending an empty 200 nobody wrote; net/http does not log it.
//
// Used on a server that Install wired, it detects every case. Used alone, as
// plain middleware, it sees only what net/http reports: a client that left
// after the request body was read to EOF (GET and other bodiless requests
// included) and HTTP/2 stream resets and connection loss; it cannot see a
// client that leaves while the body is still unread, and it cannot tell a
// half-close from a close. Everything else (Gone, Departed, MustFinish, the
// 499 log and the hook) works the same. Under middleware that sets a deadline
// on the request (http.TimeoutHandler), h's context keeps it: Deadline reports
// it, and once it passes Err is context.DeadlineExceeded.
//
// The ResponseWriter that h gets has exactly the optional interfaces of the
// one it wraps (http.Flusher, http.Hijacker, http.Pusher, http.CloseNotifier,
// io.ReaderFrom, io.StringWriter), each only where the original has it, and
// Unwrap for http.ResponseController. Its CloseNotify channel receives true
// when the client leaves, the moment Gone closes, or when the server closes
// the connection under the request; not on a deadline.
func (g *Guard) Handler(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		g.serve(w, r, h)
	})
}

// Stats returns a snapshot of the Guard's counters.
func (g *Guard) Stats() Stats {
	s := statsOf(&g.books)
	g.mu.Lock()
	s.Conns = len(g.conns)
	for _, c := range g.conns {
		if c.watched {
			s.Watched++
		}
	}
	g.mu.Unlock()
	return s
}

// Shutdown shuts the installed server down gracefully (http.Server.Shutdown)
// and then waits for MustFinish work that is still running after its client
// left, until ctx is done. Without Install it only waits.
func (g *Guard) Shutdown(ctx context.Context) error {
	var err error
	if g.srv != nil {
		err = g.srv.Shutdown(ctx)
	}
	select {
	case <-g.books.DetachDone():
		return err
	case <-ctx.Done():
		return errors.Join(err, context.Cause(ctx))
	}
}

type connKey struct{}

// installed remembers the servers that Install wired, without keeping them
// alive: a server that is collected leaves the set by itself. A field or a
// marker handler could not do it: users wrap srv.Handler after Install, and
// an *http.Server has no room for ours.
var installed = serverSet{m: make(map[weak.Pointer[http.Server]]struct{})}

type serverSet struct {
	mu sync.Mutex
	m  map[weak.Pointer[http.Server]]struct{} // guarded by mu
}

// add adds srv and reports whether it was new.
func (s *serverSet) add(srv *http.Server) bool {
	k := weak.Make(srv)
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.m[k]; ok {
		return false
	}
	s.m[k] = struct{}{}
	runtime.AddCleanup(srv, s.remove, k)
	return true
}

func (s *serverSet) remove(k weak.Pointer[http.Server]) {
	s.mu.Lock()
	delete(s.m, k)
	s.mu.Unlock()
}

// track registers a new connection; it runs in ConnContext, in the accept loop.
func (g *Guard) track(ctx context.Context, nc net.Conn) context.Context {
	c := newConn(&g.cfg, nc, nil)
	c.g = g
	c.base = context.WithValue(ctx, connKey{}, c)
	c.watched = c.watch()
	g.mu.Lock()
	g.conns[nc] = c
	g.mu.Unlock()
	return c.base
}

func (g *Guard) untrack(nc net.Conn, hijacked bool) {
	g.mu.Lock()
	c := g.conns[nc]
	delete(g.conns, nc)
	g.mu.Unlock()
	if c != nil && hijacked {
		c.hijacked()
	}
	if c != nil && c.watched {
		c.unwatch()
	}
}

// now is time.Now, a variable only so that reading the clock stays in one place.
var now = time.Now
