package hangup

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hangup-dev/hangup/internal/guardhook"
)

type stateKey struct{}

// request is hangup's state for one request. One allocation holds it all:
// the context handed to the handler, the wrappers of the ResponseWriter and
// the body (pointer-shaped, so boxing them allocates nothing) and the copy of
// the *http.Request that carries the new context.
type request struct {
	ctx   reqCtx
	g     *Guard
	c     *conn // nil when hangup does not know the connection
	req   http.Request
	w     http.ResponseWriter
	body  io.ReadCloser // the original body, when wrapped
	start time.Time

	prev, next *request // the conn's active list, guarded by c.mu

	progress atomic.Uint32
	bytesIn  atomic.Int64
	bytesOut atomic.Int64
	status   atomic.Int32

	// The fields below are guarded by mu. The bools sit together, in the
	// padding after mu: the struct must stay within 632 bytes, or, with the
	// heap's 8-byte header, its one allocation takes the next size class.
	mu            sync.Mutex
	finished      bool          // the handler returned
	detached      bool          // holds a detach slot
	closeSent     bool          // closeCh has had its one value
	departure     Departure     // set once, when the client goes away
	goneCh        chan struct{} // made on demand by Gone
	closeCh       chan bool     // made on demand by CloseNotify; see notifyClose
	mustFinish    time.Duration // MustFinish's deadline; 0 means cancel at once
	detachTimer   *time.Timer
	route         string                  // set by SetRoute
	cause         error                   // the first cancellation's cause
	ccCancel      context.CancelCauseFunc // cancels ctx.cc, once it exists
	stopDeadline  context.CancelFunc      // stops the outer deadline's timer, when serve made one
	writeDeadline atomic.Int64            // the handler's own write deadline (UnixNano), 0 if none
	stopClosed    func() bool             // stops serverClosed's AfterFunc, once ctx.cc exists
	cancelled     atomic.Bool             // cause is set
}

const (
	handlerStarted uint32 = 1 << iota // set under c.mu by attach, or before the handler without a conn
	departed                          // set under st.mu by clientGone
	inLine                            // waiting in an Admission's line
	bodyStarted
	bodyEOF
	wroteResponse
	hijacked // its handler hijacked the connection (set under c.mu)
)

var closedChan = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

// reqCtx is the context handed to the handler. Its cancellation comes from
// its own cancelCtx, derived from the connection's context and not from the
// one net/http made for the request: net/http cancels that one with a plain
// context.Canceled (and on half-close), and whichever of net/http and the
// watcher saw the FIN first would decide the cause. Values still come from
// the request's own context as well.
//
// The cancelCtx is made only when someone needs it (Done, Value, or
// context.Cause, which asks Value): a handler that never waits on its
// context costs one allocation, not three. A cancellation that comes first is
// recorded and applied when the cancelCtx is made.
type reqCtx struct {
	// parent is the connection's context, or net/http's without its
	// cancellation, with an outer middleware's deadline added (see serve).
	parent context.Context
	vals   context.Context // net/http's request context, for its values
	st     *request
	ready  atomic.Bool     // cc is set
	cc     context.Context // the cancelCtx; written under st.mu before ready
}

func (c *reqCtx) ctx() context.Context {
	if c.ready.Load() {
		return c.cc
	}
	st := c.st
	st.mu.Lock()
	defer st.mu.Unlock()
	if !c.ready.Load() {
		cc, cancel := context.WithCancelCause(c.parent)
		if st.cause != nil {
			cancel(st.cause)
		} else if st.hearsServerClose() && !st.finished {
			// The watcher reports the client; the server closing the
			// connection itself (Server.Close) only net/http sees. Someone
			// now waits on this context, so it is worth hearing.
			st.stopClosed = context.AfterFunc(c.vals, st.serverClosed)
		}
		c.cc, st.ccCancel = cc, cancel
		c.ready.Store(true)
	}
	return c.cc
}

func (c *reqCtx) Deadline() (time.Time, bool) { return c.parent.Deadline() }

func (c *reqCtx) Done() <-chan struct{} { return c.ctx().Done() }

func (c *reqCtx) Err() error {
	if c.ready.Load() {
		return c.cc.Err()
	}
	st := c.st
	// What cc would say if it were made now: the parent's error (a
	// deadline's) wins over a cancel recorded before cc existed.
	if err := c.parent.Err(); err != nil {
		return err
	}
	if st.cancelled.Load() {
		return context.Canceled
	}
	// Nobody has waited on this context, so no AfterFunc listens for
	// Server.Close: a handler that only polls Err must hear it all the same.
	// net/http's context is cancelled then (cheap to ask); only if it is
	// does serverClosed look at the socket.
	if st.hearsServerClose() && c.vals.Err() != nil {
		st.serverClosed()
		if st.cancelled.Load() {
			return context.Canceled
		}
	}
	return nil
}

