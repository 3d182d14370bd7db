package proxy

import (
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"
)

// TestMalformedBody: a body that turns out malformed after the
// upstream has its request's head (issue 16, case 3) gets 400, the access
// log says the client's body was malformed, and the upstream sees its
// request cut, never complete.
func TestMalformedBody(t *testing.T) {
	for _, bad := range []string{"zz\r\n", "fffffffffffffffff\r\n", "5\nhello\r\n"} {
		t.Run(strings.TrimSpace(bad), func(t *testing.T) {
			h, u := framingProxy(t, Config{})
			c := dial(t, h.addr)
			write(t, c, "POST /up HTTP/1.1\r\nHost: front.example\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n")
			u.waitRequests(t, 1) // the head is at the upstream
			write(t, c, bad)
			res, closed := readAnswers(t, c)
			if len(res) != 1 || res[0].status != http.StatusBadRequest || !closed {
				t.Fatalf("the client got %+v (closed: %v), want one 400 and the connection closed", res, closed)
			}
			if !res[0].close {
				t.Error("the 400 does not say Connection: close")
			}
			reqs, _ := u.settle(t, h.p, 0)
			if len(reqs) != 1 || reqs[0].complete {
				t.Errorf("the upstream got %+v, want one request cut short", reqs)
			}
			line := h.logs.waitFor(t, "for /up", func(l map[string]any) bool { return l["uri"] == "/up" })
			if line["status"] != 400.0 || !strings.Contains(fmt.Sprint(line["error"]), ErrClientBody.Error()) {
				t.Errorf("access log line = %v, want status 400 and the error %q", line, ErrClientBody)
			}
		})
	}
}

// TestRequestTrailers: a net/http upstream reads the client's trailer
// values after the body (issue 16, case 5).
func TestRequestTrailers(t *testing.T) {
	got := make(chan http.Header, 1)
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request, _ *hit) {
		io.Copy(io.Discard, r.Body)
		got <- r.Trailer.Clone()
	})
	h := startProxy(t, Config{Upstream: up.url})
	c := dial(t, h.addr)
	write(t, c, "POST /t HTTP/1.1\r\nHost: front.example\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum, X-Other\r\n\r\n"+
		"5\r\nhello\r\n0\r\nX-Sum: 42\r\nX-Other: a\r\nX-Other: b\r\n\r\n")
	res, _ := readResponse(t, c, "POST")
	if res.StatusCode != 200 {
		t.Fatalf("status %d", res.StatusCode)
	}
	select {
	case tr := <-got:
		want := http.Header{"X-Sum": {"42"}, "X-Other": {"a", "b"}}
		if !reflect.DeepEqual(tr, want) {
			t.Errorf("the upstream's trailers = %v, want %v", tr, want)
		}
	case <-time.After(waitLong):
		t.Fatal("the upstream got no request")
	}
}

// TestClientBodyTimeout: an upload that stalls (10 of 100 bytes, then
// nothing) gets 408 after Config.ClientBodyTimeout without a byte, and its
// upstream request is aborted (issue 16, case 10).
func TestClientBodyTimeout(t *testing.T) {
	h, u := framingProxy(t, Config{ClientBodyTimeout: 300 * time.Millisecond})
	c := dial(t, h.addr)
	write(t, c, "POST /stall HTTP/1.1\r\nHost: front.example\r\nContent-Length: 100\r\n\r\n0123456789")
	u.waitRequests(t, 1)
	res, closed := readAnswers(t, c)
	if len(res) != 1 || res[0].status != http.StatusRequestTimeout || !closed {
		t.Fatalf("the client got %+v (closed: %v), want one 408 and the connection closed", res, closed)
	}
	reqs, _ := u.settle(t, h.p, 0)
	if len(reqs) != 1 || reqs[0].complete || len(reqs[0].body) > 10 {
		t.Errorf("the upstream got %+v, want one request cut after at most 10 bytes", reqs)
	}
	line := h.logs.waitFor(t, "for /stall", func(l map[string]any) bool { return l["uri"] == "/stall" })
	if line["status"] != 408.0 || !strings.Contains(fmt.Sprint(line["error"]), ErrClientBodyTimeout.Error()) {
		t.Errorf("access log line = %v, want status 408 and the error %q", line, ErrClientBodyTimeout)
	}
}

// TestClientBodyTimeoutBetweenReads: the timeout is between reads, not for
// the whole body: a body that keeps coming, slower in total than the
// timeout, goes through whole. Each part is sent once the upstream has the
// one before, never after a sleep.
func TestClientBodyTimeoutBetweenReads(t *testing.T) {
	const timeout = time.Second
	h, u := framingProxy(t, Config{ClientBodyTimeout: timeout})
	c := dial(t, h.addr)
	write(t, c, "POST /slow HTTP/1.1\r\nHost: front.example\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n")
	u.waitRequests(t, 1)
	var want strings.Builder
	for i := range 4 {
		part := fmt.Sprintf("part%d;", i)
		want.WriteString(part)
		write(t, c, fmt.Sprintf("%x\r\n%s\r\n", len(part), part))
		// Wait for the upstream to have read it: its body grows.
		waitFor(t, "the upstream to read "+part, func() bool { return u.bodySoFar() >= want.Len() })
		// Not a wait for an event: the body must take longer in all than
		// the timeout, each part well within it.
		time.Sleep(timeout * 4 / 10)
	}
	write(t, c, "0\r\n\r\n")
	res, _ := readAnswers(t, c)
	if len(res) != 1 || res[0].status != 200 {
		t.Fatalf("the client got %+v, want 200", res)
	}
	reqs, _ := u.settle(t, h.p, 0)
	if len(reqs) != 1 || !reqs[0].complete || reqs[0].body != want.String() {
		t.Errorf("the upstream got %+v", reqs)
	}
}
