package proxy

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"
)

// resettingUpstream is an upstream that, for each connection, reads the
// head of a request, answers it at once with a 401 carrying answer, without
// reading the request body, and resets the connection right after: what a
// net/http upstream does 500 ms after such an answer, with no time given.
func resettingUpstream(t *testing.T, answer []byte) *url.URL {
	return rawUpstream(t, func(c net.Conn) {
		defer c.(*net.TCPConn).SetLinger(0) // the close resets
		if _, err := http.ReadRequest(bufio.NewReader(c)); err != nil {
			return
		}
		fmt.Fprintf(c, "HTTP/1.1 401 Unauthorized\r\nContent-Length: %d\r\nConnection: close\r\n\r\n", len(answer))
		c.Write(answer)
	})
}

// earlyAnswerSize is the size of an early answer that the receive buffer of
// the proxy's upstream connection can hold on this machine (a quarter of
// net.core.rmem_max, at most 1 MiB).
func earlyAnswerSize(t *testing.T) int {
	b, err := os.ReadFile("/proc/sys/net/core/rmem_max")
	if err != nil {
		t.Skip("no net.core.rmem_max to size the answer by:", err)
	}
	max, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	return min(max/4, 1<<20)
}

// TestEarlyAnswerThenReset: the upstream answers an upload early and resets
// the connection at once. The whole answer reaches the client, every time:
// it was sent before the reset, into a receive buffer wide enough for it,
// and neither the reset write of the upload nor the Transport's close of
// the connection throws it away (upstreamconn.go). Without that, most of
// the answer is still in the upstream's send queue when it resets, or the
// request fails with the write's error (502).
func TestEarlyAnswerThenReset(t *testing.T) {
	answer := bytes.Repeat([]byte("x"), earlyAnswerSize(t))
	u := resettingUpstream(t, answer)
	h := startProxy(t, Config{Upstream: u})
	upload := bytes.Repeat([]byte("u"), 4<<20)
	c := client(t)
	const trials = 20
	for i := 0; i < trials; i++ {
		res, err := c.Post("http://"+h.addr+"/upload", "application/octet-stream", bytes.NewReader(upload))
		if err != nil {
			t.Fatalf("trial %d: %v", i, err)
		}
		body, err := io.ReadAll(res.Body)
		res.Body.Close()
		if err != nil || res.StatusCode != http.StatusUnauthorized || !bytes.Equal(body, answer) {
			t.Fatalf("trial %d: status %d, %d of %d bytes of the answer, error %v", i, res.StatusCode, len(body), len(answer), err)
		}
	}
}

// TestEarlyAnswerWaitNotEndedByPreviousRequest: an upload A is answered
// whole on a keep-alive upstream connection (a 401 of no body, the upload
// all sent): the Transport puts the connection back in its pool before it
// hands A's answer over, so upload B may be on it (GotConn) before A's
// ModifyResponse runs. A's answer must not end B's wait: B's upload, if the
// upstream then answers it early and resets, would fail at once with the
// write's error (502) instead of getting its answer.
func TestEarlyAnswerWaitNotEndedByPreviousRequest(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	nc, err := dialUpstream("", "")(t.Context(), "tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	p := &Proxy{cfg: Config{EarlyAnswerBuffer: DefaultEarlyAnswerBuffer}}
	recA, recB := &record{}, &record{}
	upstreamConnTrace(recA, DefaultEarlyAnswerBuffer).GotConn(httptrace.GotConnInfo{Conn: nc})
	upstreamConnTrace(recB, DefaultEarlyAnswerBuffer).GotConn(httptrace.GotConnInfo{Conn: nc, Reused: true})
	reqA := (&http.Request{}).WithContext(context.WithValue(t.Context(), recordKey{}, recA))
	if err := p.modifyResponse(&http.Response{StatusCode: http.StatusUnauthorized, Header: http.Header{}, Request: reqA}); err != nil {
		t.Fatal(err)
	}
	uc := nc.(*upstreamConn)
	uc.mu.Lock()
	head, settled := uc.head, uc.settled
	uc.mu.Unlock()
	if head == nil || settled == nil {
		t.Fatalf("after A's answer, B's reset write waits for its answer's head: %v, for its read-ahead: %v; want both", head != nil, settled != nil)
	}
}
