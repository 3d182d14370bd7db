package proxy

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"net/textproto"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hangup-dev/hangup"
)

// connCountingUpstream is an upstream server that counts the connections
// it accepted and has closed.
type connCountingUpstream struct {
	url            *url.URL
	opened, closed atomic.Int64
}

func newConnCountingUpstream(t *testing.T, h http.HandlerFunc) *connCountingUpstream {
	t.Helper()
	u := &connCountingUpstream{}
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		switch s {
		case http.StateNew:
			u.opened.Add(1)
		case http.StateClosed, http.StateHijacked:
			u.closed.Add(1)
		}
	}
	hangup.Install(srv.Config)
	srv.Start()
	t.Cleanup(srv.Close)
	u.url, _ = url.Parse(srv.URL)
	return u
}

// rawUpstream serves each connection with serve, on a goroutine of its
// own, then closes it; connections still open when the test ends are
// closed.
func rawUpstream(t testing.TB, serve func(net.Conn)) *url.URL {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		conns = map[net.Conn]bool{}
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns[c] = true
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				serve(c)
				c.Close()
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	u, _ := url.Parse("http://" + ln.Addr().String())
	return u
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(waitLong); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("never: %s", what)
		}
	}
}

func get(t *testing.T, c *http.Client, method, url string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(method, url, nil)
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err != nil {
		t.Fatalf("%s %s: reading the body: %v", method, url, err)
	}
	return res, string(body)
}

// TestH1ReusesConnections: body-less requests take the direct path, and
// every kind of answer leaves its connection for the next request.
func TestH1ReusesConnections(t *testing.T) {
	u := newConnCountingUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/204":
			w.WriteHeader(http.StatusNoContent)
		case "/304":
			w.WriteHeader(http.StatusNotModified)
		case "/chunked":
			w.Write([]byte("part one, "))
			w.(http.Flusher).Flush()
			w.Write([]byte("part two"))
		default:
			fmt.Fprintf(w, "%s %s", r.Method, r.URL.Path)
		}
	})
	h := startProxy(t, Config{Upstream: u.url})
	if h.p.pool().backends[0].h1 == nil {
		t.Fatal("the default Transport has no direct path for an http:// upstream")
	}
	c := client(t)
	for i := range 5 {
		for _, tc := range []struct {
			method, path string
			status       int
			body         string
		}{
			{"GET", "/a", 200, "GET /a"},
			{"HEAD", "/a", 200, ""},
			{"OPTIONS", "/a", 200, "OPTIONS /a"},
			{"GET", "/204", 204, ""},
			{"GET", "/304", 304, ""},
			{"GET", "/chunked", 200, "part one, part two"},
		} {
			res, body := get(t, c, tc.method, "http://"+h.addr+tc.path)
			if res.StatusCode != tc.status || body != tc.body {
				t.Errorf("round %d, %s %s: %d %q, want %d %q", i, tc.method, tc.path, res.StatusCode, body, tc.status, tc.body)
			}
		}
	}
	if n := u.opened.Load(); n != 1 {
		t.Errorf("the upstream accepted %d connections for 30 sequential requests, want 1", n)
	}
}

// TestH1RetriesStaleConnection: an upstream that closes a kept-alive
// connection while it is idle in the pool costs the next request nothing:
// it goes again on a new connection.
func TestH1RetriesStaleConnection(t *testing.T) {
	var accepted atomic.Int64
	up := rawUpstream(t, func(c net.Conn) {
		n := accepted.Add(1)
		// One answer, which says nothing of closing, then a close.
		if _, err := http.ReadRequest(bufio.NewReader(c)); err == nil {
			fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\nconn %02d", n)
		}
	})
	h := startProxy(t, Config{Upstream: up})
	c := client(t)
	for i := 1; i <= 3; i++ {
		if i > 1 {
			// The upstream's FIN has reached the idle connection.
			time.Sleep(20 * time.Millisecond)
		}
		res, body := get(t, c, "GET", "http://"+h.addr+"/")
		if want := fmt.Sprintf("conn %02d", i); res.StatusCode != 200 || body != want {
			t.Errorf("request %d: %d %q, want 200 %q", i, res.StatusCode, body, want)
		}
	}
}

