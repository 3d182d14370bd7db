package proxy

import (
	"bufio"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"

	"golang.org/x/net/http/httpguts"
)

// parseAsServer parses raw as net/http's server does, and returns nil for
// what the server would refuse with 400: a request line or header it cannot
// parse, an invalid header name or value (control bytes), a missing or
// invalid Host. (ReadRequest moves the Host header to r.Host.)
func parseAsServer(raw string) *http.Request {
	r, err := http.ReadRequest(bufio.NewReader(strings.NewReader(raw)))
	if err != nil {
		return nil
	}
	if r.Host == "" || !httpguts.ValidHostHeader(r.Host) {
		return nil
	}
	for name, vv := range r.Header {
		if !httpguts.ValidHeaderFieldName(name) {
			return nil
		}
		for _, v := range vv {
			if !httpguts.ValidHeaderFieldValue(v) {
				return nil
			}
		}
	}
	r.RemoteAddr = "192.0.2.1:1234"
	return r
}

// rawHeader makes a header map out of arbitrary bytes, without the
// server's checks or canonical names: "name:value" per line.
func rawHeader(s string) http.Header {
	h := http.Header{}
	for line := range strings.SplitSeq(s, "\n") {
		name, value, _ := strings.Cut(line, ":")
		h[name] = append(h[name], value)
		h[http.CanonicalHeaderKey(name)] = append(h[http.CanonicalHeaderKey(name)], value)
	}
	return h
}

// keyParts is what the coalescing key must tell apart: two requests may
// share an upstream request only if all of it is equal.
func keyParts(c *coalescer, r *http.Request) []string {
	parts := []string{r.Method, r.Host, r.RequestURI}
	for _, h := range c.vary {
		vv, ok := r.Header[h]
		if !ok {
			parts = append(parts, "absent "+h)
			continue
		}
		parts = append(parts, "present "+h)
		parts = append(parts, vv...)
		parts = append(parts, "end "+h)
	}
	return parts
}

// wantUnshared reports why r must go upstream on its own, or "".
func wantUnshared(r *http.Request) string {
	switch {
	case r.Method != "GET" && r.Method != "HEAD":
		return "method " + r.Method
	case r.ContentLength != 0 || len(r.TransferEncoding) > 0 || r.Body != http.NoBody:
		return "a body"
	case r.Header.Get("Upgrade") != "":
		return "an upgrade"
	}
	return ""
}