func (c *reqCtx) Value(key any) any {
	if key == (stateKey{}) {
		return c.st
	}
	// context.Cause, and every context derived from this one, ask for the
	// nearest cancelCtx with the context package's own key, an *int: only
	// such a key needs the cancelCtx made (it answers with itself). Other
	// keys, such as routers' (chi asks on every request), do not.
	// TestContextContract fails if the context package ever changes that.
	var v any
	if _, cancelKey := key.(*int); cancelKey {
		v = c.ctx().Value(key)
	} else {
		v = c.parent.Value(key)
	}
	if v != nil {
		return v
	}
	return c.vals.Value(key)
}

func (c *reqCtx) String() string { return "hangup.requestContext" }

// cancel cancels the request's context with cause, unless it already was.
func (st *request) cancel(cause error) {
	st.mu.Lock()
	if st.cause != nil {
		st.mu.Unlock()
		return
	}
	st.cause = cause
	st.cancelled.Store(true)
	if st.closeCh != nil && errors.Is(cause, http.ErrServerClosed) {
		st.notifyClose()
	}
	cancel := st.ccCancel
	st.mu.Unlock()
	if cancel != nil {
		cancel(cause)
	}
}

func init() {
	guardhook.Guarded = func(ctx context.Context) bool { return stateFrom(ctx) != nil }
}

func stateFrom(ctx context.Context) *request {
	st, _ := ctx.Value(stateKey{}).(*request)
	return st
}

func (g *Guard) serve(w http.ResponseWriter, r *http.Request, h http.Handler) {
	c, _ := r.Context().Value(connKey{}).(*conn)
	st := &request{g: g, c: c, w: w}
	if g.cfg.accessLog != nil || g.cfg.onAbandon != nil || r.ProtoMajor >= 2 {
		st.start = now() // reports, and streamEnded's write deadline
	}
	var parent context.Context
	var stop func() bool
	if c != nil && c.watched {
		parent = c.base
	} else {
		// net/http's cancellation reaches us through the AfterFunc below,
		// turned into a cause that says why.
		parent = context.WithoutCancel(r.Context()) //hangup:detached
	}
	if d, ok := r.Context().Deadline(); ok {
		// A deadline that an outer middleware put on the request
		// (http.TimeoutHandler around Guard.Handler) is not on parent.
		// Carry it over with a deadline of our own, and not as a cancel
		// when the outer one fires: a cancel func can only end a context
		// with context.Canceled, and the handler, and every context
		// derived from its own, must see context.DeadlineExceeded
		// (netHTTPCancelled leaves that to this timer). Requests without
		// a deadline, the common case, pay only for the Deadline call.
		if pd, ok := parent.Deadline(); !ok || d.Before(pd) {
			parent, st.stopDeadline = context.WithDeadline(parent, d)
		}
	}
	st.ctx.parent, st.ctx.vals, st.ctx.st = parent, r.Context(), st
	st.req = *r.WithContext(&st.ctx)
	if r.Body != nil && r.Body != http.NoBody {
		st.body = r.Body
		st.req.Body = body{st}
	}
	if c == nil || !c.watched || r.ProtoMajor >= 2 {
		// Not watched, or HTTP/2, where net/http sees stream resets that the
		// socket never shows: turn net/http's cancellation into ours.
		stop = context.AfterFunc(r.Context(), st.netHTTPCancelled)
	}
	g.requests.Add(1)
	g.inFlight.Add(1)
	returned := false
	defer func() {
		if st.finish(stop) && returned {
			// The client left and the handler wrote nothing: answer
			// nothing, not the empty 200 net/http would invent for it.
			// net/http closes the connection (HTTP/2: resets the stream)
			// without writing or logging; finish has counted, reported and
			// logged the request (499).
			panic(http.ErrAbortHandler)
		}
	}()

	skip := false
	if c != nil {
		var d Departure
		if d, skip = c.attach(st); d.Reason != ReasonNone {
			st.clientGone(d.Reason, d.At)
		}
	} else {
		st.progress.Or(handlerStarted)
	}
	if !skip {
		h.ServeHTTP(st.writer(), &st.req)
	}
	returned = true
}

