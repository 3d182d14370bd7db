//go:build !linux

package watch

import (
	"syscall"
	"time"
)

// On systems other than Linux nothing is watched: Start reports false, and
// the caller falls back on its own detection (hangup: net/http's).

// Start reports false: sockets are watched on Linux only.
func (s *Socket) Start(raw syscall.RawConn, userTimeout time.Duration, obs Observer) bool {
	return false
}

// Stop does nothing: nothing is watched.
func (s *Socket) Stop() {}

// Rearm does nothing: nothing is watched.
func (s *Socket) Rearm() {}

// SetKeepAlive does nothing: keepalive is set on Linux only.
func SetKeepAlive(raw syscall.RawConn, idle, interval time.Duration, count int) {}

// Established reports false: the socket's state is read on Linux only.
func Established(raw syscall.RawConn) bool { return false }
