package hangup

import (
	"os"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// The watcher is one epoll instance shared by every watched connection of
// every Guard in the process. Each socket is registered for EPOLLRDHUP (the
// peer's FIN) with EPOLLONESHOT; EPOLLHUP and EPOLLERR (RST, keepalive
// timeouts) are always reported; WithUserTimeout has its own timer
// (usertimeout_linux.go). EPOLLIN is not asked for, so the next
// request on a keep-alive or pipelined connection wakes nothing, and the
// watcher never reads a byte.
//
// The epoll descriptor is itself registered with Go's runtime poller (it is
// readable when events are pending), so the one goroutine that drains it is
// parked like any network read: no thread blocked in epoll_wait, no polling.
// The goroutine and the epoll instance exist only while at least one socket is
// watched, so an idle process holds neither.
//
// Registrations are keyed by a sequence number carried in the event's data,
// never by file descriptor number: net/http closes a socket before its
// ConnState(StateClosed) hook runs, and by then the accept loop may have handed
// the same number to a new connection (closing a socket removes it from epoll
// by itself). Every epoll_ctl on a socket runs inside RawConn.Control, which
// holds the descriptor open, so it can never act on a reused number.
type watcher struct {
	mu     sync.Mutex
	ep     *epoll                // nil while nothing is watched
	conns  map[uint64]*conn      // guarded by mu
	timers map[uint64]*userTimer // WithUserTimeout's, by registration; guarded by mu
	nextID uint64
}

type epoll struct {
	f   *os.File
	fd  int // valid while f is open; used under watcher.mu only
	raw syscall.RawConn
}

var theWatcher = watcher{conns: make(map[uint64]*conn), timers: make(map[uint64]*userTimer)}

const watchEvents = unix.EPOLLRDHUP | unix.EPOLLONESHOT

func watch(c *conn) bool {
	if c.raw == nil {
		return false
	}
	return theWatcher.add(c)
}

func unwatch(c *conn) { theWatcher.remove(c) }

func (w *watcher) add(c *conn) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.ep == nil {
		ep, err := newEpoll()
		if err != nil {
			return false
		}
		w.ep = ep
		go w.loop(ep)
	}
	w.nextID++
	id := w.nextID
	var ctlErr error
	err := c.raw.Control(func(fd uintptr) {
		ev := unix.EpollEvent{Events: watchEvents, Fd: int32(id), Pad: int32(id >> 32)}
		ctlErr = unix.EpollCtl(w.ep.fd, unix.EPOLL_CTL_ADD, int(fd), &ev)
	})
	if err != nil || ctlErr != nil {
		w.stopIfIdle()
		return false
	}
	c.id = id
	w.conns[id] = c
	if u := startUserTimer(c); u != nil {
		w.timers[id] = u
	}
	return true
}

func (w *watcher) remove(c *conn) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if _, ok := w.conns[c.id]; !ok {
		return
	}
	delete(w.conns, c.id)
	w.timers[c.id].stop()
	delete(w.timers, c.id)
	if w.ep != nil {
		// Fails harmlessly when the socket is already closed (and so
		// already out of the epoll set).
		c.raw.Control(func(fd uintptr) {
			unix.EpollCtl(w.ep.fd, unix.EPOLL_CTL_DEL, int(fd), nil)
		})
	}
	w.stopIfIdle()
}

// rearm asks again for the events that are always reported (EPOLLHUP and
// EPOLLERR), after a half-close that the configuration says to wait through.
func (w *watcher) rearm(c *conn) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if _, ok := w.conns[c.id]; !ok || w.ep == nil {
		return
	}
	c.raw.Control(func(fd uintptr) {
		ev := unix.EpollEvent{Events: unix.EPOLLONESHOT, Fd: int32(c.id), Pad: int32(c.id >> 32)}
		unix.EpollCtl(w.ep.fd, unix.EPOLL_CTL_MOD, int(fd), &ev)
	})
}

// stopIfIdle closes the epoll instance when nothing is watched; its
// goroutine sees the close and returns. w.mu is held.
func (w *watcher) stopIfIdle() {
	if len(w.conns) == 0 && w.ep != nil {
		w.ep.f.Close()
		w.ep = nil
	}
}

