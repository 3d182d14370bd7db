// Package proxy is a reverse proxy that keeps hangup's promise for any
// backend: the moment a client is gone, the upstream request made for it is
// aborted (an HTTP/1 upstream connection is closed, an HTTP/2 stream reset),
// including while the request body is still unread, which net/http alone
// never notices.
//
// Around that it adds what a proxy in front of expensive work needs: an
// admission queue per upstream whose waiters leave the line the moment their
// client leaves (queue.go); optional coalescing of identical safe requests
// into one upstream request that is cancelled only when its last waiter leaves
// (coalesce.go); answers sent while the client is still uploading that reach
// it whole, by draining the rest of the upload for a bounded time (linger.go);
// Prometheus metrics (metrics.go), a structured access log that says 499 for
// clients that left (accesslog.go), and status mapping by errors.Is
// (errors.go). Serve (server.go) runs it all on a listener with
// hangup.Install, TLS or h2c, and graceful shutdown.
//
// Body-less GET and HEAD requests to an http:// upstream take a direct path
// (direct.go): written straight from the client's request on connections of
// the proxy's own, read on the handler's goroutine (h1transport.go), answered
// without httputil.ReverseProxy, which serves everything else.
//
// Used as a plain http.Handler in a server of your own, a Proxy needs
// hangup.Install on that server to see every departure; without it, it sees
// only what net/http reports.
package proxy

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptrace"
	"net/http/httputil"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hangup-dev/hangup"
)

