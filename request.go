package hangup

import (
	"context"
	"errors"
	"io"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/hangup-dev/hangup/internal/guardhook"
	"github.com/hangup-dev/hangup/internal/lifecycle"
)

// request is hangup's state for one request. One allocation holds it all:
// the lifecycle it shares with fasthttphangup, the context handed to the
// handler, the wrappers of the ResponseWriter and the body (pointer-shaped,
// so boxing them allocates nothing) and the copy of the *http.Request that
// carries the new context. The struct must stay within 632 bytes, or, with
// the heap's 8-byte header, its one allocation takes the next size class.
type request struct {
	lc    lifecycle.Request // departure, Gone, MustFinish, route; its lock guards the fields below that say so
	ctx   reqCtx
	g     *Guard
	c     *conn // nil when hangup does not know the connection
	req   http.Request
	w     http.ResponseWriter
	in    *http.Request // the request serve was handed: its Body is the one body wraps
	start time.Time

	progress atomic.Uint32
	status   atomic.Int32
	bytesIn  atomic.Int64
	bytesOut atomic.Int64

	// Guarded by lc's lock.
	closeCh       chan bool               // made on demand by CloseNotify; see notifyClose
	cause         error                   // the first cancellation's cause
	ccCancel      context.CancelCauseFunc // cancels ctx.cc, once it exists
	stopClosed    func() bool             // stops serverClosed's AfterFunc, once ctx.cc exists; no longer written once lc is finished
	stopDeadline  context.CancelFunc      // stops the outer deadline's timer, when serve made one
	writeDeadline atomic.Int64            // the handler's own write deadline (UnixNano), 0 if none
}

// The bits of progress: what the handler is doing, for Phase. (Whether it
// started is the lifecycle's.)
const (
	bodyStarted uint32 = 1 << iota
	bodyEOF
	wroteResponse
	hijacked  // its handler hijacked the connection (set under the conn's lock)
	closeSent // closeCh has had its one value (set under lc's lock)
)

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
	parent    context.Context
	vals      context.Context // net/http's request context, for its values
	st        *request
	ready     atomic.Bool     // cc is set
	cancelled atomic.Bool     // st.cause is set (here, in ready's padding: see request)
	cc        context.Context // the cancelCtx; written under st.lc's lock before ready
}

