package proxy

import (
	"net/http"
	"time"

	"github.com/hangup-dev/hangup"
	"github.com/hangup-dev/hangup/promhangup"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// The proxy's own metrics, next to the core's hangup_* (see promhangup):
//
//	hangup_proxy_upstream_requests_total{outcome}  counter  upstream requests by how they ended:
//	                                                        completed, cancelled, error, timeout
//	hangup_proxy_queue_depth                        gauge    requests waiting for an upstream slot
//	hangup_proxy_queued_total                       counter  requests that joined the line
//	hangup_proxy_queue_dropped_total{reason}        counter  requests that left the line, or found it full,
//	                                                        without a slot: full, timeout, client_gone
//	hangup_proxy_coalesced_total                    counter  requests served by joining another's upstream request
//
// and, for each upstream of the pool (pool.go), labelled with its address
// (host:port, or unix:/path):
//
//	hangup_proxy_upstream_server_requests_total{upstream,outcome}  counter  as upstream_requests_total, per upstream
//	hangup_proxy_upstream_in_flight{upstream}          gauge    requests given to it and not done
//	hangup_proxy_upstream_healthy{upstream}            gauge    1, or 0 while it is ejected (health.go)
//	hangup_proxy_upstream_ejections_total{upstream}    counter  times it was ejected
//
// and for reloads (reload.go):
//
//	hangup_proxy_config_reloads_total{result}                   counter  reloads, by result: ok, error
//	hangup_proxy_config_last_reload_success_timestamp_seconds   gauge    when the last reload that took
//	                                                                     effect did (0: none yet)
//
// The queue's are read from the admission line's Stats at each scrape, so
// that the line keeps its one count of each.
//
// Where the time goes (histograms, in seconds, buckets from 25µs to 5m:
// durationBuckets):
//
//	hangup_proxy_request_duration_seconds{class}  client requests, from their start to their access line
//	                                              (the linger left out), by the class of the status
//	                                              logged: 1xx to 5xx (499, a client that left, is 4xx),
//	                                              or "other"
//	hangup_proxy_upstream_header_seconds          upstream requests, from leaving the queue to the answer's head
//	hangup_proxy_upstream_duration_seconds        upstream requests, from leaving the queue to the answer's end
//	                                              or the failure (retries included)
//	hangup_proxy_queue_wait_seconds               requests that waited in the admission line, until they left it
//	                                              with a slot or without one (not those turned away at once)
//
// and the answers, counted by status (a counter; the codes the proxy itself
// gives, each alone, every other code by its class, so that the series stay
// a fixed few):
//
//	hangup_proxy_responses_total{code}  code: 400, 408, 413, 431, 499, 502, 503, 504, 1xx to 5xx, other
//
// Coalesced requests count once each in the request histogram and the
// responses, and their shared upstream request once in the upstream ones;
// requests net/http refused (rejected.go) count in the responses only.
const (
	outcomeCompleted = "completed"
	outcomeCancelled = "cancelled"
	outcomeError     = "error"
	outcomeTimeout   = "timeout"
)

type metrics struct {
	upstream  *prometheus.CounterVec
	coalesced prometheus.Counter
	line      *hangup.Admission // nil: no line, its metrics stay 0
	depth     *prometheus.Desc
	queued    *prometheus.Desc
	dropped   *prometheus.Desc

	// The counters of every label value, resolved once: a lookup by label
	// per request hashes the value and takes the vector's lock.
	byOutcome map[string]prometheus.Counter

	perUpstream *prometheus.CounterVec
	ups         *pools // the current pool's gauges are read at each scrape; set by New
	inflight    *prometheus.Desc
	healthy     *prometheus.Desc
	ejections   *prometheus.Desc

	reloads    map[bool]prometheus.Counter // by success
	reloadsVec *prometheus.CounterVec
	lastReload prometheus.Gauge

	duration       *prometheus.HistogramVec
	byClass        [len(classLabels)]prometheus.Observer // resolved once, as byOutcome
	upstreamHead   prometheus.Histogram
	upstreamTotal  prometheus.Histogram
	queueWait      prometheus.Histogram
	responses      *prometheus.CounterVec
	responsesByLbl [len(codeLabels)]prometheus.Counter
}

// reloaded counts a reload that succeeded (ok) or not.
func (m *metrics) reloaded(ok bool) {
	m.reloads[ok].Inc()
	if ok {
		m.lastReload.SetToCurrentTime()
	}
}

// backendMetrics are one upstream's counters, resolved once.
type backendMetrics struct {
	byOutcome map[string]prometheus.Counter
}

// backend returns the counters of the upstream named name.
func (m *metrics) backend(name string) *backendMetrics {
	bm := &backendMetrics{byOutcome: make(map[string]prometheus.Counter)}
	for _, o := range []string{outcomeCompleted, outcomeCancelled, outcomeError, outcomeTimeout} {
		bm.byOutcome[o] = m.perUpstream.WithLabelValues(name, o)
	}
	return bm
}

func newMetrics(line *hangup.Admission) *metrics {
	m := &metrics{
		upstream: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hangup_proxy_upstream_requests_total",
			Help: "Requests sent to the upstream, by how they ended: completed, cancelled (every client left), error, timeout.",
		}, []string{"outcome"}),
		coalesced: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hangup_proxy_coalesced_total",
			Help: "Requests served by joining another request's upstream request instead of sending their own.",
		}),
		line: line,
		depth: prometheus.NewDesc("hangup_proxy_queue_depth",
			"Requests waiting for a free upstream slot.", nil, nil),
		queued: prometheus.NewDesc("hangup_proxy_queued_total",
			"Requests that had to wait in line for an upstream slot.", nil, nil),
		dropped: prometheus.NewDesc("hangup_proxy_queue_dropped_total",
			"Requests turned away by the admission queue, by reason: full, timeout, client_gone.", []string{"reason"}, nil),
		perUpstream: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hangup_proxy_upstream_server_requests_total",
			Help: "Requests sent to each upstream, by how they ended: completed, cancelled (every client left), error, timeout.",
		}, []string{"upstream", "outcome"}),
		inflight: prometheus.NewDesc("hangup_proxy_upstream_in_flight",
			"Requests given to the upstream and not done yet.", []string{"upstream"}, nil),
		healthy: prometheus.NewDesc("hangup_proxy_upstream_healthy",
			"1 if the upstream takes requests, 0 while it is ejected after failures.", []string{"upstream"}, nil),
		ejections: prometheus.NewDesc("hangup_proxy_upstream_ejections_total",
			"Times the upstream was ejected after failures in a row.", []string{"upstream"}, nil),
	}
	// Every label value exists from the start, so dashboards and alerts see
	// zeros rather than absent series.
	m.byOutcome = make(map[string]prometheus.Counter)
	for _, o := range []string{outcomeCompleted, outcomeCancelled, outcomeError, outcomeTimeout} {
		m.byOutcome[o] = m.upstream.WithLabelValues(o)
	}
	m.reloadsVec = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "hangup_proxy_config_reloads_total",
		Help: "Reloads of the configuration (SIGHUP), by result: ok (in effect), error (refused; the running configuration stayed).",
	}, []string{"result"})
	m.reloads = map[bool]prometheus.Counter{true: m.reloadsVec.WithLabelValues("ok"), false: m.reloadsVec.WithLabelValues("error")}
	m.lastReload = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "hangup_proxy_config_last_reload_success_timestamp_seconds",
		Help: "When the last reload that took effect did, in seconds since the epoch; 0: none yet.",
	})
	m.newTimeMetrics()
	return m
}