// Config configures a Proxy. Only Upstream is required; every zero value
// means the default given in its comment.
type Config struct {
	// Upstream is where requests go: an http or https URL with a host,
	// h2c://host:port (HTTP/2 without TLS, h2c.go), or unix:/path/to.sock
	// (HTTP/1.1 over a unix socket, with Host "localhost" unless
	// PreserveHost, as nginx's). Its path, if any, is prefixed to the
	// client's.
	Upstream *url.URL
	// Upstreams, instead of Upstream, are a pool of upstreams that share
	// the requests (pool.go), each as Upstream says; all have the same path
	// and query.
	Upstreams []*url.URL
	// Balance picks an upstream of the pool for each request:
	// BalanceLeastInflight (the default), BalanceRoundRobin or BalanceFirst.
	Balance string
	// MaxFails ejects an upstream that failed this many times in a row (no
	// connection, or no answer in UpstreamTimeout) for FailTimeout, then
	// longer after each failed probe (health.go). Zero: DefaultMaxFails;
	// negative: never.
	MaxFails int
	// FailTimeout is an upstream's first ejection. Default: 10s.
	FailTimeout time.Duration
	// HealthPath turns on active health checks (healthcheck.go): while
	// Serve runs, each upstream is asked GET HealthPath (at its root) every
	// HealthInterval; a status other than 2xx or 3xx, or no answer within
	// HealthTimeout, fails. MaxFails failed checks in a row (one if MaxFails
	// is negative) eject the upstream; a check that passes brings it back,
	// and only a check does. Empty: no checks.
	HealthPath string
	// HealthInterval is the time between two checks of an upstream.
	// Default: 5s.
	HealthInterval time.Duration
	// HealthTimeout bounds a check. Default: 2s.
	HealthTimeout time.Duration
	// RetryIdempotent sends an idempotent request whose upstream failed
	// before answering to another upstream, once, within a budget of 20%
	// of the requests (retry.go). Requests that never reached an upstream
	// are retried anyway.
	RetryIdempotent bool
	// MaxBodySize bounds a request body, in bytes; a larger one gets 413
	// (ErrBodyTooLarge), before the upstream is asked when its
	// Content-Length says so. Zero: no limit.
	MaxBodySize int64
	// Transport sends requests upstream. Default: for an http:// upstream,
	// body-less GET, HEAD and OPTIONS requests go on connections of the
	// proxy's own, written and read on the request's goroutine; everything
	// else through a clone of
	// http.DefaultTransport that keeps more idle connections per host and
	// leaves Accept-Encoding to the client (DisableCompression: the upstream
	// compresses only for clients that ask, and the proxy never inflates an
	// answer on their behalf).
	Transport http.RoundTripper
	// UpstreamOptions are settings of single upstreams of the pool, keyed
	// by the upstream's name as logs and metrics give it: host:port (as in
	// its URL), or unix:/path. A name that is no upstream's is an error.
	UpstreamOptions map[string]UpstreamOptions
	// UpstreamTLS configures TLS to https:// upstreams (upstreamtls.go):
	// RootCAs for a private CA, ServerName for SNI and verification when
	// the URL's host is an address or another name, Certificates for a
	// client certificate, InsecureSkipVerify (New logs a warning). A
	// handshake that fails counts as a connection that could not be made:
	// the request goes to another upstream, and the upstream toward its
	// ejection. Nil: the system's roots, the URL's host as the name. It
	// needs the proxy's own Transport (Transport unset).
	UpstreamTLS *tls.Config
	// UpstreamTimeout bounds the wait for the upstream's response headers;
	// past it the request is cancelled and the client gets 504. The body
	// may then stream for as long as it takes. Zero: no limit.
	UpstreamTimeout time.Duration
	// FlushInterval is how often an answer of known length is flushed to
	// the client while its body is copied, as ReverseProxy's: negative
	// (-1) flushes after every write. Zero: only when net/http's buffer is
	// full, or at the end. An answer of unknown length (chunked, or read
	// to EOF) and server-sent events (text/event-stream) are always
	// flushed after every write, whatever the setting.
	FlushInterval time.Duration
	// PreserveHost sends the client's Host header upstream (nginx's
	// "proxy_set_header Host $host"). Default: the upstream URL's host; the
	// client's goes in X-Forwarded-Host either way.
	PreserveHost bool
	// TrustedProxies are the peers (proxies in front of this one) whose
	// X-Forwarded-For, -Host and -Proto are believed: X-Forwarded-For is
	// kept and the peer appended, the other two kept. From any other peer
	// they are replaced, so that a client cannot forge them (headers.go).
	// IPv4-mapped IPv6 peers are matched as IPv4. Default: none.
	TrustedProxies []netip.Prefix

	// MaxInflight is how many requests may be at each upstream at once.
	// Zero: no limit (and no queue).
	MaxInflight int
	// Queue is how many more may wait, first come first served, for a slot
	// at any upstream of the pool (one line for all);
	// beyond it, requests get 503 at once. Zero: none may wait.
	Queue int
	// QueueTimeout is how long a request may wait in line before it gets
	// 503. Zero: as long as its client waits.
	QueueTimeout time.Duration
	// RetryAfter is the Retry-After sent with a 503. Default: 1s.
	RetryAfter time.Duration

	// Coalesce lets concurrent identical GET and HEAD requests without a
	// body share one upstream request (see coalesce.go).
	Coalesce bool
	// CoalesceVary names request headers that, besides the method, the URL,
	// Authorization, Cookie and the range, conditional and Accept-Encoding
	// headers, must be equal for requests to share an upstream request.
	CoalesceVary []string
	// CoalesceBuffer bounds the bytes of a shared response held for its
	// waiters. Default: 4 MiB.
	CoalesceBuffer int
	// CoalesceLagTimeout is how long the waiters of a shared response that
	// caught up wait for a slow one that holds a full buffer, before it is
	// cut off. Default: 10s.
	CoalesceLagTimeout time.Duration

	// LingerTime bounds the whole drain of a request body left unsent when
	// the response was complete (see linger.go); negative disables it.
	// Default: 30s, as nginx's lingering_time.
	LingerTime time.Duration
	// LingerTimeout ends the drain when the client sends nothing for that
	// long. Default: 5s, as nginx's lingering_timeout.
	LingerTimeout time.Duration
	// LingerBytes ends the drain after that many bytes. Default: 64 MiB.
	LingerBytes int64
	// ClientBodyTimeout bounds the wait for each read of a client's request
	// body, not the whole body, as nginx's client_body_timeout: a client
	// that sends nothing of its body for that long gets 408 (if nothing was
	// answered yet), its upstream request is aborted, and its connection is
	// closed. Negative disables it. Default: 60s.
	ClientBodyTimeout time.Duration
	// EarlyAnswerBuffer bounds the bytes of an early refusal (status 300 and
	// up, sent by the upstream before it read the whole request body) read
	// ahead into memory (see linger.go); negative disables it. Default:
	// 4 MiB.
	EarlyAnswerBuffer int64

	// Logger receives one "request" line per request (unless AccessLog is
	// set), and the errors of
	// the server and of ReverseProxy. Nil: no logs.
	Logger *slog.Logger
	// AccessLog, if not nil, receives the access log instead of Logger:
	// one line per request, written by the proxy itself, the same bytes
	// slog.TextHandler (or, with AccessLogJSON, slog.JSONHandler) with
	// default options would write, at a fraction of the cost. Writes are
	// one line each; give it a buffered writer (see NewLogWriter).
	AccessLog io.Writer
	// AccessLogJSON makes AccessLog lines JSON.
	AccessLogJSON bool

	// Settings for Serve.

	// ReadHeaderTimeout bounds the time to read a request's headers
	// (slowloris). Default: 10s.
	ReadHeaderTimeout time.Duration
	// MaxHeaderBytes bounds the size of a request's headers; beyond it
	// net/http answers 431. Default: 64 KiB.
	MaxHeaderBytes int
	// IdleTimeout closes keep-alive connections idle that long. Default: 2m.
	IdleTimeout time.Duration
	// ShutdownTimeout bounds how long Serve waits for in-flight requests
	// once its context is done; past it, connections are closed. Default: 30s.
	ShutdownTimeout time.Duration
	// TLSConfig, with at least one certificate, makes Serve speak TLS, and
	// HTTP/2 to clients that offer it.
	TLSConfig *tls.Config
	// H2C makes Serve accept HTTP/2 without TLS (prior knowledge), next to
	// HTTP/1.
	H2C bool
	// GuardOptions are passed to hangup.Install by Serve.
	GuardOptions []hangup.Option
}

