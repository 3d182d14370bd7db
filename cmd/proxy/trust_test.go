package proxy

import (
	"net/netip"
	"net/url"
	"testing"
)

// A trusted prefix written IPv4-mapped (--trusted-proxy ::ffff:10.0.0.1, as a
// dual-stack log may show it) matches the peer in either form: New unmaps
// the prefixes as trusts unmaps the peer.
func TestTrustsMappedPrefix(t *testing.T) {
	for _, pf := range []string{"::ffff:10.0.0.1/128", "::ffff:10.0.0.0/104"} {
		p, err := New(Config{Upstream: &url.URL{Scheme: "http", Host: "127.0.0.1:1"}, TrustedProxies: []netip.Prefix{netip.MustParsePrefix(pf)}})
		if err != nil {
			t.Fatal(err)
		}
		f := p.fwd
		for _, host := range []string{"10.0.0.1", "::ffff:10.0.0.1"} {
			if !f.trusts(host) {
				t.Errorf("prefix %s: trusts(%q) = false, want true", pf, host)
			}
		}
	}
}
