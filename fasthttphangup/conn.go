package fasthttphangup

import (
	"net"
	"time"

	"github.com/hangup-dev/hangup"
	"github.com/hangup-dev/hangup/internal/lifecycle"
)

// conn is the Guard's view of one client connection.
type conn struct {
	stop    func() // ends the watch; a no-op when not watched
	watched bool   // immutable after track

	reqs lifecycle.Conn // the requests whose handler runs, and the client's departure
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
// WatchConn reports a FIN alone (a half-close) as ReasonClosed, an RST or a
// vanished peer otherwise: only a connection proven closed skips the
// request at hand (see lifecycle.Conn.Depart).
func (c *conn) hangup(reason hangup.Reason) {
	c.reqs.Depart(lifecycle.Reason(reason), time.Now(), reason == hangup.ReasonClosed)
}
