package hangup_test

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/hangup-dev/hangup"
	"golang.org/x/sys/unix"
)

// TestUserTimeoutSlowReader: WithUserTimeout finds peers that vanished,
// never live ones. A client with a tiny receive buffer stops reading for 3 s
// (three times the timeout): its window is zero and its kernel acknowledges
// every zero-window probe. It must get the whole body, and the handler must
// not see it as gone. Linux's own TCP_USER_TIMEOUT counts the time spent
// probing a zero window even when the probes are answered, and aborted this
// download.
func TestUserTimeoutSlowReader(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts []hangup.Option
	}{
		{"user-timeout", []hangup.Option{hangup.WithUserTimeout(time.Second)}},
		{"with-keepalive", []hangup.Option{hangup.WithUserTimeout(time.Second), hangup.WithKeepAlive(time.Second, time.Second, 1)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const size = 8 << 20
			chunk := make([]byte, 64<<10)
			for i := range chunk {
				chunk[i] = 'a' + byte(i%26)
			}
			var s *server
			s = startServer(t, serverOpts{
				opts: tc.opts,
				handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					w.Header().Set("Content-Length", strconv.Itoa(size))
					s.entered <- r
					for n := 0; n < size; n += len(chunk) {
						if _, err := w.Write(chunk); err != nil {
							break
						}
					}
					d, ok := hangup.Departed(r.Context())
					s.results <- outcome{cause: context.Cause(r.Context()), departure: d, departed: ok}
				}),
			})
			dialer := net.Dialer{Timeout: waitLong, Control: func(network, address string, rc syscall.RawConn) error {
				var err error
				rc.Control(func(fd uintptr) {
					// Before connect, so that the window it announces stays small.
					err = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF, 4096)
				})
				return err
			}}
			nc, err := dialer.Dial("tcp", s.addr())
			if err != nil {
				t.Fatal(err)
			}
			c := nc.(*net.TCPConn)
			t.Cleanup(func() { c.Close() })
			write(t, c, reqGET)
			s.waitEntered()

			br := bufio.NewReaderSize(c, 1024)
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatal(err)
			}
			// A reader that is slow, not gone: nothing read for three user
			// timeouts while the server has its whole response to send.
			time.Sleep(3 * time.Second)
			// The case is exercised only if the server was held back by the
			// client's window all that time.
			tx, _, ok := queues(t, c.RemoteAddr().(*net.TCPAddr), c.LocalAddr().(*net.TCPAddr))
			switch {
			case !ok:
				t.Fatal("the server's socket is gone after the pause: the live slow reader was cut")
			case tx == 0:
				t.Fatal("the server had nothing left to send after the pause: the window never closed")
			}
			if ti := tcpInfo(t, c); ti.Rcv_wnd > 8192 {
				t.Fatalf("the client announces a %d-byte window: its receive buffer is not small", ti.Rcv_wnd)
			}
			c.SetReadDeadline(time.Now().Add(2 * waitLong))
			n, err := io.Copy(io.Discard, resp.Body)
			if err != nil || n != size {
				t.Fatalf("the slow reader got %d of %d bytes: %v", n, size, err)
			}
			if o := s.waitResult(); o.departed || o.cause != nil {
				t.Fatalf("the live slow reader was taken for gone: departure %+v, cause %v", o.departure, o.cause)
			}
		})
	}
}