// phase tells what the request is doing; st.mu is held.
func (st *request) phase() Phase {
	p := st.progress.Load()
	switch {
	case p&handlerStarted == 0, p&inLine != 0:
		return PhaseBeforeHandler
	case p&wroteResponse != 0:
		return PhaseWritingResponse
	case p&bodyStarted != 0 && p&bodyEOF == 0:
		return PhaseReadingBody
	default:
		return PhaseHandler
	}
}

// clientGone records that the client left and cancels the request, unless it
// must finish.
func (st *request) clientGone(reason Reason, at time.Time) {
	st.mu.Lock()
	if st.finished || st.departure.Reason != ReasonNone {
		st.mu.Unlock()
		return
	}
	st.departure = Departure{At: at, Phase: st.phase(), Reason: reason}
	st.progress.Or(departed)
	cause := &GoneError{st.departure}
	st.g.gone[cause.Phase].Add(1)
	var err error = cause
	if st.mustFinish > 0 && cause.Phase != PhaseBeforeHandler {
		if st.g.acquireDetach() {
			st.detached = true
			st.detachTimer = time.AfterFunc(st.mustFinish, func() {
				st.cancel(fmt.Errorf("%w: %w", ErrDetachTimeout, cause))
			})
			st.wakeGoneLocked() // the context lives on: Gone alone says it
			st.mu.Unlock()
			return
		}
		err = fmt.Errorf("%w: %w", ErrDetachLimit, cause)
	}
	st.mu.Unlock()
	// The context first, then Gone and CloseNotify: whoever they wake
	// finds the cause already set.
	st.cancel(err)
	st.mu.Lock()
	st.wakeGoneLocked()
	st.mu.Unlock()
}

// wakeGoneLocked closes Gone's channel and sends CloseNotify's value, once
// the departure is recorded; st.mu is held. (goneChan makes no channel once
// there is a departure, so the one closed here is the only one.)
func (st *request) wakeGoneLocked() {
	if st.goneCh != nil && st.goneCh != closedChan {
		close(st.goneCh)
		st.goneCh = closedChan
	}
	st.notifyClose()
}

func (st *request) goneChan() <-chan struct{} {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.goneCh == nil {
		if st.departure.Reason != ReasonNone {
			return closedChan
		}
		st.goneCh = make(chan struct{})
	}
	return st.goneCh
}

// closeNotify returns the request's CloseNotify channel (see rw.closeNotify).
func (st *request) closeNotify() <-chan bool {
	// Make the context, so that a watched HTTP/1 request hears Server.Close
	// (see reqCtx.ctx): CloseNotify's user waits on this channel alone.
	st.ctx.ctx()
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.closeCh == nil {
		st.closeCh = make(chan bool, 1)
		if st.departure.Reason != ReasonNone || errors.Is(st.cause, http.ErrServerClosed) {
			st.notifyClose()
		}
	}
	return st.closeCh
}

// notifyClose sends CloseNotify's one value, if someone asked for the
// channel and it was not sent yet; st.mu is held. The channel has room for
// that one value: the default case is never taken, it only says so.
func (st *request) notifyClose() {
	if st.closeCh != nil && !st.closeSent {
		st.closeSent = true
		select {
		case st.closeCh <- true:
		default:
		}
	}
}

// finish ends the request once its handler returned (or panicked) and
// reports whether its client had left with nothing written: no status, no
// byte, no flush. Once the request is detached and finished, no departure
// can land on it any more, so the answer cannot change after the caller acts
// on it.
func (st *request) finish(stop func() bool) (silent bool) {
	if stop != nil {
		stop()
	}
	if st.c != nil {
		st.c.detach(st)
	}
	st.mu.Lock()
	st.finished = true
	stopClosed := st.stopClosed
	d := st.departure
	detached := st.detached
	st.detached = false
	if st.detachTimer != nil {
		st.detachTimer.Stop()
	}
	mustFinish := st.mustFinish > 0
	st.mu.Unlock()
	silent = d.Reason != ReasonNone && st.status.Load() == 0
	if stopClosed != nil {
		stopClosed()
	}
	if detached {
		st.g.releaseDetach()
	}
	st.cancel(context.Canceled)
	if st.stopDeadline != nil {
		st.stopDeadline()
	}
	st.g.inFlight.Add(-1)

	if d.Reason == ReasonNone && st.g.cfg.accessLog == nil {
		return false
	}
	end := now()
	rep := Report{
		Departure:  d,
		Method:     st.req.Method,
		Path:       st.req.URL.Path,
		Route:      st.routeName(),
		Proto:      st.req.Proto,
		RemoteAddr: st.req.RemoteAddr,
		Start:      st.start,
		Elapsed:    end.Sub(st.start),
		BytesIn:    st.bytesIn.Load(),
		BytesOut:   st.bytesOut.Load(),
		Status:     int(st.status.Load()),
		MustFinish: mustFinish,
	}
	if d.Reason != ReasonNone {
		rep.StoppedAfter = end.Sub(d.At)
		if rep.StoppedAfter < 0 {
			rep.StoppedAfter = 0
		}
		rep.ResponseComplete = st.responseComplete()
		if f := st.g.cfg.onAbandon; f != nil && !rep.ResponseComplete {
			f(rep)
		}
	}
	if l := st.g.cfg.accessLog; l != nil {
		logAccess(l, rep)
	}
	return silent
}

