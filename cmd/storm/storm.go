// Package storm is a load generator of impatient users: the engine of
// "hangup storm".
//
// wrk, hey and vegeta measure patient clients. Real users are not: when a
// server is slow they reload, every reload adds load, and the request they
// abandoned keeps running on the server unless it notices they left. storm
// simulates such users and measures what a server's disconnect handling
// saves.
//
// In closed-loop mode (Config.Users) each user sends a request and waits at
// most its patience (a Dist). A complete response counts as goodput; the user
// thinks (Config.Think) and goes again. When patience runs out the user
// closes the connection — FIN, or RST with AbortRST — and with probability
// ReloadProb sends again at once (a reload), otherwise it leaves for a think
// time. In open-loop mode (Config.Rate) visitors arrive at random (a Poisson
// process) and each behaves like one such user until it gets a response, an
// error, or leaves.
//
// Each user speaks HTTP/1.1 on a connection of its own, so that an abandoned
// request ends the way it would in a browser: the connection is closed
// and never reused. A response delivered in full keeps the connection alive
// for the user's next request.
//
// # Definitions
//
//   - sent: a request started (its connect included).
//   - goodput: a response delivered in full — status 2xx or 3xx, body read
//     to EOF — to a user still waiting. Only goodput latencies are measured,
//     from the start of the request to the end of the body.
//   - abandoned: the user's patience ran out before the response was
//     complete (during connect, while waiting, or while reading the body).
//   - errors: connect (no connection), status_5xx, reset (the server reset
//     the connection), other (4xx, malformed or truncated responses).
//   - unfinished: requests cut short by the end of the run.
//   - useful, cancelled, wasted (with Config.MetricsURL): seconds of server
//     work scraped from demo_work_seconds_total{outcome="completed" |
//     "cancelled" | "wasted"}: work whose result was delivered, work stopped
//     early because its client had left, work run to the end for a client
//     already gone. hangup_requests_in_flight, if exported, is the server's
//     in-flight work in the series.
//
// # JSON
//
// A Result marshals to JSON with these stable field names (times in seconds
// unless the name says _ms):
//
//	config:  url, mode ("closed"|"open"), users, rate, patience, think,
//	         reload_prob, duration_s, abort ("fin"|"rst"), metrics_url
//	series:  [{t, sent, goodput, abandoned, errors, p99_ms, open, inflight,
//	         work: {useful_s, cancelled_s, wasted_s}}]   one per second
//	totals:  elapsed_s, sent, goodput, abandoned, reloads, left, errors,
//	         errors_by_kind: {connect, status_5xx, reset, other},
//	         unfinished, dropped, sent_per_s, goodput_per_s, abandoned_per_s,
//	         latency_ms: {count, p50, p90, p99, max, mean},
//	         work: {useful_s, cancelled_s, wasted_s}
//	warnings: [string]
//
// p99_ms is null in a second without goodput; inflight and work are null
// without metrics.
package storm

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"net/url"
	"strings"
	"sync"
	"time"
)

// Config describes a run. The zero values of the optional fields are
// documented defaults.
type Config struct {
	// URL is the http:// or https:// URL every user requests with GET.
	URL string
	// Users is the number of closed-loop users; in open-loop mode (Rate
	// > 0) it caps the visitors outstanding at once.
	Users int
	// Rate, if positive, selects open-loop mode: visitors per second.
	Rate float64
	// Patience is how long a user waits for a response before giving up.
	Patience Dist
	// Think is the pause between a user's requests (not after a reload).
	Think Dist
	// ReloadProb is the probability that a user who gave up reloads at
	// once rather than leaving.
	ReloadProb float64
	// Duration bounds the run; 0 runs until ctx ends.
	Duration time.Duration
	// Abort is how a user who gives up closes its connection.
	Abort Abort
	// ConnectTimeout bounds each connect (and TLS handshake); default 5s.
	// It is independent of patience, which bounds connect too.
	ConnectTimeout time.Duration
	// MetricsURL, if set, is a Prometheus text-format endpoint scraped
	// before the run, every second, and Settle after the run.
	MetricsURL string
	// Settle is how long to wait after the users stop before the final
	// scrape, so that work still running for abandoned requests is
	// counted ("hangup storm" waits 1s). Only used with MetricsURL.
	Settle time.Duration
	// Progress, if set, is called at the end of every second with that
	// second, from the goroutine that called Run.
	Progress func(Second)
	// Seed seeds the users' random choices; 0 picks a random seed.
	Seed uint64
}