// upstreamDone counts an upstream request to b that ended with outcome.
func (m *metrics) upstreamDone(b *backend, outcome string) {
	if c, ok := m.byOutcome[outcome]; ok {
		c.Inc()
	} else {
		m.upstream.WithLabelValues(outcome).Inc()
	}
	if c, ok := b.m.byOutcome[outcome]; ok {
		c.Inc()
	} else {
		m.perUpstream.WithLabelValues(b.name, outcome).Inc()
	}
}

// Describe implements prometheus.Collector.
func (m *metrics) Describe(ch chan<- *prometheus.Desc) {
	for _, c := range m.collectors() {
		c.Describe(ch)
	}
	ch <- m.depth
	ch <- m.queued
	ch <- m.dropped
	ch <- m.inflight
	ch <- m.healthy
	ch <- m.ejections
}

// collectors are the metrics m keeps in collectors of their own, which
// Describe and Collect hand on; the rest are read at scrape (Collect).
func (m *metrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{
		m.upstream, m.coalesced, m.perUpstream, m.reloadsVec, m.lastReload,
		m.duration, m.upstreamHead, m.upstreamTotal, m.queueWait, m.responses,
	}
}

// Collect implements prometheus.Collector.
func (m *metrics) Collect(ch chan<- prometheus.Metric) {
	for _, c := range m.collectors() {
		c.Collect(ch)
	}
	var st hangup.AdmissionStats
	if m.line != nil {
		st = m.line.Stats()
	}
	ch <- prometheus.MustNewConstMetric(m.depth, prometheus.GaugeValue, float64(st.Waiting))
	ch <- prometheus.MustNewConstMetric(m.queued, prometheus.CounterValue, float64(st.Queued))
	for _, d := range []struct {
		reason string
		n      uint64
	}{{"full", st.Full}, {"timeout", st.TimedOut}, {"client_gone", st.Left}} {
		ch <- prometheus.MustNewConstMetric(m.dropped, prometheus.CounterValue, float64(d.n), d.reason)
	}
	for _, b := range m.ups.cur.Load().backends {
		healthy := 1.0
		if b.health.down.Load() {
			healthy = 0
		}
		ch <- prometheus.MustNewConstMetric(m.inflight, prometheus.GaugeValue, float64(b.inflight.Load()), b.name)
		ch <- prometheus.MustNewConstMetric(m.healthy, prometheus.GaugeValue, healthy, b.name)
		ch <- prometheus.MustNewConstMetric(m.ejections, prometheus.CounterValue, float64(b.health.ejected.Load()), b.name)
	}
}

