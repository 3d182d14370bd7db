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
	"slices"
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
	limit    int          // its slots; 0: no limit (and no line)
	// inflight counts the requests at its upstream, given to it or to the
	// backend of the same name that a reload replaced (reload.go): one
	// count per upstream, so that a reload never lets more than its limit
	// in at once.
	inflight *atomic.Int64
	own      atomic.Int64    // requests given to this backend and not yet done
	retired  atomic.Bool     // a reload took it out of the pool (reload.go)
	settings backendSettings // what it was made of, to tell whether a reload changes it
	health   health
	check    *healthCheck // nil: no active health checks (healthcheck.go)
	m        *backendMetrics
}

// pool holds the backends and picks one for each request. A reload
// replaces it whole (reload.go); the line and its withheld slots are the
// pools'.
type pool struct {
	backends []*backend
	policy   string
	turn     atomic.Uint64 // round_robin's next
	direct   bool          // every backend may take the direct path (direct.go)
	log      *slog.Logger  // ejections and returns; nil: none
	retry    retryPolicy
	ups      *pools
}

// pools is the proxy's pool of the moment, and what outlives a reload: the
// admission line and the slots withheld from it.
type pools struct {
	cur    atomic.Pointer[pool]
	line   *hangup.Admission // nil: no MaxInflight, no line
	reload sync.Mutex        // held by Reload (reload.go), and to start and stop the health checks
	// checking: Serve runs, and so do the backends' health checks
	// (healthcheck.go); guarded by reload
	checking bool

	mu      sync.Mutex
	owed    int        // slots to withhold from the line as they come free; guarded by mu
	held    int        // slots withheld; guarded by mu
	give    func()     // the line's release, to return held slots; guarded by mu
	retired []*backend // taken out by reloads and not yet drained; guarded by mu
}

// newPool makes the backends of cfg, which check has accepted, each with its
// own connections, but for those of old (the pool a reload replaces, or
// nil) that cfg leaves as they were, which it keeps.
func newPool(cfg *Config, fwd *forwarding, m *metrics, ups *pools, old *pool) *pool {
	pl := &pool{policy: cfg.Balance, log: cfg.Logger, ups: ups, direct: true}
	if pl.policy == "" {
		pl.policy = BalanceLeastInflight
	}
	pl.retry = retryPolicy{idempotent: cfg.RetryIdempotent}
	for _, u := range cfg.upstreams() {
		b := newBackend(cfg, u, fwd, m, ups, old)
		pl.direct = pl.direct && b.direct
		pl.backends = append(pl.backends, b)
	}
	return pl
}

// newBackend makes the backend of cfg for u, or returns old's if it has
// the same settings. A new backend of a name that old has, or that an
// earlier reload retired, counts its requests in flight with that one's.
func newBackend(cfg *Config, u *url.URL, fwd *forwarding, m *metrics, ups *pools, old *pool) *backend {
	name := UpstreamName(u)
	opt := cfg.UpstreamOptions[name]
	tlsConf := cfg.UpstreamTLS
	if opt.TLS != nil {
		tlsConf = opt.TLS
	}
	limit := cfg.MaxInflight
	if opt.MaxInflight > 0 {
		limit = opt.MaxInflight
	}
	settings := backendSettings{url: u.String(), limit: limit, maxFails: cfg.MaxFails, failTimeout: cfg.FailTimeout, rt: cfg.Transport, tls: tlsConf,
		healthPath: cfg.HealthPath, healthInterval: cfg.HealthInterval, healthTimeout: cfg.HealthTimeout}
	inflight := new(atomic.Int64)
	if prev := old.named(name); prev != nil {
		if prev.settings.equal(&settings) {
			return prev
		}
		inflight = prev.inflight
	} else if prev := ups.retiredNamed(name); prev != nil {
		inflight = prev.inflight
	}
	b := &backend{name: name, target: u, limit: limit, inflight: inflight, settings: settings}
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
			setUpstreamTLS(t, u, tlsConf)
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
	b.check = newHealthCheck(cfg, b)
	b.health.init(cfg.MaxFails, cfg.FailTimeout, b.check != nil)
	b.m = m.backend(b.name)
	return b
}