// UpstreamOptions are one upstream's own settings (Config.UpstreamOptions).
type UpstreamOptions struct {
	// TLS configures TLS to this https:// upstream instead of
	// Config.UpstreamTLS, whole (nothing of UpstreamTLS is merged in).
	TLS *tls.Config
	// MaxInflight is how many requests may be at this upstream at once,
	// instead of Config.MaxInflight, which it needs (the line holds every
	// upstream's slots: pool.go). Zero: Config.MaxInflight.
	MaxInflight int
}

// Defaults of the Config fields whose zero value means "the default".
const (
	DefaultRetryAfter         = time.Second
	DefaultCoalesceBuffer     = 4 << 20
	DefaultCoalesceLagTimeout = 10 * time.Second
	DefaultLingerTime         = 30 * time.Second
	DefaultLingerTimeout      = 5 * time.Second
	DefaultLingerBytes        = 64 << 20
	DefaultEarlyAnswerBuffer  = 4 << 20
	DefaultClientBodyTimeout  = 60 * time.Second
	DefaultReadHeaderTimeout  = 10 * time.Second
	DefaultMaxHeaderBytes     = 64 << 10
	DefaultIdleTimeout        = 2 * time.Minute
	DefaultShutdownTimeout    = 30 * time.Second
)

// A Proxy forwards requests to a pool of upstreams. Create it with New.
type Proxy struct {
	cfg       Config
	rp        *httputil.ReverseProxy
	transport *upstreamTransport
	ups       *pools            // the pool, which a reload replaces (reload.go)
	line      *hangup.Admission // the admission queue (queue.go): the pools'; nil without MaxInflight
	co        *coalescer        // nil without Coalesce
	m         *metrics
	log       *slog.Logger // nil: no logs
	accessLog io.Writer    // nil: access lines go to log
	draining  atomic.Bool  // Serve is shutting down
	directOK  bool         // body-less requests may take the direct path (direct.go) if the pool's backends can
	fwd       *forwarding  // the upstream request's X-Forwarded-* (headers.go); the Host is the backend's
}

var _ http.Handler = (*Proxy)(nil)