// Collector returns the proxy's own metrics (hangup_proxy_*), to register
// next to promhangup.NewCollector for the Guard of the server in front.
func (p *Proxy) Collector() prometheus.Collector { return p.m }

// AdminHandler serves /metrics (the proxy's metrics, the core's hangup_*
// metrics for g, and the Go runtime's) and /healthz, which answers 200 "ok"
// until Serve begins to shut down and 503 after, so that a load balancer stops
// sending new work while in-flight requests finish; 503 too while every
// upstream is ejected (health.go).
func (p *Proxy) AdminHandler(g *hangup.Guard) http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(p.m, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if g != nil {
		reg.MustRegister(promhangup.NewCollector(g))
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		if p.draining.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			w.Write([]byte("shutting down\n"))
			return
		}
		if !p.pool().healthy() {
			w.WriteHeader(http.StatusServiceUnavailable)
			w.Write([]byte("no upstream is healthy\n"))
			return
		}
		w.Write([]byte("ok\n"))
	})
	return mux
}

// durationBuckets are the bounds, in seconds, of the proxy's histograms:
// from 25µs (an answer from a cache or a refusal, on loopback) through the
// milliseconds of ordinary answers to the minutes of reports, exports and
// long polls, in steps of 2 to 2.5 so that a percentile read off them is
// within a factor of 2.5; 5m is past every default timeout (the linger's
// 30s, ReadHeaderTimeout, IdleTimeout's 2m), so that +Inf holds only the
// streams that outlive them all.
var durationBuckets = []float64{
	25e-6, 50e-6, 100e-6, 250e-6, 500e-6,
	0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
	1, 2.5, 5, 10, 30, 60, 120, 300,
}

