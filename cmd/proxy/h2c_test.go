package proxy

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// h2cUpstream starts an upstream that speaks HTTP/2 without TLS (and
// HTTP/1, which the proxy must not use); h as newUpstream's. Its URL is
// h2c://host:port.
func h2cUpstream(t *testing.T, h func(w http.ResponseWriter, r *http.Request, hit *hit)) *upstream {
	t.Helper()
	up := newUpstreamWith(t, h, func(s *httptest.Server) {
		s.Config.Protocols = new(http.Protocols)
		s.Config.Protocols.SetHTTP1(true)
		s.Config.Protocols.SetUnencryptedHTTP2(true)
		s.Start()
	})
	up.url = &url.URL{Scheme: "h2c", Host: up.url.Host}
	return up
}

// TestH2CUpstream: an h2c:// upstream gets every request over HTTP/2, with
// its body, the body-less GET too (no direct path), and the answer comes
// back whole.
func TestH2CUpstream(t *testing.T) {
	up := h2cUpstream(t, func(w http.ResponseWriter, r *http.Request, _ *hit) {
		body, _ := io.ReadAll(r.Body)
		io.WriteString(w, r.Proto+" "+r.Method+" "+r.URL.RequestURI()+" "+string(body))
	})
	h := startProxy(t, Config{Upstream: up.url})
	c := client(t)
	for _, tc := range []struct{ method, path, body, want string }{
		{http.MethodGet, "/a?q=1", "", "HTTP/2.0 GET /a?q=1 "},
		{http.MethodHead, "/a", "", ""},
		{http.MethodPost, "/b", "a body", "HTTP/2.0 POST /b a body"},
	} {
		t.Run(tc.method, func(t *testing.T) {
			status, body := do(t, c, tc.method, "http://"+h.addr+tc.path, tc.body)
			if status != http.StatusOK || body != tc.want {
				t.Errorf("got %d %q, want 200 %q", status, body, tc.want)
			}
		})
	}
	l := h.logs.waitFor(t, "for /b", func(l map[string]any) bool { return l["uri"] == "/b" })
	if l["upstream"] != up.url.Host || l["upstream_status"] != 200.0 {
		t.Errorf("access line %v", l)
	}
}

// TestH2CUpstreamStreamReset: two clients' requests are two streams of one
// h2c connection; the one whose client leaves is reset (its handler's
// context ends, with or without its body read), and the other, on the same
// connection, still completes.
func TestH2CUpstreamStreamReset(t *testing.T) {
	for _, tc := range []struct{ name, req string }{
		{"GET", "GET /hold HTTP/1.1\r\nHost: x\r\n\r\n"},
		{"POST unread body", "POST /hold HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\nsome"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			up := h2cUpstream(t, nil)
			h := startProxy(t, Config{Upstream: up.url})
			leaves := dial(t, h.addr)
			write(t, leaves, tc.req)
			first := up.waitHit()
			stays := dial(t, h.addr)
			write(t, stays, "GET /hold HTTP/1.1\r\nHost: x\r\n\r\n")
			second := up.waitHit()
			if first.r.ProtoMajor != 2 || first.r.RemoteAddr != second.r.RemoteAddr {
				t.Fatalf("requests over %s from %s and %s, want HTTP/2 streams of one connection", first.r.Proto, first.r.RemoteAddr, second.r.RemoteAddr)
			}
			closeRST(leaves)
			first.waitEnded(t)
			if !second.isLive() {
				t.Fatal("the other stream's request ended too")
			}
			close(up.release)
			res, body := readResponse(t, stays, http.MethodGet)
			if res.StatusCode != http.StatusOK || string(body) != "released /hold" {
				t.Errorf("the other client got %d %q", res.StatusCode, body)
			}
			stays.Close()
			if n := up.hits.Load(); n != 2 {
				t.Errorf("%d requests at the upstream, want 2", n)
			}
		})
	}
}

// TestH2CUpstreamRefusedRetried: an h2c upstream that refuses connections
// is a connect failure like any other: the request goes to the other
// upstream, and the refusing one is ejected.
func TestH2CUpstreamRefusedRetried(t *testing.T) {
	good := h2cUpstream(t, func(w http.ResponseWriter, r *http.Request, _ *hit) { io.WriteString(w, r.Proto) })
	refused := refusedURL(t)
	refused.Scheme = "h2c"
	h := startProxy(t, Config{Upstreams: []*url.URL{refused, good.url}, Balance: BalanceFirst, MaxFails: 1})
	status, body := do(t, client(t), http.MethodPost, "http://"+h.addr+"/", "a body")
	if status != http.StatusOK || !strings.HasPrefix(body, "HTTP/2") {
		t.Fatalf("got %d %q, want 200 from the other upstream", status, body)
	}
	h.logs.logged(t, "upstream ejected", refused.Host)
}
