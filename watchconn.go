package hangup

import "net"

// WatchConn watches nc with hangup's shared watcher and calls gone once, from
// the watcher's goroutine (or WithUserTimeout's timer), when the peer goes
// away (FIN, RST, a keepalive or user timeout). It is the building block for
// servers that are not net/http, such as fasthttp: gone should only record
// the news and cancel contexts, quickly.
//
// stop ends the watch; call it before nc is closed or handed to someone else
// (hijacked), and at the latest right after. Calling it more than once is
// fine. ok is false when nc cannot be watched (not a socket, or not Linux);
// stop is then a no-op and gone is never called.
func WatchConn(nc net.Conn, gone func(Reason), opts ...Option) (stop func(), ok bool) {
	cfg := newConfig(opts)
	c := newConn(&cfg, nc, gone)
	if !c.watch() {
		return func() {}, false
	}
	return c.unwatch, true
}
