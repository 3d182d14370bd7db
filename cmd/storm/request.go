package storm

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"syscall"
	"time"
)

// Abort is how a user who gives up closes its connection.
type Abort uint8

const (
	// AbortFIN closes the connection normally: the server sees a FIN,
	// as when a browser tab is closed or a page reloaded.
	AbortFIN Abort = iota
	// AbortRST resets the connection (SO_LINGER 0, then close): the
	// server sees an RST, as from a client killed or a middlebox timing out.
	AbortRST
)

// ParseAbort parses "fin" or "rst".
func ParseAbort(s string) (Abort, error) {
	switch s {
	case "fin", "FIN":
		return AbortFIN, nil
	case "rst", "RST":
		return AbortRST, nil
	}
	return 0, fmt.Errorf("bad abort style %q: want fin or rst", s)
}

// String returns "fin" or "rst".
func (a Abort) String() string {
	if a == AbortRST {
		return "rst"
	}
	return "fin"
}

// Target is one request the users send. Users take the targets of a run in
// turn (round robin over all users, as vegeta does).
type Target struct {
	// Method is the request method; "" is GET.
	Method string
	// URL is the http:// or https:// URL to request.
	URL string
	// Header is sent with the request; it may override the User-Agent
	// (hangup-storm) and Accept (*/*) storm sends by default. A Host
	// header sets the request's Host.
	Header http.Header
	// Body is sent with every request, with its Content-Length; nil sends
	// none.
	Body []byte
}

func (t Target) method() string {
	if t.Method == "" {
		return http.MethodGet
	}
	return t.Method
}

// target is a Target prepared once for all users.
type target struct {
	Target
	url     *url.URL
	addr    string // host:port to dial
	request []byte // the HTTP/1.1 request, serialized once
}

func newTarget(tg Target) (*target, error) {
	u, err := ParseURL("URL", tg.URL)
	if err != nil {
		return nil, err
	}
	if !validMethod(tg.method()) {
		return nil, configErr("method %q is not an HTTP method token; write e.g. GET, POST or PUT", tg.Method)
	}
	t := &target{Target: tg, url: u}
	port := u.Port()
	if port == "" {
		port = "80"
		if u.Scheme == "https" {
			port = "443"
		}
	}
	t.addr = net.JoinHostPort(u.Hostname(), port)
	req, err := t.newRequest(context.Background())
	if err != nil {
		return nil, err
	}
	t.request, err = serialize(req)
	return t, err
}

// newRequest builds the net/http request of t, with ctx.
func (t *target) newRequest(ctx context.Context) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, t.method(), t.url.String(), nil)
	if err != nil {
		return nil, configErr("target %s %s: %v", t.method(), t.URL, err)
	}
	if t.Body != nil {
		req.Body = http.NoBody
		if len(t.Body) > 0 {
			req.Body = bodyReader(t.Body)
		}
		req.ContentLength = int64(len(t.Body))
		req.GetBody = func() (io.ReadCloser, error) { return bodyReader(t.Body), nil }
	}
	req.Header.Set("User-Agent", "hangup-storm")
	req.Header.Set("Accept", "*/*")
	for k, vs := range t.Header {
		if strings.EqualFold(k, "Host") {
			req.Host = vs[0]
			continue
		}
		req.Header[http.CanonicalHeaderKey(k)] = vs
	}
	return req, nil
}

func bodyReader(b []byte) io.ReadCloser { return io.NopCloser(bytes.NewReader(b)) }

// serialize writes req as HTTP/1.1, body included.
func serialize(req *http.Request) ([]byte, error) {
	var b bytes.Buffer
	if err := req.Write(&b); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// validMethod reports whether m is an RFC 9110 token.
func validMethod(m string) bool {
	if m == "" {
		return false
	}
	for _, c := range m {
		if c <= ' ' || c >= 0x7f || strings.ContainsRune(`"(),/:;<=>?@[\]{}`, c) {
			return false
		}
	}
	return true
}

// probe makes one connection to tell an unreachable server from a slow one
// before any user starts.
func (t *target) probe(ctx context.Context, connectTimeout time.Duration) error {
	d := net.Dialer{Timeout: connectTimeout}
	c, err := d.DialContext(ctx, "tcp", t.addr)
	if err != nil {
		return fmt.Errorf("cannot reach %s: %s — is the server running?", t.url, dialReason(err, connectTimeout))
	}
	return c.Close()
}

// dialReason says in a few words why a dial failed.
func dialReason(err error, timeout time.Duration) string {
	var dnsErr *net.DNSError
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.As(err, &dnsErr):
		return "cannot resolve " + dnsErr.Name + ": " + dnsErr.Err
	case errors.Is(err, os.ErrDeadlineExceeded):
		return fmt.Sprintf("no answer within %v (see --connect-timeout)", timeout)
	}
	var opErr *net.OpError
	if errors.As(err, &opErr) {
		return opErr.Err.Error()
	}
	return err.Error()
}

// client is what every user shares: the targets and how to reach them.
type client struct {
	targets        []*target
	tls            *tls.Config // the base; nil for the system roots
	http2          bool
	connectTimeout time.Duration
	timeout        time.Duration // the request timeout; 0 for none
	abort          Abort
}

// tlsFor returns the TLS configuration for a connection to t.
func (c *client) tlsFor(t *target, protos ...string) *tls.Config {
	var cfg *tls.Config
	if c.tls != nil {
		cfg = c.tls.Clone()
	} else {
		cfg = &tls.Config{}
	}
	if cfg.ServerName == "" {
		cfg.ServerName = t.url.Hostname()
	}
	cfg.NextProtos = protos
	return cfg
}

// exchange is how one request ended, as a session reports it.
type exchange struct {
	outcome outcome
	status  int   // the response's status code; 0 if none was read
	bytes   int64 // body bytes read
}

// session is one user's connection to the targets: HTTP/1.1 (http1.go) or
// HTTP/2 (http2.go).
type session interface {
	// do makes one request of t and waits for its response until
	// deadline; timedOut says whether deadline is the request timeout
	// (an error) rather than the user's patience (abandoned).
	do(ctx context.Context, t *target, deadline time.Time, timedOut bool) exchange
	// close drops the session's connections.
	close()
}

func (c *client) newSession() session {
	if c.http2 {
		return newH2Session(c)
	}
	return &h1Session{c: c}
}

func classify(ctx context.Context, err error, timedOut bool) outcome {
	switch {
	case ctx.Err() != nil:
		return outUnfinished
	case errors.Is(err, os.ErrDeadlineExceeded), errors.Is(err, context.DeadlineExceeded):
		if timedOut {
			return outTimeout
		}
		return outAbandoned
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return outReset
	}
	return outOther
}

// statusOutcome is the outcome of a response read in full.
func statusOutcome(code int) outcome {
	switch {
	case code >= 500:
		return outStatus5xx
	case code >= 400:
		return outStatus4xx
	case code >= 200:
		return outGood
	}
	return outOther
}

func dialOutcome(ctx context.Context, deadline time.Time, timedOut bool) outcome {
	switch {
	case ctx.Err() != nil:
		return outUnfinished
	case !time.Now().Before(deadline):
		// Patience ran out while connecting: the user gave up on a
		// server too busy to accept.
		if timedOut {
			return outTimeout
		}
		return outAbandoned
	}
	return outConnect
}
