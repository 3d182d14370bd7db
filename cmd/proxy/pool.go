package proxy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hangup-dev/hangup"
)

// The pool of upstreams (issue 12). Each request is given one upstream, a
// backend, once the admission line lets it in, and keeps it, unless a retry
// (retry.go) moves it to another before the first one saw it.
//
// One line for the pool. Config.MaxInflight is per backend and Config.Queue
// the pool's: the line is one hangup.Admission of MaxInflight slots for each
// backend, so a request that holds a slot always finds a backend with a free
// one, the first to come free, whichever it is (nginx's upstream queue,
// HAProxy's backend queue). The rejected alternative, a line per backend,
// makes a request wait behind a slow backend while another sits idle. While
// a backend is ejected (health.go) its slots are withheld from the line:
// taken when free, kept when given back, returned when it is healthy again;
// so the line's capacity is the healthy backends', and a request let in never
// has to go to an ejected backend for want of room.
//
// Balancing (Config.Balance) picks among the healthy backends with a free
// slot: least_inflight (the default) takes two of them at random and sends to
// the one with fewer requests in flight (the power of two choices, Envoy's
// least-request default: nearly as good as the least loaded of all, without
// every request scanning and herding onto one backend); round_robin takes the
// next in turn; first, the first in the order given (a spare for a main).

// Balancing policies, Config.Balance.
const (
	BalanceLeastInflight = "least_inflight"
	BalanceRoundRobin    = "round_robin"
	BalanceFirst         = "first"
)

// backend is one upstream of the pool.
type backend struct {
	name     string      // in logs and metrics: host[:port] or unix:/path
	target   *url.URL    // the URL upstream requests are built on
	fwd      *forwarding // its Host and X-Forwarded-*
	rt       http.RoundTripper
	h1       *h1Transport // its own connections for what h1Transport serves; nil (https, h2c): rt serves all
	direct   bool         // body-less GET and HEAD may take the direct path (direct.go)
	viaProxy bool         // rt sends to it through a forward proxy (target.go)
	inflight atomic.Int64 // requests given to it and not yet done
	health   health
	m        *backendMetrics
}

// pool holds the backends and picks one for each request.
type pool struct {
	backends []*backend
	policy   string
	turn     atomic.Uint64 // round_robin's next
	limit    int           // slots per backend; 0: no limit (and no line)
	line     *hangup.Admission
	log      *slog.Logger // ejections and returns; nil: none
	retry    retryPolicy

	mu   sync.Mutex
	owed int    // slots to withhold from the line as they come free; guarded by mu
	held int    // slots withheld; guarded by mu
	give func() // the line's release, to return held slots; guarded by mu
}

// newPool makes the backends of cfg, which check has accepted, each with its
// own connections.
func newPool(cfg *Config, fwd *forwarding, m *metrics) *pool {
	ups := cfg.upstreams()
	pl := &pool{policy: cfg.Balance, limit: cfg.MaxInflight, log: cfg.Logger}
	if pl.policy == "" {
		pl.policy = BalanceLeastInflight
	}
	pl.line = newLine(cfg, len(ups))
	pl.retry = retryPolicy{idempotent: cfg.RetryIdempotent}
	for _, u := range ups {
		b := &backend{name: upstreamName(u), target: u}
		network, addr := "tcp", ""
		switch u.Scheme {
		case "unix":
			// The socket's path is where to dial, not part of the requests,
			// which go to http://localhost, as nginx's do.
			network, addr = "unix", u.Path
			b.target = &url.URL{Scheme: "http", Host: "localhost"}
		case "h2c":
			t := *u
			t.Scheme = "http" // the requests' scheme; h2cTransport speaks HTTP/2
			b.target = &t
		}
		f := *fwd
		f.upstreamHost = b.target.Host
		b.fwd = &f
		b.rt = cfg.Transport
		if b.rt == nil && u.Scheme == "h2c" {
			b.rt = h2cTransport()
		}
		if b.rt == nil {
			t := http.DefaultTransport.(*http.Transport).Clone()
			t.MaxIdleConnsPerHost = 64
			t.DisableCompression = true
			t.DialContext = dialUpstream(network, addr)
			if u.Scheme == "https" {
				setUpstreamTLS(t, u, cfg.UpstreamTLS)
			}
			if network == "unix" {
				t.Proxy = nil
			}
			b.rt = t
		}
		b.viaProxy = forwardProxied(b.rt, b.target)
		if cfg.Transport == nil && u.Scheme != "h2c" && h1Upstream(b.target) {
			b.h1 = newH1Transport(b.target)
			if network == "unix" {
				b.h1.network, b.h1.addr = network, addr
			}
			b.h1.fwd = b.fwd
			b.direct = directUpstream(b.target)
		}
		b.health.init(cfg.MaxFails, cfg.FailTimeout)
		b.m = m.backend(b.name)
		pl.backends = append(pl.backends, b)
	}
	return pl
}

