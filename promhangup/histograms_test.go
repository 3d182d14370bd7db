package promhangup_test

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/hangup-dev/hangup"
	"github.com/hangup-dev/hangup/promhangup"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// waitLong bounds every wait; no test asserts a duration.
const waitLong = 10 * time.Second

// TestHistogramsScraped drives a real server with real loopback clients:
// requests that complete, and clients that leave mid-handler (FIN, RST).
// It scrapes /metrics over HTTP, parses the text format, and checks that
// each histogram moved by what the clients did; the names pass promlint.
func TestHistogramsScraped(t *testing.T) {
	h := promhangup.NewHistograms()
	done := make(chan struct{}, 16)
	entered := make(chan struct{}, 1)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /fast", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	mux.HandleFunc("GET /wait", func(w http.ResponseWriter, r *http.Request) {
		entered <- struct{}{}
		select {
		case <-r.Context().Done():
		case <-time.After(waitLong):
		}
	})
	srv := httptest.NewUnstartedServer(mux)
	g := hangup.Install(srv.Config, hangup.OnDone(func(r hangup.Report) {
		h.Observe(r)
		done <- struct{}{}
	}))
	srv.Start()
	defer srv.Close()

	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(promhangup.NewCollector(g), h)
	metrics := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	defer metrics.Close()

	before := scrape(t, metrics.URL)
	const completed = 3
	for range completed {
		resp, err := http.Get(srv.URL + "/fast")
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		waitDone(t, done)
	}
	http.DefaultClient.CloseIdleConnections()
	leaves := []struct {
		name  string
		leave func(*net.TCPConn)
	}{
		{"close", func(c *net.TCPConn) { c.Close() }},
		{"reset", func(c *net.TCPConn) { c.SetLinger(0); c.Close() }},
	}
	for _, l := range leaves {
		c, err := net.Dial("tcp", srv.Listener.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(c, "GET /wait HTTP/1.1\r\nHost: x\r\n\r\n")
		select {
		case <-entered:
		case <-time.After(waitLong):
			t.Fatalf("%s: handler never ran", l.name)
		}
		l.leave(c.(*net.TCPConn))
		waitDone(t, done)
	}
	after := scrape(t, metrics.URL)

	checks := []struct {
		metric string
		label  string // name=value
		want   uint64
	}{
		{"hangup_request_duration_seconds", "outcome=completed", completed},
		{"hangup_request_duration_seconds", "outcome=abandoned", uint64(len(leaves))},
		{"hangup_work_after_gone_seconds", "route=GET /wait", uint64(len(leaves))},
		{"hangup_work_after_gone_seconds", "route=other", 0},
	}
	for _, c := range checks {
		got := histCount(after, c.metric, c.label) - histCount(before, c.metric, c.label)
		if got != c.want {
			t.Errorf("%s{%s}: count moved by %d, want %d", c.metric, c.label, got, c.want)
		}
	}
	if hs := hist(after, "hangup_work_after_gone_seconds", "route=GET /wait"); hs != nil && hs.GetSampleSum() < 0 {
		t.Errorf("hangup_work_after_gone_seconds sum %v, want >= 0", hs.GetSampleSum())
	}

	var text bytes.Buffer
	for _, mf := range after {
		expfmt.MetricFamilyToText(&text, mf)
	}
	problems, err := promlint.New(&text).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}
}

// TestHistogramsRouteBound: routes past MaxRoutes share route="other", as do
// requests without a route.
func TestHistogramsRouteBound(t *testing.T) {
	h := promhangup.NewHistograms()
	const extra = 20
	for i := range promhangup.MaxRoutes + extra {
		h.Observe(abandoned(fmt.Sprintf("GET /r%d", i)))
	}
	h.Observe(abandoned(""))
	for _, mf := range gather(t, h) {
		if mf.GetName() != "hangup_work_after_gone_seconds" {
			continue
		}
		if n := len(mf.GetMetric()); n != promhangup.MaxRoutes+1 {
			t.Errorf("%d route series, want %d", n, promhangup.MaxRoutes+1)
		}
		for _, m := range mf.GetMetric() {
			if m.GetLabel()[0].GetValue() == "other" && m.GetHistogram().GetSampleCount() != extra+1 {
				t.Errorf(`route="other" counted %d, want %d`, m.GetHistogram().GetSampleCount(), extra+1)
			}
		}
	}
}

// TestHistogramsRouteNotUTF8: a route that is not valid UTF-8 (named from a
// raw path) is counted as route="other", where Prometheus would panic on it
// as a label value.
func TestHistogramsRouteNotUTF8(t *testing.T) {
	h := promhangup.NewHistograms()
	h.Observe(abandoned("/files/\xff"))
	for _, mf := range gather(t, h) {
		if mf.GetName() != "hangup_work_after_gone_seconds" {
			continue
		}
		for _, m := range mf.GetMetric() {
			if v := m.GetLabel()[0].GetValue(); v != "other" || m.GetHistogram().GetSampleCount() != 1 {
				t.Errorf("route=%q counted %d, want route=\"other\" counted 1", v, m.GetHistogram().GetSampleCount())
			}
		}
	}
}

func abandoned(route string) hangup.Report {
	return hangup.Report{
		Departure:    hangup.Departure{Phase: hangup.PhaseHandler, Reason: hangup.ReasonClosed},
		Route:        route,
		Elapsed:      2 * time.Millisecond,
		StoppedAfter: 50 * time.Microsecond,
	}
}

func waitDone(t *testing.T, done <-chan struct{}) {
	t.Helper()
	select {
	case <-done:
	case <-time.After(waitLong):
		t.Fatal("OnDone not called")
	}
}

// scrape GETs url in the text format and parses it with expfmt's TextParser.
func scrape(t *testing.T, url string) map[string]*dto.MetricFamily {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("Accept", "text/plain; version=0.0.4")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parsing /metrics: %v", err)
	}
	return mfs
}

// hist returns the histogram of metric whose label is name=value, or nil.
func hist(mfs map[string]*dto.MetricFamily, metric, label string) *dto.Histogram {
	mf := mfs[metric]
	if mf == nil {
		return nil
	}
	for _, m := range mf.GetMetric() {
		for _, lp := range m.GetLabel() {
			if lp.GetName()+"="+lp.GetValue() == label {
				return m.GetHistogram()
			}
		}
	}
	return nil
}

func histCount(mfs map[string]*dto.MetricFamily, metric, label string) uint64 {
	return hist(mfs, metric, label).GetSampleCount()
}

// TestBuckets: Buckets gives the bounds both histograms export, and a copy.
func TestBuckets(t *testing.T) {
	h := promhangup.NewHistograms()
	h.Observe(abandoned("GET /"))
	want := promhangup.Buckets()
	for _, mf := range gather(t, h) {
		for _, m := range mf.GetMetric() {
			var got []float64
			for _, b := range m.GetHistogram().GetBucket() {
				got = append(got, b.GetUpperBound())
			}
			if !slices.Equal(got, want) {
				t.Errorf("%s: buckets %v, want Buckets() %v", mf.GetName(), got, want)
			}
		}
	}
	want[0] = -1
	if promhangup.Buckets()[0] == -1 {
		t.Error("Buckets returned its own slice, not a copy")
	}
}

// gather registers c alone and gathers it.
func gather(t *testing.T, c prometheus.Collector) []*dto.MetricFamily {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	return mfs
}
