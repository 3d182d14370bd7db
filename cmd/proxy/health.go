package proxy

import (
	"sync"
	"sync/atomic"
	"time"
)

// Passive health (issue 12), as nginx's max_fails/fail_timeout and Envoy's
// outlier detection: a backend that fails Config.MaxFails times in a row (a
// connection that could not be made, refused or timed out or its TLS
// handshake failed (upstreamtls.go), or no answer's head within
// Config.UpstreamTimeout) is ejected for Config.FailTimeout,
// then given one request, the probe. An answer, whatever its status, to the
// probe or to any request, brings it back; a probe that fails ejects it
// again for twice as long as the last time, up to maxEjection. Other errors
// (an answer cut short, a malformed one) neither count nor clear a failure:
// the upstream was reached and answered something.
//
// Ejections and returns are logged, one line each, and counted
// (hangup_proxy_upstream_ejections_total, hangup_proxy_upstream_healthy).
// An ejected backend gets no requests, but for its probe, while another is
// healthy; when all are, the least recently ejected gets them (pick).

// Defaults of the health settings.
const (
	DefaultMaxFails    = 3
	DefaultFailTimeout = 10 * time.Second
	// maxEjection caps the doubling ejections (Envoy's max_ejection_time),
	// unless FailTimeout itself is longer.
	maxEjection = 5 * time.Minute
)

// health is one backend's state. down and fails are read without the lock
// by every pick and every answer; transitions take it.
type health struct {
	maxFails int // 0: never ejected
	base     time.Duration
	active   bool         // health checks decide returns: no probe request (healthcheck.go)
	down     atomic.Bool  // ejected (its probe may be due)
	fails    atomic.Int32 // failures in a row
	ejected  atomic.Uint64
	// checkFails counts the health checks failed in a row
	// (healthcheck.go), apart from fails: an upstream whose checks fail
	// while its requests are answered is still ejected.
	checkFails atomic.Int32

	mu      sync.Mutex
	since   time.Time     // ejected at; guarded by mu
	until   time.Time     // ejected until; guarded by mu
	backoff time.Duration // the current ejection's length; guarded by mu
	probing bool          // a probe is out; guarded by mu
}

func (h *health) init(maxFails int, base time.Duration, active bool) {
	h.maxFails = max(maxFails, 0)
	h.base = base
	h.active = active
}

// takeProbe reports whether the ejected backend's probe is due at now, and
// if so, takes it: no other request gets it until probeDone or a verdict.
func (h *health) takeProbe(now time.Time) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.active || !h.down.Load() || h.probing || now.Before(h.until) {
		return false
	}
	h.probing = true
	return true
}

// probeDone gives the probe back without a verdict (its client left).
func (h *health) probeDone() {
	h.mu.Lock()
	h.probing = false
	h.mu.Unlock()
}

func (h *health) ejectedAt() time.Time {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.since
}

// Verdicts on one attempt, for report.
const (
	attemptAnswered = iota // an answer's head came in
	attemptFailed          // no connection, or no head in time
	attemptOther           // neither: no verdict on the backend
)

// report gives b the verdict on one attempt of rec's request, and tells the
// pool of an ejection or a return.
func (pl *pool) report(b *backend, rec *record, verdict int) {
	h := &b.health
	probe := rec != nil && rec.probe && rec.up.Load() == b
	if probe {
		rec.probe = false
	}
	if b.retired.Load() {
		// A reload took it out: no verdict (an ejection would withhold
		// nothing, and log about an upstream gone).
		if probe {
			h.probeDone()
		}
		return
	}
	switch verdict {
	case attemptAnswered:
		if h.fails.Load() != 0 {
			h.fails.Store(0)
		}
		if h.down.Load() {
			pl.restore(b)
		}
	case attemptFailed:
		n := h.fails.Add(1)
		if h.maxFails > 0 && (probe || (int(n) >= h.maxFails && !h.down.Load())) {
			pl.eject(b, int(n))
		}
	default:
		if probe {
			h.probeDone()
		}
	}
}

// eject takes b out for its next backoff, or again, after a failed probe,
// for twice the last; with health checks, until one passes. attrs are
// more of the log line's.
func (pl *pool) eject(b *backend, fails int, attrs ...any) {
	h := &b.health
	h.mu.Lock()
	if h.down.Load() && !h.probing {
		h.mu.Unlock()
		return // already out: a failure of a request sent before
	}
	switch {
	case !h.down.Load() || h.backoff == 0:
		h.backoff = h.base
	default:
		h.backoff = min(2*h.backoff, max(maxEjection, h.base))
	}
	now := time.Now()
	h.since, h.until, h.probing = now, now.Add(h.backoff), false
	h.down.Store(true)
	backoff := h.backoff
	h.mu.Unlock()
	h.ejected.Add(1)
	pl.ups.withhold()
	if pl.log != nil {
		until := backoff.String()
		if h.active {
			until = "until a health check passes"
		}
		pl.log.Warn("upstream ejected", append([]any{"upstream", b.name, "fails", fails, "for", until}, attrs...)...)
	}
}

// restore brings b back after an answer.
func (pl *pool) restore(b *backend) {
	h := &b.health
	h.mu.Lock()
	if !h.down.Load() {
		h.mu.Unlock()
		return
	}
	out := time.Since(h.since)
	h.down.Store(false)
	h.probing, h.backoff = false, 0
	h.mu.Unlock()
	pl.ups.withhold()
	if pl.log != nil {
		pl.log.Info("upstream returned", "upstream", b.name, "after", out.Round(time.Millisecond).String())
	}
}
