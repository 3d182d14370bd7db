package hangup_test

import (
	"net"
	"strings"
	"testing"

	"github.com/hangup-dev/hangup"
)

// leave is how a test client goes away.
type leave func(t *testing.T, c *net.TCPConn)

func closeFIN(t *testing.T, c *net.TCPConn) { c.Close() }
func closeRST(t *testing.T, c *net.TCPConn) { c.SetLinger(0); c.Close() }
func halfClose(t *testing.T, c *net.TCPConn) {
	if err := c.CloseWrite(); err != nil {
		t.Fatal(err)
	}
}

// TestDisconnectHTTP1 covers the cases of the issue over plain HTTP/1.1 with a
// handler that never reads the body, each one against net/http's verdict.
func TestDisconnectHTTP1(t *testing.T) {
	get := "GET / HTTP/1.1\r\nHost: x\r\n\r\n"
	postPartial := "POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 1048576\r\n\r\nabcdef"
	postWhole := "POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"
	pipelined := get + get
	cases := []struct {
		name    string
		request string
		leave   leave
		reason  hangup.Reason
	}{
		{"GET/FIN", get, closeFIN, hangup.ReasonClosed},
		{"GET/RST", get, closeRST, hangup.ReasonReset},
		{"GET/half-close", get, halfClose, hangup.ReasonClosed},
		{"POST-partial-unread/FIN", postPartial, closeFIN, hangup.ReasonClosed},
		{"POST-partial-unread/RST", postPartial, closeRST, hangup.ReasonReset},
		{"POST-whole-unread/FIN", postWhole, closeFIN, hangup.ReasonClosed},
		{"POST-whole-unread/RST", postWhole, closeRST, hangup.ReasonReset},
		{"pipelined/FIN", pipelined, closeFIN, hangup.ReasonClosed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := startServer(t, serverOpts{})
			c := dialTCP(t, s.addr())
			write(t, c, tc.request)
			s.waitEntered()
			tc.leave(t, c)
			o := s.waitResult()
			expectGone(t, o, hangup.PhaseHandler)
			if o.departure.Reason != tc.reason {
				t.Errorf("reason = %v, want %v", o.departure.Reason, tc.reason)
			}
			_ = strings.TrimSpace
		})
	}
}
