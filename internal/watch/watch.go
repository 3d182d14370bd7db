// Package watch tells a program when the peer of a TCP (or unix) socket
// goes away, from kernel events, without reading a byte: the peer's FIN, a
// reset, a keepalive or retransmission timeout, or a user timeout that it
// runs itself. It knows nothing of HTTP or of what the socket carries: it
// reports what the socket showed (an Event) to the socket's Observer, and
// the Observer decides what that means, asking for more (Socket.Rearm) when
// a FIN alone is not the end for it.
//
// On Linux one epoll instance, shared by every watched socket in the
// process, does the watching (watch_linux.go). Elsewhere nothing is watched:
// Socket.Start reports false and the caller falls back on what it has.
package watch

import (
	"strconv"
	"syscall"
)

// An Event is what a watched socket showed.
type Event uint8

const (
	// FIN: the peer shut its writing side, and nothing else is known. The
	// socket may still be open the other way (a half-close) or not (a full
	// close shows as such only when something is sent). Only losses are
	// reported after a FIN, and only once the Observer calls Rearm.
	FIN Event = iota + 1
	// HungUp: the socket hung up both ways with no error to tell why, as a
	// unix socket does when its peer closes. Nothing more is reported.
	HungUp
	// Reset: the connection was reset (RST), or hung up with nothing to
	// say that the peer vanished. Nothing more is reported.
	Reset
	// Timeout: the kernel gave up on the peer: keepalive or retransmission
	// timeout, or the host became unreachable. Nothing more is reported.
	Timeout
	// UserTimeout: Start's user timeout found the peer vanished (see
	// usertimeout_linux.go). The watcher shuts the socket down once the
	// Observer has returned, so a Reset or HungUp may follow.
	UserTimeout
)

var eventNames = [...]string{"none", "fin", "hung-up", "reset", "timeout", "user-timeout"}

func (e Event) String() string {
	if int(e) < len(eventNames) {
		return eventNames[e]
	}
	return "event(" + strconv.Itoa(int(e)) + ")"
}

// An Observer hears what its socket showed. Saw is called from the
// watcher's goroutine and from the user timeout's timer, so two calls for
// one socket may run at once (a FIN as the timer cuts); never under a lock
// of the watcher's: it may call its Socket's Rearm or Stop. It should be
// quick: every watched socket of the process waits for it.
type Observer interface {
	Saw(Event)
}

// A Socket is one socket's registration with the watcher. The zero value is
// not watching; Start makes it watch. A Socket is meant to be held inside
// the value that observes it (no allocation of its own), and must not be
// copied once started.
type Socket struct {
	raw syscall.RawConn
	obs Observer
	id  uint64 // the registration's key, guarded by the watcher's lock; 0 while not watched
}
