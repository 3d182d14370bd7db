package proxy

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"
)

// Reloading the pool (issue 12, item 5). Reload swaps the pool for a new
// one without dropping a request:
//
//   - A request in flight keeps the backend it was given, whichever pool it
//     came from; only its retries (retry.go) go to the new pool.
//   - A request in line stays in line: the line is the same
//     hangup.Admission, resized (Admission.SetLimit) to the new pool's
//     slots, every upstream's max_inflight. A larger line lets waiters in at
//     once, to the new pool; a smaller one takes no slot back and lets
//     nobody in until fewer than its limit are held. The rejected
//     alternative, a new line for the new pool, either strands the old
//     line's waiters or, if both lines admit, lets in the old line's slots
//     and the new one's at once: twice the work the upstreams were sized
//     for.
//   - An upstream that the reload leaves as it was keeps its backend: its
//     connections, health, health checks and counts. One whose settings
//     change (its TLS, its max_inflight, the health settings) gets a new
//     backend, whose
//     requests in flight are counted with the old one's, so that the
//     upstream never gets more than its max_inflight across the swap.
//   - A backend that the reload takes out (its upstream removed, or its
//     settings changed) is retired: it gets no new request, and its
//     connections are closed as they become idle, the last once its last
//     request is done.
//
// Reload takes the pool's settings from the new Config: Upstream(s),
// UpstreamOptions, UpstreamTLS, Balance, MaxInflight (limited or not, as at
// New), MaxFails, FailTimeout, RetryIdempotent, HealthPath, HealthInterval,
// HealthTimeout. The other fields are
// Serve's and the line's, which run on as New set them; the command
// (cmd/hangup) refuses a reload that changes them.

// backendSettings are what a backend is made of: a reload keeps a backend
// whose settings are equal.
type backendSettings struct {
	url         string
	limit       int
	maxFails    int
	failTimeout time.Duration
	rt          http.RoundTripper // Config.Transport
	tls         *tls.Config

	healthPath                    string
	healthInterval, healthTimeout time.Duration
}

// diff names what differs between s and o; none: equal.
func (s *backendSettings) diff(o *backendSettings) []string {
	var d []string
	if s.url != o.url {
		d = append(d, "url "+s.url+"→"+o.url)
	}
	if s.limit != o.limit {
		d = append(d, fmt.Sprintf("max_inflight %d→%d", s.limit, o.limit))
	}
	if s.maxFails != o.maxFails {
		d = append(d, fmt.Sprintf("max_fails %d→%d", s.maxFails, o.maxFails))
	}
	if s.failTimeout != o.failTimeout {
		d = append(d, fmt.Sprintf("fail_timeout %s→%s", s.failTimeout, o.failTimeout))
	}
	if s.rt != o.rt {
		d = append(d, "transport")
	}
	if !sameTLS(s.tls, o.tls) {
		d = append(d, "tls")
	}
	if was, now := s.healthCheck(), o.healthCheck(); was != now {
		d = append(d, "health check "+was+"→"+now)
	}
	return d
}

func (s *backendSettings) equal(o *backendSettings) bool { return len(s.diff(o)) == 0 }

// healthCheck says s's health check, for diff.
func (s *backendSettings) healthCheck() string {
	if s.healthPath == "" {
		return "none"
	}
	return fmt.Sprintf("GET %s every %s (timeout %s)", s.healthPath, s.healthInterval, s.healthTimeout)
}

// sameTLS reports whether a and b configure the same TLS to an upstream, by
// what a configuration read from files holds: roots, certificates, server
// name, skip-verify, versions, protocols. One with callbacks is the same
// only as itself.
func sameTLS(a, b *tls.Config) bool {
	if a == b {
		return true
	}
	if a == nil || b == nil || a.GetClientCertificate != nil || b.GetClientCertificate != nil ||
		a.VerifyPeerCertificate != nil || b.VerifyPeerCertificate != nil || a.VerifyConnection != nil || b.VerifyConnection != nil {
		return false
	}
	if a.ServerName != b.ServerName || a.InsecureSkipVerify != b.InsecureSkipVerify || a.MinVersion != b.MinVersion ||
		a.MaxVersion != b.MaxVersion || !slices.Equal(a.NextProtos, b.NextProtos) || len(a.Certificates) != len(b.Certificates) {
		return false
	}
	if (a.RootCAs == nil) != (b.RootCAs == nil) || (a.RootCAs != nil && !a.RootCAs.Equal(b.RootCAs)) {
		return false
	}
	for i := range a.Certificates {
		if !slices.EqualFunc(a.Certificates[i].Certificate, b.Certificates[i].Certificate, bytes.Equal) {
			return false
		}
	}
	return true
}

