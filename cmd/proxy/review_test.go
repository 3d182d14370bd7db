package proxy

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"
)

// Trailers are dropped as soon as MaxBodySize is set: clientBodyOf type-asserts
// rec.body.rc to *clientBody, but limitBody wrapped it in *limitedBody.
func TestTrailersWithMaxBodySize(t *testing.T) {
	for _, limit := range []int64{0, 1 << 20} {
		got := make(chan http.Header, 1)
		up := newUpstream(t, func(w http.ResponseWriter, r *http.Request, _ *hit) {
			io.Copy(io.Discard, r.Body)
			got <- r.Trailer.Clone()
		})
		h := startProxy(t, Config{Upstream: up.url, MaxBodySize: limit})
		c := dial(t, h.addr)
		write(t, c, "POST /t HTTP/1.1\r\nHost: front.example\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum\r\n\r\n"+
			"5\r\nhello\r\n0\r\nX-Sum: 42\r\n\r\n")
		res, _ := readResponse(t, c, "POST")
		tr := <-got
		want := http.Header{"X-Sum": {"42"}}
		if !reflect.DeepEqual(tr, want) {
			t.Errorf("MaxBodySize=%d: status %d, upstream trailers = %v, want %v", limit, res.StatusCode, tr, want)
		}
	}
}

// With MaxBodySize, the linger's reads must not go through a clientBody
// that still owns the connection's read deadline (it would push it to
// ClientBodyTimeout): a stalled client is let go after LingerTimeout.
func TestLingerTimeoutWithMaxBodySize(t *testing.T) {
	for _, limit := range []int64{0, 10 << 20} {
		up := newUpstream(t, func(w http.ResponseWriter, r *http.Request, _ *hit) {
			w.WriteHeader(http.StatusForbidden)
			io.WriteString(w, "no")
		})
		// ClientBodyTimeout beyond the test's wait: a linger held by it
		// fails the read below with a timeout.
		h := startProxy(t, Config{Upstream: up.url, MaxBodySize: limit, LingerTimeout: 200 * time.Millisecond, ClientBodyTimeout: 6 * waitLong, EarlyAnswerBuffer: -1})
		c := dial(t, h.addr)
		write(t, c, "POST /l HTTP/1.1\r\nHost: front.example\r\nContent-Length: 1000000\r\n\r\n0123456789")
		readResponse(t, c, "POST")
		c.SetReadDeadline(time.Now().Add(waitLong))
		_, err := c.Read(make([]byte, 10))
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Errorf("MaxBodySize=%d: the stalled client was still held after %v, want it let go after LingerTimeout", limit, waitLong)
		}
	}
}

// An HTTP/2 client that cancels its request mid-upload: its stream is reset.
// Want: logged 499, not 502.
func TestH2AbortMidUpload(t *testing.T) {
	started := make(chan struct{}, 1)
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request, _ *hit) {
		buf := make([]byte, 5)
		io.ReadFull(r.Body, buf)
		started <- struct{}{}
		io.Copy(io.Discard, r.Body)
	})
	h := startProxy(t, Config{Upstream: up.url, H2C: true})
	tr := &http.Transport{Protocols: new(http.Protocols)}
	tr.Protocols.SetUnencryptedHTTP2(true)
	defer tr.CloseIdleConnections()
	pr, pw := io.Pipe()
	req, _ := http.NewRequest("POST", "http://"+h.addr+"/h2up", pr)
	req.ContentLength = 1000
	ctx, cancel := context.WithCancel(context.Background())
	req = req.WithContext(ctx)
	errc := make(chan error, 1)
	go func() {
		res, err := tr.RoundTrip(req)
		if err == nil {
			res.Body.Close()
		}
		errc <- err
	}()
	pw.Write([]byte("hello"))
	<-started
	cancel()
	<-errc
	line := h.logs.waitFor(t, "/h2up", func(l map[string]any) bool { return l["uri"] == "/h2up" })
	t.Logf("line %v", line)
	if line["status"] != 499.0 {
		t.Errorf("logged status %v, want 499", line["status"])
	}
}

