package hangup

import (
	"context"
	"net"
	"sync"
	"syscall"
)

// conn is hangup's view of one client connection.
type conn struct {
	cfg     *config
	nc      net.Conn
	base    context.Context // ConnContext's context, parent of every request's
	raw     syscall.RawConn // the socket, when it could be reached
	watched bool            // registered with the watcher; immutable after track
	id      uint64          // watcher registration, guarded by the watcher's lock

	mu        sync.Mutex
	active    *request     // requests whose handler runs, linked by next/prev
	departure Departure    // why and when the client went; Reason is ReasonNone while it is there
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

// attach links st to the connection and reports whether the client already
// left, and how.
func (c *conn) attach(st *request) (Departure, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.departure.Reason != ReasonNone {
		return c.departure, true
	}
	st.progress.Or(handlerStarted)
	st.next = c.active
	if c.active != nil {
		c.active.prev = st
	}
	c.active = st
	return Departure{}, false
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
	c.departure = Departure{At: at, Reason: reason}
	for st := c.active; st != nil; st = st.next {
		st.clientGone(reason, at)
	}
	if c.onGone != nil {
		c.onGone(reason)
	}
	return false
}
