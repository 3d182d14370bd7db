package promhangup_test

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/hangup-dev/hangup"
	"github.com/hangup-dev/hangup/promhangup"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestCollector drives a real server: one request completes, one client
// leaves mid-handler; the metrics must say so under their public names.
func TestCollector(t *testing.T) {
	entered := make(chan struct{}, 1)
	done := make(chan struct{}, 1)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/wait" {
			entered <- struct{}{}
			select {
			case <-r.Context().Done():
			case <-time.After(10 * time.Second):
			}
			done <- struct{}{}
			return
		}
		w.Write([]byte("ok"))
	}))
	g := hangup.Install(srv.Config)
	srv.Start()
	defer srv.Close()

	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(promhangup.NewCollector(g))

	resp, err := http.Get(srv.URL + "/fast")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	http.DefaultClient.CloseIdleConnections()

	c, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c.Write([]byte("GET /wait HTTP/1.1\r\nHost: x\r\n\r\n"))
	<-entered
	inflight := testutil.ToFloat64(gauge(t, reg, "hangup_requests_in_flight"))
	if inflight != 1 {
		t.Errorf("hangup_requests_in_flight = %v while a handler runs, want 1", inflight)
	}
	c.Close()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("handler not cancelled")
	}

	want := `
# HELP hangup_client_gone_total Requests whose client went away before the handler returned, by the phase the request was in.
# TYPE hangup_client_gone_total counter
hangup_client_gone_total{phase="before_handler"} 0
hangup_client_gone_total{phase="handler"} 1
hangup_client_gone_total{phase="reading_body"} 0
hangup_client_gone_total{phase="writing_response"} 0
# HELP hangup_requests_total Requests seen by hangup.
# TYPE hangup_requests_total counter
hangup_requests_total 2
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "hangup_client_gone_total", "hangup_requests_total"); err != nil {
		t.Error(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	srv.Config.Shutdown(ctx)
}

func gauge(t *testing.T, reg *prometheus.Registry, name string) prometheus.Collector {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			v := mf.GetMetric()[0].GetGauge().GetValue()
			return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: "copy"}, func() float64 { return v })
		}
	}
	t.Fatalf("metric %s not exported", name)
	return nil
}