// classLabels are the values of hangup_proxy_request_duration_seconds'
// class; statusClass indexes them.
var classLabels = [...]string{"other", "1xx", "2xx", "3xx", "4xx", "5xx"}

func statusClass(status int) int {
	if status < 100 || status > 599 {
		return 0
	}
	return status / 100
}

// codeLabels are the values of hangup_proxy_responses_total's code: the
// codes the proxy gives by itself (errors.go, bodylimit.go, rejected.go),
// then the classes (at len(proxyCodes)+statusClass).
var codeLabels = [...]string{
	"400", "408", "413", "431", "499", "502", "503", "504",
	"other", "1xx", "2xx", "3xx", "4xx", "5xx",
}

var proxyCodes = [...]int{400, 408, 413, 431, 499, 502, 503, 504}

func codeIndex(status int) int {
	for i, c := range proxyCodes {
		if c == status {
			return i
		}
	}
	return len(proxyCodes) + statusClass(status)
}

func (m *metrics) newTimeMetrics() {
	hist := func(name, help string) prometheus.Histogram {
		return prometheus.NewHistogram(prometheus.HistogramOpts{Name: name, Help: help, Buckets: durationBuckets})
	}
	m.duration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "hangup_proxy_request_duration_seconds",
		Help:    "Time from a client request's start to its access log line (lingering left out), by the class of the status logged (499, a client that left, is 4xx).",
		Buckets: durationBuckets,
	}, []string{"class"})
	for i, c := range classLabels {
		m.byClass[i] = m.duration.WithLabelValues(c)
	}
	m.upstreamHead = hist("hangup_proxy_upstream_header_seconds",
		"Time from an upstream request leaving the admission queue to the head of its answer.")
	m.upstreamTotal = hist("hangup_proxy_upstream_duration_seconds",
		"Time from an upstream request leaving the admission queue to the end of its answer, or its failure, retries included.")
	m.queueWait = hist("hangup_proxy_queue_wait_seconds",
		"Time requests waited in the admission queue, until they got a slot or left the line without one.")
	m.responses = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "hangup_proxy_responses_total",
		Help: "Client requests by the status logged: 400, 408, 413, 431, 499, 502, 503 and 504 each alone (the codes the proxy gives itself), any other by its class (1xx to 5xx, or other).",
	}, []string{"code"})
	for i, c := range codeLabels {
		m.responsesByLbl[i] = m.responses.WithLabelValues(c)
	}
}

// served counts a client request whose access line says status, after d.
func (m *metrics) served(status int, d time.Duration) {
	m.byClass[statusClass(status)].Observe(d.Seconds())
	m.responsesByLbl[codeIndex(status)].Inc()
}

// refused counts a request net/http refused with status (rejected.go).
func (m *metrics) refused(status int) { m.responsesByLbl[codeIndex(status)].Inc() }

// headIn records that the answer to rec's upstream request came (nil: a
// request without a record, which is timed by nobody).
func (m *metrics) headIn(rec *record, code int) {
	if rec == nil {
		return
	}
	rec.setUpstreamStatus(code)
	if d, ok := rec.headIn(); ok {
		m.upstreamHead.Observe(d.Seconds())
	}
}

// upstreamEnded counts an upstream request to b that ended with outcome,
// and records it in rec, if not nil, with the time it took.
func (m *metrics) upstreamEnded(b *backend, rec *record, outcome string) {
	m.upstreamDone(b, outcome)
	if rec == nil {
		return
	}
	if d, ok := rec.ended(outcome); ok {
		m.upstreamTotal.Observe(d.Seconds())
	}
}

// waited records a wait of d in the admission line.
func (m *metrics) waited(d time.Duration) { m.queueWait.Observe(d.Seconds()) }
