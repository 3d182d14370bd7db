package proxy

import "net/http"

// h2c:// upstreams (issue 12, item 4): HTTP/2 without TLS, with prior
// knowledge (RFC 9113 §3.3), as gRPC backends speak it. The requests go to
// http://host:port (backend.target) through an http.Transport that speaks
// only unencrypted HTTP/2 (Go 1.24's Protocols), so that every request to
// the upstream is a stream of one connection, never HTTP/1.
//
// A client that leaves cancels its upstream request's context, which the
// Transport turns into RST_STREAM (CANCEL): the upstream's handler sees its
// context end, and the connection goes on carrying the other clients'
// streams (TestH2CUpstreamStreamReset). The rejected alternative, closing
// the connection as for HTTP/1, would cancel every request on it.
//
// What is HTTP/1's alone stays out: the direct path and h1Transport
// (newPool gives an h2c backend neither), the early-answer handling of
// upstreamconn.go (an early answer on a stream closes nothing: the
// connection is dialed bare, not as an upstreamConn, so upstreamConnTrace
// passes it by), and forward proxies (HTTP_PROXY cannot carry HTTP/2 with
// prior knowledge).

// h2cTransport is the Transport of one h2c backend.
func h2cTransport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.Proxy = nil
	t.DisableCompression = true
	t.Protocols = new(http.Protocols)
	t.Protocols.SetUnencryptedHTTP2(true)
	t.DialContext = dialUpstreamTo(upstreamDialer(), "", "")
	return t
}
