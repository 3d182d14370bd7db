package proxy

import (
	"fmt"
	"net/netip"
	"reflect"
	"testing"
)

// TestForwardedHeaders: what the upstream gets as Host and X-Forwarded-*
// from a raw client on 127.0.0.1 that forges all three X-Forwarded headers,
// on both paths, with and without 127.0.0.0/8 trusted and PreserveHost
// (issue 16, "Also expected of a proxy").
func TestForwardedHeaders(t *testing.T) {
	const forged = "X-Forwarded-For: 6.6.6.6\r\nX-Forwarded-For: 7.7.7.7\r\nX-Forwarded-Host: evil.example\r\nX-Forwarded-Proto: https\r\nForwarded: for=6.6.6.6\r\n"
	loopback := []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	for _, tc := range []struct {
		name         string
		trusted      []netip.Prefix
		preserveHost bool
		head         string // extra request headers
		wantHost     string // "" means the upstream's own
		want         map[string][]string
	}{
		{"untrusted peer: forged headers replaced", nil, false, forged, "", map[string][]string{
			"X-Forwarded-For": {"127.0.0.1"}, "X-Forwarded-Host": {"front.example"}, "X-Forwarded-Proto": {"http"}}},
		{"other prefix trusted: still replaced", []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}, false, forged, "", map[string][]string{
			"X-Forwarded-For": {"127.0.0.1"}, "X-Forwarded-Host": {"front.example"}, "X-Forwarded-Proto": {"http"}}},
		{"trusted peer: kept, peer appended", loopback, false, forged, "", map[string][]string{
			"X-Forwarded-For": {"6.6.6.6, 7.7.7.7, 127.0.0.1"}, "X-Forwarded-Host": {"evil.example"}, "X-Forwarded-Proto": {"https"}}},
		{"trusted peer without X-Forwarded: the proxy's own", loopback, false, "", "", map[string][]string{
			"X-Forwarded-For": {"127.0.0.1"}, "X-Forwarded-Host": {"front.example"}, "X-Forwarded-Proto": {"http"}}},
		{"PreserveHost", nil, true, "", "front.example", map[string][]string{
			"X-Forwarded-For": {"127.0.0.1"}, "X-Forwarded-Host": {"front.example"}, "X-Forwarded-Proto": {"http"}}},
	} {
		for _, path := range []struct{ name, req string }{
			{"direct", "GET /x HTTP/1.1\r\nHost: front.example\r\n%s\r\n"},
			{"ReverseProxy", "POST /x HTTP/1.1\r\nHost: front.example\r\nContent-Length: 2\r\n%s\r\nab"},
		} {
			t.Run(tc.name+"/"+path.name, func(t *testing.T) {
				h, u := framingProxy(t, Config{TrustedProxies: tc.trusted, PreserveHost: tc.preserveHost})
				c := dial(t, h.addr)
				write(t, c, fmt.Sprintf(path.req, tc.head))
				res, _ := readResponse(t, c, "GET")
				if res.StatusCode != 200 {
					t.Fatalf("status %d, want 200", res.StatusCode)
				}
				reqs := u.waitRequests(t, 1)
				got := reqs[0]
				wantHost := tc.wantHost
				if wantHost == "" {
					wantHost = u.url.Host
				}
				if got.host != wantHost {
					t.Errorf("upstream got Host %q, want %q", got.host, wantHost)
				}
				for k, want := range tc.want {
					if !reflect.DeepEqual(got.header[k], want) {
						t.Errorf("upstream got %s %q, want %q", k, got.header[k], want)
					}
				}
				if v, ok := got.header["Forwarded"]; ok {
					t.Errorf("upstream got Forwarded %q, want none", v)
				}
			})
		}
	}
}

// TestTrustsPeer: which peer addresses a TrustedProxies list matches: an
// IPv4-mapped IPv6 peer (a dual-stack listener) as IPv4, a zoned one
// without its zone, a non-IP address never.
func TestTrustsPeer(t *testing.T) {
	f := &forwarding{trusted: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("fe80::/10")}}
	for _, tc := range []struct {
		host string
		want bool
	}{
		{"127.0.0.1", true},
		{"::ffff:127.0.0.1", true},
		{"fe80::1%eth0", true},
		{"10.0.0.1", false},
		{"::1", false},
		{"pipe", false},
		{"", false},
	} {
		if got := f.trusts(tc.host); got != tc.want {
			t.Errorf("trusts(%q) = %v, want %v", tc.host, got, tc.want)
		}
	}
}
