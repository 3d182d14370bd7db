package storm

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// jsonFields is the documented JSON schema of a Result, as field paths
// ("[]" marks the elements of an array). Changing it breaks the scripts
// that read results: update README.md and the package doc with it.
var jsonFields = []string{
	"config", "config.abort", "config.connect_timeout_s", "config.duration_s", "config.http2", "config.method",
	"config.metrics_url", "config.mode", "config.patience", "config.rate", "config.reload_prob", "config.seed",
	"config.stages", "config.targets", "config.think", "config.timeout_s", "config.url", "config.users", "config.warmup_s",
	"schema",
	"series", "series[].abandoned", "series[].errors", "series[].errors_by_kind",
	"series[].errors_by_kind.connect", "series[].errors_by_kind.other", "series[].errors_by_kind.reset",
	"series[].errors_by_kind.status_4xx", "series[].errors_by_kind.status_5xx", "series[].errors_by_kind.timeout",
	"series[].goodput", "series[].inflight", "series[].open", "series[].p99_ms", "series[].sent",
	"series[].status", "series[].status.1xx", "series[].status.2xx", "series[].status.3xx", "series[].status.4xx", "series[].status.5xx",
	"series[].t", "series[].work", "series[].work.after_gone_s", "series[].work.cancelled_s", "series[].work.handler_s",
	"series[].work.useful_s", "series[].work.wasted_s",
	"thresholds", "thresholds[].expr", "thresholds[].ok", "thresholds[].value", "thresholds[].why",
	"totals", "totals.abandoned", "totals.abandoned_per_s", "totals.dropped", "totals.elapsed_s",
	"totals.errors", "totals.errors_by_kind", "totals.errors_by_kind.connect", "totals.errors_by_kind.other",
	"totals.errors_by_kind.reset", "totals.errors_by_kind.status_4xx", "totals.errors_by_kind.status_5xx",
	"totals.errors_by_kind.timeout", "totals.goodput", "totals.goodput_per_s",
	"totals.latency_ms", "totals.latency_ms.count", "totals.latency_ms.max", "totals.latency_ms.mean",
	"totals.latency_ms.p50", "totals.latency_ms.p90", "totals.latency_ms.p99", "totals.left", "totals.reloads",
	"totals.sent", "totals.sent_per_s",
	"totals.status", "totals.status.1xx", "totals.status.2xx", "totals.status.3xx", "totals.status.4xx", "totals.status.5xx",
	"totals.status_codes",
	"totals.unfinished", "totals.work", "totals.work.after_gone_s", "totals.work.cancelled_s",
	"totals.work.handler_s", "totals.work.useful_s", "totals.work.wasted_s",
	"warnings",
}

// jsonMaps are the JSON objects keyed by data, not by schema: their keys
// are not field paths.
var jsonMaps = []string{"totals.status_codes"}

// FieldPaths lists the field paths of a JSON document, as in jsonFields.
func fieldPaths(v any, prefix string, out map[string]bool) {
	switch x := v.(type) {
	case map[string]any:
		if slices.Contains(jsonMaps, prefix) {
			return
		}
		for k, e := range x {
			p := k
			if prefix != "" {
				p = prefix + "." + k
			}
			out[p] = true
			fieldPaths(e, p, out)
		}
	case []any:
		for _, e := range x {
			fieldPaths(e, prefix+"[]", out)
		}
	}
}

// TestJSONFields runs against a server exporting the metrics, so that every
// field, the nullable ones included, is present, and compares the field
// paths with the documented list.
func TestJSONFields(t *testing.T) {
	t.Parallel()
	url, metrics := metricsServer(t)
	failing, err := ParseThreshold("p99<0ms") // a failed threshold has every field
	if err != nil {
		t.Fatal(err)
	}
	res := run(t, Config{URL: url, MetricsURL: metrics, Users: 2, Patience: Fixed(time.Second), Duration: time.Second, Settle: 10 * time.Millisecond, Thresholds: []Threshold{failing}})
	if res.Schema != Schema || Schema != 2 {
		t.Errorf("schema %d, Schema %d: a change of the JSON is a new Schema, with this list, README.md and the package doc", res.Schema, Schema)
	}
	b, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	var doc any
	json.Unmarshal(b, &doc)
	paths := map[string]bool{}
	fieldPaths(doc, "", paths)
	var got []string
	for p := range paths {
		got = append(got, p)
	}
	slices.Sort(got)
	if !slices.Equal(got, jsonFields) {
		t.Errorf("JSON field paths changed:\n got %q\nwant %q", got, jsonFields)
	}
}

