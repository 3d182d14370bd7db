package proxy

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Issue 16: what reaches the upstream, byte for byte and request for
// request, of what a client sends; what the client gets back; and whether
// its connection stays open.

// framingUpstream is a raw TCP upstream that parses what it gets with
// http.ReadRequest, as a net/http upstream would, and records each request:
// its request line as received, headers, framing, body and trailers, and
// whether its body arrived whole. It answers each whole request 200, with
// X-Upstream-Seq numbering its answers and no body (so that an answer reads
// the same whether it was to a HEAD or not), and keeps the connection open;
// a request whose body breaks off ends the connection.
type framingUpstream struct {
	t   testing.TB
	url *url.URL

	mu      sync.Mutex
	reqs    []*upReq // guarded by mu
	bad     []string // what it could not parse; guarded by mu
	open    int      // connections being served; guarded by mu
	seq     int      // guarded by mu
	changed chan struct{}
}

// upReq is one request the upstream got.
type upReq struct {
	line     string // the request line, without CRLF
	method   string
	target   string
	host     string // the Host header
	header   http.Header
	framing  string // "chunked", "length=N" or "none"
	body     string
	trailer  http.Header // nil: none
	complete bool        // the body ended as its framing said
	seq      int         // the X-Upstream-Seq of its answer, if complete
}

func newFramingUpstream(t testing.TB) *framingUpstream {
	u := &framingUpstream{t: t, changed: make(chan struct{})}
	u.url = rawUpstream(t, u.serve)
	return u
}

func (u *framingUpstream) notifyLocked() {
	close(u.changed)
	u.changed = make(chan struct{})
}

func (u *framingUpstream) serve(c net.Conn) {
	u.mu.Lock()
	u.open++
	u.notifyLocked()
	u.mu.Unlock()
	defer func() {
		u.mu.Lock()
		u.open--
		u.notifyLocked()
		u.mu.Unlock()
	}()
	br := bufio.NewReader(c)
	for {
		line, err := peekLine(br)
		if err != nil {
			if len(line) > 0 {
				u.fail(fmt.Sprintf("a request line cut short: %q", line))
			}
			return
		}
		req, err := http.ReadRequest(br)
		if err != nil {
			u.fail(fmt.Sprintf("after %q: %v", line, err))
			return
		}
		r := &upReq{line: strings.TrimRight(line, "\r\n"), method: req.Method, target: req.RequestURI, host: req.Host, header: req.Header, framing: "none"}
		switch {
		case len(req.TransferEncoding) > 0:
			r.framing = strings.Join(req.TransferEncoding, ",")
		case req.ContentLength > 0 || req.Header.Get("Content-Length") != "":
			r.framing = "length=" + strconv.FormatInt(req.ContentLength, 10)
		}
		u.mu.Lock()
		u.reqs = append(u.reqs, r)
		u.notifyLocked()
		u.mu.Unlock()
		err = u.readBody(r, req.Body)
		u.mu.Lock()
		r.trailer = req.Trailer
		r.complete = err == nil
		if r.complete {
			u.seq++
			r.seq = u.seq
		}
		seq := r.seq
		u.notifyLocked()
		u.mu.Unlock()
		if err != nil {
			return
		}
		if _, err := fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nX-Upstream-Seq: %d\r\nContent-Length: 0\r\n\r\n", seq); err != nil {
			return
		}
	}
}

// readBody reads body into r.body as it comes.
func (u *framingUpstream) readBody(r *upReq, body io.Reader) error {
	buf := make([]byte, 4096)
	for {
		n, err := body.Read(buf)
		u.mu.Lock()
		r.body += string(buf[:n])
		u.notifyLocked()
		u.mu.Unlock()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// bodySoFar is how much of its last request's body the upstream has read.
func (u *framingUpstream) bodySoFar() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.reqs) == 0 {
		return 0
	}
	return len(u.reqs[len(u.reqs)-1].body)
}

func (u *framingUpstream) fail(what string) {
	u.mu.Lock()
	u.bad = append(u.bad, what)
	u.mu.Unlock()
}

