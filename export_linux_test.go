package hangup

import (
	"net"

	"github.com/hangup-dev/hangup/internal/watch"
)

// LostReason is the watcher's verdict on nc's error or hangup, for tests
// that hold the socket themselves.
func LostReason(nc net.Conn) Reason { return reasons[watch.Lost(rawConn(nc))] }
