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
// Each user has a connection of its own, so that an abandoned request ends
// the way it would in a browser: the connection is closed and never reused.
// A response delivered in full keeps the connection alive for the user's
// next request. Users speak HTTP/1.1 (http1.go) or, with Config.HTTP2,
// HTTP/2 (http2.go). The targets (Config.Targets: method, URL, headers,
// body; ParseTargets reads vegeta's format) are taken in turn.
//
// With patience Forever ("inf") no user gives up: storm is then a patient
// load generator, closed loop as hey -c or open loop as vegeta -rate.
//
// # Definitions
//
//   - sent: a request started (its connect included).
//   - goodput: a response delivered in full — status 2xx or 3xx, body read
//     to EOF — to a user still waiting. Only goodput latencies are measured,
//     from the start of the request to the end of the body.
//   - abandoned: the user's patience ran out before the response was
//     complete (during connect, while waiting, or while reading the body).
//   - errors: connect (no connection), status_4xx, status_5xx, reset (the
//     server reset the connection), timeout (Config.Timeout ran out), other
//     (malformed or truncated responses).
//   - unfinished: requests cut short by the end of the run.
//   - status: responses read in full, by class (1xx..5xx) and by code.
//   - useful, cancelled, wasted (with Config.MetricsURL): seconds of server
//     work scraped from demo_work_seconds_total{outcome="completed" |
//     "cancelled" | "wasted"}: work whose result was delivered, work stopped
//     early because its client had left, work run to the end for a client
//     already gone.
//   - after_gone, handler: the _sum of promhangup's histograms
//     hangup_work_after_gone_seconds (handler time after the client left)
//     and hangup_request_duration_seconds (all handler time), from any
//     server that uses promhangup. hangup_requests_in_flight, if exported,
//     is the server's in-flight work in the series.
//
// # JSON
//
// A Result marshals to JSON with these field names, stable within a schema
// version (Schema, the "schema" field; times in seconds unless the name
// says _ms):
//
//	schema:  2
//	config:  url, method, targets, http2, mode ("closed"|"open"), users, rate,
//	         stages, patience, think, reload_prob, duration_s, warmup_s,
//	         timeout_s, connect_timeout_s, abort ("fin"|"rst"), metrics_url, seed
//	series:  [{t, sent, goodput, abandoned, errors, errors_by_kind, status,
//	         p99_ms, open, inflight, work}]   one per second
//	totals:  elapsed_s, sent, goodput, abandoned, reloads, left, errors,
//	         errors_by_kind: {connect, status_4xx, status_5xx, reset, timeout, other},
//	         status: {1xx, 2xx, 3xx, 4xx, 5xx}, status_codes: {"200": n, ...},
//	         unfinished, dropped, sent_per_s, goodput_per_s, abandoned_per_s,
//	         latency_ms: {count, p50, p90, p99, max, mean},
//	         work: {useful_s, cancelled_s, wasted_s, after_gone_s, handler_s}
//	thresholds: [{expr, value, ok, why}]
//	warnings: [string]
//
// p99_ms is null in a second without goodput; inflight and work are null
// without metrics; a threshold's value is null if the run did not measure
// it, and why is omitted when it held.
package storm

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
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
	// URL is the http:// or https:// URL every user requests with GET,
	// when Targets is empty.
	URL string
	// Targets are the requests the users send, taken in turn; if empty,
	// GET URL.
	Targets []Target
	// HTTP2 makes every user speak HTTP/2: negotiated by ALPN over TLS
	// (the server must offer h2), with prior knowledge (h2c) over http://.
	HTTP2 bool
	// TLS, if set, is the base of every TLS connection (roots,
	// InsecureSkipVerify, client certificates); nil uses the system roots.
	// ServerName defaults to the target's host; NextProtos is set by storm.
	TLS *tls.Config
	// Users is the number of closed-loop users; in open-loop mode (Rate
	// > 0) it caps the visitors outstanding at once.
	Users int
	// Rate, if positive, selects open-loop mode: visitors per second.
	Rate float64
	// Stages, if set, is the closed-loop users over time, and the run
	// lasts as long as they do: Users and Duration are ignored.
	Stages Stages
	// Patience is how long a user waits for a response before giving up.
	Patience Dist
	// Think is the pause between a user's requests (not after a reload).
	Think Dist
	// ReloadProb is the probability that a user who gave up reloads at
	// once rather than leaving.
	ReloadProb float64
	// Duration bounds the measured run; 0 runs until ctx ends.
	Duration time.Duration
	// Warmup is how long the users run before the measurement starts:
	// requests started in it are made and never counted (a request that
	// starts in the warmup and ends after it is not counted either).
	Warmup time.Duration
	// Abort is how a user who gives up closes its connection.
	Abort Abort
	// Timeout, if positive, bounds each request as a client library's
	// timeout does (hey's -t, vegeta's -timeout): a request not answered
	// in full within it is an error of kind timeout and its connection is
	// closed (FIN). It is not patience: a user whose patience runs out
	// first has abandoned.
	Timeout time.Duration
	// ConnectTimeout bounds each connect (and TLS handshake); default 5s.
	// It is independent of patience, which bounds connect too.
	ConnectTimeout time.Duration
	// MetricsURL, if set, is a Prometheus text-format endpoint scraped
	// before the measurement, every second, and Settle after the run.
	MetricsURL string
	// Settle is how long to wait after the users stop before the final
	// scrape, so that work still running for abandoned requests is
	// counted ("hangup storm" waits 1s). Only used with MetricsURL.
	Settle time.Duration
	// Thresholds are checked against the totals at the end of the run,
	// into Result.Thresholds.
	Thresholds []Threshold
	// CSV, if set, receives one CSV line per request measured (see
	// README.md); Run returns an error if a write failed.
	CSV io.Writer
	// HDR, if set, receives the goodput latencies as an HdrHistogram
	// interval log, one interval a second, at the end of the run.
	HDR io.Writer
	// Progress, if set, is called at the end of every second with that
	// second, from the goroutine that called Run.
	Progress func(Second)
	// Seed seeds the users' random choices (patience, think time, reload,
	// open-loop arrivals): two runs with the same seed draw the same
	// sequences. 0 picks a random seed, which Result.Config.Seed reports.
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

