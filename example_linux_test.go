package hangup_test

import (
	"fmt"
	"net"
	"time"

	"github.com/hangup-dev/hangup"
)

// WatchConn watches a connection of a server that is not net/http.
func ExampleWatchConn() {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	defer ln.Close()
	go func() {
		c, _ := net.Dial("tcp", ln.Addr().String())
		time.Sleep(10 * time.Millisecond)
		c.Close()
	}()
	c, _ := ln.Accept()
	defer c.Close()
	gone := make(chan hangup.Reason, 1)
	stop, ok := hangup.WatchConn(c, func(r hangup.Reason) { gone <- r })
	defer stop()
	if ok {
		fmt.Println("peer left:", <-gone)
	}
	// Output: peer left: closed
}
