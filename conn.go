package hangup

import (
	"context"
	"net"
	"net/http"
	"sync"
	"syscall"
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

	mu        sync.Mutex
	active    *request     // requests whose handler runs, linked by next/prev
	departure Departure    // why and when the client went; Reason is ReasonNone while it is there
	owed      bool         // see hangup: the next request to start runs, its context already cancelled
	onGone    func(Reason) // WatchConn's callback, instead of requests
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
	for i := 0; i < 8 && nc != nil; i++ {
		if sc, ok := nc.(syscall.Conn); ok {
			raw, err := sc.SyscallConn()
			if err != nil {
				return nil
			}
			return raw
		}
		u, ok := nc.(interface{ NetConn() net.Conn })
		if !ok {
			return nil
		}
		nc = u.NetConn()
	}
	return nil
}

// attach links st to the connection, unless the client already left. It
// returns the departure st is born with (Reason is ReasonNone when there is
// none) and whether st must not reach its handler.
func (c *conn) attach(st *request) (d Departure, skip bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.departure.Reason != ReasonNone {
		if !c.owed {
			return c.departure, true
		}
		c.owed = false
		d = c.departure
	}
	st.progress.Or(handlerStarted)
	st.next = c.active
	if c.active != nil {
		c.active.prev = st
	}
	c.active = st
	return d, false
}

// hijacked runs in ConnState(StateHijacked), inside Hijack: the request
// whose handler runs is the one that hijacked the connection. From then on
// the connection is its handler's (or h2c's): hangup no longer watches it,
// and a closed socket says nothing about the server. Requests that come
// later on it (h2c.NewHandler's streams) are not marked.
func (c *conn) hijacked() {
	c.mu.Lock()
	for st := c.active; st != nil; st = st.next {
		st.progress.Or(hijacked)
	}
	c.mu.Unlock()
}

func (c *conn) detach(st *request) {
	c.mu.Lock()
	if st.prev != nil {
		st.prev.next = st.next
	} else if c.active == st {
		c.active = st.next
	}
	if st.next != nil {
		st.next.prev = st.prev
	}
	st.prev, st.next = nil, nil
	c.mu.Unlock()
}

// hangup is called by the watcher when the kernel reports the peer's FIN
// (reason ReasonClosed, halfOnly when only the read side is shut) or an
// error. It reports whether the watcher should go on watching for an RST.
func (c *conn) hangup(reason Reason, halfOnly bool) (rearm bool) {
	at := now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.departure.Reason != ReasonNone {
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
		for st := c.active; st != nil; st = st.next {
			st.cancel(http.ErrServerClosed)
		}
		return false
	}
	c.departure = Departure{At: at, Reason: reason}
	// A FIN alone, while no handler runs, follows a request that net/http
	// has not handed to its handler yet (TCP orders the FIN after the
	// request's bytes): a client that sent its request and half-closed, as
	// HTTP/1.0 clients and nc -N do, and that may well read its answer. Skip
	// that request, as a full close allows, and the answer net/http alone
	// would have delivered is lost (golang/go#18527 is why net/http cannot
	// tell); so it runs, its context cancelled before it starts, and the
	// requests after it (pipelined behind a departure) are skipped.
	c.owed = halfOnly && c.active == nil
	for st := c.active; st != nil; st = st.next {
		st.clientGone(reason, at)
	}
	if c.onGone != nil {
		c.onGone(reason)
	}
	return false
}
