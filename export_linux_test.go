package hangup

import "net"

// LostReason is the watcher's verdict on nc's error or hangup, for tests
// that hold the socket themselves.
func LostReason(nc net.Conn) Reason { return lostReason(&conn{raw: rawConn(nc)}) }
