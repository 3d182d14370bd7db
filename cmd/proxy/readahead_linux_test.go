package proxy

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestEarlyAnswerReadAhead: an upstream that refuses an upload early and
// then resets its connection, as net/http does 500 ms after its handler
// returned with the body unread, loses whatever of its answer the proxy had
// not read by then. The proxy reads such a refusal ahead, whole, into
// memory, so that the reset costs nothing, however late its client reads.
// Here the upstream resets the moment the proxy's socket holds nothing
// unread (or after waitLong), and only then does the client start reading:
// the answer is bigger than the socket buffers between proxy and client, so
// a proxy that relays it at the client's pace has not read it all by then.
// No clock decides the outcome, so it holds under any load.
func TestEarlyAnswerReadAhead(t *testing.T) {
	answer := bytes.Repeat([]byte("no entry\n"), 24<<20/9)
	reset := make(chan struct{})
	up := rawUpstream(t, func(c net.Conn) {
		br := bufio.NewReader(c)
		if _, err := http.ReadRequest(br); err != nil {
			return
		}
		wrote := make(chan struct{})
		go func() {
			fmt.Fprintf(c, "HTTP/1.1 401 Unauthorized\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n", len(answer))
			c.Write(answer)
			close(wrote)
		}()
		select {
		case <-wrote:
		case <-time.After(waitLong):
		}
		peer := c.RemoteAddr().(*net.TCPAddr).Port
		deadline := time.Now().Add(waitLong)
		for unreadAt(t, peer) > 0 && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		c.(*net.TCPConn).SetLinger(0)
		c.Close()
		close(reset)
	})
	h := startProxy(t, Config{Upstream: up, EarlyAnswerBuffer: 32 << 20})
	c := dial(t, h.addr)
	write(t, c, "POST /upload HTTP/1.1\r\nHost: example.test\r\nContent-Length: 5242880\r\n\r\n")
	go func() {
		chunk := strings.Repeat("u", 64<<10)
		for n := 0; n < 5<<20; n += len(chunk) {
			if _, err := io.WriteString(c, chunk); err != nil {
				return
			}
		}
	}()
	select {
	case <-reset:
	case <-time.After(3 * waitLong):
		t.Fatal("the upstream never answered")
	}
	res, body := readResponse(t, c, "POST")
	if res.StatusCode != http.StatusUnauthorized || !bytes.Equal(body, answer) {
		t.Errorf("the client got %d with %d bytes of the %d-byte answer", res.StatusCode, len(body), len(answer))
	}
}

// unreadAt returns how many bytes the loopback TCP socket bound to port
// has received and its owner not yet read (/proc/net/tcp's rx_queue); 0 if
// there is no such socket.
func unreadAt(t *testing.T, port int) int64 {
	b, err := os.ReadFile("/proc/net/tcp")
	if err != nil {
		t.Fatalf("reading /proc/net/tcp: %v", err)
	}
	want := fmt.Sprintf(":%04X", port)
	for _, line := range strings.Split(string(b), "\n")[1:] {
		f := strings.Fields(line)
		if len(f) < 5 || !strings.HasSuffix(f[1], want) {
			continue
		}
		_, rx, _ := strings.Cut(f[4], ":")
		n, _ := strconv.ParseInt(rx, 16, 64)
		return n
	}
	return 0
}
