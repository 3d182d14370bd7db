package watch

import (
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// SetKeepAlive turns TCP keepalive on for raw: the first probe after idle,
// then one every interval, count of them unanswered before the kernel
// gives up (a Timeout, for a watched socket). interval <= 0 or count <= 0
// leaves the kernel's default for it; idle <= 0 or a nil raw does nothing.
// Durations are rounded up to whole seconds, as the options want. Errors
// are ignored: a socket that is not TCP keeps no keepalive.
func SetKeepAlive(raw syscall.RawConn, idle, interval time.Duration, count int) {
	if idle <= 0 || raw == nil {
		return
	}
	raw.Control(func(fd uintptr) {
		s := int(fd)
		unix.SetsockoptInt(s, unix.SOL_SOCKET, unix.SO_KEEPALIVE, 1)
		unix.SetsockoptInt(s, unix.IPPROTO_TCP, unix.TCP_KEEPIDLE, secs(idle))
		if interval > 0 {
			unix.SetsockoptInt(s, unix.IPPROTO_TCP, unix.TCP_KEEPINTVL, secs(interval))
		}
		if count > 0 {
			unix.SetsockoptInt(s, unix.IPPROTO_TCP, unix.TCP_KEEPCNT, count)
		}
	})
}

// secs rounds d up to whole seconds, at least one.
func secs(d time.Duration) int {
	return max(int((d+time.Second-1)/time.Second), 1)
}

// tcpEstablished is Linux's TCP_ESTABLISHED, the state of a connection that
// neither side has closed.
const tcpEstablished = 1

// Established reports whether raw is a TCP socket open both ways: no FIN,
// no RST. It is false for a socket that is not TCP, or closed.
func Established(raw syscall.RawConn) (open bool) {
	raw.Control(func(fd uintptr) {
		ti, err := unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO)
		open = err == nil && ti.State == tcpEstablished
	})
	return open
}
