package proxy

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"testing"
)

// recordingUpstream answers every request with the head it is told to, and
// keeps what it got.
type recordingUpstream struct {
	url *url.URL
	mu  sync.Mutex
	got *http.Request // the last request; guarded by mu
	res string        // status line and headers of the answers; guarded by mu
}

func newRecordingUpstream(t testing.TB) *recordingUpstream {
	u := &recordingUpstream{}
	u.url = rawUpstream(t, func(c net.Conn) {
		br := bufio.NewReader(c)
		for {
			req, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			u.mu.Lock()
			u.got = req
			head := u.res
			u.mu.Unlock()
			body := "hello"
			if req.Method == http.MethodHead {
				body = ""
			}
			if _, err := io.WriteString(c, head+"Content-Length: 5\r\n\r\n"+body); err != nil {
				return
			}
		}
	})
	return u
}

// seen is what one path made of a request: what reached the upstream, and
// what reached the client.
type seen struct {
	upMethod, upURI, upHost string
	upHeader                http.Header
	status                  int
	header                  http.Header
	body                    string
}

func (u *recordingUpstream) through(t testing.TB, p *Proxy, raw, head string) (seen, bool) {
	r := parseAsServer(raw)
	if r == nil {
		return seen{}, false
	}
	u.mu.Lock()
	u.got, u.res = nil, head
	u.mu.Unlock()
	w := httptest.NewRecorder()
	p.ServeHTTP(w, r)
	var s seen
	u.mu.Lock()
	if u.got != nil {
		s.upMethod, s.upURI, s.upHost, s.upHeader = u.got.Method, u.got.RequestURI, u.got.Host, u.got.Header
		if v := s.upHeader["X-Request-Id"]; len(v) == 1 && !strings.Contains(raw, v[0]) {
			// Made for the request (requestid.go): each proxy makes its own.
			s.upHeader["X-Request-Id"] = []string{"(made)"}
		}
	}
	u.mu.Unlock()
	res := w.Result()
	s.status, s.header = res.StatusCode, res.Header
	s.header.Del("Date")
	b, _ := io.ReadAll(res.Body)
	s.body = string(b)
	return s, true
}

// directAndReverse returns two proxies for u, configured as cfg says: one with the direct path,
// one that sends everything through ReverseProxy.
func directAndReverse(t testing.TB, u *url.URL, cfg Config) (direct, reverse *Proxy) {
	var err error
	cfg.Upstream = u
	if direct, err = New(cfg); err != nil {
		t.Fatal(err)
	}
	if reverse, err = New(cfg); err != nil {
		t.Fatal(err)
	}
	if !direct.directOK {
		t.Fatalf("no direct path to %s", u)
	}
	reverse.directOK = false
	t.Cleanup(func() {
		direct.transport.CloseIdleConnections()
		reverse.transport.CloseIdleConnections()
	})
	return direct, reverse
}