// peekLine returns the first line in br, up to and with its LF, without
// consuming it.
func peekLine(br *bufio.Reader) (string, error) {
	for n := 1; ; {
		_, err := br.Peek(n) // blocks for the n-th byte
		b, _ := br.Peek(br.Buffered())
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			return string(b[:i+1]), nil
		}
		if err != nil {
			return string(b), err
		}
		if n = len(b) + 1; n > br.Size() {
			return string(b), bufio.ErrBufferFull
		}
	}
}

// waitRequests waits until the upstream got n request heads, and returns
// them.
func (u *framingUpstream) waitRequests(t testing.TB, n int) []*upReq {
	t.Helper()
	deadline := time.After(waitLong)
	for {
		u.mu.Lock()
		if len(u.reqs) >= n {
			reqs := append([]*upReq(nil), u.reqs...)
			u.mu.Unlock()
			return reqs
		}
		ch := u.changed
		u.mu.Unlock()
		select {
		case <-ch:
		case <-deadline:
			t.Fatalf("the upstream got fewer than %d requests", n)
		}
	}
}

// settle waits until the proxy has let go of every upstream connection,
// closing its idle ones, so that what the upstream got is all it will get;
// then it returns the requests from the from-th on, and what the upstream
// could not parse.
func (u *framingUpstream) settle(t testing.TB, p *Proxy, from int) ([]*upReq, []string) {
	t.Helper()
	deadline := time.Now().Add(waitLong)
	for {
		p.transport.CloseIdleConnections() // again: one may come back to the pool late
		u.mu.Lock()
		if u.open == 0 {
			reqs := append([]*upReq(nil), u.reqs[from:]...)
			bad := append([]string(nil), u.bad...)
			u.bad = nil
			u.mu.Unlock()
			return reqs, bad
		}
		ch := u.changed
		u.mu.Unlock()
		if time.Now().After(deadline) {
			t.Fatal("the upstream's connections never closed")
		}
		select {
		case <-ch:
		case <-time.After(10 * time.Millisecond):
		}
	}
}

func (u *framingUpstream) count() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(u.reqs)
}

// framingProxy starts a proxy in front of a new framingUpstream.
func framingProxy(t *testing.T, cfg Config) (*harness, *framingUpstream) {
	u := newFramingUpstream(t)
	if cfg.Upstream == nil {
		cfg.Upstream = u.url
	}
	return startProxy(t, cfg), u
}

// clientRes is one answer a raw client read.
type clientRes struct {
	status int
	header http.Header
	body   string
	close  bool // it said Connection: close (which ReadResponse takes out of header)
}

// readAnswers reads answers from c until the proxy closes the connection, and
// reports whether it did (false: the read timed out, the connection open).
func readAnswers(t testing.TB, c net.Conn) (res []clientRes, closed bool) {
	t.Helper()
	br := bufio.NewReader(c)
	c.SetReadDeadline(time.Now().Add(waitLong))
	for {
		r, err := http.ReadResponse(br, nil)
		if err != nil {
			return res, isClosed(err)
		}
		b, err := io.ReadAll(r.Body)
		if err != nil {
			t.Fatalf("reading an answer's body: %v", err)
		}
		if r.StatusCode >= 200 {
			res = append(res, clientRes{r.StatusCode, r.Header, string(b), r.Close})
		}
	}
}

func isClosed(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET)
}

// TestCloseSaidOnce: an answer that closes the connection because of an
// ambiguous framing says "Connection: close" once, not once for the
// handler's header and again for the upstream response's.
func TestCloseSaidOnce(t *testing.T) {
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request, _ *hit) {
		io.Copy(io.Discard, r.Body)
	})
	h := startProxy(t, Config{Upstream: up.url})
	for _, req := range []string{
		"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
	} {
		c := dial(t, h.addr)
		write(t, c, req)
		c.SetReadDeadline(time.Now().Add(waitLong))
		br := bufio.NewReader(c)
		var head strings.Builder
		for !strings.HasSuffix(head.String(), "\r\n\r\n") {
			line, err := br.ReadString('\n')
			head.WriteString(line)
			if err != nil {
				t.Fatalf("%q: reading the answer's head: %v (so far %q)", req, err, head.String())
			}
		}
		if n := strings.Count(strings.ToLower(head.String()), "\r\nconnection:"); n != 1 {
			t.Errorf("%q: answer head has %d Connection headers, want 1:\n%s", req, n, head.String())
		}
		c.Close()
	}
}