// New checks cfg and returns a Proxy for it.
func New(cfg Config) (*Proxy, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	cfg.setDefaults()
	p := &Proxy{cfg: cfg, log: cfg.Logger, accessLog: cfg.AccessLog}
	p.fwd = &forwarding{upstreamHost: cfg.upstreams()[0].Host, preserveHost: cfg.PreserveHost}
	for _, pf := range cfg.TrustedProxies {
		p.fwd.trusted = append(p.fwd.trusted, unmapPrefix(pf).Masked())
	}
	p.warnInsecure(&cfg)
	p.m = newMetrics(nil)
	p.ups = &pools{}
	pl := newPool(&cfg, p.fwd, p.m, p.ups, nil)
	p.ups.line = newLine(&cfg, pl.slots())
	p.ups.cur.Store(pl)
	p.line = p.ups.line
	p.m.line, p.m.ups = p.line, p.ups
	if cfg.Coalesce {
		p.co = newCoalescer(p, cfg.CoalesceVary, cfg.CoalesceBuffer, cfg.CoalesceLagTimeout)
	}
	p.transport = &upstreamTransport{ups: p.ups, timeout: cfg.UpstreamTimeout, m: p.m}
	p.directOK = true
	p.rp = &httputil.ReverseProxy{
		Rewrite:        p.rewrite,
		Transport:      p.transport,
		ModifyResponse: p.modifyResponse,
		ErrorHandler:   p.writeError,
		ErrorLog:       p.errorLog(),
		BufferPool:     copyBuffers,
		FlushInterval:  cfg.FlushInterval,
	}
	return p, nil
}

// bufs32k holds *[]byte of 32 KiB, for copying bodies.
var bufs32k = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// copyBuffers lends ReverseProxy the buffers it copies response bodies
// through. Without a BufferPool it allocates 32 KiB per request, which for
// small answers was two thirds of all the bytes the proxy allocated and made
// the garbage collector the bottleneck (see BENCH.md).
var copyBuffers httputil.BufferPool = &bufferPool{}

type bufferPool struct{}

func (b *bufferPool) Get() []byte { return *bufs32k.Get().(*[]byte) }

func (b *bufferPool) Put(buf []byte) { bufs32k.Put(&buf) }

// upstreams is the pool's URLs: Upstreams, or Upstream alone.
func (cfg *Config) upstreams() []*url.URL {
	if len(cfg.Upstreams) > 0 {
		return cfg.Upstreams
	}
	return []*url.URL{cfg.Upstream}
}

func (cfg *Config) check() error {
	if cfg.Upstream != nil && len(cfg.Upstreams) > 0 {
		return errors.New("proxy: both Upstream and Upstreams are set; put every upstream in Upstreams")
	}
	if cfg.Upstream == nil && len(cfg.Upstreams) == 0 {
		return errors.New("proxy: no upstream")
	}
	if err := checkUpstreams(cfg.upstreams(), cfg.Transport != nil, cfg.UpstreamTLS != nil); err != nil {
		return err
	}
	if err := cfg.checkUpstreamOptions(); err != nil {
		return err
	}
	switch cfg.Balance {
	case "", BalanceLeastInflight, BalanceRoundRobin, BalanceFirst:
	default:
		return fmt.Errorf("proxy: Balance %q: want %s, %s or %s", cfg.Balance, BalanceLeastInflight, BalanceRoundRobin, BalanceFirst)
	}
	for _, pf := range cfg.TrustedProxies {
		if !pf.IsValid() {
			return errors.New("proxy: TrustedProxies holds an invalid prefix")
		}
	}
	if u, err := url.Parse(cfg.HealthPath); cfg.HealthPath != "" && (err != nil || !strings.HasPrefix(cfg.HealthPath, "/") || u.Host != "") {
		return fmt.Errorf("proxy: HealthPath %q: want a path from the upstream's root, e.g. /healthz", cfg.HealthPath)
	}
	for _, n := range []struct {
		name string
		v    int64
	}{
		{"MaxInflight", int64(cfg.MaxInflight)}, {"Queue", int64(cfg.Queue)},
		{"QueueTimeout", int64(cfg.QueueTimeout)}, {"RetryAfter", int64(cfg.RetryAfter)},
		{"UpstreamTimeout", int64(cfg.UpstreamTimeout)}, {"MaxBodySize", cfg.MaxBodySize},
		{"CoalesceBuffer", int64(cfg.CoalesceBuffer)}, {"CoalesceLagTimeout", int64(cfg.CoalesceLagTimeout)},
		{"LingerTimeout", int64(cfg.LingerTimeout)}, {"LingerBytes", cfg.LingerBytes},
		{"ReadHeaderTimeout", int64(cfg.ReadHeaderTimeout)}, {"MaxHeaderBytes", int64(cfg.MaxHeaderBytes)},
		{"IdleTimeout", int64(cfg.IdleTimeout)}, {"ShutdownTimeout", int64(cfg.ShutdownTimeout)},
		{"FailTimeout", int64(cfg.FailTimeout)}, {"HealthInterval", int64(cfg.HealthInterval)},
		{"HealthTimeout", int64(cfg.HealthTimeout)},
	} {
		if n.v < 0 {
			return fmt.Errorf("proxy: %s must not be negative", n.name)
		}
	}
	return nil
}

