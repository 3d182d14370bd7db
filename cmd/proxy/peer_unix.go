//go:build unix

package proxy

import (
	"net"
	"syscall"
)

// peerClosed reports whether the peer of c, an idle connection, has closed
// it: a read would say EOF or reset now. It peeks without blocking and
// consumes nothing.
func peerClosed(c net.Conn) bool {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return false
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	closed := false
	var buf [1]byte
	// Control, not Read: the Transport's read loop is parked in a read of
	// this idle connection and holds its read lock; a peek needs no lock.
	raw.Control(func(fd uintptr) {
		n, _, err := syscall.Recvfrom(int(fd), buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		closed = (n == 0 && err == nil) || err == syscall.ECONNRESET
	})
	return closed
}
