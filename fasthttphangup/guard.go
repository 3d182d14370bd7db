// Package fasthttphangup brings hangup to fasthttp servers: every request
// gets a context.Context that is cancelled with cause hangup.ErrClientGone
// the moment its client goes away.
//
// fasthttp runs a handler on its connection's goroutine and closes
// RequestCtx.Done() only when the server shuts down (valyala/fasthttp#468,
// #965), so a handler has no way to learn that its client left. This package
// registers each connection once with hangup's shared kernel-event watcher
// (hangup.WatchConn): no goroutine per connection or request, no read of the
// bytes of a pipelined request. The one-line setup:
//
//	s := &fasthttp.Server{Handler: h}
//	g := fasthttphangup.Install(s)
//	s.ListenAndServe(":8080")
//
//	// in h:
//	ctx := fasthttphangup.Context(fctx)
//	rows, err := db.QueryContext(ctx, heavyQuery)
//	if errors.Is(context.Cause(ctx), hangup.ErrClientGone) { ... }
//
// fasthttp reads the whole request body before it calls the handler (unless
// Server.StreamRequestBody is set), so a client that leaves during an upload
// never reaches a handler; one that leaves while its handler runs, with the
// body unread or not, is detected. Phases are therefore PhaseBeforeHandler
// (a pipelined request behind one whose client left, not served) and
// PhaseHandler. A half-closed client still gets the answer its handler
// writes; a departed request whose handler wrote nothing gets no response
// (see Guard.Handler).
//
// Package fiberhangup builds on this one for Fiber v3.
package fasthttphangup

import (
	"context"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"

	"github.com/hangup-dev/hangup"
	"github.com/hangup-dev/hangup/internal/lifecycle"
	"github.com/valyala/fasthttp"
)

// A Guard gives each request it serves a context that is cancelled when its
// client goes away, and keeps the books on them. Create one with Install,
// or with New plus Watch and Handler (or Serve, for framework adapters).
type Guard struct {
	cfg config

	watching atomic.Bool                     // Watch was called: connections may be registered
	conns    sync.Map                        // net.Conn -> *conn; connections seen by a request
	srv      atomic.Pointer[fasthttp.Server] // the server Watch was given

	listening atomic.Bool // Listener was called
	sockets   sync.Map    // net.Addr -> net.Conn; see Listener
	warnOnce  sync.Once   // see unwatchable
	nConns    atomic.Int64
	nWatched  atomic.Int64

	books lifecycle.Books // the counters, and the policy of cfg they apply
}

// An Option configures a Guard.
type Option func(*config)

type config struct {
	base        context.Context
	watch       []hangup.Option
	onAbandon   func(hangup.Report)
	onDone      func(hangup.Report)
	accessLog   *slog.Logger
	traceID     func(context.Context) string
	detachLimit int
}

// WithBaseContext sets the context every request's context derives from
// (default context.Background()). Cancel it to cancel every request, for
// instance at shutdown; its values are visible through the requests'
// contexts. It should be a context made by the context package, whose
// cancellation reaches its children without a goroutine per child.
func WithBaseContext(ctx context.Context) Option {
	return func(c *config) { c.base = ctx }
}

// WithWatchOptions passes opts to hangup.WatchConn for every connection.
// Those that apply there are hangup.HalfCloseWaits, hangup.WithKeepAlive and
// hangup.WithUserTimeout; the others are ignored (use this package's
// OnAbandon, WithAccessLog and WithDetachLimit).
func WithWatchOptions(opts ...hangup.Option) Option {
	return func(c *config) { c.watch = append(c.watch, opts...) }
}

// OnAbandon sets a hook called once for every request whose client went away
// before its handler returned, after the handler returned, on the request's
// goroutine. It gets the same Report as hangup.OnAbandon; Route is empty
// unless SetRoute set it.
func OnAbandon(f func(hangup.Report)) Option {
	return func(c *config) { c.onAbandon = f }
}

// OnDone sets a hook called once for every request after its handler
// returned, on the request's goroutine, after OnAbandon and the access log:
// hangup.OnDone's, with the same Report (promhangup.Histograms.Observe).
func OnDone(f func(hangup.Report)) Option {
	return func(c *config) { c.onDone = f }
}

// WithAccessLog logs one line per request to l, with the fields of
// hangup.WithAccessLog: status 499 for a request whose client went away
// before its handler returned, and user_agent, referer, request_id and
// trace_id when the request has them.
func WithAccessLog(l *slog.Logger) Option {
	return func(c *config) { c.accessLog = l }
}

// WithTraceID is hangup.WithTraceID: f gives the access log the trace id of
// a request from its context (Context(fctx)), after its handler returned;
// without it, the trace id of a sampled W3C traceparent header is logged.
func WithTraceID(f func(ctx context.Context) string) Option {
	return func(c *config) { c.traceID = f }
}

