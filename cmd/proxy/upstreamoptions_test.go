package proxy

import (
	"crypto/tls"
	"net"
	"net/http"
	"net/url"
	"testing"
	"time"
)

// TestUpstreamOptionsMaxInflight: an upstream's own MaxInflight replaces
// Config.MaxInflight for it, and the line holds every upstream's slots:
// with 2 at A and 1 at B, three requests are let in, A gets two of them,
// and a fourth waits.
func TestUpstreamOptionsMaxInflight(t *testing.T) {
	a, b := newUpstream(t, nil), newUpstream(t, nil)
	h := startProxy(t, Config{Upstreams: []*url.URL{a.url, b.url}, Balance: BalanceFirst, MaxInflight: 1, Queue: 10,
		UpstreamOptions: map[string]UpstreamOptions{a.url.Host: {MaxInflight: 2}}})
	var conns []*net.TCPConn
	for i, want := range []*upstream{a, a, b} {
		c := dial(t, h.addr)
		write(t, c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		conns = append(conns, c)
		select {
		case <-want.arrived:
		case <-other(want, a, b).arrived:
			t.Fatalf("request %d went to the other upstream", i+1)
		case <-time.After(waitLong):
			t.Fatalf("request %d reached no upstream", i+1)
		}
	}
	c := dial(t, h.addr)
	write(t, c, "GET /4 HTTP/1.1\r\nHost: x\r\n\r\n")
	waitQueued(t, h, 1)
	close(b.release)
	if hit := b.waitHit(); hit.r.URL.Path != "/4" {
		t.Errorf("B's free slot went to %s, want /4", hit.r.URL.Path)
	}
	close(a.release)
	for i, c := range append(conns, c) {
		if res, _ := readResponse(t, c, "GET"); res.StatusCode != http.StatusOK {
			t.Errorf("request %d: %d", i+1, res.StatusCode)
		}
	}
}

// other is whichever of a and b u is not.
func other(u, a, b *upstream) *upstream {
	if u == a {
		return b
	}
	return a
}

// TestUpstreamOptionsTLS: two https upstreams signed by different private
// CAs, each verified with its own (UpstreamOptions.TLS); with one CA for
// both, the other's handshake fails and its requests go to the first.
func TestUpstreamOptionsTLS(t *testing.T) {
	caA, caB := newTestCA(t), newTestCA(t)
	a := tlsUpstream(t, caA.issue("a", false, "127.0.0.1"), false, nil, whoAmI)
	b := tlsUpstream(t, caB.issue("b", false, "127.0.0.1"), false, nil, whoAmI)
	for _, tc := range []struct {
		name         string
		cfg          Config
		wantA, wantB int64
	}{
		{"each its own CA", Config{UpstreamOptions: map[string]UpstreamOptions{
			a.url.Host: {TLS: &tls.Config{RootCAs: caA.pool}},
			b.url.Host: {TLS: &tls.Config{RootCAs: caB.pool}},
		}}, 2, 2},
		{"A's CA for both", Config{UpstreamTLS: &tls.Config{RootCAs: caA.pool}}, 4, 0},
		{"A's CA for both, B's own", Config{UpstreamTLS: &tls.Config{RootCAs: caA.pool}, UpstreamOptions: map[string]UpstreamOptions{
			b.url.Host: {TLS: &tls.Config{RootCAs: caB.pool}},
		}}, 2, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a0, b0 := a.hits.Load(), b.hits.Load()
			cfg := tc.cfg
			cfg.Upstreams, cfg.Balance, cfg.MaxFails = []*url.URL{a.url, b.url}, BalanceRoundRobin, -1
			h := startProxy(t, cfg)
			c := client(t)
			for i := range 4 {
				if status, body := do(t, c, http.MethodGet, "http://"+h.addr+"/", ""); status != 200 {
					t.Fatalf("request %d: %d %q", i, status, body)
				}
			}
			if na, nb := a.hits.Load()-a0, b.hits.Load()-b0; na != tc.wantA || nb != tc.wantB {
				t.Errorf("A served %d, B %d; want %d and %d", na, nb, tc.wantA, tc.wantB)
			}
		})
	}
}
