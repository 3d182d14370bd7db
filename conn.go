package hangup

import (
	"context"
	"net"
	"net/http"
	"syscall"

	"github.com/hangup-dev/hangup/internal/lifecycle"
	"github.com/hangup-dev/hangup/internal/watch"
)

// conn is hangup's view of one client connection.
type conn struct {
	cfg     *config
	g       *Guard // the Guard that tracks it; nil under WatchConn
	nc      net.Conn
	base    context.Context // ConnContext's context, parent of every request's
	raw     syscall.RawConn // the socket, when it could be reached
	watched bool            // registered with the watcher; immutable after track
	sock    watch.Socket    // the watcher's registration, while watched

	reqs   lifecycle.Conn // the requests whose handler runs, and the client's departure
	onGone func(Reason)   // WatchConn's callback, instead of requests
}

// newConn resolves nc's socket once, for the socket options and the watcher,
// and applies the socket options. WithUserTimeout sets none: the watcher
// runs it (watch.Socket.Start).
func newConn(cfg *config, nc net.Conn, onGone func(Reason)) *conn {
	c := &conn{cfg: cfg, nc: nc, raw: rawConn(nc), onGone: onGone}
	ka := cfg.keepAlive
	watch.SetKeepAlive(c.raw, ka.idle, ka.interval, ka.count)
	return c
}

// watch registers c with the watcher, and reports whether it could (not on
// a socket it cannot reach, nor outside Linux).
func (c *conn) watch() bool { return c.sock.Start(c.raw, c.cfg.userTimeout, c) }

// unwatch ends the watch; it may be called more than once.
func (c *conn) unwatch() { c.sock.Stop() }

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

// reasons is what each of the watcher's events says of the client.
var reasons = [...]Reason{
	watch.FIN:         ReasonClosed,
	watch.HungUp:      ReasonClosed,
	watch.Reset:       ReasonReset,
	watch.Timeout:     ReasonTimeout,
	watch.UserTimeout: ReasonTimeout,
}

// Saw is the watcher's report on c's socket (a watch.Observer): a FIN alone
// is a half-close, anything else a loss.
func (c *conn) Saw(ev watch.Event) { c.hangup(reasons[ev], ev == watch.FIN) }

// hangup decides what the client's leaving means, whether the watcher saw
// it (Saw) or net/http's read did (a TLS close_notify, see serverClosed);
// halfOnly says the client only shut its writing side. Under HalfCloseWaits
// a half-close ends nothing, and from then on the watcher reports losses
// only (the RST with which a client that closed fully answers the server's
// next write): this is the one place that policy is applied. Once the
// client departed, nothing more changes.
func (c *conn) hangup(reason Reason, halfOnly bool) {
	at := now()
	if c.reqs.Departed() {
		return
	}
	if halfOnly && c.cfg.halfCloseWaits {
		c.sock.Rearm()
		return
	}
	if c.g.serverClosing() {
		// Server.Close is closing the socket: on TLS its close_notify
		// makes the client answer with the FIN seen here, before the
		// socket is closed. The server ended these requests, not the
		// client (issue 15, case 2).
		c.reqs.Each(func(r *lifecycle.Request) { r.Shell().Cancel(http.ErrServerClosed) })
		return
	}
	// The rule for a FIN while no handler runs is the lifecycle's (see
	// lifecycle.Conn.Depart).
	if c.reqs.Depart(lifecycle.Reason(reason), at, halfOnly) && c.onGone != nil {
		c.onGone(reason)
	}
}