func newEpoll() (*epoll, error) {
	fd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, err
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return nil, err
	}
	f := os.NewFile(uintptr(fd), "hangup-epoll")
	raw, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, err
	}
	return &epoll{f: f, fd: fd, raw: raw}, nil
}

func (w *watcher) loop(ep *epoll) {
	events := make([]unix.EpollEvent, 64)
	for {
		var n int
		err := ep.raw.Read(func(fd uintptr) bool {
			var werr error
			n, werr = unix.EpollWait(int(fd), events, 0)
			// Zero events (or EINTR): let the runtime poller park us until
			// the epoll descriptor is readable again.
			return werr == nil && n > 0
		})
		if err != nil {
			return // closed by stopIfIdle
		}
		for i := 0; i < n; i++ {
			ev := events[i]
			id := uint64(uint32(ev.Fd)) | uint64(uint32(ev.Pad))<<32
			w.mu.Lock()
			c := w.conns[id]
			w.mu.Unlock()
			if c != nil {
				w.dispatch(c, ev.Events)
			}
		}
	}
}

func (w *watcher) dispatch(c *conn, events uint32) {
	reason := ReasonClosed
	halfOnly := events&(unix.EPOLLERR|unix.EPOLLHUP) == 0
	if events&(unix.EPOLLERR|unix.EPOLLHUP) != 0 {
		reason = lostReason(c)
	}
	if c.hangup(reason, halfOnly) {
		w.rearm(c)
	}
}

// lostReason tells a reset from a peer that vanished. The socket's pending
// error says it, unless net/http's own read or write took it first; then the
// TCP state still shows the keepalive or window probes (tcpi_probes) or the
// retransmissions (tcpi_retransmits) that went unanswered when the kernel
// gave up, which a live peer's RST does not leave behind: both count only
// since the peer last acknowledged something. tcpi_total_retrans and
// tcpi_backoff do not say that: the first counts over the connection's whole
// life, and the second is reset only by the next RTT sample, so a
// connection that retransmitted once and recovered would have its RST taken
// for a timeout (TestResetAfterRetransmission). When the server has closed
// the socket meanwhile there is nothing left to ask, and the reason says
// reset.
func lostReason(c *conn) Reason {
	reason := ReasonReset
	c.raw.Control(func(fd uintptr) {
		s := int(fd)
		n, err := unix.GetsockoptInt(s, unix.SOL_SOCKET, unix.SO_ERROR)
		if err == nil && n != 0 {
			if n == int(unix.ETIMEDOUT) || n == int(unix.EHOSTUNREACH) {
				reason = ReasonTimeout
			}
			return
		}
		ti, err := unix.GetsockoptTCPInfo(s, unix.IPPROTO_TCP, unix.TCP_INFO)
		switch {
		case err != nil:
			// Not TCP: a unix socket hangs up both ways when its peer
			// closes, and that is all it is.
			reason = ReasonClosed
		case ti.Probes > 0 || ti.Retransmits > 0:
			reason = ReasonTimeout
		}
	})
	return reason
}

func (c *conn) setSockopts() {
	// WithUserTimeout sets no socket option: see userTimer.
	ka := c.cfg.keepAlive
	if ka.idle <= 0 || c.raw == nil {
		return
	}
	c.raw.Control(func(fd uintptr) {
		s := int(fd)
		unix.SetsockoptInt(s, unix.SOL_SOCKET, unix.SO_KEEPALIVE, 1)
		unix.SetsockoptInt(s, unix.IPPROTO_TCP, unix.TCP_KEEPIDLE, secs(ka.idle))
		if ka.interval > 0 {
			unix.SetsockoptInt(s, unix.IPPROTO_TCP, unix.TCP_KEEPINTVL, secs(ka.interval))
		}
		if ka.count > 0 {
			unix.SetsockoptInt(s, unix.IPPROTO_TCP, unix.TCP_KEEPCNT, ka.count)
		}
	})
}

// tcpEstablished is Linux's TCP_ESTABLISHED, the state of a connection that
// neither side has closed.
const tcpEstablished = 1

// quietOpen reports whether c's socket is open both ways: no FIN, no RST
// (the watcher's to report).
func quietOpen(c *conn) (open bool) {
	c.raw.Control(func(fd uintptr) {
		ti, err := unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO)
		open = err == nil && ti.State == tcpEstablished
	})
	return open
}