// FuzzDirectMatchesReverseProxy: for any request the direct path takes,
// the upstream gets what ReverseProxy (with p.rewrite) would send, and the
// client gets what ReverseProxy would answer. The seeds run as a table in
// every test run.
func FuzzDirectMatchesReverseProxy(f *testing.F) {
	f.Add(false, false, false, "/", "", "")
	f.Add(false, false, true, "/x", "Accept: a\r\nAccept: b\r\n", "Set-Cookie: a=1\r\nSet-Cookie: b=2\r\n")
	f.Add(false, false, false, "/a%2Fb//c?x=1&y=%20&z", "User-Agent: me\r\n", "Content-Type: text/plain\r\n")
	f.Add(false, false, false, "/q?a=1;b=2", "", "") // a query ReverseProxy would re-encode: both send it raw
	f.Add(false, false, false, "/q?bad=%zz", "", "") // likewise
	f.Add(false, false, false, `/a"b/{c}`, "", "")   // a path url.URL would escape again
	f.Add(false, false, false, "http://other.example/abs?k=v", "", "")
	f.Add(false, false, false, "/h", "Connection: X-Secret, keep-alive\r\nX-Secret: 1\r\nKeep-Alive: timeout=5\r\nProxy-Authorization: Basic eA==\r\n", "Connection: X-Internal\r\nX-Internal: 2\r\nKeep-Alive: timeout=5\r\nProxy-Authenticate: Basic\r\n")
	f.Add(false, false, false, "/f", "X-Forwarded-For: 10.0.0.1\r\nX-Forwarded-Host: evil\r\nX-Forwarded-Proto: https\r\nForwarded: for=10.0.0.1\r\n", "")
	f.Add(false, false, false, "/te", "TE: trailers, gzip\r\nConnection: TE, User-Agent\r\nUser-Agent: me\r\n", "")
	f.Add(false, false, false, "/te2", "Te: gzip\r\n", "")
	f.Add(false, false, false, "/up", "Connection: Upgrade\r\nUpgrade: websocket\r\n", "")
	f.Add(false, false, false, "/named", "Connection: X-Forwarded-For, Cookie\r\nCookie: a=1\r\n", "Connection: Set-Cookie, Content-Type\r\nSet-Cookie: a=1\r\nContent-Type: text/html\r\n")
	f.Add(false, false, false, "/close", "Connection: close\r\n", "Connection: close\r\n")
	f.Add(false, false, false, "/cl", "Content-Length: 0\r\n", "")
	f.Add(false, false, false, "/ua", "User-Agent: \r\n", "")
	f.Add(false, false, false, "/ua2", "User-Agent: a\r\nUser-Agent: b\r\n", "")
	// Host and X-Forwarded-* with PreserveHost and TrustedProxies (the
	// request's peer is 192.0.2.1: trusted as 192.0.2.0/24).
	f.Add(true, false, false, "/ph", "", "")
	f.Add(false, true, false, "/tp", "X-Forwarded-For: 10.0.0.1\r\nX-Forwarded-For: 10.0.0.2, 10.0.0.3\r\nX-Forwarded-Host: orig.example\r\nX-Forwarded-Proto: https\r\nForwarded: for=10.0.0.1\r\n", "")
	f.Add(true, true, false, "/both", "X-Forwarded-For: 10.0.0.1\r\nX-Forwarded-Host: \r\n", "")
	f.Add(false, true, false, "/tpn", "Connection: X-Forwarded-For\r\nX-Forwarded-For: 10.0.0.9\r\n", "")
	f.Fuzz(func(t *testing.T, preserveHost, trusted, head bool, target, reqHeaders, resHeaders string) {
		method := "GET"
		if head {
			method = "HEAD"
		}
		lower := strings.ToLower(resHeaders)
		if strings.Contains(lower, "content-length") || strings.Contains(lower, "transfer-encoding") ||
			strings.Contains("\n"+resHeaders, "\n\n") || strings.Contains("\n"+resHeaders, "\n\r\n") ||
			(resHeaders != "" && !strings.HasSuffix(resHeaders, "\r\n")) {
			return // the upstream frames its answers itself: no blank line, no length
		}
		u := newRecordingUpstream(t)
		var cfg Config
		cfg.PreserveHost = preserveHost
		if trusted {
			cfg.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}
		}
		direct, reverse := directAndReverse(t, u.url, cfg)
		raw := fmt.Sprintf("%s %s HTTP/1.1\r\nHost: front.example\r\n%s", method, target, reqHeaders)
		if !strings.HasSuffix(raw, "\n") {
			raw += "\r\n"
		}
		raw += "\r\n"
		if r := parseAsServer(raw); r == nil || !direct.direct(r) {
			// Not the direct path's: both proxies would send it through
			// ReverseProxy (TestDirectTakesWhatItShould checks the choice),
			// and one with a body it cannot read races its own abort.
			return
		}
		answer := "HTTP/1.1 200 OK\r\n" + resHeaders
		viaReverse, ok := u.through(t, reverse, raw, answer)
		if !ok {
			return
		}
		viaDirect, _ := u.through(t, direct, raw, answer)
		if !reflect.DeepEqual(viaDirect, viaReverse) {
			t.Errorf("request:\n%s\ndirect path:   %+v\nReverseProxy: %+v", raw, viaDirect, viaReverse)
		}
	})
}

// TestDirectTakesWhatItShould: which requests take the direct path.
func TestDirectTakesWhatItShould(t *testing.T) {
	up, _ := url.Parse("http://127.0.0.1:9")
	withPath, _ := url.Parse("http://127.0.0.1:9/api")
	tls, _ := url.Parse("https://127.0.0.1:9")
	for _, tc := range []struct {
		name     string
		upstream *url.URL
		raw      string
		want     bool
	}{
		{"GET", up, "GET /a?b=c HTTP/1.1\r\nHost: x\r\n\r\n", true},
		{"HEAD", up, "HEAD / HTTP/1.1\r\nHost: x\r\n\r\n", true},
		{"GET with Content-Length 0", up, "GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", true},
		{"GET with a body", up, "GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nab", false},
		{"GET chunked", up, "GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", false},
		{"POST", up, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", false},
		{"OPTIONS", up, "OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n", false},
		{"upgrade", up, "GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n", false},
		{"query ReverseProxy would re-encode", up, "GET /?a;b HTTP/1.1\r\nHost: x\r\n\r\n", true},
		{"upstream with a path", withPath, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", false},
		{"https upstream", tls, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", false},
	} {
		p, err := New(Config{Upstream: tc.upstream})
		if err != nil {
			t.Fatal(err)
		}
		r := parseAsServer(tc.raw)
		if r == nil {
			t.Fatalf("%s: the server would refuse %q", tc.name, tc.raw)
		}
		if got := p.direct(r); got != tc.want {
			t.Errorf("%s: direct = %v, want %v", tc.name, got, tc.want)
		}
	}
}