// upstreamName is how logs and metrics name u.
func upstreamName(u *url.URL) string {
	if u.Scheme == "unix" {
		return "unix:" + u.Path
	}
	return u.Host
}

// checkUpstreams checks the pool's URLs: http, https, h2c or unix, no
// credentials, each once, and one path and query for all (a request is
// built once and may be retried on another upstream).
func checkUpstreams(ups []*url.URL, ownTransport, upstreamTLS bool) error {
	if len(ups) == 0 {
		return errors.New("proxy: no upstream")
	}
	seen := make(map[string]bool)
	var first *url.URL
	for _, u := range ups {
		switch {
		case u == nil:
			return errors.New("proxy: a nil upstream")
		case u.Scheme == "unix":
			if !strings.HasPrefix(u.Path, "/") || u.Host != "" || u.RawQuery != "" {
				return fmt.Errorf("proxy: upstream %q: want unix:/absolute/path/to.sock", u.String())
			}
			if ownTransport {
				return fmt.Errorf("proxy: upstream %q: a unix socket needs the proxy's own Transport (Config.Transport unset)", u.String())
			}
		case u.Scheme == "h2c" && ownTransport:
			return fmt.Errorf("proxy: upstream %q: h2c needs the proxy's own Transport (Config.Transport unset); with a Transport of your own, give the upstream as http:// and have that Transport speak HTTP/2 without TLS", u.String())
		case u.Scheme == "https" && ownTransport && upstreamTLS:
			return fmt.Errorf("proxy: upstream %q: UpstreamTLS applies to the proxy's own Transport; with Config.Transport set, give the TLS settings to that Transport", u.String())
		case u.Scheme != "http" && u.Scheme != "https" && u.Scheme != "h2c":
			return fmt.Errorf("proxy: upstream %q: the scheme must be http, https, h2c or unix", u.String())
		case u.Host == "":
			return fmt.Errorf("proxy: upstream %q has no host", u.String())
		case u.User != nil:
			return fmt.Errorf("proxy: upstream %q: credentials in the URL are not supported", u.Redacted())
		}
		name := upstreamName(u)
		if seen[name] {
			return fmt.Errorf("proxy: upstream %s given twice; give each upstream once", name)
		}
		seen[name] = true
		if u.Scheme == "unix" {
			u = &url.URL{}
		}
		if first == nil {
			first = u
		} else if u.EscapedPath() != first.EscapedPath() || u.RawQuery != first.RawQuery {
			return fmt.Errorf("proxy: upstreams %q and %q: every upstream must have the same path and query (a request may be retried on another)", first.String(), u.String())
		}
	}
	return nil
}

// dialUpstreamTo dials addr on network (empty addr: the address asked for).
func dialUpstreamTo(d *net.Dialer, network, addr string) func(ctx context.Context, n, a string) (net.Conn, error) {
	return func(ctx context.Context, n, a string) (net.Conn, error) {
		if addr != "" {
			n, a = network, addr
		}
		c, err := d.DialContext(ctx, n, a)
		if err != nil {
			return nil, &dialError{err}
		}
		return c, nil
	}
}

// dialError is a failure to connect to an upstream: the request never
// reached it (retry.go), and the upstream counts one failure (health.go).
type dialError struct{ err error }

func (e *dialError) Error() string { return e.err.Error() }
func (e *dialError) Unwrap() error { return e.err }

// take takes a slot in the line for a request whose record is rec, waiting
// if need be, and gives the request a backend (rec.up). It reports whether
// the request joined the line, and fails as admit does. On success the
// caller must call done(rec, slot) once.
func (p *Proxy) take(ctx context.Context, rec *record) (slot func(), queued bool, err error) {
	slot, queued, err = p.admit(ctx)
	if err != nil {
		return nil, queued, err
	}
	pl := p.pool
	pl.retry.requests.Add(1)
	rec.up.Store(pl.pick(rec, nil))
	return slot, queued, nil
}

// done ends a request that take let in: its backend's slot, and the line's.
func (pl *pool) done(rec *record, slot func()) {
	if b := rec.up.Load(); b != nil {
		unpick(rec, b)
	}
	pl.giveBack(slot)
}

// unpick gives back what pick took of b for rec.
func unpick(rec *record, b *backend) {
	b.inflight.Add(-1)
	if rec.probe {
		rec.probe = false
		b.health.probeDone()
	}
}

// backendOf is the backend rec's request was given (the first without one).
func (pl *pool) backendOf(rec *record) *backend {
	if rec != nil {
		if b := rec.up.Load(); b != nil {
			return b
		}
	}
	return pl.backends[0]
}

