package fasthttphangup

import (
	"net"
	"sync"
	"time"

	"github.com/hangup-dev/hangup"
)

// conn is the Guard's view of one client connection. fasthttp serves one
// request at a time per connection, but a handler that fasthttp.TimeoutHandler
// abandoned may still run beside the next one, so requests are kept in a list.
type conn struct {
	stop    func() // ends the watch; a no-op when not watched
	watched bool   // immutable after track

	mu        sync.Mutex
	active    *request // requests whose handler runs, linked by next/prev
	gone      bool
	departure hangup.Departure // why and when it went, if gone
	owed      bool             // see hangup: the next request to start runs, its context already cancelled
}

// lookup returns the connection nc, registering it with the watcher on its
// first request. Registering lazily, on the connection's own goroutine, keeps
// epoll_ctl out of fasthttp's accept loop and skips connections that never
// send a request. A FIN that arrived before the registration is reported at
// once: epoll checks the socket's state when it is added.
func (g *Guard) lookup(nc net.Conn) *conn {
	if nc == nil || !g.watching.Load() {
		return nil
	}
	if v, ok := g.conns.Load(nc); ok {
		return v.(*conn)
	}
	c := &conn{}
	stop, ok := hangup.WatchConn(g.socket(nc), c.hangup, g.cfg.watch...)
	c.stop, c.watched = stop, ok
	if !ok {
		g.unwatchable(nc)
	}
	g.conns.Store(nc, c)
	g.nConns.Add(1)
	if ok {
		g.nWatched.Add(1)
	}
	return c
}

// untrack runs in fasthttp's ConnState hook when nc is closed or hijacked.
func (g *Guard) untrack(nc net.Conn) {
	v, ok := g.conns.LoadAndDelete(nc)
	if !ok {
		return
	}
	c := v.(*conn)
	c.stop()
	g.nConns.Add(-1)
	if c.watched {
		g.nWatched.Add(-1)
	}
}

// hangup is WatchConn's callback, called once from the watcher's goroutine.
func (c *conn) hangup(reason hangup.Reason) {
	at := time.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gone {
		return
	}
	c.gone = true
	c.departure = hangup.Departure{At: at, Reason: reason}
	// A FIN (the watcher says ReasonClosed; an RST or a vanished peer says
	// otherwise) while no handler runs follows a request fasthttp has not
	// handed to us yet: its client half-closed after sending it and may
	// read its answer, which plain fasthttp delivers. That request runs, its
	// context cancelled before it starts; those after it are skipped. Only
	// a connection proven closed skips the request at hand.
	c.owed = reason == hangup.ReasonClosed && c.active == nil
	for st := c.active; st != nil; st = st.next {
		st.clientGone(reason, at)
	}
}

// attach links st to the connection, unless the client already left. It
// returns the departure st is born with (Reason is ReasonNone when there is
// none) and whether st must not reach its handler; a request that will run
// is marked started here, under c.mu, so that a departure reported from now
// on finds it in phase handler.
func (c *conn) attach(st *request) (d hangup.Departure, skip bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gone {
		if !c.owed {
			return c.departure, true
		}
		c.owed = false
		d = c.departure
	}
	st.mu.Lock()
	st.started = true
	st.mu.Unlock()
	st.next = c.active
	if c.active != nil {
		c.active.prev = st
	}
	c.active = st
	return d, false
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