// FuzzCoalesceKey: the coalescing key never panics, on any header bytes;
// two requests that a server accepts get the same key only if their method,
// Host, request URI and every key header (Authorization, Cookie, Range, ...)
// are equal, so that responses never cross between credentials; requests
// with a body, of another method, or asking for a fresh answer (no-cache,
// no-store, Pragma: no-cache) are never shared.
func FuzzCoalesceKey(f *testing.F) {
	f.Add("GET", "/a?b=c", "Accept: */*\n", "Bearer a", "Bearer b", "s=1", "s=2", "max-age=0")
	f.Add("GET", "/", "", "Bearer a", "Bearer a", "s=1", "s=1", "")
	f.Add("GET", "/x", "Authorization: Bearer z\r\n", "", "Bearer z", "", "", "private")
	f.Add("HEAD", "/x", "Cookie: a=1\r\nCookie: b=2\r\n", "a", "a", "c=3", "c=3", "no-transform")
	f.Add("POST", "/upload", "Content-Length: 3\r\n\r\nabc", "a", "b", "", "", "")
	f.Add("GET", "/chunked", "Transfer-Encoding: chunked\r\n", "", "", "", "", "")
	f.Add("GET", "http://h/x", "", "hhttp:", "", "", "", "//h/x") // host h, path /x; host "hhttp:", path //h/x
	f.Add("GET", "/r", "Range: bytes=0-1\r\nX-Tenant: t\r\n", "", "", "", "", `x="no-cache`)
	f.Add("GET", "/u", "Connection: Upgrade\r\nUpgrade: websocket\r\n", "", "", "", "", "")
	f.Add("GET", "/p", "Pragma: No-Cache\r\n", "", "", "", "", "")
	f.Add("GET", "/cc", "Cache-Control: max-age=0, NO-STORE\r\n", "", "", "", "", "")
	f.Add("GET", "/ws", "Authorization: \tx \r\n", " x", "x", "a=b; c=d", "a=b;c=d", "no-cache=\"Set-Cookie\"")

	c := newCoalescer(nil, []string{"X-Tenant", "accept-language"}, DefaultCoalesceBuffer, DefaultCoalesceLagTimeout)
	f.Fuzz(func(t *testing.T, method, target, headers, authA, authB, cookieA, cookieB, cc string) {
		// Whatever is in the map, key does not panic.
		c.key(&http.Request{Method: method, RequestURI: target, Host: target, URL: &url.URL{Path: target}, Header: rawHeader(headers)})
		c.key(&http.Request{Method: method, Host: headers, URL: &url.URL{Path: target, RawQuery: cc}, Header: rawHeader(cc)})

		// The host may come from the fuzzed headers; else it is added.
		host := "Host: example.com\r\n"
		if strings.Contains(strings.ToLower(headers), "host:") {
			host = ""
		}
		base := method + " " + target + " HTTP/1.1\r\n" + host + headers
		if !strings.HasSuffix(base, "\n") {
			base += "\r\n"
		}
		reqs := []*http.Request{
			parseAsServer(base + "Authorization: " + authA + "\r\nCookie: " + cookieA + "\r\nCache-Control: " + cc + "\r\n\r\n"),
			parseAsServer(base + "Authorization: " + authB + "\r\nCookie: " + cookieB + "\r\nCache-Control: " + cc + "\r\n\r\n"),
			parseAsServer(base + "Authorization: " + authA + "\r\n\r\n"),
			parseAsServer(base + "Cookie: " + cookieB + "\r\n\r\n"),
			parseAsServer(base + "\r\n"),
			// Another target on another host (authA), to tell apart.
			parseAsServer(method + " " + cc + " HTTP/1.1\r\nHost: " + authA + "\r\n\r\n"),
		}
		keys := make([]string, len(reqs))
		shared := make([]bool, len(reqs))
		for i, r := range reqs {
			if r == nil {
				continue
			}
			keys[i], shared[i] = c.key(r)
			if why := wantUnshared(r); why != "" && shared[i] {
				t.Fatalf("request %d with %s is shared (key %q)", i, why, keys[i])
			}
			if shared[i] && (hasToken(r.Header["Cache-Control"], "no-cache") || hasToken(r.Header["Cache-Control"], "no-store") || hasToken(r.Header["Pragma"], "no-cache")) {
				t.Fatalf("request %d asks for a fresh answer (%q, %q) and is shared", i, r.Header["Cache-Control"], r.Header["Pragma"])
			}
			if k, ok := c.key(r); k != keys[i] || ok != shared[i] {
				t.Fatalf("key of request %d changed between calls: %q then %q", i, keys[i], k)
			}
		}
		for i := range reqs {
			for j := i + 1; j < len(reqs); j++ {
				if !shared[i] || !shared[j] {
					continue
				}
				pi, pj := keyParts(c, reqs[i]), keyParts(c, reqs[j])
				if same := slices.Equal(pi, pj); same != (keys[i] == keys[j]) {
					t.Fatalf("requests %d and %d: parts equal %v, keys equal %v\nparts %q\n      %q\nkeys %q\n     %q", i, j, same, keys[i] == keys[j], pi, pj, keys[i], keys[j])
				}
			}
		}

		// A request that asks for a fresh answer, wherever the directive is
		// in the list and however it is spelled, is never shared.
		for _, fresh := range []string{
			"Cache-Control: " + cc + ", no-cache",
			"Cache-Control: no-store, " + cc,
			"Cache-Control: " + cc + ",No-Cache=\"Set-Cookie\"," + cc,
			"Cache-Control: " + cc + "\r\nCache-Control: NO-STORE",
			"Pragma: " + cc + ", no-cache",
		} {
			if r := parseAsServer(base + fresh + "\r\n\r\n"); r != nil {
				if k, ok := c.key(r); ok {
					t.Fatalf("%q is shared, key %q", fresh, k)
				}
			}
		}
	})
}

