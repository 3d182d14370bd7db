package watch

import (
	"os"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// The watcher is one epoll instance shared by every watched socket in the
// process. Each socket is registered for EPOLLRDHUP (the peer's FIN) with
// EPOLLONESHOT; EPOLLHUP and EPOLLERR (RST, keepalive timeouts) are always
// reported; the user timeout has its own timer (usertimeout_linux.go).
// EPOLLIN is not asked for, so the next request on a keep-alive or
// pipelined connection wakes nothing, and the watcher never reads a byte.
//
// The epoll descriptor is itself registered with Go's runtime poller (it is
// readable when events are pending), so the one goroutine that drains it is
// parked like any network read: no thread blocked in epoll_wait, no polling.
// The goroutine and the epoll instance exist only while at least one socket
// is watched, so an idle process holds neither.
//
// Registrations are keyed by a sequence number carried in the event's data,
// never by file descriptor number: net/http closes a socket before its
// ConnState(StateClosed) hook runs, and by then the accept loop may have
// handed the same number to a new connection (closing a socket removes it
// from epoll by itself). Every epoll_ctl on a socket runs inside
// RawConn.Control, which holds the descriptor open, so it can never act on a
// reused number.
type watcher struct {
	mu     sync.Mutex
	ep     *epoll                // nil while nothing is watched
	socks  map[uint64]*Socket    // guarded by mu
	timers map[uint64]*userTimer // the user timeouts, by registration; guarded by mu
	nextID uint64
}

type epoll struct {
	f   *os.File
	fd  int // valid while f is open; used under watcher.mu only
	raw syscall.RawConn
}

var theWatcher = watcher{socks: make(map[uint64]*Socket), timers: make(map[uint64]*userTimer)}

const watchEvents = unix.EPOLLRDHUP | unix.EPOLLONESHOT

// Start watches raw for obs and reports whether it could: false when raw is
// nil or not a socket that epoll takes, or the epoll instance could not be
// made; s is then left as it was, and obs never hears from it. A peer that
// left before Start is reported at once: epoll checks the socket's state
// when it is added. userTimeout > 0 also starts the user timeout (see
// usertimeout_linux.go). A Socket is started once: Start on one that
// was started before reports false and changes nothing.
func (s *Socket) Start(raw syscall.RawConn, userTimeout time.Duration, obs Observer) bool {
	if raw == nil {
		return false
	}
	w := &theWatcher
	w.mu.Lock()
	defer w.mu.Unlock()
	if s.raw != nil {
		return false
	}
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
	err := raw.Control(func(fd uintptr) {
		ev := unix.EpollEvent{Events: watchEvents, Fd: int32(id), Pad: int32(id >> 32)}
		ctlErr = unix.EpollCtl(w.ep.fd, unix.EPOLL_CTL_ADD, int(fd), &ev)
	})
	if err != nil || ctlErr != nil {
		w.stopIfIdle()
		return false
	}
	s.raw, s.obs, s.id = raw, obs, id
	w.socks[id] = s
	if userTimeout > 0 {
		w.timers[id] = startUserTimer(s, userTimeout)
	}
	return true
}

// Stop ends the watch: the Observer hears nothing more once Stop returns,
// unless it is hearing something right then (Saw may be running, or about
// to). Call it before the socket is closed or handed to someone else, and
// at the latest right after. Stop on a Socket that is not watching does
// nothing.
func (s *Socket) Stop() {
	w := &theWatcher
	w.mu.Lock()
	defer w.mu.Unlock()
	if s.id == 0 {
		return
	}
	delete(w.socks, s.id)
	w.timers[s.id].stop()
	delete(w.timers, s.id)
	if w.ep != nil {
		// Fails harmlessly when the socket is already closed (and so
		// already out of the epoll set).
		s.raw.Control(func(fd uintptr) {
			unix.EpollCtl(w.ep.fd, unix.EPOLL_CTL_DEL, int(fd), nil)
		})
	}
	s.id = 0
	w.stopIfIdle()
}

// Rearm asks again, after a FIN that the Observer waits through, for the
// losses only (Reset, Timeout, HungUp: EPOLLHUP and EPOLLERR): the FIN is
// not reported again. Called before any event, it gives up the FIN too. It
// does nothing on a Socket that is not watching.
func (s *Socket) Rearm() {
	w := &theWatcher
	w.mu.Lock()
	defer w.mu.Unlock()
	if s.id == 0 || w.ep == nil {
		return
	}
	id := s.id
	s.raw.Control(func(fd uintptr) {
		ev := unix.EpollEvent{Events: unix.EPOLLONESHOT, Fd: int32(id), Pad: int32(id >> 32)}
		unix.EpollCtl(w.ep.fd, unix.EPOLL_CTL_MOD, int(fd), &ev)
	})
}

// stopIfIdle closes the epoll instance when nothing is watched; its
// goroutine sees the close and returns. w.mu is held.
func (w *watcher) stopIfIdle() {
	if len(w.socks) == 0 && w.ep != nil {
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
			s := w.socks[id]
			w.mu.Unlock()
			if s == nil {
				continue
			}
			if ev.Events&(unix.EPOLLERR|unix.EPOLLHUP) == 0 {
				s.obs.Saw(FIN)
			} else {
				s.obs.Saw(Lost(s.raw))
			}
		}
	}
}

// Lost tells what ended a socket that hung up or failed: Reset, Timeout, or
// HungUp for a socket that is not TCP. The socket's pending error says it,
// unless someone's read or write took it first (net/http's does); then the
// TCP state still shows the keepalive or window probes (tcpi_probes) or the
// retransmissions (tcpi_retransmits) that went unanswered when the kernel
// gave up, which a live peer's RST does not leave behind: both count only
// since the peer last acknowledged something. tcpi_total_retrans and
// tcpi_backoff do not say that: the first counts over the connection's whole
// life, and the second is reset only by the next RTT sample, so a
// connection that retransmitted once and recovered would have its RST taken
// for a timeout (TestResetAfterRetransmission, at the repository's root).
// When the socket is closed meanwhile there is nothing left to ask, and
// Lost says Reset.
func Lost(raw syscall.RawConn) Event {
	ev := Reset
	raw.Control(func(fd uintptr) {
		s := int(fd)
		n, err := unix.GetsockoptInt(s, unix.SOL_SOCKET, unix.SO_ERROR)
		if err == nil && n != 0 {
			if n == int(unix.ETIMEDOUT) || n == int(unix.EHOSTUNREACH) {
				ev = Timeout
			}
			return
		}
		ti, err := unix.GetsockoptTCPInfo(s, unix.IPPROTO_TCP, unix.TCP_INFO)
		switch {
		case err != nil:
			// Not TCP: a unix socket hangs up both ways when its peer
			// closes, and that is all it is.
			ev = HungUp
		case ti.Probes > 0 || ti.Retransmits > 0:
			ev = Timeout
		}
	})
	return ev
}