// HTTP/2: the per-read deadline stays armed on the stream while the Transport
// is blocked writing to a slow upstream; when it fires, net/http closes the
// stream's body, and the next read fails: a client that sent everything at
// once gets 408.
func TestH2ClientBodyTimeoutSlowUpstream(t *testing.T) {
	for _, h2 := range []bool{false, true} {
		up := newUpstream(t, func(w http.ResponseWriter, r *http.Request, _ *hit) {
			b := make([]byte, 1)
			io.ReadFull(r.Body, b)
			time.Sleep(3 * time.Second) // three body timeouts
			n, err := io.Copy(io.Discard, r.Body)
			fmt.Fprintf(w, "read %d %v", n+1, err)
		})
		// The timeout is long enough that a client starved of CPU by a
		// loaded machine does not pause for as long between its writes.
		h := startProxy(t, Config{Upstream: up.url, H2C: true, ClientBodyTimeout: time.Second})
		tr := &http.Transport{Protocols: new(http.Protocols)}
		if h2 {
			tr.Protocols.SetUnencryptedHTTP2(true)
		} else {
			tr.Protocols.SetHTTP1(true)
		}
		defer tr.CloseIdleConnections()
		const size = 64 << 20
		req, _ := http.NewRequest("POST", "http://"+h.addr+"/slowup", bytes.NewReader(make([]byte, size)))
		res, err := tr.RoundTrip(req)
		if err != nil {
			t.Errorf("h2=%v: %v", h2, err)
			continue
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		t.Logf("h2=%v: %d %q", h2, res.StatusCode, body)
		if res.StatusCode != 200 {
			t.Errorf("h2=%v: got %d %q, want 200: the client sent its whole body without pause", h2, res.StatusCode, body)
		}
	}
}

// A request with both Content-Length and Transfer-Encoding refused by the
// admission queue (503) keeps its connection open: closeAfter's
// "Connection: close" is set only after queue.acquire. The bytes a
// Content-Length front end took for body are served as a second request.
func TestQueueRefusalClosesAmbiguousFraming(t *testing.T) {
	up := newUpstream(t, nil)
	h := startProxy(t, Config{Upstream: up.url, MaxInflight: 1})
	// Occupy the one slot.
	hold := dial(t, h.addr)
	write(t, hold, "GET /hold HTTP/1.1\r\nHost: x\r\n\r\n")
	up.waitHit()

	c := dial(t, h.addr)
	smuggled := "GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n"
	body := "0\r\n\r\n" + smuggled
	write(t, c, fmt.Sprintf("POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\nTransfer-Encoding: chunked\r\n\r\n%s", len(body), body))
	br := bufio.NewReader(c)
	var got []string
	for {
		c.SetReadDeadline(time.Now().Add(2 * time.Second))
		res, err := http.ReadResponse(br, nil)
		if err != nil {
			break
		}
		io.ReadAll(res.Body)
		got = append(got, fmt.Sprintf("%d close=%v", res.StatusCode, res.Close))
	}
	t.Logf("answers: %v", got)
	if len(got) != 1 {
		t.Errorf("got %d answers %v on one ambiguous request, want 1 with Connection: close", len(got), got)
	}
}

// Same after a 1xx: ReverseProxy clears the writer's header after relaying
// a 1xx, so an upstream that fails after 103 gives a 502 without
// "Connection: close" to a chunked (ambiguous) request.
func TestErrorAfter1xxClosesAmbiguousFraming(t *testing.T) {
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request, _ *hit) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Link", "</a>; rel=preload")
		w.WriteHeader(http.StatusEarlyHints)
		time.Sleep(50 * time.Millisecond)
		panic(http.ErrAbortHandler)
	})
	h := startProxy(t, Config{Upstream: up.url})
	c := dial(t, h.addr)
	smuggled := "GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n"
	body := "0\r\n\r\n" + smuggled
	write(t, c, fmt.Sprintf("POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\nTransfer-Encoding: chunked\r\n\r\n%s", len(body), body))
	br := bufio.NewReader(c)
	var got []string
	for {
		c.SetReadDeadline(time.Now().Add(2 * time.Second))
		res, err := http.ReadResponse(br, nil)
		if err != nil {
			break
		}
		io.ReadAll(res.Body)
		got = append(got, fmt.Sprintf("%d close=%v", res.StatusCode, res.Close))
	}
	t.Logf("answers: %v", got)
	final := 0
	for _, g := range got {
		if !strings.HasPrefix(g, "1") {
			final++
		}
	}
	if final != 1 {
		t.Errorf("got %v, want one final answer with Connection: close", got)
	}
}

// With an HTTP forward proxy on the upstream Transport (Config.Transport
// with Proxy, or HTTP_PROXY in the default's ProxyFromEnvironment), the
// upstream request must be in absolute-form. setRawTarget puts the path in
// URL.Opaque, and Request.write sends origin-form whenever Opaque is set.
func TestForwardProxyGetsAbsoluteForm(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	lines := make(chan string, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		l, _ := bufio.NewReader(c).ReadString('\n')
		lines <- l
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
	}()
	fwd, _ := url.Parse("http://" + ln.Addr().String())
	upURL, _ := url.Parse("http://upstream.example:8080")
	h := startProxy(t, Config{Upstream: upURL, Transport: &http.Transport{Proxy: http.ProxyURL(fwd)}})
	c := dial(t, h.addr)
	write(t, c, "GET /x?y=1 HTTP/1.1\r\nHost: front\r\n\r\n")
	res, _ := readResponse(t, c, "GET")
	l := <-lines
	t.Logf("status %d; forward proxy got %q", res.StatusCode, l)
	if !strings.HasPrefix(l, "GET http://upstream.example:8080/x?y=1 ") {
		t.Errorf("forward proxy got request line %q, want absolute-form", l)
	}
}