// TestH1ConnectionClose: an answer that asks to close its connection
// gets it closed, and the next request a new one.
func TestH1ConnectionClose(t *testing.T) {
	u := newConnCountingUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", "close")
		io.WriteString(w, "bye")
	})
	h := startProxy(t, Config{Upstream: u.url})
	c := client(t)
	for range 3 {
		if res, body := get(t, c, "GET", "http://"+h.addr+"/"); res.StatusCode != 200 || body != "bye" {
			t.Errorf("got %d %q, want 200 bye", res.StatusCode, body)
		}
	}
	if n := u.opened.Load(); n != 3 {
		t.Errorf("the upstream accepted %d connections for 3 answers with Connection: close, want 3", n)
	}
	waitFor(t, "the upstream's connections all closed", func() bool { return u.closed.Load() == 3 })
	if n := h.p.pool().backends[0].h1.idleCount(); n != 0 {
		t.Errorf("%d connections kept idle after answers with Connection: close", n)
	}
}

func (t *h1Transport) idleCount() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.idle)
}

// TestH1EarlyHints: a 103 before the answer reaches the client, as
// ReverseProxy forwards 1xx answers.
func TestH1EarlyHints(t *testing.T) {
	u := newConnCountingUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Link", "</style.css>; rel=preload; as=style")
		w.WriteHeader(http.StatusEarlyHints)
		w.Header().Del("Link")
		io.WriteString(w, "page")
	})
	h := startProxy(t, Config{Upstream: u.url})
	var hints []string
	trace := &httptrace.ClientTrace{Got1xxResponse: func(code int, header textproto.MIMEHeader) error {
		hints = append(hints, fmt.Sprintf("%d %s", code, header.Get("Link")))
		return nil
	}}
	req, _ := http.NewRequest("GET", "http://"+h.addr+"/", nil)
	req = req.WithContext(httptrace.WithClientTrace(req.Context(), trace))
	res, err := client(t).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || string(body) != "page" {
		t.Errorf("got %d %q, want 200 page", res.StatusCode, body)
	}
	if want := "103 </style.css>; rel=preload; as=style"; len(hints) != 1 || hints[0] != want {
		t.Errorf("1xx answers seen by the client: %q, want [%q]", hints, want)
	}
}

// TestH1ClientLeavesMidBody: a client that leaves while the answer
// streams gets the upstream's connection closed, and the next request a
// new one.
func TestH1ClientLeavesMidBody(t *testing.T) {
	ended := make(chan error, 1)
	u := newConnCountingUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/stream" {
			io.WriteString(w, "first part\n")
			w.(http.Flusher).Flush()
			<-r.Context().Done()
			ended <- r.Context().Err()
			return
		}
		io.WriteString(w, "ok")
	})
	h := startProxy(t, Config{Upstream: u.url})
	c := dial(t, h.addr)
	write(t, c, "GET /stream HTTP/1.1\r\nHost: example.test\r\n\r\n")
	c.SetReadDeadline(time.Now().Add(waitLong))
	br := bufio.NewReader(c)
	res, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(res.Body).ReadString('\n')
	if err != nil || line != "first part\n" {
		t.Fatalf("first part of the stream: %q, %v", line, err)
	}
	closeRST(c)
	select {
	case <-ended:
	case <-time.After(waitLong):
		t.Fatal("the upstream request was never cancelled")
	}
	waitFor(t, "the upstream connection closed", func() bool { return u.closed.Load() == 1 })
	if res, body := get(t, client(t), "GET", "http://"+h.addr+"/"); res.StatusCode != 200 || body != "ok" {
		t.Errorf("next request: %d %q, want 200 ok", res.StatusCode, body)
	}
	if n := u.opened.Load(); n != 2 {
		t.Errorf("the upstream accepted %d connections, want 2 (the cut one is not reused)", n)
	}
}

