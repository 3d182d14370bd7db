package hangup

import (
	"context"
	"net"
	"net/http"
	"syscall"

	"github.com/hangup-dev/hangup/internal/lifecycle"
)

// conn is hangup's view of one client connection.
type conn struct {
	cfg     *config
	g       *Guard // the Guard that tracks it; nil under WatchConn
	nc      net.Conn
	base    context.Context // ConnContext's context, parent of every request's
	raw     syscall.RawConn // the socket, when it could be reached
	watched bool            // registered with the watcher; immutable after track
	id      uint64          // watcher registration, guarded by the watcher's lock

	reqs   lifecycle.Conn // the requests whose handler runs, and the client's departure
	onGone func(Reason)   // WatchConn's callback, instead of requests
}

// newConn resolves nc's socket once, for the socket options and the watcher,
// and applies the socket options.
func newConn(cfg *config, nc net.Conn, onGone func(Reason)) *conn {
	c := &conn{cfg: cfg, nc: nc, raw: rawConn(nc), onGone: onGone}
	c.setSockopts()
	return c
}

// rawConn finds the socket under nc: *tls.Conn and other wrappers that
// expose NetConn() are unwrapped.
func rawConn(nc net.Conn) syscall.RawConn {
	sc, ok := unwrap[syscall.Conn](nc)
	if !ok {
		return nil
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	return raw
}

// unwrap finds the first T in nc's chain of NetConn() wrappers, nc itself
// first; it looks at most 8 deep.
func unwrap[T any](nc net.Conn) (T, bool) {
	for i := 0; i < 8 && nc != nil; i++ {
		if t, ok := nc.(T); ok {
			return t, true
		}
		u, ok := nc.(interface{ NetConn() net.Conn })
		if !ok {
			break
		}
		nc = u.NetConn()
	}
	var zero T
	return zero, false
}

// hijacked runs in ConnState(StateHijacked), inside Hijack: the request
// whose handler runs is the one that hijacked the connection. From then on
// the connection is its handler's (or h2c's): hangup no longer watches it,
// and a closed socket says nothing about the server. Requests that come
// later on it (h2c.NewHandler's streams) are not marked.
func (c *conn) hijacked() {
	c.reqs.Each(func(r *lifecycle.Request) { r.Shell().(*request).progress.Or(hijacked) })
}

// hangup is called by the watcher when the kernel reports the peer's FIN
// (reason ReasonClosed, halfOnly when only the read side is shut) or an
// error. It reports whether the watcher should go on watching for an RST.
func (c *conn) hangup(reason Reason, halfOnly bool) (rearm bool) {
	at := now()
	if c.reqs.Departed() {
		return false
	}
	if halfOnly && c.cfg.halfCloseWaits {
		return true
	}
	if c.g.serverClosing() {
		// Server.Close is closing the socket: on TLS its close_notify
		// makes the client answer with the FIN seen here, before the
		// socket is closed. The server ended these requests, not the
		// client (issue 15, case 2).
		c.reqs.Each(func(r *lifecycle.Request) { r.Shell().Cancel(http.ErrServerClosed) })
		return false
	}
	// The rule for a FIN while no handler runs is the lifecycle's (see
	// lifecycle.Conn.Depart).
	if c.reqs.Depart(lifecycle.Reason(reason), at, halfOnly) && c.onGone != nil {
		c.onGone(reason)
	}
	return false
}
