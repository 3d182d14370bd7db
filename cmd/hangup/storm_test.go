package main

import (
	"bytes"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// stormTestServer answers after 10ms, or stops when the client leaves.
func stormTestServer(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(10 * time.Millisecond):
			w.Write([]byte("ok\n"))
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestStormBadInput(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + ln.Addr().String() + "/"
	ln.Close()
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{}, 2, "--url is required"},
		{[]string{"--url", "localhost:8888"}, 2, `has no scheme: write http://localhost:8888`},
		{[]string{"--url", "http://localhost:1/", "--users", "0"}, 2, "users must be at least 1 (got 0)"},
		{[]string{"--url", "http://localhost:1/", "--duration", "-1s"}, 2, "duration must not be negative"},
		{[]string{"--url", "http://localhost:1/", "--reload-prob", "1.5"}, 2, "reload probability must be between 0 and 1"},
		{[]string{"--url", "http://localhost:1/", "--reload-prob", "-0.5"}, 2, "reload probability must be between 0 and 1"},
		{[]string{"--url", "http://localhost:1/", "--patience", "soon"}, 2, `bad duration distribution "soon"`},
		{[]string{"--url", "http://localhost:1/", "--patience", "uniform:3s-1s"}, 2, "0 <= low <= high"},
		{[]string{"--url", "http://localhost:1/", "--abort", "slam"}, 2, "want fin or rst"},
		{[]string{"--url", "http://localhost:1/", "--bogus"}, 2, "flag provided but not defined"},
		{[]string{"--url", "http://localhost:1/", "extra"}, 2, `unexpected argument "extra"`},
		{[]string{"--url", "http://localhost:1/", "--timeout", "1s"}, 2, "flag --timeout was renamed --connect-timeout"},
		{[]string{"--url", "http://localhost:1/", "--connect-timeout", "1"}, 2, "flag -connect-timeout: parse error"},
		{[]string{"--url", closed, "--duration", "1s"}, 1, "cannot reach " + closed + ": connection refused — is the server running?"},
	} {
		var out, errb bytes.Buffer
		code := run(append([]string{"storm"}, tc.args...), &out, &errb)
		msg := errb.String()
		if code != tc.code || !strings.Contains(msg, tc.want) {
			t.Errorf("storm %q: exit %d, stderr %q; want exit %d and %q", tc.args, code, msg, tc.code, tc.want)
		}
		if strings.Count(strings.TrimSpace(msg), "\n") != 0 {
			t.Errorf("storm %q: want one line on stderr, got %q", tc.args, msg)
		}
		if out.Len() != 0 {
			t.Errorf("storm %q: wrote %q on stdout", tc.args, out.String())
		}
	}
}

func TestStormHelp(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"storm", "-h"}, &out, &errb); code != 0 {
		t.Fatalf("storm -h: exit %d", code)
	}
	for _, flag := range []string{"-url", "-users", "-patience", "-think", "-reload-prob", "-duration", "-rate", "-abort", "-metrics", "-json", "-plot", "-connect-timeout"} {
		if !strings.Contains(out.String(), flag) {
			t.Errorf("storm -h does not show %s", flag)
		}
	}
}

// stormJSONFields is the golden list of JSON fields a script may rely on,
// by object; see cmd/storm/README.md.
var stormJSONFields = map[string][]string{
	"":               {"config", "series", "totals", "warnings"},
	"config":         {"abort", "duration_s", "metrics_url", "mode", "patience", "rate", "reload_prob", "think", "url", "users"},
	"series[]":       {"abandoned", "errors", "goodput", "inflight", "open", "p99_ms", "sent", "t", "work"},
	"totals":         {"abandoned", "abandoned_per_s", "dropped", "elapsed_s", "errors", "errors_by_kind", "goodput", "goodput_per_s", "latency_ms", "left", "reloads", "sent", "sent_per_s", "unfinished", "work"},
	"errors_by_kind": {"connect", "other", "reset", "status_5xx"},
	"latency_ms":     {"count", "max", "mean", "p50", "p90", "p99"},
}

func keys(m map[string]any) []string {
	var k []string
	for n := range m {
		k = append(k, n)
	}
	slices.Sort(k)
	return k
}

func TestStormJSON(t *testing.T) {
	url := stormTestServer(t)
	plot := filepath.Join(t.TempDir(), "storm.svg")
	var out, errb bytes.Buffer
	code := run([]string{"storm", "--url", url, "--users", "3", "--patience", "uniform:500ms-1s", "--duration", "1s", "--json", "--plot", plot}, &out, &errb)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	var doc map[string]any
	if err := json.Unmarshal(out.Bytes(), &doc); err != nil {
		t.Fatalf("stdout is not JSON: %v\n%s", err, out.String())
	}
	totals := doc["totals"].(map[string]any)
	series := doc["series"].([]any)
	objects := map[string]map[string]any{
		"":               doc,
		"config":         doc["config"].(map[string]any),
		"series[]":       series[0].(map[string]any),
		"totals":         totals,
		"errors_by_kind": totals["errors_by_kind"].(map[string]any),
		"latency_ms":     totals["latency_ms"].(map[string]any),
	}
	for name, want := range stormJSONFields {
		if got := keys(objects[name]); !slices.Equal(got, want) {
			t.Errorf("JSON %q fields:\n got %q\nwant %q", name, got, want)
		}
	}
	if g := totals["goodput"].(float64); g == 0 || len(series) != 1 {
		t.Errorf("goodput %v over %d seconds, want some over 1", g, len(series))
	}
	if strings.Contains(errb.String(), "\r") {
		t.Error("progress line written to a stderr that is not a terminal")
	}
	if svg, err := os.ReadFile(plot); err != nil || !bytes.HasPrefix(svg, []byte("<svg")) {
		t.Errorf("plot: %v, %.40q", err, svg)
	}
}

func TestStormTable(t *testing.T) {
	url := stormTestServer(t)
	var out, errb bytes.Buffer
	code := run([]string{"storm", "--url", url, "--users", "2", "--duration", "1s", "--abort", "rst"}, &out, &errb)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	for _, want := range []string{"hangup storm: 2 users", "goodput", "abandoned", "latency:", "abort rst"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, out.String())
		}
	}
	if errb.Len() != 0 {
		t.Errorf("stderr not empty: %q", errb.String())
	}
}