// TestH1Trailers: trailers of a chunked answer reach the client.
func TestH1Trailers(t *testing.T) {
	u := newConnCountingUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Trailer", "X-Checksum")
		io.WriteString(w, "data")
		w.Header().Set("X-Checksum", "abc123")
	})
	h := startProxy(t, Config{Upstream: u.url})
	res, err := client(t).Get("http://" + h.addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if string(body) != "data" || res.Trailer.Get("X-Checksum") != "abc123" {
		t.Errorf("got %q with trailer %q, want data with abc123", body, res.Trailer.Get("X-Checksum"))
	}
}

// TestH1BadAnswers: an upstream that answers garbage, or nothing, gets the
// client a 502, and the proxy goes on serving.
func TestH1BadAnswers(t *testing.T) {
	for _, tc := range []struct{ name, answer string }{
		{"garbage", "HELLO THERE\r\n\r\n"},
		{"nothing", ""},
		{"cut-head", "HTTP/1.1 200 OK\r\nContent-Le"},
		{"switching-unasked", "HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\nConnection: Upgrade\r\n\r\n"},
		{"too-many-1xx", strings.Repeat("HTTP/1.1 103 Early Hints\r\n\r\n", 10) + "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			up := rawUpstream(t, func(c net.Conn) {
				http.ReadRequest(bufio.NewReader(c))
				io.WriteString(c, tc.answer)
			})
			h := startProxy(t, Config{Upstream: up})
			c := client(t)
			for range 2 {
				res, body := get(t, c, "GET", "http://"+h.addr+"/")
				if res.StatusCode != http.StatusBadGateway {
					t.Errorf("got %d %q, want 502", res.StatusCode, body)
				}
			}
		})
	}
}

// TestH1IdleConnectionsExpire: connections idle for the idle timeout are
// closed, with no request to notice it.
func TestH1IdleConnectionsExpire(t *testing.T) {
	u := newConnCountingUpstream(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	tr := newH1Transport(u.url)
	tr.idleTimeout = 20 * time.Millisecond
	defer tr.CloseIdleConnections()
	for range 3 {
		req, _ := http.NewRequest("GET", u.url.String(), nil)
		res, err := tr.roundTrip(req, time.Time{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
	}
	if n := u.opened.Load(); n != 1 {
		t.Errorf("%d connections for 3 sequential requests, want 1", n)
	}
	waitFor(t, "the idle connection closed", func() bool { return u.closed.Load() == 1 })
	if idle := tr.idleCount(); idle != 0 {
		t.Errorf("%d connections left in the pool after they expired", idle)
	}
}

// TestH1Deadline: the answer's head must come by the deadline; the body
// may take longer.
func TestH1Deadline(t *testing.T) {
	release := make(chan struct{})
	u := newConnCountingUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow-head" {
			select {
			case <-release:
			case <-r.Context().Done():
			}
			return
		}
		io.WriteString(w, "head, ")
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
		}
		io.WriteString(w, "then body")
	})
	tr := newH1Transport(u.url)
	defer tr.CloseIdleConnections()
	req, _ := http.NewRequest("GET", u.url.String()+"/slow-head", nil)
	if _, err := tr.roundTrip(req, time.Now().Add(30*time.Millisecond), nil); !errors.Is(err, ErrUpstreamTimeout) {
		t.Errorf("slow head: error %v, want ErrUpstreamTimeout", err)
	}
	req, _ = http.NewRequest("GET", u.url.String()+"/slow-body", nil)
	res, err := tr.roundTrip(req, time.Now().Add(30*time.Millisecond), nil)
	if err != nil {
		t.Fatal(err)
	}
	time.AfterFunc(60*time.Millisecond, func() { close(release) })
	body, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err != nil || string(body) != "head, then body" {
		t.Errorf("slow body: %q, %v; want the whole body", body, err)
	}
}
