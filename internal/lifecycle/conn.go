package lifecycle

import (
	"sync"
	"time"
)

// Conn is a connection's requests: those whose handler runs, and the
// departure of its client. net/http serves one request at a time on an
// HTTP/1 connection and fasthttp on any, but a handler abandoned by
// http.TimeoutHandler or fasthttp.TimeoutHandler may still run beside the
// next one, so they are kept in a list. The zero value is ready to use.
type Conn struct {
	mu     sync.Mutex
	active *Request // linked by next/prev
	at     time.Time
	reason Reason // why the client went; ReasonNone while it is there
	owed   bool   // see Depart: the next request to start runs, its context already cancelled
}

// Attach links r to c and marks its handler started, unless the client
// already left: then it reports that r must not reach its handler (skip),
// but for the one request owed after a half-close, which runs, its context
// cancelled before it starts.
func (c *Conn) Attach(r *Request) (skip bool) {
	c.mu.Lock()
	reason, at := ReasonNone, time.Time{}
	if c.reason != ReasonNone {
		if !c.owed {
			reason, at = c.reason, c.at
			c.mu.Unlock()
			r.ClientGone(reason, at)
			return true
		}
		c.owed = false
		reason, at = c.reason, c.at
	}
	r.flags.Or(flagStarted)
	r.next = c.active
	if c.active != nil {
		c.active.prev = r
	}
	c.active = r
	c.mu.Unlock()
	if reason != ReasonNone {
		r.ClientGone(reason, at)
	}
	return false
}

// Detach takes r off c.
func (c *Conn) Detach(r *Request) {
	c.mu.Lock()
	if r.prev != nil {
		r.prev.next = r.next
	} else if c.active == r {
		c.active = r.next
	}
	if r.next != nil {
		r.next.prev = r.prev
	}
	r.prev, r.next = nil, nil
	c.mu.Unlock()
}

// Departed reports whether the client of c left.
func (c *Conn) Departed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.reason != ReasonNone
}

// Each calls f for every request whose handler runs on c, c's lock held.
func (c *Conn) Each(f func(*Request)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for r := c.active; r != nil; r = r.next {
		f(r)
	}
}

// Depart records that the client of c left, for reason, at at, and ends
// the requests whose handler runs (ClientGone); it reports false, and does
// nothing, when a departure was recorded already. halfOnly says that the
// client only shut its writing side (a FIN, no RST).
//
// A FIN alone, while no handler runs, follows a request that the server
// has not handed to its handler yet (TCP orders the FIN after the
// request's bytes): a client that sent its request and half-closed, as
// HTTP/1.0 clients and nc -N do, and that may well read its answer. Skip
// that request, as a full close allows, and the answer the server alone
// would have delivered is lost (golang/go#18527 is why net/http cannot
// tell); so it runs, its context cancelled before it starts, and the
// requests after it (pipelined behind a departure) are skipped.
func (c *Conn) Depart(reason Reason, at time.Time, halfOnly bool) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.reason != ReasonNone {
		return false
	}
	c.at, c.reason = at, reason
	c.owed = halfOnly && c.active == nil
	for r := c.active; r != nil; r = r.next {
		r.ClientGone(reason, at)
	}
	return true
}
