package storm

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"time"
)

// h2Session is a user speaking HTTP/2: over TLS (ALPN h2) for https://
// targets, and h2c with prior knowledge for http:// ones. It uses net/http's
// own HTTP/2 client, one Transport per user so that each user has a
// connection of its own, as with HTTP/1.1.
//
// A user who gives up cancels its request — the Transport sends
// RST_STREAM(CANCEL) — and then closes the connection as --abort says, so
// that the server sees what it sees from a browser tab closed with its only
// stream in flight. The Transport is then replaced: the one that held the
// closed connection could otherwise hand it to the next request before its
// read loop noticed.
type h2Session struct {
	c  *client
	tr *http.Transport // nil until the first request, and after an abort
}

func newH2Session(c *client) *h2Session {
	return &h2Session{c: c}
}

func (s *h2Session) transport() *http.Transport {
	if s.tr != nil {
		return s.tr
	}
	p := new(http.Protocols)
	p.SetHTTP2(true)
	p.SetUnencryptedHTTP2(true)
	dialer := &net.Dialer{Timeout: s.c.connectTimeout}
	s.tr = &http.Transport{
		Protocols:           p,
		DialContext:         dialer.DialContext,
		TLSClientConfig:     s.tlsConfig(),
		TLSHandshakeTimeout: s.c.connectTimeout,
		DisableCompression:  true,
		MaxIdleConnsPerHost: 1,
		ForceAttemptHTTP2:   true,
	}
	return s.tr
}

func (s *h2Session) tlsConfig() *tls.Config {
	if s.c.tls != nil {
		return s.c.tls.Clone()
	}
	return &tls.Config{}
}

func (s *h2Session) close() {
	if s.tr != nil {
		s.tr.CloseIdleConnections()
		s.tr = nil
	}
}

func (s *h2Session) do(ctx context.Context, t *target, deadline time.Time, timedOut bool) exchange {
	rctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	var got *net.TCPConn // the connection the request went on
	trace := &httptrace.ClientTrace{
		GotConn: func(info httptrace.GotConnInfo) {
			nc := info.Conn
			if tc, ok := nc.(*tls.Conn); ok {
				nc = tc.NetConn()
			}
			got, _ = nc.(*net.TCPConn)
		},
	}
	req, err := t.newRequest(httptrace.WithClientTrace(rctx, trace))
	if err != nil {
		return exchange{outcome: outOther}
	}
	resp, err := s.transport().RoundTrip(req)
	if err != nil {
		o := classify(ctx, err, timedOut)
		if got == nil && (o == outOther || o == outReset) {
			o = outConnect // no connection: refused, or the TLS handshake failed
		}
		s.end(o, got)
		return exchange{outcome: o}
	}
	n, err := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	x := exchange{outcome: statusOutcome(resp.StatusCode), status: resp.StatusCode, bytes: n}
	if err != nil {
		x.outcome = classify(ctx, err, timedOut)
		if x.outcome == outOther && errors.Is(err, io.ErrUnexpectedEOF) {
			x.outcome = outReset
		}
	}
	s.end(x.outcome, got)
	return x
}

// end closes the connection of a request that did not end in a response,
// as --abort says for a user who gave up.
func (s *h2Session) end(o outcome, c *net.TCPConn) {
	switch o {
	case outGood, outStatus4xx, outStatus5xx:
		return
	}
	if c != nil {
		if o == outAbandoned && s.c.abort == AbortRST {
			c.SetLinger(0)
		}
		c.Close()
	}
	s.close()
}