// pick returns a backend for rec, not one of tried, with its in-flight count
// taken: a backend due for its probe first (health.go), then the policy's
// choice among the healthy ones with a free slot. For a first attempt
// (tried empty) it always returns one: when every backend is ejected, the
// least recently ejected, as Envoy's panic mode does (a request that might
// succeed rather than a 502 for nothing); when the healthy ones are full
// (the line's withheld slots lag an ejection by a moment), the least busy.
// For a retry it returns nil when no other backend is healthy with room
// (after may then overflow).
func (pl *pool) pick(rec *record, tried []*backend) *backend {
	if len(pl.backends) == 1 {
		b := pl.backends[0]
		b.inflight.Add(1)
		return b
	}
	var now time.Time
	var buf [16]*backend
	ok := buf[:0]
	for _, b := range pl.backends {
		if isTried(b, tried) || !pl.room(b) {
			continue
		}
		if !b.health.down.Load() {
			ok = append(ok, b)
			continue
		}
		if now.IsZero() {
			now = time.Now()
		}
		if b.health.takeProbe(now) {
			rec.probe = true
			b.inflight.Add(1)
			return b
		}
	}
	var b *backend
	switch {
	case len(ok) == 0:
		b = pl.fallback(tried)
		if b == nil {
			return nil
		}
	case len(ok) == 1 || pl.policy == BalanceFirst:
		b = ok[0]
	case pl.policy == BalanceRoundRobin:
		b = ok[int(pl.turn.Add(1)%uint64(len(ok)))]
	default:
		i := rand.IntN(len(ok))
		j := rand.IntN(len(ok) - 1)
		if j >= i {
			j++
		}
		b = ok[i]
		if ok[j].inflight.Load() < b.inflight.Load() {
			b = ok[j]
		}
	}
	b.inflight.Add(1)
	return b
}

// fallback is pick's backend when no healthy one has room: the least
// recently ejected with room, not tried; for a first attempt, if none, the
// least busy.
func (pl *pool) fallback(tried []*backend) *backend {
	var best *backend
	for _, b := range pl.backends {
		if isTried(b, tried) || !pl.room(b) || !b.health.down.Load() {
			continue
		}
		if best == nil || b.health.ejectedAt().Before(best.health.ejectedAt()) {
			best = b
		}
	}
	if best != nil || len(tried) > 0 {
		return best
	}
	for _, b := range pl.backends {
		if best == nil || b.inflight.Load() < best.inflight.Load() {
			best = b
		}
	}
	return best
}

// overflow is after's backend for a request that never reached the one it
// tried when no other healthy one has room (retry.go): the least busy
// healthy one not tried, with its in-flight count taken, past the limit;
// nil if there is none.
func (pl *pool) overflow(tried []*backend) *backend {
	var best *backend
	for _, b := range pl.backends {
		if isTried(b, tried) || b.health.down.Load() {
			continue
		}
		if best == nil || b.inflight.Load() < best.inflight.Load() {
			best = b
		}
	}
	if best != nil {
		best.inflight.Add(1)
	}
	return best
}

func (pl *pool) room(b *backend) bool {
	return pl.limit <= 0 || b.inflight.Load() < int64(pl.limit)
}

func isTried(b *backend, tried []*backend) bool {
	for _, t := range tried {
		if t == b {
			return true
		}
	}
	return false
}

// giveBack returns a slot to the line, or keeps it while slots are owed
// for an ejected backend.
func (pl *pool) giveBack(slot func()) {
	if pl.line == nil {
		return
	}
	pl.mu.Lock()
	pl.give = slot
	if pl.owed > 0 {
		pl.owed--
		pl.held++
		pl.mu.Unlock()
		return
	}
	pl.mu.Unlock()
	slot()
}

// withhold makes the slots withheld from the line those of the ejected
// backends, but for the least recently ejected one when all are (it still
// takes requests: see pick).
func (pl *pool) withhold() {
	if pl.line == nil {
		return
	}
	want, down := 0, 0
	for _, b := range pl.backends {
		if b.health.down.Load() {
			want += pl.limit
			down++
		}
	}
	if down == len(pl.backends) {
		want -= pl.limit
	}
	pl.mu.Lock()
	have := pl.owed + pl.held
	switch {
	case want > have:
		pl.owed += want - have
		for pl.owed > 0 {
			slot, ok := pl.line.TryAcquire()
			if !ok {
				break
			}
			pl.give = slot
			pl.owed--
			pl.held++
		}
		pl.mu.Unlock()
	case want < have:
		n := have - want
		k := min(n, pl.owed)
		pl.owed -= k
		n -= k
		pl.held -= n
		give := pl.give
		pl.mu.Unlock()
		for range n {
			give()
		}
	default:
		pl.mu.Unlock()
	}
}

// healthy reports whether any backend is healthy (for /healthz).
func (pl *pool) healthy() bool {
	for _, b := range pl.backends {
		if !b.health.down.Load() {
			return true
		}
	}
	return false
}

// CloseIdleConnections closes every backend's idle connections.
func (pl *pool) CloseIdleConnections() {
	for _, b := range pl.backends {
		if b.h1 != nil {
			b.h1.CloseIdleConnections()
		}
		if c, ok := b.rt.(interface{ CloseIdleConnections() }); ok {
			c.CloseIdleConnections()
		}
	}
}