// targets returns the targets of c: Targets, or GET URL.
func (c *Config) targets() []Target {
	if len(c.Targets) > 0 {
		return c.Targets
	}
	return []Target{{URL: c.URL}}
}

// Validate checks c and returns a *ConfigError saying what to fix.
func (c *Config) Validate() error {
	for _, t := range c.targets() {
		if _, err := newTarget(t); err != nil {
			return err
		}
	}
	if c.MetricsURL != "" {
		if _, err := ParseURL("metrics URL", c.MetricsURL); err != nil {
			return err
		}
	}
	switch {
	case c.Rate < 0 || math.IsNaN(c.Rate) || math.IsInf(c.Rate, 0):
		return configErr("rate must be a positive number of arrivals per second (got %v)", c.Rate)
	case len(c.Stages) > 0 && c.Rate > 0:
		return configErr("stages schedule closed-loop users and do not combine with a rate; drop one")
	case len(c.Stages) > 0 && c.Warmup > 0:
		return configErr("stages and a warmup do not combine; make the first stage the warm-up ramp and read the series from there")
	case len(c.Stages) > 0 && c.Stages.Max() < 1:
		return configErr("stages never have a user; give some stage a positive number of users")
	case len(c.Stages) == 0 && c.Users < 1 && c.Rate == 0:
		return configErr("users must be at least 1 (got %d)", c.Users)
	case len(c.Stages) == 0 && c.Users < 1:
		return configErr("users caps the visitors outstanding in open-loop mode and must be at least 1 (got %d)", c.Users)
	case c.Duration < 0:
		return configErr("duration must not be negative (got %v); use 0 to run until interrupted", c.Duration)
	case c.Warmup < 0:
		return configErr("warmup must not be negative (got %v)", c.Warmup)
	case !(c.ReloadProb >= 0 && c.ReloadProb <= 1):
		return configErr("reload probability must be between 0 and 1 (got %v)", c.ReloadProb)
	case c.Patience.Mean() <= 0:
		return configErr("patience must be positive (got %v): a user who waits 0s never gets a response", c.Patience)
	case c.Timeout < 0:
		return configErr("timeout must not be negative (got %v); use 0 for none", c.Timeout)
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
	ts := c.targets()
	return RunConfig{
		URL:             ts[0].URL,
		Method:          ts[0].method(),
		Targets:         len(ts),
		HTTP2:           c.HTTP2,
		Mode:            mode,
		Users:           c.Users,
		Rate:            c.Rate,
		Stages:          c.Stages.String(),
		Patience:        c.Patience.String(),
		Think:           c.Think.String(),
		ReloadProb:      c.ReloadProb,
		DurationS:       c.Duration.Seconds(),
		WarmupS:         c.Warmup.Seconds(),
		TimeoutS:        c.Timeout.Seconds(),
		ConnectTimeoutS: c.ConnectTimeout.Seconds(),
		Abort:           c.Abort.String(),
		MetricsURL:      c.MetricsURL,
		Seed:            c.Seed,
	}
}

// scrapeTimeout bounds one scrape; the per-second series cannot wait longer.
const scrapeTimeout = 900 * time.Millisecond

// Run runs the load described by cfg until cfg.Duration has passed (after
// cfg.Warmup) or ctx ends, and returns what it measured. An interrupted run
// still returns its result. Before any user starts, Run checks that the
// server of every target accepts a connection and that MetricsURL can be
// scraped; the errors say which. If writing cfg.CSV or cfg.HDR failed, Run
// returns the result and that error.
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
	if len(cfg.Stages) > 0 {
		cfg.Duration, cfg.Users = cfg.Stages.Duration(), cfg.Stages.Max()
	}
	cl := &client{tls: cfg.TLS, http2: cfg.HTTP2, connectTimeout: cfg.ConnectTimeout, timeout: cfg.Timeout, abort: cfg.Abort}
	probed := map[string]bool{}
	for _, tg := range cfg.targets() {
		t, err := newTarget(tg)
		if err != nil {
			return nil, err
		}
		cl.targets = append(cl.targets, t)
		if !probed[t.addr] {
			probed[t.addr] = true
			if err := t.probe(ctx, cfg.ConnectTimeout); err != nil {
				return nil, err
			}
		}
	}
	res := &Result{Schema: Schema, Config: cfg.summary(), Thresholds: []ThresholdResult{}, Warnings: []string{}}

	var sc *scraper
	var base Scrape
	if cfg.MetricsURL != "" {
		sc = newScraper(cfg.MetricsURL, scrapeTimeout)
		defer sc.close()
		var err error
		base, err = sc.scrape(ctx)
		if err != nil {
			return nil, fmt.Errorf("cannot scrape metrics from %s: %v — is it the server's Prometheus /metrics endpoint?", cfg.MetricsURL, err)
		}
		if !base.hasWork() {
			res.Warnings = append(res.Warnings, fmt.Sprintf("%s exports neither %s nor %s: server work is not measured", cfg.MetricsURL, metricWork, metricAfterGone))
		}
	}

	limit := int(math.Ceil(cfg.Duration.Seconds()))
	begin := time.Now()
	start := begin.Add(cfg.Warmup)
	rec := newRecorder(start, cfg.Duration)
	if cfg.CSV != nil {
		rec.csv = newCSVLog(cfg.CSV, cl.targets)
	}
	r := &load{cfg: &cfg, client: cl, rec: rec, begin: begin}
	users, stopUsers := context.WithCancel(ctx)
	defer stopUsers()
	var wg sync.WaitGroup
	seeds := rand.New(rand.NewPCG(cfg.Seed, cfg.Seed+1))
	if cfg.Rate > 0 {
		wg.Go(func() { r.arrivals(users, seeds, &wg) })
	} else {
		for i := range cfg.Users {
			u := r.newUser(i, seeds.Uint64())
			wg.Go(func() { u.loop(users) })
		}
	}
	if cfg.Warmup > 0 && sleep(ctx, time.Until(start)) && sc != nil {
		// The work of the warmup is not the run's.
		sctx, cancel := context.WithTimeout(ctx, scrapeTimeout)
		got, err := sc.scrape(sctx)
		cancel()
		if err != nil {
			res.Warnings = append(res.Warnings, fmt.Sprintf("the scrape of %s at the end of the warmup failed (%v): the work totals include the warmup's", cfg.MetricsURL, err))
		} else {
			base = got
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
		timer := time.NewTimer(time.Until(start.Add(cfg.Duration)))
		defer timer.Stop()
		end = timer.C
	}
loop:
	for ctx.Err() == nil {
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
	elapsed := max(time.Since(start), 0)
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
		case final.hasWork():
			w := final.Work.sub(base.Work)
			res.Totals.Work = &w
		}
	}
	for _, t := range cfg.Thresholds {
		res.Thresholds = append(res.Thresholds, t.Check(res))
	}
	if rec.csv != nil {
		if err := rec.csv.flush(); err != nil {
			return res, fmt.Errorf("cannot write the CSV: %v", err)
		}
	}
	if cfg.HDR != nil {
		if err := writeHDR(cfg.HDR, start, rec.histograms(len(res.Series))); err != nil {
			return res, fmt.Errorf("cannot write the HDR histogram log: %v", err)
		}
	}
	return res, nil
}

// arrivals starts open-loop visitors at cfg.Rate per second, as a Poisson
// process, until ctx ends.
func (r *load) arrivals(ctx context.Context, seeds *rand.Rand, wg *sync.WaitGroup) {
	sem := make(chan struct{}, r.cfg.Users)
	at := time.Now()
	for id := 0; ; id++ {
		at = at.Add(time.Duration(seeds.ExpFloat64() / r.cfg.Rate * float64(time.Second)))
		if !sleep(ctx, time.Until(at)) {
			return
		}
		select {
		case sem <- struct{}{}:
		default:
			// A visitor who finds the cap reached is not sent: the
			// generator, not the server, would be the bottleneck.
			if !at.Before(r.rec.start) {
				r.rec.dropped()
			}
			continue
		}
		u := r.newUser(id, seeds.Uint64())
		wg.Go(func() {
			defer func() { <-sem }()
			u.visit(ctx)
		})
	}
}
