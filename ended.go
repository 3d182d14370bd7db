package hangup

import (
	"context"
	"crypto/tls"
	"fmt"
	"net/http"
	"os"

	"github.com/hangup-dev/hangup/internal/watch"
)

// Who ended a request. The watcher reports what the socket did (conn.hangup)
// and net/http reports that it cancelled the request's context; this file
// decides, for net/http's report, whether the client left (a departure,
// counted, cause ErrClientGone), the server ended the request (cause
// http.ErrServerClosed, or the server's own error; not counted) or the
// report is no longer hangup's to judge (after Hijack: the context is left
// alone). The rule is conservative: the client is blamed only when it
// demonstrably left. conn.hangup applies the same rule to the watcher's
// reports while Server.Close runs.

// errStreamWriteTimeout is the cause of an HTTP/2 request whose stream the
// server reset at its WriteTimeout.
var errStreamWriteTimeout = fmt.Errorf("hangup: the HTTP/2 server reset the stream at its WriteTimeout: %w", os.ErrDeadlineExceeded)

// netHTTPCancelled runs when net/http cancels the request's own context, on
// HTTP/2 and on connections hangup does not watch.
func (st *request) netHTTPCancelled() {
	if st.ctx.vals.Err() == context.DeadlineExceeded {
		if _, ok := st.ctx.parent.Deadline(); ok {
			// The parent has the same deadline (see serve) and ends the
			// request's context itself, with the same error.
			return
		}
	}
	cause := context.Cause(st.ctx.vals)
	if cause != context.Canceled {
		// Someone else's deadline or cause (BaseContext, TimeoutHandler…):
		// pass it on as it is.
		st.Cancel(cause)
		return
	}
	switch {
	case st.progress.Load()&hijacked != 0:
		// See serverClosed: after Hijack the context is left alone.
	case st.req.ProtoMajor >= 2: // written before the AfterFunc was set
		st.streamEnded()
	default:
		st.clientGone(ReasonNetHTTP, now())
	}
}

// streamEnded decides why net/http's HTTP/2 server (or x/net's, under
// h2c.NewHandler) ended a stream. It cancels every stream the same way, with
// a plain context.Canceled and no cause: when the client reset the stream
// (RST_STREAM), when the connection is lost, when Server.Close closed it,
// and when the server reset the stream itself (its WriteTimeout, a write
// deadline the handler set). What tells them apart:
//
//   - the server is closing (Server.Close, see serverClosing): every stream
//     it ends is its own, whether the socket is closed yet or not (on TLS,
//     the client's answer to the close_notify may end the streams first);
//   - the socket closed: the HTTP/2 server dropped the connection
//     after it read the client's end (or failed to write to it, or the
//     client broke the protocol); the watcher usually names it first;
//   - the socket open, the stream alone ended: the client's RST_STREAM,
//     unless the server's WriteTimeout has (about) run out, which resets
//     the stream from the server's side.
//
// A write deadline that the handler set itself (http.ResponseController's
// SetWriteDeadline) is noted by hangup's writer and counts as the
// server's once it has passed; one set on net/http's writer behind
// hangup's back (Unwrap) is unseen, and a stream reset by it is taken for
// the client's.
func (st *request) streamEnded() {
	if st.g.serverClosing() {
		st.Cancel(http.ErrServerClosed)
		return
	}
	if c := st.c; c != nil && c.raw != nil && c.raw.Control(func(uintptr) {}) != nil {
		st.clientGone(ReasonStreamReset, now())
		return
	}
	if st.writeTimedOut() {
		st.Cancel(errStreamWriteTimeout)
		return
	}
	st.clientGone(ReasonStreamReset, now())
}

// writeTimedOut reports whether the server's WriteTimeout, which the HTTP/2
// server counts from the stream's creation (a little before the handler
// started, st.start), has run out, give or take an eighth of it: a client
// that resets its stream in the last eighth of the WriteTimeout is not
// counted as gone.
func (st *request) writeTimedOut() bool {
	if d := st.writeDeadline.Load(); d != 0 && now().UnixNano() >= d {
		return true // the handler's own (writer.go's SetWriteDeadline)
	}
	srv, _ := st.ctx.vals.Value(http.ServerContextKey).(*http.Server)
	if srv == nil || srv.WriteTimeout <= 0 || st.start.IsZero() {
		return false
	}
	return now().Sub(st.start) >= srv.WriteTimeout-srv.WriteTimeout/8
}

// hearsServerClose reports whether st is on a watched HTTP/1 connection,
// where net/http's own cancellation is heard only for Server.Close (see
// serverClosed).
func (st *request) hearsServerClose() bool {
	return st.c != nil && st.c.watched && st.req.ProtoMajor < 2
}

// serverClosed runs when net/http cancels the request's own context on a
// watched HTTP/1 connection (an AfterFunc, or Err asking). A client that
// left is the watcher's to report, with its reason and under the half-close
// policy; only a connection that the server closed itself, as Server.Close
// does, ends the request here: on HTTP/1 net/http closes the socket only
// once the handler returned, so a socket closed while it runs was closed by
// Server.Close.
//
// After Hijack the socket is the handler's: it may close it, and net/http
// cancels its own context when a read through the hijacked bufio.Reader
// fails, which says nothing about the server. hangup stops watching at
// Hijack, as CloseNotifier did, and leaves the context alone from then on:
// it ends, with a plain context.Canceled, when the handler returns. Neither
// cause would be true: the server did not close, and hangup did not see the
// client go (issue 15, case 4; TestHijackStopsWatching).
func (st *request) serverClosed() {
	if st.progress.Load()&hijacked != 0 {
		return
	}
	if st.c.raw.Control(func(uintptr) {}) == nil {
		// The socket is still open: the client's doing. The one departure
		// the socket never shows is a TLS client's close_notify without a
		// FIN (tls.Conn.CloseWrite): net/http's read of the connection
		// ends, the socket stays open. It is a half-close, and goes to the
		// policy as one.
		if st.tlsCloseNotify() {
			st.c.hangup(ReasonClosed, true)
		}
		return
	}
	st.Cancel(http.ErrServerClosed)
}

// tlsCloseNotify reports whether net/http's read of the request's TLS
// connection ended because the client sent close_notify: the socket is
// still established both ways (a FIN or an RST is the watcher's to report,
// with its reason). (net/http's read does not end at the server's
// ReadTimeout while a handler runs: TestTLSReadTimeoutIsNoCloseNotify.) The
// *tls.Conn may be under a wrapper of net/http's connection (hangup proxy's
// refusal watch): TestTLSCloseNotify's "wrapped" case.
func (st *request) tlsCloseNotify() bool {
	if _, ok := unwrap[*tls.Conn](st.c.nc); !ok {
		return false
	}
	return watch.Established(st.c.raw)
}