// UpstreamName is how logs, metrics and Config.UpstreamOptions name the
// upstream u: host:port as in its URL, or unix:/path.
func UpstreamName(u *url.URL) string {
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
		name := UpstreamName(u)
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

// checkUpstreamOptions checks that every UpstreamOptions is an upstream's,
// and fits it.
func (cfg *Config) checkUpstreamOptions() error {
	scheme := make(map[string]string)
	for _, u := range cfg.upstreams() {
		scheme[UpstreamName(u)] = u.Scheme
	}
	for name, o := range cfg.UpstreamOptions {
		s, ok := scheme[name]
		switch {
		case !ok:
			return fmt.Errorf("proxy: UpstreamOptions for %q, which is no upstream of the pool; name it as logs do: host:port, or unix:/path", name)
		case o.MaxInflight < 0:
			return fmt.Errorf("proxy: UpstreamOptions of %s: MaxInflight must not be negative", name)
		case o.MaxInflight > 0 && cfg.MaxInflight <= 0:
			return fmt.Errorf("proxy: UpstreamOptions of %s: MaxInflight needs Config.MaxInflight, the other upstreams' (the pool's line counts every upstream's slots)", name)
		case o.TLS != nil && s != "https":
			return fmt.Errorf("proxy: UpstreamOptions of %s: TLS is for an https:// upstream", name)
		case o.TLS != nil && cfg.Transport != nil:
			return fmt.Errorf("proxy: UpstreamOptions of %s: TLS applies to the proxy's own Transport; with Config.Transport set, give the TLS settings to that Transport", name)
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
	pl := p.pool()
	pl.retry.requests.Add(1)
	b := pl.pick(rec, nil, false)
	for now := p.pool(); now != pl; now = p.pool() {
		// A reload swapped the pool while b was picked: b may be an
		// upstream it removed, so pick again from the new one.
		if b != nil {
			unpick(rec, b)
		}
		pl = now
		b = pl.pick(rec, nil, false)
	}
	rec.up.Store(b)
	return slot, queued, nil
}

// pool is the proxy's pool of the moment: a reload may replace it while a
// request is at one of its backends.
func (p *Proxy) pool() *pool { return p.ups.cur.Load() }

// done ends a request that take let in: its backend's slot, and the line's.
func (ups *pools) done(rec *record, slot func()) {
	if b := rec.up.Load(); b != nil {
		unpick(rec, b)
	}
	ups.giveBack(slot)
}

// unpick gives back what pick took of b for rec.
func unpick(rec *record, b *backend) {
	b.drop()
	if rec.probe {
		rec.probe = false
		b.health.probeDone()
	}
}

// take counts one more request given to b.
func (b *backend) take() {
	b.inflight.Add(1)
	b.own.Add(1)
}

// drop counts one request less, and closes the idle connections of a
// backend a reload retired once it has none (reload.go).
func (b *backend) drop() {
	b.inflight.Add(-1)
	if b.own.Add(-1) == 0 && b.retired.Load() {
		b.closeIdle()
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
// (after may then overflow); direct: none that cannot take the direct path
// (a retry of a request on it, direct.go).
func (pl *pool) pick(rec *record, tried []*backend, direct bool) *backend {
	if len(pl.backends) == 1 && len(tried) == 0 {
		b := pl.backends[0]
		b.take()
		return b
	}
	var now time.Time
	var buf [16]*backend
	ok := buf[:0]
	for _, b := range pl.backends {
		if isTried(b, tried) || !b.room() || (direct && !b.direct) {
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
			b.take()
			return b
		}
	}
	var b *backend
	switch {
	case len(ok) == 0:
		b = pl.fallback(tried, direct)
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
	b.take()
	return b
}

// fallback is pick's backend when no healthy one has room: the least
// recently ejected with room, not tried; for a first attempt, if none, the
// least busy.
func (pl *pool) fallback(tried []*backend, direct bool) *backend {
	var best *backend
	for _, b := range pl.backends {
		if isTried(b, tried) || !b.room() || !b.health.down.Load() || (direct && !b.direct) {
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
// healthy one not tried (direct: that can take the direct path), with its
// in-flight count taken, past the limit; nil if there is none.
func (pl *pool) overflow(tried []*backend, direct bool) *backend {
	var best *backend
	for _, b := range pl.backends {
		if isTried(b, tried) || b.health.down.Load() || (direct && !b.direct) {
			continue
		}
		if best == nil || b.inflight.Load() < best.inflight.Load() {
			best = b
		}
	}
	if best != nil {
		best.take()
	}
	return best
}

func (b *backend) room() bool {
	return b.limit <= 0 || b.inflight.Load() < int64(b.limit)
}

// isTried reports whether b's upstream is one of tried's: by name, as a
// reload may have replaced a backend tried by one of the same upstream.
func isTried(b *backend, tried []*backend) bool {
	for _, t := range tried {
		if t.name == b.name {
			return true
		}
	}
	return false
}

// giveBack returns a slot to the line, or keeps it while slots are owed
// for an ejected backend.
func (ups *pools) giveBack(slot func()) {
	if ups.line == nil {
		return
	}
	ups.mu.Lock()
	ups.give = slot
	if ups.owed > 0 {
		ups.owed--
		ups.held++
		ups.mu.Unlock()
		return
	}
	ups.mu.Unlock()
	slot()
}

// withhold makes the slots withheld from the line those of the current
// pool's ejected backends, but for the least recently ejected one when all
// are (it still takes requests: see pick). Whatever pool its caller holds,
// it counts the current one's: an ejection seen by a request of the pool a
// reload replaced is the current pool's if the backend is in it, and
// nobody's slots if not.
func (ups *pools) withhold() {
	if ups.line == nil {
		return
	}
	ups.mu.Lock()
	pl := ups.cur.Load()
	want, down := 0, 0
	var first *backend // the least recently ejected
	for _, b := range pl.backends {
		if b.health.down.Load() {
			want += b.limit
			down++
			if first == nil || b.health.ejectedAt().Before(first.health.ejectedAt()) {
				first = b
			}
		}
	}
	if down == len(pl.backends) {
		want -= first.limit
	}
	have := ups.owed + ups.held
	switch {
	case want > have:
		ups.owed += want - have
		for ups.owed > 0 {
			slot, ok := ups.line.TryAcquire()
			if !ok {
				break
			}
			ups.give = slot
			ups.owed--
			ups.held++
		}
		ups.mu.Unlock()
	case want < have:
		n := have - want
		k := min(n, ups.owed)
		ups.owed -= k
		n -= k
		ups.held -= n
		give := ups.give
		ups.mu.Unlock()
		for range n {
			give()
		}
	default:
		ups.mu.Unlock()
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

// CloseIdleConnections closes the idle connections of every backend, those
// that reloads retired included.
func (ups *pools) CloseIdleConnections() {
	for _, b := range ups.all() {
		b.closeIdle()
	}
}

// all are the current pool's backends and those reloads retired that may
// still be in use.
func (ups *pools) all() []*backend {
	ups.mu.Lock()
	defer ups.mu.Unlock()
	return append(slices.Clip(ups.cur.Load().backends), ups.retired...)
}

// closeIdle closes b's idle connections.
func (b *backend) closeIdle() {
	if b.h1 != nil {
		b.h1.CloseIdleConnections()
	}
	if c, ok := b.rt.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

// slots is the size of the pool's line: every backend's slots.
func (pl *pool) slots() int {
	n := 0
	for _, b := range pl.backends {
		n += b.limit
	}
	return n
}

// retiredNamed returns the backend named name that a reload retired, the
// latest if several; nil if none.
func (ups *pools) retiredNamed(name string) *backend {
	ups.mu.Lock()
	defer ups.mu.Unlock()
	for i := len(ups.retired) - 1; i >= 0; i-- {
		if b := ups.retired[i]; b.name == name {
			return b
		}
	}
	return nil
}

// named returns pl's backend named name; nil if none (or pl is nil).
func (pl *pool) named(name string) *backend {
	if pl == nil {
		return nil
	}
	for _, b := range pl.backends {
		if b.name == name {
			return b
		}
	}
	return nil
}
