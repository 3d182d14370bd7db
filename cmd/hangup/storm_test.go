package main

import (
	"bytes"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"io"
	"log"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hangup-dev/hangup/cmd/storm"
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
		{[]string{}, 2, "a URL is required, e.g. hangup storm http://localhost:8888/"},
		{[]string{"--url", "localhost:8888"}, 2, `has no scheme: write http://localhost:8888`},
		{[]string{"--url", "http://localhost:1/", "--users", "0"}, 2, "users must be at least 1 (got 0)"},
		{[]string{"--url", "http://localhost:1/", "--duration", "-1s"}, 2, "duration must not be negative"},
		{[]string{"--url", "http://localhost:1/", "--reload-prob", "1.5"}, 2, "reload probability must be between 0 and 1"},
		{[]string{"--url", "http://localhost:1/", "--reload-prob", "-0.5"}, 2, "reload probability must be between 0 and 1"},
		{[]string{"--url", "http://localhost:1/", "--patience", "soon"}, 2, `bad duration distribution "soon"`},
		{[]string{"--url", "http://localhost:1/", "--patience", "uniform:3s-1s"}, 2, "0 <= low <= high"},
		{[]string{"--url", "http://localhost:1/", "--abort", "slam"}, 2, "want fin or rst"},
		{[]string{"--url", "http://localhost:1/", "--bogus"}, 2, "flag provided but not defined"},
		{[]string{"http://localhost:1/", "extra"}, 2, `unexpected argument "extra"`},
		{[]string{"--url", "http://localhost:1/", "http://localhost:2/"}, 2, "the URL is given twice"},
		{[]string{"--timeout", "-1s", "http://localhost:1/"}, 2, "timeout must not be negative"},
		{[]string{"-m", "GE T", "http://localhost:1/"}, 2, `method "GE T" is not an HTTP method token`},
		{[]string{"-H", "NoColon", "http://localhost:1/"}, 2, `-H "NoColon": want "Name: value"`},
		{[]string{"-d", "x", "-D", "f", "http://localhost:1/"}, 2, "-d and -D both give the body"},
		{[]string{"-D", "/nonexistent/body", "http://localhost:1/"}, 2, "-D: open /nonexistent/body"},
		{[]string{"--targets", "/nonexistent/targets"}, 2, "--targets: open /nonexistent/targets"},
		{[]string{"--targets", "/dev/null", "http://localhost:1/"}, 2, "--targets gives the requests"},
		{[]string{"--targets", "/dev/null"}, 2, "/dev/null has no target"},
		{[]string{"--cacert", "/dev/null", "https://localhost:1/"}, 2, "holds no PEM certificate"},
		{[]string{"--threshold", "p99<<1ms", "http://localhost:1/"}, 2, `bad threshold "p99<<1ms"`},
		{[]string{"--threshold", "latency<1s", "http://localhost:1/"}, 2, `unknown metric "latency"`},
		{[]string{"--threshold", "goodput>=1.5", "http://localhost:1/"}, 2, "a share is between 0 and 1"},
		{[]string{"--threshold", "p99<soon", "http://localhost:1/"}, 2, `"soon" is not a duration`},
		{[]string{"--stages", "30s", "http://localhost:1/"}, 2, `bad stage "30s"`},
		{[]string{"--stages", "1s:0", "http://localhost:1/"}, 2, "never have a user"},
		{[]string{"--stages", "1s:5", "--users", "3", "http://localhost:1/"}, 2, "drop --users and --duration"},
		{[]string{"--stages", "1s:5", "--rate", "3", "http://localhost:1/"}, 2, "do not combine with a rate"},
		{[]string{"--stages", "1s:5", "--warmup", "1s", "http://localhost:1/"}, 2, "stages and a warmup do not combine"},
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
	for _, flag := range []string{"-url", "-users", "-patience", "-think", "-reload-prob", "-duration", "-rate", "-abort", "-metrics", "-json", "-plot", "-connect-timeout",
		"-m ", "-H ", "-d ", "-D ", "-targets", "-http2", "-insecure", "-cacert", "-timeout", "-threshold", "-stages", "-warmup", "-seed", "-csv", "-hdr"} {
		if !strings.Contains(out.String(), flag) {
			t.Errorf("storm -h does not show %s", flag)
		}
	}
}