// StatusClientClosedRequest is nginx's status 499, logged for a request whose
// client went away before its handler returned.
const StatusClientClosedRequest = 499

func logAccess(l *slog.Logger, rep Report) {
	l.LogAttrs(context.Background(), slog.LevelInfo, "request", rep.Attrs()...)
}

// Attrs returns the report as the attributes of an access-log line, the one
// WithAccessLog writes: method, path, proto, remote, status, bytes_in,
// bytes_out, duration and route (when known); for a client that went away
// the status is 499 and handler_status, gone_phase, gone_reason and
// stopped_after follow. Adapters for other servers use it to log the same
// line.
func (rep Report) Attrs() []slog.Attr {
	status := rep.Status
	if status == 0 {
		status = http.StatusOK
	}
	if rep.Reason != ReasonNone && !rep.ResponseComplete {
		status = StatusClientClosedRequest
	}
	attrs := []slog.Attr{
		slog.String("method", rep.Method),
		slog.String("path", rep.Path),
		slog.String("proto", rep.Proto),
		slog.String("remote", rep.RemoteAddr),
		slog.Int("status", status),
		slog.Int64("bytes_in", rep.BytesIn),
		slog.Int64("bytes_out", rep.BytesOut),
		slog.Duration("duration", rep.Elapsed),
	}
	if rep.Route != "" {
		attrs = append(attrs, slog.String("route", rep.Route))
	}
	if rep.Reason != ReasonNone {
		attrs = append(attrs,
			slog.Int("handler_status", rep.Status),
			slog.String("gone_phase", rep.Phase.String()),
			slog.String("gone_reason", rep.Reason.String()),
			slog.Duration("stopped_after", rep.StoppedAfter),
		)
	}
	return attrs
}

// body wraps the request body to follow the reading phase and count bytes.
type body struct{ st *request }

func (b body) Read(p []byte) (int, error) {
	st := b.st
	if st.progress.Load()&bodyStarted == 0 {
		st.progress.Or(bodyStarted)
	}
	n, err := st.body.Read(p)
	if n > 0 {
		st.bytesIn.Add(int64(n))
	}
	if errors.Is(err, io.EOF) {
		st.progress.Or(bodyEOF)
	}
	return n, err
}

func (b body) Close() error { return b.st.body.Close() }

// routeName is the route for reports: what SetRoute said, else the pattern
// http.ServeMux matched.
func (st *request) routeName() string {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.route != "" {
		return st.route
	}
	return st.req.Pattern
}

// SetRoute names the route of the request that ctx belongs to, for reports
// and logs, when the router is not http.ServeMux (whose pattern hangup reads
// by itself) or copies the request before matching (chi, gin). It reports
// false for a context that hangup does not guard.
func SetRoute(ctx context.Context, route string) bool {
	st := stateFrom(ctx)
	if st == nil {
		return false
	}
	st.mu.Lock()
	st.route = route
	st.mu.Unlock()
	return true
}

// responseComplete reports whether the whole response had been written: a
// status without a body, or as many body bytes as its Content-Length said.
// A client that leaves after that did not abandon anything (it read its
// answer and closed, while the handler drained an upload, say). It runs on
// the handler's goroutine, after the handler returned.
func (st *request) responseComplete() bool {
	status := int(st.status.Load())
	switch {
	case status == 0:
		return false
	case status == http.StatusNoContent, status == http.StatusNotModified, st.req.Method == http.MethodHead:
		return true
	}
	cl := st.w.Header().Get("Content-Length")
	if cl == "" {
		return false
	}
	n, err := strconv.ParseInt(cl, 10, 64)
	return err == nil && st.bytesOut.Load() >= n
}
