package proxy

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"time"
)

// TLS to https:// upstreams (issue 12, item 4).
//
// The proxy's own Transport does the handshake itself (DialTLSContext), on
// a connection dialUpstream made, rather than leaving it to http.Transport,
// for two reasons:
//
//   - A handshake that fails (an unknown CA, a wrong name, a client
//     certificate refused, a peer that is no TLS server) is a connection that
//     could not be made, as a refused connect is: the request never reached
//     the upstream. As a dialError it is retried on another upstream
//     whatever its method (retry.go) and counts toward the upstream's
//     ejection (health.go), as nginx counts an SSL handshake error toward
//     max_fails. Left to http.Transport, the handshake's error is one the
//     pool cannot tell from a failure after the request was written. An
//     upstream with an expired or wrong certificate fails every request: it
//     is out of the pool after Config.MaxFails of them, not a 502 for one in
//     every N requests for ever.
//   - The connection under the tls.Conn is still the upstreamConn, so the
//     early-answer handling (upstreamconn.go) holds over HTTP/1 on TLS.
//
// HTTP/2 is offered (ALPN "h2", then "http/1.1") unless Config.UpstreamTLS
// says otherwise in NextProtos; the Transport speaks it on connections that
// negotiated it.

// setUpstreamTLS makes t, the Transport of the https upstream u, speak TLS
// with cfg. Through a forward proxy (HTTPS_PROXY), the Transport's own
// handshake is kept: it dials the proxy and asks it to CONNECT first, which
// a DialTLSContext would skip (it is given the proxy's address); a failed
// handshake is then a 502 that is neither retried nor counted.
func setUpstreamTLS(t *http.Transport, u *url.URL, cfg *tls.Config) {
	if forwardProxied(t, u) {
		t.TLSClientConfig = cfg.Clone()
		return
	}
	t.DialTLSContext = dialUpstreamTLS(cfg)
}

// tlsHandshakeTimeout bounds an upstream's handshake, as
// http.DefaultTransport's TLSHandshakeTimeout.
const tlsHandshakeTimeout = 10 * time.Second

// dialUpstreamTLS dials as dialUpstream does, then does the TLS handshake
// with cfg (nil: the system's roots), with the dialed host as the server name
// unless cfg has one.
func dialUpstreamTLS(cfg *tls.Config) func(ctx context.Context, network, addr string) (net.Conn, error) {
	dial := dialUpstream("", "")
	if cfg == nil {
		cfg = &tls.Config{}
	}
	cfg = cfg.Clone()
	if len(cfg.NextProtos) == 0 {
		cfg.NextProtos = []string{"h2", "http/1.1"}
	}
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dial(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		conf := cfg
		if conf.ServerName == "" {
			host, _, err := net.SplitHostPort(addr)
			if err != nil {
				host = addr
			}
			conf = cfg.Clone()
			conf.ServerName = host
		}
		tc := tls.Client(c, conf)
		hctx, cancel := context.WithTimeout(ctx, tlsHandshakeTimeout)
		defer cancel()
		if err := tc.HandshakeContext(hctx); err != nil {
			c.Close()
			return nil, &dialError{fmt.Errorf("TLS handshake with the upstream %s (as %q): %w", addr, conf.ServerName, err)}
		}
		return tc, nil
	}
}