// stormJSONFields is the golden list of JSON fields a script may rely on,
// by object; see cmd/storm/README.md.
var stormJSONFields = map[string][]string{
	"":               {"config", "schema", "series", "thresholds", "totals", "warnings"},
	"config":         {"abort", "connect_timeout_s", "duration_s", "http2", "method", "metrics_url", "mode", "patience", "rate", "reload_prob", "seed", "stages", "targets", "think", "timeout_s", "url", "users", "warmup_s"},
	"series[]":       {"abandoned", "errors", "errors_by_kind", "goodput", "inflight", "open", "p99_ms", "sent", "status", "t", "work"},
	"totals":         {"abandoned", "abandoned_per_s", "dropped", "elapsed_s", "errors", "errors_by_kind", "goodput", "goodput_per_s", "latency_ms", "left", "reloads", "sent", "sent_per_s", "status", "status_codes", "unfinished", "work"},
	"errors_by_kind": {"connect", "other", "reset", "status_4xx", "status_5xx", "timeout"},
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
	code := run([]string{"storm", "--users", "3", "--patience", "uniform:500ms-1s", "--duration", "1s", "--json", "--plot", plot, url}, &out, &errb)
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
	if doc["schema"] != 2.0 {
		t.Errorf("schema %v, want 2", doc["schema"])
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

// stormCountingServer counts requests by "METHOD PATH HEADER BODY" and
// answers /status/NNN with NNN after 5ms.
func stormCountingServer(t *testing.T) (string, func() map[string]int) {
	t.Helper()
	var mu sync.Mutex
	seen := map[string]int{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		seen[strings.TrimSpace(r.Method+" "+r.URL.Path+" "+r.Header.Get("X-Test")+" "+string(b))]++
		mu.Unlock()
		status := http.StatusOK
		if code, ok := strings.CutPrefix(r.URL.Path, "/status/"); ok {
			status, _ = strconv.Atoi(code)
		}
		select {
		case <-time.After(5 * time.Millisecond):
			w.WriteHeader(status)
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(srv.Close)
	return srv.URL, func() map[string]int {
		mu.Lock()
		defer mu.Unlock()
		return maps.Clone(seen)
	}
}

// TestStormRun runs the command's request, threshold and export flags
// against a server that counts what it gets.
func TestStormRun(t *testing.T) {
	url, seen := stormCountingServer(t)
	dir := t.TempDir()
	targets := filepath.Join(dir, "targets")
	body := filepath.Join(dir, "body")
	os.WriteFile(body, []byte("from a file"), 0o644)
	os.WriteFile(targets, []byte("# two targets\nGET "+url+"/a\n\nPOST "+url+"/b\nX-Test: own\n@"+body+"\n"), 0o644)
	csvFile, hdrFile := filepath.Join(dir, "out.csv"), filepath.Join(dir, "out.hdr")
	for _, tc := range []struct {
		name   string
		args   []string
		code   int
		stderr []string // lines on stderr, each containing this
		server []string // keys the server must have seen
		files  []string // files that must not be empty
	}{
		{name: "method header body", args: []string{"-m", "PUT", "-H", "X-Test: yes", "-d", "hi", url + "/x"}, server: []string{"PUT /x yes hi"}},
		{name: "body from a file", args: []string{"-m", "POST", "-D", body, url + "/f"}, server: []string{"POST /f  from a file"}},
		{name: "targets and a header for all", args: []string{"--targets", targets, "-H", "X-Test: all"}, server: []string{"GET /a all", "POST /b own" + " from a file"}},
		{name: "thresholds that hold", args: []string{"--threshold", "goodput>=0.5", "--threshold", "p99 < 10s", url + "/ok"}},
		{name: "thresholds that fail", args: []string{"--threshold", "errors<=10%", "--threshold", "goodput>=0.9", "--threshold", "p99<0.001ms", "--threshold", "wasted<=0.05", url + "/status/404"}, code: 3,
			stderr: []string{"threshold errors<=10% failed: measured ", // all but the unfinished
				"threshold goodput>=0.9 failed: measured 0 (0.0%)", "threshold p99<0.001ms failed: not measured: no response was delivered", "threshold wasted<=0.05 failed: not measured: give --metrics"}},
		{name: "exports", args: []string{"--csv", csvFile, "--hdr", hdrFile, "--warmup", "200ms", "--seed", "7", url + "/e"}, files: []string{csvFile, hdrFile}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			args := append([]string{"storm", "--users", "2", "--duration", "1s", "--patience", "inf"}, tc.args...)
			code := run(args, &out, &errb)
			lines := strings.Split(strings.TrimSpace(errb.String()), "\n")
			if errb.Len() == 0 {
				lines = nil
			}
			if code != tc.code || len(lines) != len(tc.stderr) {
				t.Fatalf("exit %d, stderr %q; want exit %d and %d lines", code, errb.String(), tc.code, len(tc.stderr))
			}
			for i, want := range tc.stderr {
				if !strings.Contains(lines[i], want) || !strings.HasPrefix(lines[i], "hangup storm: ") {
					t.Errorf("stderr line %d %q, want %q", i, lines[i], want)
				}
			}
			got := seen()
			for _, k := range tc.server {
				if got[k] == 0 {
					t.Errorf("server never saw %q; saw %v", k, got)
				}
			}
			for _, f := range tc.files {
				if fi, err := os.Stat(f); err != nil || fi.Size() == 0 {
					t.Errorf("%s: %v, empty", f, err)
				}
			}
			if !strings.Contains(out.String(), "status:") && tc.code == 0 {
				t.Errorf("the table has no status line:\n%s", out.String())
			}
		})
	}
}

// TestStormLines: the live line and the table show the status classes, the
// top codes and the most frequent error kinds.
func TestStormLines(t *testing.T) {
	p99 := 12.5
	sec := storm.Second{T: 2, Sent: 30, Goodput: 20, Errors: 10, P99Ms: &p99, Open: 3,
		Status:       storm.StatusClasses{S2xx: 20, S4xx: 7, S5xx: 1},
		ErrorsByKind: storm.ErrorCounts{Status4xx: 7, Status5xx: 1, Timeout: 2}}
	res := &storm.Result{Config: storm.RunConfig{URL: "http://x/", Users: 3, Patience: "inf", Think: "0s", Abort: "fin"},
		Series: []storm.Second{sec},
		Totals: storm.Totals{ElapsedS: 1, Sent: 30, Goodput: 20, Errors: 10, Status: sec.Status, ErrorsByKind: sec.ErrorsByKind,
			StatusCodes: map[string]int64{"200": 20, "404": 5, "429": 2, "503": 1}},
		Thresholds: []storm.ThresholdResult{{Expr: "errors<0.1", Why: "measured 0.3333 (33.3%)"}, {Expr: "p99<1s", OK: true}}}
	var table bytes.Buffer
	stormPrintTable(&table, res)
	for _, tc := range []struct{ name, text, want string }{
		{"live: top two kinds", stormProgressLine(sec), "errors   10/s (status_4xx 7, timeout 2)"},
		{"live: classes", stormProgressLine(sec), "2xx 20 4xx 7 5xx 1"},
		{"table: kinds by frequency", table.String(), "errors:   status_4xx 7, timeout 2, status_5xx 1\n"},
		{"table: classes and codes", table.String(), "status:    2xx 20 4xx 7 5xx 1  (200 ×20, 404 ×5, 429 ×2, 503 ×1)\n"},
		{"table: failed threshold", table.String(), "threshold: errors<0.1 FAILED, measured 0.3333 (33.3%)\n"},
		{"table: threshold held", table.String(), "threshold: p99<1s ok\n"},
	} {
		if !strings.Contains(tc.text, tc.want) {
			t.Errorf("%s: %q lacks %q", tc.name, tc.text, tc.want)
		}
	}
}

// TestStormTLS: --cacert and --insecure reach an https server with a
// private certificate, over HTTP/1.1 and with --http2 over HTTP/2; without
// either every connect fails on the certificate.
func TestStormTLS(t *testing.T) {
	x509.SystemCertPool() // loaded before the runs: it takes long under the race detector
	for _, tc := range []struct {
		name  string
		args  func(ca string) []string
		proto string // seen by the server; "" for nothing
		table string
	}{
		{"cacert", func(ca string) []string { return []string{"--cacert", ca} }, "HTTP/1.1", "errors:    none"},
		{"insecure", func(string) []string { return []string{"--insecure"} }, "HTTP/1.1", "errors:    none"},
		{"http2", func(ca string) []string { return []string{"--cacert", ca, "--http2"} }, "HTTP/2.0", "over HTTP/2"},
		{"unknown authority", func(string) []string { return nil }, "", "errors:   connect"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var mu sync.Mutex
			protos := map[string]int{}
			srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				protos[r.Proto]++
				mu.Unlock()
			}))
			srv.EnableHTTP2 = true
			srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshakes
			srv.StartTLS()
			defer srv.Close()
			ca := filepath.Join(t.TempDir(), "ca.pem")
			os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o644)
			var out, errb bytes.Buffer
			args := append([]string{"storm", "--users", "2", "--duration", "3s", "--patience", "inf"}, tc.args(ca)...)
			if code := run(append(args, srv.URL), &out, &errb); code != 0 {
				t.Fatalf("exit %d: %s", code, errb.String())
			}
			mu.Lock()
			defer mu.Unlock()
			if (tc.proto == "" && len(protos) != 0) || (tc.proto != "" && (protos[tc.proto] == 0 || len(protos) != 1)) {
				t.Errorf("the server saw %v, want only %q", protos, tc.proto)
			}
			if !strings.Contains(out.String(), tc.table) {
				t.Errorf("the table lacks %q:\n%s", tc.table, out.String())
			}
		})
	}
}
