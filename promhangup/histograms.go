package promhangup

import (
	"slices"
	"sync"
	"unicode/utf8"

	"github.com/hangup-dev/hangup"
	"github.com/prometheus/client_golang/prometheus"
)

// Histograms is a prometheus.Collector of two histograms fed by every
// request's report; install Observe as the Guard's OnDone hook and register
// it beside the Collector:
//
//	h := promhangup.NewHistograms()
//	g := hangup.Install(srv, hangup.OnDone(h.Observe))
//	prometheus.MustRegister(promhangup.NewCollector(g), h)
//
// hangup_work_after_gone_seconds{route} observes, for every abandoned
// request (hangup.Report.Abandoned), how long its handler ran on after the
// client left (Report.StoppedAfter). Its route label is the request's route
// (the ServeMux pattern, or what hangup.SetRoute named): the first MaxRoutes
// distinct routes get a label value each, and requests without a route, or
// with a route past those, or with one that is not valid UTF-8 (which
// Prometheus refuses as a label value), share the value "other", so that a
// route named from the raw path cannot grow the series without bound.
//
// hangup_request_duration_seconds{outcome} observes every request's time
// from its start to its handler's return (Report.Elapsed); outcome is
// "abandoned" for the requests whose client left before the response was
// complete, and "completed" for the others (including a client that left
// after reading its whole answer).
//
// Both use the same buckets, in seconds, for the figures hangup sees: tens of
// microseconds (work stopped by cancellation, a request refused before its
// handler) to minutes (uploads, work that ignores its context):
//
//	0.00005 0.0001 0.00025 0.0005 0.001 0.0025 0.005 0.01 0.025 0.05
//	0.1 0.25 0.5 1 2.5 5 10 30 60 120 300
type Histograms struct {
	workAfterGone *prometheus.HistogramVec
	duration      *prometheus.HistogramVec
	completed     prometheus.Observer
	abandoned     prometheus.Observer

	mu     sync.RWMutex
	routes map[string]prometheus.Observer // guarded by mu; at most MaxRoutes, plus "other"
	other  prometheus.Observer
}

// MaxRoutes is how many distinct routes hangup_work_after_gone_seconds
// labels apart; the rest share route="other".
const MaxRoutes = 100

// otherRoute is the route label of requests without a route or past
// MaxRoutes.
const otherRoute = "other"

var buckets = []float64{
	0.00005, 0.0001, 0.00025, 0.0005,
	0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
	0.1, 0.25, 0.5, 1, 2.5, 5, 10,
	30, 60, 120, 300,
}

// Buckets returns the upper bounds, in seconds and ascending, of both
// histograms' buckets (a new slice each time), for a histogram of one's own
// that is to line up with them, such as the demo page's.
func Buckets() []float64 { return slices.Clone(buckets) }

var _ prometheus.Collector = (*Histograms)(nil)

// NewHistograms returns empty Histograms; see Histograms for how to feed and
// register them.
func NewHistograms() *Histograms {
	h := &Histograms{
		workAfterGone: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "hangup_work_after_gone_seconds",
			Help:    "How long handlers ran on after their client went away, for requests abandoned before their response was complete, by route.",
			Buckets: buckets,
		}, []string{"route"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "hangup_request_duration_seconds",
			Help:    "Time from a request's start to its handler's return, by outcome (completed, or abandoned by its client).",
			Buckets: buckets,
		}, []string{"outcome"}),
		routes: make(map[string]prometheus.Observer),
	}
	h.completed = h.duration.WithLabelValues("completed")
	h.abandoned = h.duration.WithLabelValues("abandoned")
	h.other = h.workAfterGone.WithLabelValues(otherRoute)
	return h
}

// Observe records r; it is meant as a hangup.OnDone or fasthttphangup.OnDone
// hook (an OnAbandon hook gives abandoned requests only: the figures would
// miss the completed ones). It is safe for concurrent use.
func (h *Histograms) Observe(r hangup.Report) {
	if !r.Abandoned() {
		h.completed.Observe(r.Elapsed.Seconds())
		return
	}
	h.abandoned.Observe(r.Elapsed.Seconds())
	h.route(r.Route).Observe(r.StoppedAfter.Seconds())
}

// route returns the work-after-gone observer of route, making it for the
// first MaxRoutes distinct routes that are valid UTF-8.
func (h *Histograms) route(route string) prometheus.Observer {
	if route == "" || route == otherRoute || !utf8.ValidString(route) {
		return h.other
	}
	h.mu.RLock()
	o, ok := h.routes[route]
	h.mu.RUnlock()
	if ok {
		return o
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if o, ok := h.routes[route]; ok {
		return o
	}
	if len(h.routes) >= MaxRoutes {
		return h.other
	}
	o = h.workAfterGone.WithLabelValues(route)
	h.routes[route] = o
	return o
}

// Describe sends the descriptors of both histograms.
func (h *Histograms) Describe(ch chan<- *prometheus.Desc) {
	h.workAfterGone.Describe(ch)
	h.duration.Describe(ch)
}

// Collect sends both histograms.
func (h *Histograms) Collect(ch chan<- prometheus.Metric) {
	h.workAfterGone.Collect(ch)
	h.duration.Collect(ch)
}