// TestJSONFieldsDocumented: every JSON field is named in README.md and in
// the package doc.
func TestJSONFieldsDocumented(t *testing.T) {
	for _, file := range []string{"README.md", "storm.go"} {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range jsonFields {
			name := p[strings.LastIndex(p, ".")+1:]
			if !strings.Contains(string(b), name) {
				t.Errorf("%s does not document the JSON field %s", file, p)
			}
		}
	}
}

// metricsServer starts a server that accounts its work in
// demo_work_seconds_total as "hangup demo" does, exports
// hangup_requests_in_flight, and returns the URL to load and the metrics
// URL.
func metricsServer(t *testing.T) (url, metrics string) {
	t.Helper()
	var mu sync.Mutex
	var work Work
	inflight := 0
	const service = 20 * time.Millisecond
	mux := http.NewServeMux()
	mux.HandleFunc("/work", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		inflight++
		mu.Unlock()
		start := time.Now()
		select {
		case <-time.After(service):
			w.Write([]byte("done\n"))
			mu.Lock()
			work.Useful += time.Since(start).Seconds()
			inflight--
			mu.Unlock()
		case <-r.Context().Done():
			mu.Lock()
			work.Cancelled += time.Since(start).Seconds()
			inflight--
			mu.Unlock()
		}
	})
	mux.HandleFunc("/metrics", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintf(w, "# TYPE demo_work_seconds_total counter\n")
		fmt.Fprintf(w, "demo_work_seconds_total{work=\"sleep\",outcome=\"completed\"} %g\n", work.Useful)
		fmt.Fprintf(w, "demo_work_seconds_total{work=\"sleep\",outcome=\"cancelled\"} %g\n", work.Cancelled)
		fmt.Fprintf(w, "demo_work_seconds_total{work=\"sleep\",outcome=\"wasted\"} %g\n", work.Wasted)
		fmt.Fprintf(w, "hangup_requests_in_flight %d\n", inflight)
	})
	srv := startServer(t, mux, nil)
	return srv.URL + "/work", srv.URL + "/metrics"
}

// TestMetrics: the server work scraped matches the goodput delivered.
func TestMetrics(t *testing.T) {
	t.Parallel()
	url, metrics := metricsServer(t)
	res := run(t, Config{URL: url, MetricsURL: metrics, Users: 4, Patience: Fixed(time.Second), Duration: 2 * time.Second, Settle: 10 * time.Millisecond})
	w := res.Totals.Work
	if w == nil {
		t.Fatalf("no work in totals; warnings %q", res.Warnings)
	}
	// Each delivered response is at least 20ms of useful work, and 4
	// users cannot keep the server busier than 4 handlers from the first
	// scrape to the last (the run, the settle and a late scrape).
	least := float64(res.Totals.Goodput) * 0.020
	most := 4 * (2 + 0.010 + 5.0)
	if w.Useful < least || w.Useful > most {
		t.Errorf("useful work %.3fs for %d responses of 20ms, want between %.3fs and %.0fs", w.Useful, res.Totals.Goodput, least, most)
	}
	for _, s := range res.Series {
		if s.Inflight == nil || s.Work == nil {
			t.Errorf("second %v: inflight %v work %v, want both scraped", s.T, s.Inflight, s.Work)
		}
	}
	if len(res.Warnings) != 0 {
		t.Errorf("warnings: %q", res.Warnings)
	}
}
