package watch

import (
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// The user timeout (hangup's WithUserTimeout) is implemented here, from
// TCP_INFO on a timer, and not with the TCP_USER_TIMEOUT socket option.
// Linux applies TCP_USER_TIMEOUT to a zero window too: once it has probed a
// closed window for the timeout, it aborts the connection even though the peer acknowledged every probe
// (current kernels' tcp_probe_timer measures from the first probe,
// icsk_probes_tstamp; seen on 6.18). A client that reads slowly (a phone on
// a bad link, a download paused by its reader) is alive and was cut.
// Switching the option off while the window is closed would need the same
// timer, and a race with the kernel's own.
//
// A vanished peer leaves something unanswered: data in flight
// (tcpi_unacked) or a window or keepalive probe (tcpi_probes, reset by any
// ACK). A live one sends segments (tcpi_segs_in counts every segment it
// sent, pure ACKs included). So the peer is gone when something has waited
// for it for the whole timeout and not a single segment came from it
// meanwhile.
//
// Once it is gone, the Observer hears UserTimeout, the socket is shut down
// so that a pending write (net/http's) fails at once rather than at the
// kernel's next retransmission, and TCP_USER_TIMEOUT, set now to 1 ms,
// makes the kernel drop the orphaned socket at its next retransmission or
// probe rather than after tcp_orphan_retries.
type userTimer struct {
	s        *Socket
	timeout  time.Duration
	interval time.Duration
	t        *time.Timer
	stopped  atomic.Bool

	// Used by check only, which runs once at a time (it re-arms itself).
	since  time.Time // when something was first seen waiting for the peer since its last segment; zero while nothing waits
	segsIn uint32    // the peer's segments counted at the last check
}

// startUserTimer starts checking s every d/4 (at least every 10 ms) for a
// peer that left something unanswered for d. d > 0.
func startUserTimer(s *Socket, d time.Duration) *userTimer {
	u := &userTimer{s: s, timeout: d, interval: max(d/4, 10*time.Millisecond)}
	u.t = time.AfterFunc(u.interval, u.check)
	return u
}

func (u *userTimer) stop() {
	if u == nil {
		return
	}
	u.stopped.Store(true)
	u.t.Stop()
}

func (u *userTimer) check() {
	if u.stopped.Load() {
		return
	}
	var ti *unix.TCPInfo
	var tiErr error
	if err := u.s.raw.Control(func(fd uintptr) {
		ti, tiErr = unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO)
	}); err != nil || tiErr != nil {
		return // closed, or not TCP: nothing to time
	}
	at := time.Now()
	waiting := ti.Unacked > 0 || ti.Probes > 0
	spoke := ti.Segs_in != u.segsIn
	if ti.Segs_in == 0 {
		// Kernels before 4.2 do not count segments (an accepted
		// connection has received at least the handshake's ACK): the age
		// of the last ACK says whether one came since the last check.
		spoke = time.Duration(ti.Last_ack_recv)*time.Millisecond < u.interval
	}
	switch {
	case !waiting:
		u.since = time.Time{}
	case spoke || u.since.IsZero():
		u.since = at // the peer spoke since the last check, or nothing waited then
	case at.Sub(u.since) >= u.timeout:
		u.cut()
		return
	}
	u.segsIn = ti.Segs_in
	if !u.stopped.Load() {
		u.t.Reset(u.interval)
	}
}

// cut ends the connection of a peer that vanished. The Observer hears it
// first, so that when the watcher, woken by the shutdown, reports the
// socket hung up, the Observer has its verdict already.
func (u *userTimer) cut() {
	u.s.obs.Saw(UserTimeout)
	u.s.raw.Control(func(fd uintptr) {
		unix.SetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_USER_TIMEOUT, 1)
		unix.Shutdown(int(fd), unix.SHUT_RDWR)
	})
}