// ConfigError is a Config that cannot run; its message says what to change.
type ConfigError struct{ Msg string }

func (e *ConfigError) Error() string { return e.Msg }

func configErr(format string, args ...any) error {
	return &ConfigError{Msg: fmt.Sprintf(format, args...)}
}

// ParseURL checks that s is an absolute http or https URL, with errors
// that say how to write one.
func ParseURL(what, s string) (*url.URL, error) {
	if s == "" {
		return nil, configErr("%s is required, e.g. http://localhost:8888/", what)
	}
	if !strings.Contains(s, "://") {
		return nil, configErr("%s %q has no scheme: write http://%s", what, s, s)
	}
	u, err := url.Parse(s)
	if err != nil {
		return nil, configErr("%s %q: %v", what, s, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, configErr("%s %q: scheme %q not supported; use http:// or https://", what, s, u.Scheme)
	}
	if u.Hostname() == "" {
		return nil, configErr("%s %q has no host", what, s)
	}
	return u, nil
}

// Validate checks c and returns a *ConfigError saying what to fix.
func (c *Config) Validate() error {
	if _, err := ParseURL("URL", c.URL); err != nil {
		return err
	}
	if c.MetricsURL != "" {
		if _, err := ParseURL("metrics URL", c.MetricsURL); err != nil {
			return err
		}
	}
	switch {
	case c.Rate < 0 || math.IsNaN(c.Rate) || math.IsInf(c.Rate, 0):
		return configErr("rate must be a positive number of arrivals per second (got %v)", c.Rate)
	case c.Users < 1 && c.Rate == 0:
		return configErr("users must be at least 1 (got %d)", c.Users)
	case c.Users < 1:
		return configErr("users caps the visitors outstanding in open-loop mode and must be at least 1 (got %d)", c.Users)
	case c.Duration < 0:
		return configErr("duration must not be negative (got %v); use 0 to run until interrupted", c.Duration)
	case !(c.ReloadProb >= 0 && c.ReloadProb <= 1):
		return configErr("reload probability must be between 0 and 1 (got %v)", c.ReloadProb)
	case c.Patience.Mean() <= 0:
		return configErr("patience must be positive (got %v): a user who waits 0s never gets a response", c.Patience)
	case c.ConnectTimeout < 0:
		return configErr("connect timeout must not be negative (got %v)", c.ConnectTimeout)
	case c.Settle < 0:
		return configErr("settle must not be negative (got %v)", c.Settle)
	}
	return nil
}

func (c *Config) summary() RunConfig {
	mode := "closed"
	if c.Rate > 0 {
		mode = "open"
	}
	return RunConfig{
		URL:        c.URL,
		Mode:       mode,
		Users:      c.Users,
		Rate:       c.Rate,
		Patience:   c.Patience.String(),
		Think:      c.Think.String(),
		ReloadProb: c.ReloadProb,
		DurationS:  c.Duration.Seconds(),
		Abort:      c.Abort.String(),
		MetricsURL: c.MetricsURL,
	}
}

// scrapeTimeout bounds one scrape; the per-second series cannot wait longer.
const scrapeTimeout = 900 * time.Millisecond

// Run runs the load described by cfg until cfg.Duration has passed or ctx
// ends, and returns what it measured. An interrupted run still returns its
// result. Before any user starts, Run checks that the server accepts a
// connection and that MetricsURL can be scraped; the errors say which.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = 5 * time.Second
	}
	if cfg.Seed == 0 {
		cfg.Seed = rand.Uint64()
	}
	u, _ := ParseURL("URL", cfg.URL)
	tgt, err := newTarget(u, cfg.ConnectTimeout, cfg.Abort)
	if err != nil {
		return nil, err
	}
	if err := tgt.probe(ctx); err != nil {
		return nil, err
	}
	res := &Result{Config: cfg.summary(), Warnings: []string{}}

	var sc *scraper
	var base Scrape
	if cfg.MetricsURL != "" {
		sc = newScraper(cfg.MetricsURL, scrapeTimeout)
		defer sc.close()
		base, err = sc.scrape(ctx)
		if err != nil {
			return nil, fmt.Errorf("cannot scrape metrics from %s: %v — is it the server's Prometheus /metrics endpoint?", cfg.MetricsURL, err)
		}
		if !base.HasWork {
			res.Warnings = append(res.Warnings, fmt.Sprintf("%s exports no %s: useful, cancelled and wasted work are not measured", cfg.MetricsURL, metricWork))
		}
	}

	limit := int(math.Ceil(cfg.Duration.Seconds()))
	start := time.Now()
	rec := newRecorder(start, limit)
	users, stopUsers := context.WithCancel(ctx)
	defer stopUsers()
	var wg sync.WaitGroup
	seeds := rand.New(rand.NewPCG(cfg.Seed, cfg.Seed+1))
	if cfg.Rate > 0 {
		wg.Go(func() { arrivals(users, &cfg, tgt, rec, seeds, &wg) })
	} else {
		for range cfg.Users {
			u := newUser(&cfg, tgt, rec, seeds.Uint64())
			wg.Go(func() { u.loop(users) })
		}
	}

	// The calling goroutine keeps the clock: at each second's end it notes
	// the requests open and scrapes the server, then reports progress.
	next := 0 // the first second whose end has not been noted
	prev := &base
	failedScrapes := 0
	closeSeconds := func(upto int) {
		if next >= upto {
			return
		}
		var s *Scrape
		if sc != nil {
			// Not ctx: the last second of an interrupted run is
			// scraped too.
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), scrapeTimeout)
			got, err := sc.scrape(sctx)
			cancel()
			if err == nil {
				s = &got
			} else {
				failedScrapes++
			}
		}
		for ; next < upto; next++ {
			if next == upto-1 {
				rec.endSecond(next, s, prev)
			} else {
				rec.endSecond(next, nil, nil) // skipped ticks: a slow scrape
			}
			if cfg.Progress != nil {
				cfg.Progress(rec.second(next))
			}
		}
		if s != nil {
			prev = s
		}
	}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	var end <-chan time.Time
	if cfg.Duration > 0 {
		timer := time.NewTimer(cfg.Duration)
		defer timer.Stop()
		end = timer.C
	}