// Reload calls load for a new configuration and, if New would accept it,
// swaps the pool for the one it describes: its Upstream(s),
// UpstreamOptions, UpstreamTLS, Balance, MaxInflight (which may change, but
// not from zero or to zero), MaxFails, FailTimeout, RetryIdempotent and the
// Health settings. The other fields are not looked at: the line's size
// and wait, the server's limits and the logs stay New's. Requests in
// flight finish at the upstream they have; requests in line stay in line
// and go to the new pool; the upstreams taken out close their connections
// once idle (see above). It logs one
// line: what changed, at INFO, or, when load fails or the configuration is
// refused, the reason at ERROR, and the proxy runs on as it was. It counts
// both (hangup_proxy_config_reloads_total{result}). Reloads run one at a
// time; Reload may be called while Serve runs, or without it.
func (p *Proxy) Reload(load func() (Config, error)) error {
	p.ups.reload.Lock()
	defer p.ups.reload.Unlock()
	cfg, err := load()
	var changes []string
	if err == nil {
		changes, err = p.swap(cfg)
	}
	if err != nil {
		p.m.reloaded(false)
		if p.log != nil {
			p.log.Error("config reload failed; the running configuration stays", "error", err.Error())
		}
		return err
	}
	p.m.reloaded(true)
	if p.log != nil {
		if len(changes) == 0 {
			changes = []string{"nothing"}
		}
		p.log.Info("config reloaded", "changed", strings.Join(changes, "; "))
	}
	return nil
}

// swap replaces the pool with cfg's, and says what changed.
func (p *Proxy) swap(cfg Config) ([]string, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	if (cfg.MaxInflight > 0) != (p.line != nil) {
		return nil, errors.New("proxy: MaxInflight can change at a reload, but not from no limit to a limit or back (the line is made at start): restart for that")
	}
	cfg.setDefaults()
	cfg.Logger = p.log // the proxy's, as the access log: New's
	p.warnInsecure(&cfg)
	old := p.pool()
	pl := newPool(&cfg, p.fwd, p.m, p.ups, old)
	changes := describeSwap(old, pl)
	grow := p.line != nil && pl.slots() >= old.slots()
	if p.line != nil && !grow {
		// Fewer slots first, so that no request let in meanwhile finds
		// the new pool full (pick would then overfill its least busy).
		p.line.SetLimit(pl.slots())
	}
	p.ups.cur.Store(pl)
	if grow {
		// More slots after, so that the waiters let in go to the new pool.
		p.line.SetLimit(pl.slots())
	}
	p.ups.retire(old, pl)
	p.ups.withhold()
	if p.ups.checking {
		for _, b := range pl.backends {
			b.startCheck(p.ups)
		}
	}
	return changes, nil
}

// retire takes the backends of old that pl did not keep out of service.
func (ups *pools) retire(old, pl *pool) {
	ups.mu.Lock()
	keep := ups.retired[:0]
	for _, b := range ups.retired {
		if b.own.Load() > 0 {
			keep = append(keep, b)
		}
	}
	clear(ups.retired[len(keep):])
	ups.retired = keep
	var gone []*backend
	for _, b := range old.backends {
		if !slices.Contains(pl.backends, b) {
			gone = append(gone, b)
			ups.retired = append(ups.retired, b)
		}
	}
	ups.mu.Unlock()
	for _, b := range gone {
		b.stopCheck()
		b.retired.Store(true)
		if b.h1 != nil {
			b.h1.retire()
		}
		// An http.Transport closes the connections that become idle after
		// CloseIdleConnections, until its next new request, which a retired
		// backend does not get (but for the Transport's own resend on a
		// dead connection: drop closes them again at the last request).
		b.closeIdle()
	}
}

// describeSwap says what the swap from old to pl changes: upstreams added
// (+), removed (-) and changed (~, with what), the balancing, the retries.
func describeSwap(old, pl *pool) []string {
	var d []string
	for _, b := range pl.backends {
		prev := old.named(b.name)
		switch {
		case prev == nil:
			d = append(d, "upstream +"+b.name)
		case prev != b:
			d = append(d, "upstream ~"+b.name+" ("+strings.Join(prev.settings.diff(&b.settings), ", ")+")")
		}
	}
	for _, b := range old.backends {
		if pl.named(b.name) == nil {
			d = append(d, "upstream -"+b.name)
		}
	}
	if old.policy != pl.policy {
		d = append(d, "lb "+old.policy+"→"+pl.policy)
	}
	if old.retry.idempotent != pl.retry.idempotent {
		d = append(d, fmt.Sprintf("retry_idempotent %v→%v", old.retry.idempotent, pl.retry.idempotent))
	}
	return d
}

// warnInsecure logs, once per reload or start, that the https upstreams of
// cfg whose certificates are not verified can be read and changed by
// anyone on the way.
func (p *Proxy) warnInsecure(cfg *Config) {
	insecure := cfg.UpstreamTLS != nil && cfg.UpstreamTLS.InsecureSkipVerify
	for _, o := range cfg.UpstreamOptions {
		insecure = insecure || (o.TLS != nil && o.TLS.InsecureSkipVerify)
	}
	if insecure && p.log != nil {
		p.log.Warn("upstream TLS certificates are not verified (insecure skip verify): anyone on the path to an https upstream can read and change its traffic; give its CA instead")
	}
}
