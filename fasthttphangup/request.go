package fasthttphangup

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/hangup-dev/hangup"
	"github.com/valyala/fasthttp"
)

type stateKey struct{}

// request is the Guard's state for one request; one allocation holds it and
// the context handed to the handler.
type request struct {
	ctx    reqCtx
	cancel context.CancelCauseFunc
	g      *Guard
	c      *conn // nil when the connection is not known
	fctx   *fasthttp.RequestCtx
	begun  time.Time

	prev, next *request // the conn's active list, guarded by c.mu

	mu          sync.Mutex
	skip        bool // set by begin: the client left before; the handler is not called
	started     bool // the handler is called; set by begin
	finished    bool // the handler returned
	departure   hangup.Departure
	goneCh      chan struct{} // made on demand by Gone
	mustFinish  time.Duration // MustFinish's deadline; 0 means cancel at once
	detached    bool          // holds a detach slot
	detachTimer *time.Timer
	route       string // set by SetRoute
}

// reqCtx is the request's context: a cancelCtx (so context.Cause works and
// contexts derived from it need no goroutine) that also answers for the
// request's state.
type reqCtx struct {
	context.Context
	st *request
}

func (c *reqCtx) Value(key any) any {
	if key == (stateKey{}) {
		return c.st
	}
	return c.Context.Value(key)
}

func (c *reqCtx) String() string { return "fasthttphangup.requestContext" }

var closedChan = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

func stateFrom(ctx context.Context) *request {
	st, _ := ctx.Value(stateKey{}).(*request)
	return st
}

func stateOf(fctx *fasthttp.RequestCtx) *request {
	st, _ := fctx.UserValue(stateKey{}).(*request)
	return st
}

// Context returns the context of the request fctx, cancelled with cause
// hangup.ErrClientGone (a *hangup.GoneError) when its client goes away and
// with context.Canceled when its handler returns. For a request that no Guard
// serves, it returns fctx itself, which fasthttp cancels only at shutdown.
func Context(fctx *fasthttp.RequestCtx) context.Context {
	if st := stateOf(fctx); st != nil {
		return &st.ctx
	}
	return fctx
}