func (cfg *Config) setDefaults() {
	def := func(v *time.Duration, d time.Duration) {
		if *v == 0 {
			*v = d
		}
	}
	def(&cfg.RetryAfter, DefaultRetryAfter)
	def(&cfg.CoalesceLagTimeout, DefaultCoalesceLagTimeout)
	def(&cfg.LingerTime, DefaultLingerTime)
	def(&cfg.LingerTimeout, DefaultLingerTimeout)
	def(&cfg.ClientBodyTimeout, DefaultClientBodyTimeout)
	def(&cfg.ReadHeaderTimeout, DefaultReadHeaderTimeout)
	def(&cfg.IdleTimeout, DefaultIdleTimeout)
	def(&cfg.ShutdownTimeout, DefaultShutdownTimeout)
	def(&cfg.FailTimeout, DefaultFailTimeout)
	def(&cfg.HealthInterval, DefaultHealthInterval)
	def(&cfg.HealthTimeout, DefaultHealthTimeout)
	if cfg.MaxFails == 0 {
		cfg.MaxFails = DefaultMaxFails
	}
	if cfg.CoalesceBuffer == 0 {
		cfg.CoalesceBuffer = DefaultCoalesceBuffer
	}
	if cfg.LingerBytes == 0 {
		cfg.LingerBytes = DefaultLingerBytes
	}
	if cfg.EarlyAnswerBuffer == 0 {
		cfg.EarlyAnswerBuffer = DefaultEarlyAnswerBuffer
	}
	if cfg.MaxHeaderBytes == 0 {
		cfg.MaxHeaderBytes = DefaultMaxHeaderBytes
	}
}

// ServeHTTP proxies r to the upstream.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rec := &record{start: time.Now(), http1: r.ProtoMajor == 1, requestID: requestID(r)}
	if rec.http1 {
		handled(r) // not net/http's refusal (rejected.go)
	}
	rw := &respWriter{ResponseWriter: w, rec: rec}
	defer func() {
		if v := recover(); v != nil {
			// http.ErrAbortHandler from ReverseProxy or a waiter: the
			// response was cut short. Log it, then let net/http abort the
			// connection as asked.
			rec.aborted = !rec.silent
			p.logAccess(r, rec)
			panic(v)
		}
		p.logAccess(r, rec)
	}()
	if key, ok := p.coalesceKey(r); ok {
		p.co.serve(rw, r, key, rec)
	} else {
		p.forward(rw, r, rec)
	}
	if rec.status == 0 && rec.gone(r) {
		// Nothing was written, and nobody waits: send nothing. Returning
		// would have net/http write an empty 200, an answer the upstream
		// never gave, to a client that may still read (a half-close).
		// Aborting closes the connection (HTTP/2: resets the stream), as
		// nginx does for its 499.
		rec.silent = true
		panic(http.ErrAbortHandler)
	}
}

// coalesceKey is r's key for coalescing, if it may share an upstream
// request.
func (p *Proxy) coalesceKey(r *http.Request) (string, bool) {
	if p.co == nil {
		return "", false
	}
	return p.co.key(r)
}

