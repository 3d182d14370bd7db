//go:build !linux

package hangup_test

import (
	"net"
	"testing"
)

// Elsewhere the socket's state is not read: the tests that need it skip.

func waitAcked(t *testing.T, c *net.TCPConn) uint64 {
	t.Skip("reads the socket's state from Linux's TCP_INFO and /proc/net/tcp")
	return 0
}

func waitPeerRead(t *testing.T, c *net.TCPConn, n uint64) {}
