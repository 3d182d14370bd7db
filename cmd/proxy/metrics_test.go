package proxy

import (
	"bytes"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// TestAdminEndpoints: /metrics has the core's and the proxy's metrics, and
// /healthz answers.
func TestAdminEndpoints(t *testing.T) {
	u := newUpstream(t, nil)
	close(u.release)
	h := startProxy(t, Config{Upstream: u.url, MaxInflight: 4, Queue: 4, Coalesce: true})
	c := client(t)
	res, err := c.Get("http://" + h.addr + "/warm")
	if err != nil {
		t.Fatal(err)
	}
	readAll(t, res)

	res, err = c.Get("http://" + h.admin + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	if body := readAll(t, res); res.StatusCode != 200 || body != "ok\n" {
		t.Errorf("/healthz: %d %q", res.StatusCode, body)
	}
	res, err = c.Get("http://" + h.admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body := readAll(t, res)
	for _, want := range []string{
		"hangup_requests_in_flight",
		`hangup_client_gone_total{phase="before_handler"}`,
		`hangup_proxy_upstream_requests_total{outcome="completed"} 1`,
		`hangup_proxy_upstream_requests_total{outcome="cancelled"} 0`,
		`hangup_proxy_upstream_requests_total{outcome="error"} 0`,
		`hangup_proxy_upstream_requests_total{outcome="timeout"} 0`,
		"hangup_proxy_queue_depth 0",
		"hangup_proxy_queued_total 0",
		`hangup_proxy_queue_dropped_total{reason="full"} 0`,
		`hangup_proxy_queue_dropped_total{reason="timeout"} 0`,
		`hangup_proxy_queue_dropped_total{reason="client_gone"} 0`,
		"hangup_proxy_coalesced_total 0",
	} {
		if !strings.Contains(body, want+"\n") && !strings.Contains(body, want+" ") {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

// scrape reads the proxy's /metrics over HTTP, as Prometheus does, with
// Prometheus's own text parser.
func (h *harness) scrape(t *testing.T) (map[string]*dto.MetricFamily, []byte) {
	t.Helper()
	res, err := client(t).Get("http://" + h.admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body := []byte(readAll(t, res))
	parser := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := parser.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("parsing /metrics: %v", err)
	}
	return mfs, body
}

// sample is one series of a family: a counter's value or a histogram's
// count, with its buckets' upper bounds.
func sample(t *testing.T, mfs map[string]*dto.MetricFamily, name, label, value string) (float64, []float64) {
	t.Helper()
	mf := mfs[name]
	if mf == nil {
		t.Fatalf("/metrics has no %s", name)
	}
	for _, m := range mf.GetMetric() {
		if label != "" && !slices.ContainsFunc(m.GetLabel(), func(l *dto.LabelPair) bool {
			return l.GetName() == label && l.GetValue() == value
		}) {
			continue
		}
		if hist := m.GetHistogram(); hist != nil {
			var bounds []float64
			for _, b := range hist.GetBucket() {
				bounds = append(bounds, b.GetUpperBound())
			}
			return float64(hist.GetSampleCount()), bounds
		}
		return m.GetCounter().GetValue(), nil
	}
	t.Fatalf("/metrics has no %s{%s=%q}", name, label, value)
	return 0, nil
}

// TestTimeMetrics: the histograms and the responses counter move as
// requests are served and abandoned, scraped over HTTP and read with
// Prometheus's parser: a request that waits in line for the one upstream
// slot and whose client leaves there (a queue wait, a 499), and the one
// before it, answered (a 200, its upstream's head and end). Every series
// exists from the start, and the histograms have the documented buckets.
func TestTimeMetrics(t *testing.T) {
	u := newUpstream(t, nil)
	h := startProxy(t, Config{Upstream: u.url, MaxInflight: 1, Queue: 2})
	before, _ := h.scrape(t)

	first, _ := leaveInLine(t, h, u)
	close(u.release)
	readResponse(t, first, "GET")
	h.logs.waitFor(t, "for the answered request", func(l map[string]any) bool { return l["uri"] == "/first" })
	after, body := h.scrape(t)

	for _, m := range []struct {
		name, label, value string
		delta              float64
	}{
		{"hangup_proxy_request_duration_seconds", "class", "2xx", 1},
		{"hangup_proxy_request_duration_seconds", "class", "4xx", 1},
		{"hangup_proxy_request_duration_seconds", "class", "5xx", 0},
		{"hangup_proxy_request_duration_seconds", "class", "other", 0},
		{"hangup_proxy_responses_total", "code", "2xx", 1},
		{"hangup_proxy_responses_total", "code", "499", 1},
		{"hangup_proxy_responses_total", "code", "4xx", 0},
		{"hangup_proxy_responses_total", "code", "503", 0},
		{"hangup_proxy_upstream_header_seconds", "", "", 1},
		{"hangup_proxy_upstream_duration_seconds", "", "", 1},
		{"hangup_proxy_queue_wait_seconds", "", "", 1},
	} {
		was, _ := sample(t, before, m.name, m.label, m.value)
		now, bounds := sample(t, after, m.name, m.label, m.value)
		if now-was != m.delta {
			t.Errorf("%s{%s=%q} went from %v to %v, want +%v", m.name, m.label, m.value, was, now, m.delta)
		}
		if want := append(slices.Clone(durationBuckets), math.Inf(1)); strings.HasSuffix(m.name, "_seconds") && !slices.Equal(bounds, want) {
			t.Errorf("%s buckets %v, want %v", m.name, bounds, want)
		}
	}

	problems, err := promlint.New(bytes.NewReader(body)).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		if strings.HasPrefix(p.Metric, "hangup_") {
			t.Errorf("promlint: %s: %s", p.Metric, p.Text)
		}
	}
}

// TestCodeLabels: the responses counter's code is the status itself for the
// codes the proxy gives, the class for any other: a fixed few series.
func TestCodeLabels(t *testing.T) {
	for _, tc := range []struct {
		status      int
		code, class string
	}{
		{200, "2xx", "2xx"}, {204, "2xx", "2xx"}, {101, "1xx", "1xx"}, {304, "3xx", "3xx"},
		{404, "4xx", "4xx"}, {499, "499", "4xx"}, {400, "400", "4xx"}, {408, "408", "4xx"},
		{413, "413", "4xx"}, {431, "431", "4xx"}, {500, "5xx", "5xx"}, {502, "502", "5xx"},
		{503, "503", "5xx"}, {504, "504", "5xx"}, {0, "other", "other"}, {600, "other", "other"}, {99, "other", "other"},
	} {
		if code, class := codeLabels[codeIndex(tc.status)], classLabels[statusClass(tc.status)]; code != tc.code || class != tc.class {
			t.Errorf("status %d: code %q, class %q; want %q, %q", tc.status, code, class, tc.code, tc.class)
		}
	}
}
