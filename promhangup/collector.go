// Package promhangup exports a hangup.Guard's counters as Prometheus metrics.
// It lives apart from package hangup so that the core keeps no dependency
// beyond the standard library.
//
// The metric names are a public interface, read by tools outside the project
// (hangup storm among them):
//
//	hangup_requests_in_flight          gauge    requests whose handler runs
//	hangup_requests_total              counter  requests seen
//	hangup_client_gone_total{phase}    counter  requests whose client went away, by phase
//	hangup_detached_in_flight          gauge    MustFinish work running after its client left
//	hangup_connections{watched}        gauge    connections tracked, by whether the kernel watcher watches them
//
// and, from Histograms (fed by the hangup.OnDone hook; see there for the
// buckets and the bound on routes):
//
//	hangup_work_after_gone_seconds{route}     histogram  how long abandoned requests' handlers ran on after the client left
//	hangup_request_duration_seconds{outcome}  histogram  start to handler return, outcome completed or abandoned
package promhangup

import (
	"github.com/hangup-dev/hangup"
	"github.com/prometheus/client_golang/prometheus"
)

// Source is anything that counts requests the way hangup does: a
// *hangup.Guard, or an adapter's guard for servers that are not net/http
// (fasthttphangup, fiberhangup).
type Source interface {
	Stats() hangup.Stats
}

// Collector is a prometheus.Collector over one or more Sources; their
// figures are summed.
type Collector struct {
	sources []Source
}

var _ prometheus.Collector = (*Collector)(nil)

// NewCollector returns a Collector over sources. Register it once:
//
//	prometheus.MustRegister(promhangup.NewCollector(g))
func NewCollector(sources ...Source) *Collector {
	return &Collector{sources: sources}
}

var (
	inFlightDesc = prometheus.NewDesc("hangup_requests_in_flight",
		"Requests whose handler is running.", nil, nil)
	requestsDesc = prometheus.NewDesc("hangup_requests_total",
		"Requests seen by hangup.", nil, nil)
	goneDesc = prometheus.NewDesc("hangup_client_gone_total",
		"Requests whose client went away before the handler returned, by the phase the request was in.",
		[]string{"phase"}, nil)
	detachedDesc = prometheus.NewDesc("hangup_detached_in_flight",
		"MustFinish requests still running after their client went away.", nil, nil)
	connsDesc = prometheus.NewDesc("hangup_connections",
		"Client connections tracked by hangup, by whether the kernel-event watcher watches them.",
		[]string{"watched"}, nil)
)

// Describe sends the descriptors of every metric the Collector exports.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- inFlightDesc
	ch <- requestsDesc
	ch <- goneDesc
	ch <- detachedDesc
	ch <- connsDesc
}

// Collect sends the current figures.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	var sum hangup.Stats
	phases := hangup.Phases()
	gone := make([]uint64, len(phases))
	for _, src := range c.sources {
		s := src.Stats()
		sum.Requests += s.Requests
		sum.InFlight += s.InFlight
		sum.Detached += s.Detached
		sum.Conns += s.Conns
		sum.Watched += s.Watched
		for i, p := range phases {
			gone[i] += s.GoneIn(p)
		}
	}
	ch <- prometheus.MustNewConstMetric(inFlightDesc, prometheus.GaugeValue, float64(sum.InFlight))
	ch <- prometheus.MustNewConstMetric(requestsDesc, prometheus.CounterValue, float64(sum.Requests))
	for i, p := range phases {
		ch <- prometheus.MustNewConstMetric(goneDesc, prometheus.CounterValue, float64(gone[i]), p.String())
	}
	ch <- prometheus.MustNewConstMetric(detachedDesc, prometheus.GaugeValue, float64(sum.Detached))
	ch <- prometheus.MustNewConstMetric(connsDesc, prometheus.GaugeValue, float64(sum.Watched), "true")
	ch <- prometheus.MustNewConstMetric(connsDesc, prometheus.GaugeValue, float64(sum.Conns-sum.Watched), "false")
}