// FuzzHeaders: whatever headers the client and the upstream send, the
// proxy does not panic, and no hop-by-hop header crosses it: none of the
// standard ones (Connection, Keep-Alive, Proxy-Connection, TE,
// Transfer-Encoding, Upgrade...) and none that a Connection header names,
// in either direction. The only values that may remain under such a name
// are the proxy's own: X-Forwarded-For/-Host/-Proto, an empty User-Agent,
// "TE: trailers", "Connection: Upgrade" with the Upgrade of a protocol
// upgrade, and "Connection: close" to the client.
func FuzzHeaders(f *testing.F) {
	f.Add("Connection: X-Secret, keep-alive\r\nX-Secret: 1\r\nKeep-Alive: timeout=5\r\n", "Connection: X-Internal\r\nX-Internal: 2\r\n")
	f.Add("Connection: X-Forwarded-For\r\nX-Forwarded-For: 10.0.0.1\r\n", "")
	f.Add("Connection: x-forwarded-host , X-Forwarded-Proto\r\nX-Forwarded-Host: evil\r\nX-Forwarded-Proto: https\r\n", "")
	f.Add("Connection: Upgrade, X-A\r\nUpgrade: websocket\r\nX-A: a\r\n", "Connection: Upgrade\r\nUpgrade: websocket\r\n")
	f.Add("TE: trailers, gzip\r\nConnection: TE, User-Agent\r\nUser-Agent: me\r\n", "Trailer: X-T\r\nConnection: Trailer\r\n")
	f.Add("Proxy-Connection: keep-alive\r\nProxy-Authorization: Basic eA==\r\n", "Proxy-Authenticate: Basic\r\nTransfer-Encoding: chunked\r\n")
	f.Add("Connection: ,,\t,Cookie\r\nCookie: a=1\r\n", "Connection: Set-Cookie, Content-Type\r\nSet-Cookie: a=1\r\nContent-Type: text/plain\r\n")
	f.Add("Content-Length: 3\r\nConnection: content-length\r\n\r\nabc", "Connection: close\r\n")

	var (
		mu  sync.Mutex
		out *http.Request // the last request sent upstream; guarded by mu
		res string        // the upstream's headers for the next response; guarded by mu
	)
	up, _ := url.Parse("http://upstream.test")
	p, err := New(Config{Upstream: up, Transport: roundTripFunc(func(req *http.Request) (*http.Response, error) {
		mu.Lock()
		defer mu.Unlock()
		out = req
		raw := "HTTP/1.1 200 OK\r\n" + res
		if !strings.HasSuffix(raw, "\n") {
			raw += "\r\n"
		}
		resp, err := http.ReadResponse(bufio.NewReader(strings.NewReader(raw+"\r\n")), req)
		if err != nil {
			resp = &http.Response{StatusCode: 200, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1, Header: http.Header{}, Body: http.NoBody, Request: req}
		}
		return resp, nil
	})})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, reqHeaders, resHeaders string) {
		raw := "GET /f HTTP/1.1\r\nHost: example.com\r\n" + reqHeaders
		if !strings.HasSuffix(raw, "\n") {
			raw += "\r\n"
		}
		r := parseAsServer(raw + "\r\n")
		if r == nil {
			return
		}
		in := r.Header.Clone()
		mu.Lock()
		out, res = nil, resHeaders
		mu.Unlock()
		w := httptest.NewRecorder()
		p.ServeHTTP(w, r)
		mu.Lock()
		sent := out
		mu.Unlock()

		if sent != nil {
			upgrade := ""
			if httpguts.HeaderValuesContainsToken(in["Connection"], "Upgrade") {
				upgrade = in.Get("Upgrade")
			}
			own := map[string][]string{
				"X-Forwarded-For":   {"192.0.2.1"},
				"X-Forwarded-Host":  {r.Host},
				"X-Forwarded-Proto": {"http"},
				"User-Agent":        {""},
				"Te":                {"trailers"},
			}
			if upgrade != "" {
				own["Connection"] = []string{"Upgrade"}
				own["Upgrade"] = []string{upgrade}
			}
			checkHopByHop(t, "upstream request", in, sent.Header, own)
		}
		got := w.Result()
		upstreamHeader := http.Header{}
		if resp, err := http.ReadResponse(bufio.NewReader(strings.NewReader("HTTP/1.1 200 OK\r\n"+strings.TrimSuffix(resHeaders, "\n")+"\n\r\n")), nil); err == nil {
			upstreamHeader = resp.Header
			io.Copy(io.Discard, resp.Body)
		}
		// Trailer announces the trailers that the proxy relays: it is
		// rebuilt from the response's framing, not copied.
		checkHopByHop(t, "response", upstreamHeader, got.Header, map[string][]string{"Connection": {"close"}, "Trailer": got.Header["Trailer"]})
	})
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// hopByHop are the headers that never cross a proxy (RFC 9110 §7.6.1, and
// what httputil.ReverseProxy strips).
var hopByHop = []string{"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade"}

// checkHopByHop fails if after, the headers sent on, holds a hop-by-hop
// header of before, the headers received, or one that before's Connection
// names, with values other than own's.
func checkHopByHop(t *testing.T, what string, before, after http.Header, own map[string][]string) {
	t.Helper()
	names := slices.Clone(hopByHop)
	for _, v := range before["Connection"] {
		for tok := range strings.SplitSeq(v, ",") {
			if tok = strings.Trim(tok, " \t"); tok != "" {
				names = append(names, http.CanonicalHeaderKey(tok))
			}
		}
	}
	for _, name := range names {
		vv, ok := after[name]
		if !ok {
			continue
		}
		if want, isOwn := own[name]; isOwn && slices.Equal(vv, want) {
			continue
		}
		t.Fatalf("%s: hop-by-hop header %s crossed the proxy: %q (received: %q)", what, name, vv, before)
	}
}
