package demo

import (
	"time"

	"github.com/hangup-dev/hangup"
	"github.com/hangup-dev/hangup/promhangup"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Outcomes of a piece of work, the values of the outcome label.
const (
	// OutcomeCompleted: the work ran to its end for a client that was
	// still waiting.
	OutcomeCompleted = "completed"
	// OutcomeCancelled: the work stopped because its client went away.
	OutcomeCancelled = "cancelled"
	// OutcomeWasted: the work ran to its end for a client that had already
	// gone (only with IgnoreDisconnect or detached work).
	OutcomeWasted = "wasted"
	// OutcomeFailed: the work stopped on an error of its own.
	OutcomeFailed = "failed"
	// OutcomeRejected: the request was refused before any work (401, 413).
	OutcomeRejected = "rejected"
)

// metrics are the demo's own Prometheus metrics. Their names are a public
// interface, scraped by hangup storm:
//
//	demo_work_seconds_total{work,outcome}  counter  seconds of work, by kind and outcome
//	demo_work_total{work,outcome}          counter  pieces of work, by kind and outcome
//	demo_work_in_flight                    gauge    pieces of work running
//	demo_work_in_flight_client_gone        gauge    of which for a client that has left
//	demo_work_waiting                      gauge    requests waiting for a free worker
//	demo_work_waiting_client_gone          gauge    of which for a client that has left
//	demo_upload_bytes_total                counter  upload body bytes read
//
// next to hangup's own (see package promhangup). The gauges read the board
// at each scrape, as the page's charts do.
type metrics struct {
	reg         *prometheus.Registry
	workSeconds *prometheus.CounterVec
	workTotal   *prometheus.CounterVec
	uploadBytes prometheus.Counter
}

func newMetrics(g *hangup.Guard, b *board, works []string) *metrics {
	gauge := func(name, help string, read func(Stats) int) prometheus.GaugeFunc {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help},
			func() float64 { return float64(read(b.stats())) })
	}
	m := &metrics{
		reg: prometheus.NewRegistry(),
		workSeconds: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "demo_work_seconds_total",
			Help: "Seconds spent working, by work kind and outcome (completed, cancelled, wasted, failed).",
		}, []string{"work", "outcome"}),
		workTotal: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "demo_work_total",
			Help: "Pieces of work done, by work kind and outcome (completed, cancelled, wasted, failed).",
		}, []string{"work", "outcome"}),
		uploadBytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "demo_upload_bytes_total",
			Help: "Upload body bytes read.",
		}),
	}
	// Show every series from the start, at zero, so that a scraper sees
	// the names before the first request.
	for _, w := range works {
		for _, o := range []string{OutcomeCompleted, OutcomeCancelled, OutcomeWasted, OutcomeFailed} {
			m.workSeconds.WithLabelValues(w, o)
			m.workTotal.WithLabelValues(w, o)
		}
	}
	m.reg.MustRegister(
		promhangup.NewCollector(g),
		m.workSeconds, m.workTotal, m.uploadBytes,
		gauge("demo_work_in_flight", "Pieces of work running now.",
			func(s Stats) int { return s.Working }),
		gauge("demo_work_in_flight_client_gone", "Pieces of work running now for a client that has already left.",
			func(s Stats) int { return s.WorkingGone }),
		gauge("demo_work_waiting", "Requests waiting for a free worker.",
			func(s Stats) int { return s.Waiting }),
		gauge("demo_work_waiting_client_gone", "Requests waiting for a free worker for a client that has already left.",
			func(s Stats) int { return s.WaitingGone }),
		collectors.NewGoCollector(),
	)
	return m
}

func (m *metrics) workDone(work, outcome string, d time.Duration) {
	m.workSeconds.WithLabelValues(work, outcome).Add(d.Seconds())
	m.workTotal.WithLabelValues(work, outcome).Inc()
}
