package fasthttphangup

import (
	"context"
	"net"
	"time"

	"github.com/hangup-dev/hangup"
	"github.com/hangup-dev/hangup/internal/lifecycle"
	"github.com/valyala/fasthttp"
)

type stateKey struct{}

// request is the Guard's state for one request; one allocation holds it, the
// lifecycle it shares with the net/http Guard, and the context handed to the
// handler.
type request struct {
	lc     lifecycle.Request
	ctx    reqCtx
	cancel context.CancelCauseFunc
	g      *Guard
	c      *conn // nil when the connection is not known
	fctx   *fasthttp.RequestCtx
	begun  time.Time
}

// reqCtx is the request's context: a cancelCtx (so context.Cause works and
// contexts derived from it need no goroutine) that also answers for the
// request's state.
type reqCtx struct {
	context.Context
	st *request
}

func (c *reqCtx) Value(key any) any {
	if key == (lifecycle.Key{}) {
		return &c.st.lc
	}
	return c.Context.Value(key)
}

func (c *reqCtx) String() string { return "fasthttphangup.requestContext" }

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
// no Guard made (see Context). It is hangup.Departed, which works on these
// contexts too.
func Departed(ctx context.Context) (hangup.Departure, bool) { return hangup.Departed(ctx) }

// Gone returns a channel that is closed when the client of the request that
// ctx belongs to goes away. Unlike ctx.Done(), it also fires for MustFinish
// requests. For a context that no Guard made, Gone returns ctx.Done(). It is
// hangup.Gone, which works on these contexts too.
func Gone(ctx context.Context) <-chan struct{} { return hangup.Gone(ctx) }

// SetRoute records the route pattern that served the request of ctx, for
// Report.Route and the access log, and reports whether a Guard made ctx.
// Routers call it. It is hangup.SetRoute, which works on these contexts too.
func SetRoute(ctx context.Context, route string) bool { return hangup.SetRoute(ctx, route) }

// MustFinish marks h as work that must finish even when its client goes
// away, as hangup.MustFinish does for net/http: the request's context is not
// cancelled when the client leaves (Gone and Departed still tell), and the
// work may go on for at most deadline before its context is cancelled with a
// cause matching hangup.ErrDetachTimeout, and only while fewer than the
// Guard's detach limit of such requests run at once (beyond it the cause
// matches hangup.ErrDetachLimit). fasthttp.Server.Shutdown waits for it as
// for any handler. A request whose client already left when h is reached
// does not get the policy (as hangup.SetMustFinish refuses it): its context
// is cancelled already, and h runs as it is.
//
// MustFinish needs a Guard in front of it; without one, h runs unchanged. It
// panics if deadline is not positive. Middleware that sees a context rather
// than a handler can call hangup.SetMustFinish on Context(fctx).
func MustFinish(h fasthttp.RequestHandler, deadline time.Duration) fasthttp.RequestHandler {
	if deadline <= 0 {
		panic("fasthttphangup: MustFinish needs a positive deadline")
	}
	return func(fctx *fasthttp.RequestCtx) {
		hangup.SetMustFinish(Context(fctx), deadline)
		h(fctx)
	}
}

// begin starts the request fctx and reports whether its handler must not be
// called (skip: the client left before it started).
func (g *Guard) begin(fctx *fasthttp.RequestCtx) (st *request, skip bool) {
	st = &request{g: g, fctx: fctx, begun: time.Now()}
	cc, cancel := context.WithCancelCause(g.cfg.base)
	st.ctx = reqCtx{Context: cc, st: st}
	st.cancel = cancel
	// fasthttp resets user values after every request.
	fctx.SetUserValue(stateKey{}, st)
	st.lc.Begin(st, &g.books)
	if c := g.lookup(fctx.Conn()); c != nil {
		st.c = c
		skip = c.reqs.Attach(&st.lc)
	} else {
		st.lc.Start()
	}
	return st, skip
}

// finish ends the request once its handler returned and reports whether its
// client had left with nothing written: the response is still the empty 200
// fasthttp would send for a handler that set nothing (see
// lifecycle.Request.Finish).
func (st *request) finish() (silent bool) {
	var lc *lifecycle.Conn
	if st.c != nil {
		lc = &st.c.reqs
	}
	st.lc.Finish(lc)
	if st.lc.Reports() {
		st.lc.Report(st.report(), time.Now())
	}
	return st.lc.Silent()
}

// Cancel is the lifecycle's Shell method.
func (st *request) Cancel(cause error) { st.cancel(cause) }

// Phase is the lifecycle's Shell method. fasthttp reads the whole body
// before the handler runs and sends the response after it returned, so a
// handler that runs is in phase handler.
func (st *request) Phase() lifecycle.Phase { return lifecycle.PhaseHandler }

// Woken is the lifecycle's Shell method; fasthttp has no CloseNotify.
func (st *request) Woken() {}

// Answered is the lifecycle's Shell method. fasthttp sends, after the
// handler returned, whatever it set: a status, a header or a body is an
// answer (headers alone, for HEAD or with an ETag, are one), and only the
// response as fasthttp made it is not.
func (st *request) Answered() bool { return !unanswered(st.fctx) }

// Complete is the lifecycle's Shell method, the rule of hangup's Complete:
// a body of unknown length (a stream) or one shorter than the Content-Length
// the handler set itself is not complete.
func (st *request) Complete() bool {
	r := &st.fctx.Response
	if !st.Answered() || st.fctx.Hijacked() {
		return false
	}
	declared := int64(-1)
	if cl := r.Header.Peek(fasthttp.HeaderContentLength); len(cl) > 0 {
		declared = int64(r.Header.ContentLength())
	}
	written := int64(-1)
	if !r.IsBodyStream() {
		written = int64(len(r.Body()))
	}
	return lifecycle.Complete(r.StatusCode(), st.fctx.IsHead(), declared, written)
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

// report is what fasthttp knows of the request, for lifecycle.Request.Report.
func (st *request) report() lifecycle.Report {
	fctx := st.fctx
	rep := lifecycle.Report{
		Method:     string(fctx.Method()),
		Path:       string(fctx.Path()),
		Proto:      string(fctx.Request.Header.Protocol()),
		RemoteAddr: fctx.RemoteAddr().String(),
		Start:      st.begun,
		Status:     fctx.Response.StatusCode(),
		Context:    &st.ctx,
	}
	// Body() would drain a streamed body into memory: count only what
	// fasthttp already holds.
	if !fctx.Request.IsBodyStream() {
		rep.BytesIn = int64(len(fctx.Request.Body()))
	}
	if !fctx.Response.IsBodyStream() {
		rep.BytesOut = int64(len(fctx.Response.Body()))
	}
	st.g.books.AccessFields(&rep, func(name string) (string, bool) {
		if all := fctx.Request.Header.PeekAll(name); len(all) > 0 {
			return string(all[0]), len(all) == 1
		}
		return "", false
	})
	return rep
}