// WithDetachLimit caps how many MustFinish requests may keep running after
// their clients left, at once (default hangup.DefaultDetachLimit). Beyond the
// cap such a request is cancelled with a cause matching hangup.ErrDetachLimit.
// n <= 0 means that no request is allowed to continue.
func WithDetachLimit(n int) Option {
	return func(c *config) { c.detachLimit = n }
}

// New returns a Guard that watches no server yet: call Watch with the server
// and serve requests through Handler or Serve.
func New(opts ...Option) *Guard {
	g := &Guard{cfg: config{base: context.Background(), detachLimit: hangup.DefaultDetachLimit}}
	for _, o := range opts {
		o(&g.cfg)
	}
	g.books.DetachLimit = g.cfg.detachLimit
	g.books.AccessLog = g.cfg.accessLog
	g.books.OnAbandon = hookOf(g.cfg.onAbandon)
	g.books.OnDone = hookOf(g.cfg.onDone)
	g.books.TraceID = g.cfg.traceID
	return g
}

// hookOf returns f as a lifecycle hook (OnAbandon, OnDone), nil for nil.
func hookOf(f func(hangup.Report)) func(lifecycle.Report) {
	if f == nil {
		return nil
	}
	return func(r lifecycle.Report) { f(lifecycle.Core.PublicReport(r).(hangup.Report)) }
}

// Install wires s so that every request's context (see Context) is cancelled
// with cause hangup.ErrClientGone the moment its client goes away, and returns
// the Guard that does it. It chains, never replaces, s.ConnState and wraps
// s.Handler, so call it after setting them and before serving. With
// s.MaxConnsPerIP set, serve with s.Serve(g.Listener(ln)): see Listener.
func Install(s *fasthttp.Server, opts ...Option) *Guard {
	g := New(opts...)
	g.Watch(s)
	s.Handler = g.Handler(s.Handler)
	return g
}

// Watch chains s.ConnState so that the Guard can watch s's connections; it
// does not touch s.Handler. A connection is registered with the watcher when
// its first request is served and unregistered when fasthttp closes it or
// hands it to a hijack handler. Without Watch, requests still get a context,
// cancelled only when their handler returns.
func (g *Guard) Watch(s *fasthttp.Server) {
	g.watching.Store(true)
	g.srv.Store(s)
	user := s.ConnState
	s.ConnState = func(nc net.Conn, state fasthttp.ConnState) {
		if state == fasthttp.StateClosed || state == fasthttp.StateHijacked {
			g.untrack(nc)
		}
		if user != nil {
			user(nc, state)
		}
	}
}

// Handler returns h wrapped so that each request runs with a context (see
// Context) that is cancelled with cause hangup.ErrClientGone when its client
// goes away, and is counted, reported and logged. A request whose client left
// before it started is not passed to h (a pipelined request behind the one
// that was running when the client left, or any request once the connection
// was reset); the one request that follows a FIN while no handler ran still
// runs, with its context already cancelled, because a half-closed client may
// read its answer. A request whose client left gets no response at all when
// h wrote nothing (left fasthttp's empty 200 as it is): the connection is
// closed instead, as nginx does for its 499.
func (g *Guard) Handler(h fasthttp.RequestHandler) fasthttp.RequestHandler {
	return func(fctx *fasthttp.RequestCtx) {
		g.Serve(fctx, func(context.Context) { h(fctx) })
	}
}

// Serve runs next for the request fctx, with ctx the request's context, and
// returns when next does; ctx is cancelled then. It is Handler for adapters
// of frameworks built on fasthttp, which must hand ctx to their own handler
// type (package fiberhangup does). next is not called when the client left
// before the request started (see Handler). When the client left and the
// response is still fasthttp's empty 200 once next returns, Serve hijacks
// fctx so that the connection is closed without a response.
func (g *Guard) Serve(fctx *fasthttp.RequestCtx, next func(ctx context.Context)) {
	st, skip := g.begin(fctx)
	returned := false
	defer func() {
		if st.finish() && returned {
			sendNothing(fctx)
		}
	}()
	if !skip {
		next(&st.ctx)
	}
	returned = true
}

// Stats returns a snapshot of the Guard's counters, in hangup's Stats so
// that the same exporters work (Conns and Watched count the connections that
// have served a request and are still open). Departures are counted by phase
// in Gone; Detached counts MustFinish work running after its client left.
func (g *Guard) Stats() hangup.Stats {
	s := lifecycle.Core.PublicStats(&g.books).(hangup.Stats)
	s.Conns, s.Watched = int(g.nConns.Load()), int(g.nWatched.Load())
	return s
}
