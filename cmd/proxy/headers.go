package proxy

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// The upstream request's Host and X-Forwarded-* headers are decided here,
// once, for both paths: rewrite (ReverseProxy) and writeForwarded (the direct
// path) ask a forwarding for them, and TestDirectMatchesReverseProxy holds
// the two to the same answer for every option.
//
// X-Forwarded-For, -Host and -Proto are what the upstream believes about the
// client, so a client must not be able to choose them: by default the proxy
// replaces whatever the client sent (ReverseProxy with Rewrite does too:
// it removes them before Rewrite runs, so SetXForwarded never appends).
// Only a peer in Config.TrustedProxies, another proxy in front of this one,
// is believed: its X-Forwarded-For is kept and the peer appended, and its
// X-Forwarded-Host and -Proto are kept (HAProxy's "option forwardfor" with
// "if-none" for the latter two; nginx's set_real_ip_from). Forwarded (RFC
// 7239) is always removed, as ReverseProxy does.

// forwarding decides the Host and X-Forwarded-* headers of upstream
// requests. Its fields are set by New and never change.
type forwarding struct {
	upstreamHost string         // Host sent without preserveHost
	preserveHost bool           // send the client's Host instead
	trusted      []netip.Prefix // peers whose X-Forwarded-* are believed
}

// host is the Host header of the upstream request for r.
func (f *forwarding) host(r *http.Request) string {
	if f.preserveHost {
		return r.Host
	}
	return f.upstreamHost
}

// xForwarded returns the X-Forwarded-For, -Host and -Proto headers of the
// upstream request for r; xff is empty when r's peer address is unknown (no
// X-Forwarded-For then, as SetXForwarded has it).
func (f *forwarding) xForwarded(r *http.Request) (xff, xfh, xfp string) {
	host, _, err := net.SplitHostPort(r.RemoteAddr) // as SetXForwarded
	if err == nil {
		xff = host
	}
	xfh = r.Host
	xfp = "http"
	if r.TLS != nil {
		xfp = "https"
	}
	if err != nil || !f.trusts(host) {
		return xff, xfh, xfp
	}
	if prior := r.Header["X-Forwarded-For"]; len(prior) > 0 {
		xff = strings.Join(prior, ", ") + ", " + xff
	}
	if v := r.Header["X-Forwarded-Host"]; len(v) > 0 && v[0] != "" {
		xfh = v[0]
	}
	if v := r.Header["X-Forwarded-Proto"]; len(v) > 0 && v[0] != "" {
		xfp = v[0]
	}
	return xff, xfh, xfp
}

// trusts reports whether host, a peer's address, is in one of f's trusted
// prefixes.
func (f *forwarding) trusts(host string) bool {
	if len(f.trusted) == 0 {
		return false
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return false
	}
	a = a.WithZone("").Unmap()
	for _, p := range f.trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// unmapPrefix turns an IPv4-mapped IPv6 prefix (::ffff:10.0.0.0/104) into
// its IPv4 form (10.0.0.0/8), as trusts unmaps the peer's address.
func unmapPrefix(p netip.Prefix) netip.Prefix {
	a := p.Addr()
	if !a.Is4In6() || p.Bits() < 96 {
		return p
	}
	return netip.PrefixFrom(a.Unmap(), p.Bits()-96)
}