loop:
	for {
		select {
		case <-tick.C:
			// Round: a tick is a little late, never early.
			upto := int((time.Since(start) + 500*time.Millisecond) / time.Second)
			if limit > 0 {
				upto = min(upto, limit)
			}
			closeSeconds(upto)
		case <-end:
			break loop
		case <-ctx.Done():
			break loop
		}
	}
	rec.stop()
	elapsed := time.Since(start)
	if cfg.Duration > 0 && ctx.Err() == nil {
		elapsed = cfg.Duration // the users sent nothing after it
	}
	n := int(math.Ceil(elapsed.Seconds() - 0.001))
	if limit > 0 {
		n = min(n, limit)
	}
	closeSeconds(max(n, 1))
	stopUsers()
	wg.Wait()

	res.Series, res.Totals = rec.result(max(n, 1), elapsed)
	if failedScrapes > 0 {
		res.Warnings = append(res.Warnings, fmt.Sprintf("%d of the per-second scrapes of %s failed; those seconds have no inflight or work", failedScrapes, cfg.MetricsURL))
	}
	if sc != nil && ctx.Err() == nil {
		// Work for abandoned requests may still be running on the
		// server; give it time to end and be counted.
		sleep(ctx, cfg.Settle)
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		final, err := sc.scrape(fctx)
		cancel()
		switch {
		case err != nil:
			res.Warnings = append(res.Warnings, fmt.Sprintf("final scrape of %s failed: %v; totals have no work", cfg.MetricsURL, err))
		case final.HasWork:
			w := final.Work.sub(base.Work)
			res.Totals.Work = &w
		}
	}
	return res, nil
}

// arrivals starts open-loop visitors at cfg.Rate per second, as a Poisson
// process, until ctx ends.
func arrivals(ctx context.Context, cfg *Config, t *target, rec *recorder, seeds *rand.Rand, wg *sync.WaitGroup) {
	sem := make(chan struct{}, cfg.Users)
	at := time.Now()
	for {
		at = at.Add(time.Duration(seeds.ExpFloat64() / cfg.Rate * float64(time.Second)))
		if !sleep(ctx, time.Until(at)) {
			return
		}
		select {
		case sem <- struct{}{}:
		default:
			// A visitor who finds the cap reached is not sent: the
			// generator, not the server, would be the bottleneck.
			rec.dropped()
			continue
		}
		u := newUser(cfg, t, rec, seeds.Uint64())
		wg.Go(func() {
			defer func() { <-sem }()
			u.visit(ctx)
		})
	}
}