func (c *reqCtx) ctx() context.Context {
	if c.ready.Load() {
		return c.cc
	}
	st := c.st
	st.lc.Lock()
	defer st.lc.Unlock()
	if !c.ready.Load() {
		cc, cancel := context.WithCancelCause(c.parent)
		if st.cause != nil {
			cancel(st.cause)
		} else if st.hearsServerClose() && !st.lc.FinishedLocked() {
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
	if c.cancelled.Load() {
		return context.Canceled
	}
	// Nobody has waited on this context, so no AfterFunc listens for
	// Server.Close: a handler that only polls Err must hear it all the same.
	// net/http's context is cancelled then (cheap to ask); only if it is
	// does serverClosed look at the socket.
	if st.hearsServerClose() && c.vals.Err() != nil {
		st.serverClosed()
		if c.cancelled.Load() {
			return context.Canceled
		}
	}
	return nil
}

func (c *reqCtx) Value(key any) any {
	if key == (lifecycle.Key{}) {
		return &c.st.lc
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

// Cancel is the lifecycle's Shell method: it cancels the request's context
// with cause, unless it already was.
func (st *request) Cancel(cause error) {
	st.lc.Lock()
	if st.cause != nil {
		st.lc.Unlock()
		return
	}
	st.cause = cause
	st.ctx.cancelled.Store(true)
	if st.closeCh != nil && errors.Is(cause, http.ErrServerClosed) {
		st.notifyClose()
	}
	cancel := st.ccCancel
	st.lc.Unlock()
	if cancel != nil {
		cancel(cause)
	}
}

func init() {
	guardhook.Guarded = func(ctx context.Context) bool { return stateFrom(ctx) != nil }
}

// stateFrom returns the net/http request ctx belongs to, or nil (for a
// context hangup does not guard, or fasthttphangup's).
func stateFrom(ctx context.Context) *request {
	lr := lifecycle.From(ctx)
	if lr == nil {
		return nil
	}
	st, _ := lr.Shell().(*request)
	return st
}

func (g *Guard) serve(w http.ResponseWriter, r *http.Request, h http.Handler) {
	c, _ := r.Context().Value(connKey{}).(*conn)
	st := &request{g: g, c: c, w: w}
	if g.cfg.accessLog != nil || g.cfg.onAbandon != nil || g.cfg.onDone != nil || r.ProtoMajor >= 2 {
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
		st.in = r
		st.req.Body = body{st}
	}
	if c == nil || !c.watched || r.ProtoMajor >= 2 {
		// Not watched, or HTTP/2, where net/http sees stream resets that the
		// socket never shows: turn net/http's cancellation into ours.
		stop = context.AfterFunc(r.Context(), st.netHTTPCancelled)
	}
	st.lc.Begin(st, &g.books)
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
		skip = c.reqs.Attach(&st.lc)
	} else {
		st.lc.Start()
	}
	if !skip {
		h.ServeHTTP(st.writer(), &st.req)
	}
	returned = true
}

// clientGone records that the client left and cancels the request, unless it
// must finish (see lifecycle.Request.ClientGone).
func (st *request) clientGone(reason Reason, at time.Time) {
	st.lc.ClientGone(lifecycle.Reason(reason), at)
}

// closeNotify returns the request's CloseNotify channel (see rw.closeNotify).
func (st *request) closeNotify() <-chan bool {
	// Make the context, so that a watched HTTP/1 request hears Server.Close
	// (see reqCtx.ctx): CloseNotify's user waits on this channel alone.
	st.ctx.ctx()
	st.lc.Lock()
	defer st.lc.Unlock()
	if st.closeCh == nil {
		st.closeCh = make(chan bool, 1)
		if st.lc.DepartedLocked() || errors.Is(st.cause, http.ErrServerClosed) {
			st.notifyClose()
		}
	}
	return st.closeCh
}

// notifyClose sends CloseNotify's one value, if someone asked for the
// channel and it was not sent yet; lc's lock is held. The channel has room for
// that one value: the default case is never taken, it only says so.
// It runs, too, when the lifecycle wakes Gone (Woken).
func (st *request) notifyClose() {
	if st.closeCh != nil && st.progress.Load()&closeSent == 0 {
		st.progress.Or(closeSent)
		select {
		case st.closeCh <- true:
		default:
		}
	}
}

// finish ends the request once its handler returned (or panicked) and
// reports whether its client had left with nothing written: no status, no
// byte, no flush (see lifecycle.Request.Finish).
func (st *request) finish(stop func() bool) (silent bool) {
	if stop != nil {
		stop()
	}
	var lc *lifecycle.Conn
	if st.c != nil {
		lc = &st.c.reqs
	}
	st.lc.Finish(lc)
	// Finish marked lc finished under its lock, after which nothing writes
	// stopClosed (see reqCtx.ctx): it is read without the lock.
	if st.stopClosed != nil {
		st.stopClosed()
	}
	if st.stopDeadline != nil {
		st.stopDeadline()
	}
	if st.lc.Reports() {
		rep := lifecycle.Report{
			Method:     st.req.Method,
			Path:       st.req.URL.Path,
			Route:      st.req.Pattern,
			Proto:      st.req.Proto,
			RemoteAddr: st.req.RemoteAddr,
			Start:      st.start,
			BytesIn:    st.bytesIn.Load(),
			BytesOut:   st.bytesOut.Load(),
			Status:     int(st.status.Load()),
			Context:    &st.ctx,
		}
		// AccessFields asks by canonical name, as net/http stores them: no
		// need for Header.Get's canonicalization.
		h := st.req.Header
		st.g.books.AccessFields(&rep, func(name string) (string, bool) {
			if v := h[name]; len(v) > 0 {
				return v[0], len(v) == 1
			}
			return "", false
		})
		st.lc.Report(rep, now())
	}
	return st.lc.Silent()
}

// StatusClientClosedRequest is nginx's status 499, logged for a request whose
// client went away before its handler returned.
const StatusClientClosedRequest = 499

// body wraps the request body to follow the reading phase and count bytes.
type body struct{ st *request }

func (b body) Read(p []byte) (int, error) {
	st := b.st
	if st.progress.Load()&bodyStarted == 0 {
		st.progress.Or(bodyStarted)
	}
	n, err := st.in.Body.Read(p)
	if n > 0 {
		st.bytesIn.Add(int64(n))
	}
	if errors.Is(err, io.EOF) {
		st.progress.Or(bodyEOF)
	}
	return n, err
}

func (b body) Close() error { return b.st.in.Body.Close() }