// Departed reports whether the client of the request that ctx belongs to has
// gone away, and when and in which phase. It reports false for a context that
// no Guard made (see Context).
func Departed(ctx context.Context) (hangup.Departure, bool) {
	st := stateFrom(ctx)
	if st == nil {
		return hangup.Departure{}, false
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.departure, st.departure.Reason != hangup.ReasonNone
}

// Gone returns a channel that is closed when the client of the request that
// ctx belongs to goes away. Unlike ctx.Done(), it also fires for MustFinish
// requests. For a context that no Guard made, Gone returns ctx.Done().
func Gone(ctx context.Context) <-chan struct{} {
	st := stateFrom(ctx)
	if st == nil {
		return ctx.Done()
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.goneCh == nil {
		if st.departure.Reason != hangup.ReasonNone {
			return closedChan
		}
		st.goneCh = make(chan struct{})
	}
	return st.goneCh
}

// SetRoute records the route pattern that served the request of ctx, for
// Report.Route and the access log. Routers call it; it does nothing for a
// context that no Guard made.
func SetRoute(ctx context.Context, route string) {
	if st := stateFrom(ctx); st != nil {
		st.mu.Lock()
		st.route = route
		st.mu.Unlock()
	}
}

// MustFinish marks h as work that must finish even when its client goes
// away, as hangup.MustFinish does for net/http: the request's context is not
// cancelled when the client leaves (Gone and Departed still tell), and the
// work may go on for at most deadline before its context is cancelled with a
// cause matching hangup.ErrDetachTimeout, and only while fewer than the
// Guard's detach limit of such requests run at once (beyond it the cause
// matches hangup.ErrDetachLimit). fasthttp.Server.Shutdown waits for it as
// for any handler.
//
// MustFinish needs a Guard in front of it; without one, h runs unchanged. It
// panics if deadline is not positive.
func MustFinish(h fasthttp.RequestHandler, deadline time.Duration) fasthttp.RequestHandler {
	if deadline <= 0 {
		panic("fasthttphangup: MustFinish needs a positive deadline")
	}
	return func(fctx *fasthttp.RequestCtx) {
		if st := stateOf(fctx); st != nil {
			st.mu.Lock()
			st.mustFinish = deadline
			st.mu.Unlock()
		}
		h(fctx)
	}
}

func (g *Guard) begin(fctx *fasthttp.RequestCtx) *request {
	st := &request{g: g, fctx: fctx, begun: time.Now()}
	cc, cancel := context.WithCancelCause(g.cfg.base)
	st.ctx = reqCtx{Context: cc, st: st}
	st.cancel = cancel
	// fasthttp resets user values after every request.
	fctx.SetUserValue(stateKey{}, st)
	g.requests.Add(1)
	g.inFlight.Add(1)
	if c := g.lookup(fctx.Conn()); c != nil {
		st.c = c
		var d hangup.Departure
		if d, st.skip = c.attach(st); d.Reason != hangup.ReasonNone {
			st.clientGone(d.Reason, d.At)
		}
	} else {
		st.started = true
	}
	return st
}

// clientGone records that the client left and cancels the request, unless it
// must finish.
func (st *request) clientGone(reason hangup.Reason, at time.Time) {
	st.mu.Lock()
	if st.finished || st.departure.Reason != hangup.ReasonNone {
		st.mu.Unlock()
		return
	}
	phase := hangup.PhaseHandler
	if !st.started {
		phase = hangup.PhaseBeforeHandler
	}
	st.departure = hangup.Departure{At: at, Phase: phase, Reason: reason}
	if st.goneCh != nil {
		close(st.goneCh)
	}
	cause := &hangup.GoneError{Departure: st.departure}
	st.g.gone[phase].Add(1)
	if st.mustFinish > 0 && st.started {
		if st.g.acquireDetach() {
			st.detached = true
			st.detachTimer = time.AfterFunc(st.mustFinish, func() {
				st.cancel(fmt.Errorf("%w: %w", hangup.ErrDetachTimeout, cause))
			})
			st.mu.Unlock()
			return
		}
		st.mu.Unlock()
		st.cancel(fmt.Errorf("%w: %w", hangup.ErrDetachLimit, cause))
		return
	}
	st.mu.Unlock()
	st.cancel(cause)
}

// finish ends the request once its handler returned and reports whether its
// client had left with nothing written: the response is still the empty 200
// fasthttp would send for a handler that set nothing. Once the request is
// detached and finished no departure can land on it, so the answer cannot
// change after the caller acts on it.
func (st *request) finish() (silent bool) {
	g := st.g
	if st.c != nil {
		st.c.detach(st)
	}
	st.mu.Lock()
	st.finished = true
	d := st.departure
	detached := st.detached
	st.detached = false
	if st.detachTimer != nil {
		st.detachTimer.Stop()
	}
	mustFinish := st.mustFinish > 0
	route := st.route
	st.mu.Unlock()
	silent = d.Reason != hangup.ReasonNone && unanswered(st.fctx)
	if detached {
		g.detached.Add(-1)
	}
	st.cancel(context.Canceled)
	g.inFlight.Add(-1)

	if d.Reason == hangup.ReasonNone && g.cfg.accessLog == nil {
		return false
	}
	end := time.Now()
	rep := st.report(d, end)
	rep.Route = route
	rep.MustFinish = mustFinish
	if d.Reason != hangup.ReasonNone {
		rep.StoppedAfter = max(end.Sub(d.At), 0)
		if f := g.cfg.onAbandon; f != nil {
			f(rep)
		}
	}
	if l := g.cfg.accessLog; l != nil {
		logAccess(l, rep)
	}
	return silent
}

// unanswered reports whether the handler left fctx's response as fasthttp
// made it: status 200 (set or not), no body, no header of its own, not
// hijacked. fasthttp would send that as an empty 200 that nobody wrote. A
// handler that set a header (an ETag, a cookie, a HEAD answer's
// Content-Length) has answered, body or not.
func unanswered(fctx *fasthttp.RequestCtx) bool {
	r := &fctx.Response
	return !fctx.Hijacked() && r.StatusCode() == fasthttp.StatusOK && !r.IsBodyStream() && len(r.Body()) == 0 && !headersSet(&r.Header)
}

// headersSet reports whether h has a header fasthttp did not put there
// itself: anything but its default Content-Type, Server and Connection.
func headersSet(h *fasthttp.ResponseHeader) bool {
	set := false
	h.VisitAll(func(k, v []byte) {
		switch string(k) {
		case fasthttp.HeaderContentType:
			set = set || string(v) != defaultContentType
		case fasthttp.HeaderServer, fasthttp.HeaderConnection:
		default:
			set = true
		}
	})
	return set
}

// defaultContentType is the Content-Type fasthttp reports for a response
// whose handler set none.
var defaultContentType = string((&fasthttp.ResponseHeader{}).ContentType())

// sendNothing makes fasthttp close the connection without writing a response
// for fctx, and without an error to log: a hijack that asks for no response
// (responses to earlier pipelined requests still buffered are flushed first)
// and closes the connection as soon as fasthttp hands it over. The Close is
// a no-op unless Server.KeepHijackedConns is set, when fasthttp leaves
// closing to the hijacker. Closing the connection from the handler instead
// (fctx.Conn().Close()) makes fasthttp's write fail, which it logs.
func sendNothing(fctx *fasthttp.RequestCtx) {
	fctx.HijackSetNoResponse(true)
	fctx.Hijack(func(c net.Conn) { c.Close() })
}

func (st *request) report(d hangup.Departure, end time.Time) hangup.Report {
	fctx := st.fctx
	rep := hangup.Report{
		Departure:  d,
		Method:     string(fctx.Method()),
		Path:       string(fctx.Path()),
		Proto:      string(fctx.Request.Header.Protocol()),
		RemoteAddr: fctx.RemoteAddr().String(),
		Start:      st.begun,
		Elapsed:    end.Sub(st.begun),
		Status:     fctx.Response.StatusCode(),
	}
	// Body() would drain a streamed body into memory: count only what
	// fasthttp already holds.
	if !fctx.Request.IsBodyStream() {
		rep.BytesIn = int64(len(fctx.Request.Body()))
	}
	if !fctx.Response.IsBodyStream() {
		rep.BytesOut = int64(len(fctx.Response.Body()))
	}
	return rep
}

// logAccess writes the line hangup.WithAccessLog writes.
func logAccess(l *slog.Logger, rep hangup.Report) {
	l.LogAttrs(context.Background(), slog.LevelInfo, "request", rep.Attrs()...)
}