// forward sends r upstream on its own, once the queue lets it.
func (p *Proxy) forward(w http.ResponseWriter, r *http.Request, rec *record) {
	if closeAfter(r) {
		// An ambiguous framing: see clientbody.go. Every answer, an error
		// too, closes the connection (answerError sets it again after a
		// 1xx cleared the header).
		rec.closeAfter = true
		w.Header().Set("Connection", "close")
	}
	rec.header = w.Header()
	if p.tooLarge(r) {
		// Refused before a byte of the body is read: the linger drains
		// what the client still sends, so that the 413 reaches it whole.
		rec.body = &trackedBody{rc: r.Body}
		p.answerError(w, rec, ErrBodyTooLarge)
		rec.complete = true
		p.linger(w, r, rec)
		return
	}
	slot, queued, err := p.take(r.Context(), rec)
	rec.queued = queued
	if queued {
		rec.queueWait = time.Since(rec.start)
	}
	if err != nil {
		p.answerError(w, rec, err)
		return
	}
	rec.upstreamBegins()
	released := false
	release := func() {
		if !released {
			released = true
			p.ups.done(rec, slot)
		}
	}
	defer release()
	if rec.up.Load().direct && p.direct(r) {
		p.forwardDirect(w, r, rec)
		return
	}
	// The upstream request's context carries the record, for the Transport,
	// ModifyResponse and ErrorHandler.
	ctx := context.WithValue(r.Context(), recordKey{}, rec)
	hasBody := r.Body != nil && r.Body != http.NoBody
	if hasBody {
		// The connection, in case the upstream answers early (upstreamconn.go).
		ctx = httptrace.WithClientTrace(ctx, upstreamConnTrace(rec, p.cfg.EarlyAnswerBuffer))
	}
	r = r.WithContext(ctx)
	if hasBody {
		// r is our copy of the request: its Body is ours to replace.
		rec.body = &trackedBody{rc: p.limitBody(p.newClientBody(w, r, r.Body))}
		r.Body = rec.body
	}
	p.rp.ServeHTTP(w, r)
	endClientBody(rec) // its deadlines, before the linger's
	_, err = rec.snapshot()
	rec.complete = !errors.Is(err, hangup.ErrClientGone)
	// The upstream is done with this request: let the next one in before
	// the linger, which is the client's business only.
	release()
	if rec.complete && !errors.Is(err, ErrClientBodyTimeout) {
		// (A client that stalled its upload is not lingered for.)
		p.linger(w, r, rec)
	}
}

// rewrite builds the upstream request: the URL of the backend the request
// was given, its Host, and X-Forwarded-For, -Host and -Proto as p.fwd
// decides them (headers.go). ReverseProxy has already removed the
// hop-by-hop and forwarding headers.
func (p *Proxy) rewrite(pr *httputil.ProxyRequest) {
	rec := recordFrom(pr.In.Context())
	b := p.pool().backendOf(rec)
	pr.SetURL(b.target)
	pr.Out.Host = b.fwd.host(pr.In)
	// The path and query as the client sent them, not as ReverseProxy
	// re-encodes them (target.go).
	setRawTarget(pr.Out.URL, b.target, pr.In, b.viaProxy)
	xff, xfh, xfp := p.fwd.xForwarded(pr.In)
	if xff != "" {
		pr.Out.Header["X-Forwarded-For"] = []string{xff}
	}
	pr.Out.Header["X-Forwarded-Host"] = []string{xfh}
	pr.Out.Header["X-Forwarded-Proto"] = []string{xfp}
	if b := clientBodyOf(rec); b != nil {
		pr.Out.Trailer = b.upstreamTrailers() // filled at the body's end (clientbody.go)
	}
	if rec != nil && rec.body != nil {
		pr.Out.GetBody = rec.body.replayBody // until it is read (retry.go)
	}
}

// modifyResponse handles an answer that the upstream sent before the
// client's body was all read (see linger.go): it is marked "Connection:
// close" for an HTTP/1 client, and a refusal is read ahead.
func (p *Proxy) modifyResponse(res *http.Response) error {
	if res.Request == nil {
		return nil
	}
	rec := recordFrom(res.Request.Context())
	if rec == nil {
		return nil
	}
	if rec.closeAfter {
		// Again if a 1xx answer cleared what forward set (see
		// clientbody.go).
		rec.closeConnection(res)
	}
	if w := rec.upstreamWait.Load(); w != nil {
		// A write that the upstream reset waits for this (upstreamconn.go).
		defer w.answered()()
	}
	if !rec.body.unread() {
		return nil
	}
	if rec.http1 {
		rec.closeConnection(res)
	}
	if res.StatusCode >= 300 && p.cfg.EarlyAnswerBuffer > 0 && readAhead(res, p.cfg.EarlyAnswerBuffer) {
		rec.body.stopped.Store(true)
	}
	return nil
}

// closeConnection marks res "Connection: close" unless the client's
// response header already says so: ReverseProxy adds res's header values to
// it, and the client would get the header twice.
func (rec *record) closeConnection(res *http.Response) {
	if rec.header != nil && hasToken(rec.header["Connection"], "close") {
		return
	}
	res.Header.Set("Connection", "close")
}

func (p *Proxy) errorLog() *log.Logger {
	if p.log == nil {
		return log.New(io.Discard, "", 0)
	}
	return slog.NewLogLogger(p.log.Handler(), slog.LevelWarn)
}
