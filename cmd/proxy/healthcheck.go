package proxy

import (
	"context"
	"io"
	"net/http"
	"sync"
	"time"
)

// Active health checks (issue 12, item 2), as nginx's health_check, HAProxy's
// "option httpchk" and Caddy's active health checks: with
// Config.HealthPath, each upstream is asked GET HealthPath, at its root,
// every HealthInterval, on its own timer, through its own Transport (its
// TLS, its socket). An answer of 2xx or 3xx within HealthTimeout passes;
// another status, or no answer in time, fails. MaxFails failed checks in a
// row (one, if MaxFails says never) eject the upstream, as passive failures
// do (health.go: the same log line and counters), and a check that passes
// brings it back.
//
// With checks on, they decide when an ejected upstream returns: it gets no
// probe request (health.go) at the end of its FailTimeout, since an
// upstream whose health endpoint says 503 would answer the probe, return,
// and be ejected again at the next check. Passive ejection still works
// between checks: requests that fail eject an upstream at once, and a
// passing check returns it.
//
// Checks run while Serve does: they start with it, and for the upstreams a
// reload adds; they stop for the upstreams it takes out, and when Serve
// returns.

// Defaults of the health check settings.
const (
	DefaultHealthInterval = 5 * time.Second
	DefaultHealthTimeout  = 2 * time.Second
)

// healthCheck is a backend's active health check; nil: none.
type healthCheck struct {
	url      string // the upstream's root and the path
	interval time.Duration
	timeout  time.Duration

	mu   sync.Mutex
	stop context.CancelFunc // nil: not running; guarded by mu
	done chan struct{}      // closed when the checks stopped; guarded by mu
}

// newHealthCheck is b's health check of cfg; nil without HealthPath.
func newHealthCheck(cfg *Config, b *backend) *healthCheck {
	if cfg.HealthPath == "" {
		return nil
	}
	return &healthCheck{url: b.target.Scheme + "://" + b.target.Host + cfg.HealthPath, interval: cfg.HealthInterval, timeout: cfg.HealthTimeout}
}

// startChecks starts the checks of the current pool's backends, for Serve.
func (ups *pools) startChecks() {
	ups.reload.Lock()
	defer ups.reload.Unlock()
	ups.checking = true
	for _, b := range ups.cur.Load().backends {
		b.startCheck(ups)
	}
}

// stopChecks stops every check and waits for them, when Serve returns.
func (ups *pools) stopChecks() {
	ups.reload.Lock()
	defer ups.reload.Unlock()
	ups.checking = false
	for _, b := range ups.all() {
		b.stopCheck()
	}
}

// startCheck starts b's checks, unless it has none or they run.
func (b *backend) startCheck(ups *pools) {
	c := b.check
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stop != nil {
		return
	}
	ctx, stop := context.WithCancel(context.Background())
	c.stop, c.done = stop, make(chan struct{})
	go b.runChecks(ctx, ups, c.done)
}

// stopCheck stops b's checks, and returns once they are stopped.
func (b *backend) stopCheck() {
	c := b.check
	if c == nil {
		return
	}
	c.mu.Lock()
	stop, done := c.stop, c.done
	c.stop = nil
	c.mu.Unlock()
	if stop != nil {
		stop()
		<-done
	}
}

// runChecks checks b at once, then every interval, until ctx ends.
func (b *backend) runChecks(ctx context.Context, ups *pools, done chan struct{}) {
	defer close(done)
	t := time.NewTicker(b.check.interval)
	defer t.Stop()
	for {
		failure, ok := b.checkOnce(ctx)
		if !ok {
			return
		}
		ups.cur.Load().checked(b, failure)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// checkOnce asks b's health path once, and says why it failed ("": it
// passed); ok is false when ctx ended first.
func (b *backend) checkOnce(ctx context.Context) (failure string, ok bool) {
	cctx, cancel := context.WithTimeout(ctx, b.check.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(cctx, http.MethodGet, b.check.url, nil)
	if err != nil {
		return err.Error(), true
	}
	req.Header.Set("User-Agent", "hangup-proxy health check")
	res, err := b.rt.RoundTrip(req)
	if ctx.Err() != nil {
		if err == nil {
			res.Body.Close()
		}
		return "", false
	}
	if err != nil {
		if cctx.Err() != nil {
			return "no answer in " + b.check.timeout.String(), true
		}
		return err.Error(), true
	}
	// Read a little of the body, so that the connection may serve the
	// next check.
	io.Copy(io.Discard, io.LimitReader(res.Body, 64<<10))
	res.Body.Close()
	if res.StatusCode < 200 || res.StatusCode >= 400 {
		return "GET " + req.URL.Path + ": " + res.Status, true
	}
	return "", true
}

// checked gives b the verdict of one health check: failure says why it
// failed, "" that it passed.
func (pl *pool) checked(b *backend, failure string) {
	if pl.named(b.name) != b {
		// A reload retired b while its check ran: no verdict, no log line.
		return
	}
	h := &b.health
	if failure == "" {
		h.checkFails.Store(0)
		h.fails.Store(0)
		if h.down.Load() {
			pl.restore(b)
		}
		return
	}
	if n := h.checkFails.Add(1); int(n) >= max(h.maxFails, 1) && !h.down.Load() {
		pl.eject(b, int(n), "health_check", failure)
	}
}
