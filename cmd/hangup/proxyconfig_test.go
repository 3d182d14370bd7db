package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// writeFile writes s to name in dir and returns its path.
func writeFile(t *testing.T, dir, name, s string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestProxyConfigFile: the --config file holds every flag, by its name with
// _ for -, and each upstream's own settings; the environment overrides it,
// and flags override both.
func TestProxyConfigFile(t *testing.T) {
	dir := t.TempDir()
	cert, key := writeTestCert(t, dir)
	for _, tc := range []struct {
		name string
		file string
		args []string
		env  map[string]string
		want string // what check says of the result
	}{
		{name: "flags' keys", file: `
listen: 127.0.0.1:9000
upstream: [http://10.0.0.1:9000, "unix:/run/app.sock"]
lb: round_robin
max_inflight: 8
queue_timeout: 5s
max_body_size: 16MB
trusted_proxy: [10.0.0.0/8]
log_format: json
retry_idempotent: true
`, want: "127.0.0.1:9000 [http://10.0.0.1:9000 unix:/run/app.sock] round_robin 8 5s 16000000 [10.0.0.0/8] json true"},
		{name: "JSON", file: `{"upstream": "http://a:1", "max_inflight": 2, "queue_timeout": "1s"}`,
			want: ":8080 [http://a:1] least_inflight 2 1s 0 [] text false"},
		{name: "the environment over the file", file: "upstream: http://a:1\nmax_inflight: 4\n", env: map[string]string{"HANGUP_MAX_INFLIGHT": "8"},
			want: ":8080 [http://a:1] least_inflight 8 30s 0 [] text false"},
		{name: "a flag over both", file: "upstream: http://a:1\nmax_inflight: 4\n", env: map[string]string{"HANGUP_MAX_INFLIGHT": "8"}, args: []string{"--max-inflight", "16"},
			want: ":8080 [http://a:1] least_inflight 16 30s 0 [] text false"},
		{name: "flag upstreams replace the file's", file: "upstream: [http://a:1, http://b:1]\n", args: []string{"--upstream", "http://c:1"},
			want: ":8080 [http://c:1] least_inflight 0 30s 0 [] text false"},
		{name: "the environment's upstreams too", file: "upstream: [http://a:1, http://b:1]\n", env: map[string]string{"HANGUP_UPSTREAM": "http://d:1,http://e:1"},
			want: ":8080 [http://d:1 http://e:1] least_inflight 0 30s 0 [] text false"},
		{name: "an upstream's own settings", file: fmt.Sprintf(`
max_inflight: 4
upstream_server_name: shared.internal
upstream:
  - url: https://10.0.0.1:9443
    ca: %s
    server_name: a.internal
    max_inflight: 16
  - url: https://10.0.0.2:9443
    cert: %s
    key: %s
  - http://10.0.0.3:9000
`, cert, cert, key), want: "10.0.0.1:9443: roots 1, name a.internal, 0 certificates, max_inflight 16; 10.0.0.2:9443: roots 0, name shared.internal, 1 certificates, max_inflight 0; shared: name shared.internal"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			withProxyEnv(t, tc.env)
			path := writeFile(t, t.TempDir(), "hangup.yaml", tc.file)
			f, err := parseProxyFlags(append([]string{"--config", path}, tc.args...), io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			c := f.cfg
			var got string
			if c.UpstreamOptions == nil {
				got = fmt.Sprintf("%s %v %s %d %s %d %v %s %v", f.listen, c.Upstreams, c.Balance, c.MaxInflight, c.QueueTimeout, c.MaxBodySize, c.TrustedProxies, f.logFormat, c.RetryIdempotent)
			} else {
				var parts []string
				for _, name := range []string{"10.0.0.1:9443", "10.0.0.2:9443"} {
					o := c.UpstreamOptions[name]
					roots := 0
					if o.TLS.RootCAs != nil {
						roots = len(o.TLS.RootCAs.Subjects())
					}
					parts = append(parts, fmt.Sprintf("%s: roots %d, name %s, %d certificates, max_inflight %d", name, roots, o.TLS.ServerName, len(o.TLS.Certificates), o.MaxInflight))
				}
				if _, ok := c.UpstreamOptions["10.0.0.3:9000"]; ok {
					parts = append(parts, "the http upstream has options")
				}
				got = strings.Join(parts, "; ") + "; shared: name " + c.UpstreamTLS.ServerName
			}
			if got != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
}

// TestProxyCheckConfig: --check-config checks what start-up would and
// starts nothing: "config ok" on stdout and exit 0, or every error on
// stderr, one line each naming the flag or the file's key and line, and
// exit 2.
func TestProxyCheckConfig(t *testing.T) {
	withProxyEnv(t, nil)
	dir := t.TempDir()
	cert, key := writeTestCert(t, dir)
	junk := writeFile(t, dir, "junk.pem", "not a certificate")
	missing := filepath.Join(dir, "missing.pem")
	file := func(s string) string { return writeFile(t, t.TempDir(), "hangup.yaml", s) }
	for _, tc := range []struct {
		name   string
		args   []string
		code   int
		stderr []string // lines, each with its expected start after "hangup proxy: " ("F" is the file)
	}{
		{name: "flags", args: []string{"--upstream", "http://127.0.0.1:9000"}, code: 0},
		{name: "a file", args: []string{"--config", file("upstream:\n  - url: https://10.0.0.1:9443\n    ca: " + cert + "\n  - url: https://10.0.0.2:9443\n    cert: " + cert + "\n    key: " + key + "\n")}, code: 0},
		{name: "no file", args: []string{"--config", missing}, code: 2, stderr: []string{"--config: open " + missing + ": no such file or directory: give a readable YAML or JSON file"}},
		{name: "syntax", args: []string{"--config", file("upstream: http://a:1\n  lb: first\n")}, code: 2,
			stderr: []string{"--config: F:2: mapping values are not allowed in this context: fix the YAML (or JSON) syntax"}},
		{name: "unknown key", args: []string{"--config", file("upstream: http://a:1\nmax_inflite: 3\n")}, code: 2,
			stderr: []string{`F:2: unknown key "max_inflite": the keys are the flags' names with _ for -`}},
		{name: "unknown key of an upstream", args: []string{"--config", file("upstream:\n  - url: https://a:1\n    sever_name: x\n")}, code: 2,
			stderr: []string{`F:3: unknown key "sever_name" in upstream[1]: the keys are url, ca, server_name, cert, key, insecure_skip_verify, max_inflight`}},
		{name: "unreadable CA", args: []string{"--config", file("upstream:\n  - url: https://a:1\n    ca: " + missing + "\n")}, code: 2,
			stderr: []string{"upstream[1].ca (F:3): open " + missing + ": no such file or directory: give a readable PEM file"}},
		{name: "a CA of no PEM", args: []string{"--upstream", "https://a:1", "--upstream-ca", junk}, code: 2,
			stderr: []string{"--upstream-ca " + junk + ": no PEM certificate in it"}},
		{name: "bad values", args: []string{"--config", file("upstream: http://a:1\nqueue_timeout: 10\nmax_body_size: 4m\nlisten: nowhere\n")}, code: 2,
			stderr: []string{`F:2: queue_timeout: invalid value "10": parse error: want a duration such as 500ms`,
				`F:3: max_body_size: invalid value "4m": ambiguous size "4m": write 4MB (10^6 bytes) or 4MiB (2^20)`,
				`listen (F:4) "nowhere": want host:port`}},
		{name: "every error", args: []string{"--config", file("upstream: [ftp://a, http://b:1, http://b:1]\nlb: random\nmax_inflight: -1\n"), "--log-format", "xml"}, code: 2,
			stderr: []string{`upstream[1] (F:1) "ftp://a": want an http:// or https:// URL`,
				`upstream[3] (F:1) http://b:1 given twice`,
				`lb (F:2) "random": want least_inflight, round_robin or first`,
				`max_inflight (F:3): -1 must not be negative`,
				`--log-format "xml": want text or json`}},
		{name: "health checks", args: []string{"--config", file("upstream: http://a:1\nhealth_path: healthz\nhealth_interval: -5s\n")}, code: 2,
			stderr: []string{`health_path (F:2) "healthz": want a path from the upstream's root, e.g. /healthz`,
				`health_interval (F:3): -5s must not be negative`}},
		{name: "an upstream's limit without the pool's", args: []string{"--config", file("upstream:\n  - url: http://a:1\n    max_inflight: 4\n")}, code: 2,
			stderr: []string{"upstream[1].max_inflight (F:3) needs max_inflight, the other upstreams'"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(append([]string{"proxy", "--check-config"}, tc.args...), &stdout, &stderr)
			if code != tc.code {
				t.Errorf("exit %d, want %d; stderr: %s", code, tc.code, stderr.String())
			}
			if tc.code == 0 {
				if stdout.String() != "config ok\n" || stderr.Len() > 0 {
					t.Errorf("stdout %q, stderr %q; want config ok and nothing", stdout.String(), stderr.String())
				}
				return
			}
			if stdout.Len() > 0 {
				t.Errorf("stdout %q, want nothing", stdout.String())
			}
			lines := strings.Split(strings.TrimSuffix(stderr.String(), "\n"), "\n")
			if len(lines) != len(tc.stderr)+1 {
				t.Fatalf("stderr:\n%s\nwant %d errors and the count", stderr.String(), len(tc.stderr))
			}
			f := ""
			for _, a := range tc.args {
				if strings.HasSuffix(a, "hangup.yaml") {
					f = a
				}
			}
			for i, want := range tc.stderr {
				if want = "hangup proxy: " + strings.ReplaceAll(want, "F:", f+":"); !strings.HasPrefix(lines[i], want) {
					t.Errorf("stderr line %d:\n%s\nwant\n%s", i+1, lines[i], want)
				}
			}
			if want := fmt.Sprintf("hangup proxy: --check-config: %d error", len(tc.stderr)); !strings.HasPrefix(lines[len(lines)-1], want) {
				t.Errorf("last line %q, want %q...", lines[len(lines)-1], want)
			}
		})
	}
}

// TestProxyReloadSIGHUP: "hangup proxy --config" as its own process. While
// a client sends requests without a pause, the file's upstream A is
// replaced by B and the process gets SIGHUP: no request fails, every one
// sent after the reload's log line is answered by B, and a slow request
// that was at A completes 200. A file with an unknown key, then one that
// moves the listener, are refused with an ERROR line, and B serves on. The
// reloads are counted on /metrics.
func TestProxyReloadSIGHUP(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a subprocess")
	}
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	entered := make(chan struct{}, 1)
	release := make(chan struct{})
	var releaseOnce sync.Once
	defer releaseOnce.Do(func() { close(release) })
	a := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			entered <- struct{}{}
			<-release
		}
		io.WriteString(w, "A")
	}))
	defer a.Close()
	atB := make(chan struct{}, 1024)
	b := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case atB <- struct{}{}:
		default:
		}
		io.WriteString(w, "B")
	}))
	defer b.Close()

	dir := t.TempDir()
	config := writeFile(t, dir, "hangup.yaml", "listen: 127.0.0.1:0\nupstream: "+a.URL+"\nmax_inflight: 8\n")
	p := startHangup(t, "proxy", "--config", config, "--admin", "127.0.0.1:0", "--log-format", "json")
	// The log lines but for the access log's, which the client's loop
	// would otherwise pile up.
	events := make(chan map[string]any, 64)
	go func() {
		for {
			select {
			case m := <-p.out.lines:
				if m["msg"] == "request" {
					continue
				}
				select {
				case events <- m:
				case <-p.done:
					return
				}
			case <-p.done:
				return
			}
		}
	}()
	next := func(msg string) map[string]any {
		t.Helper()
		for {
			select {
			case m := <-events:
				if m["msg"] == msg {
					return m
				}
			case <-time.After(10 * time.Second):
				t.Fatalf("no %q log line", msg)
				return nil
			}
		}
	}
	started := next("proxy listening")
	addr, _ := started["listen"].(string)
	admin, _ := started["admin"].(string)

	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	get := func(path string) (string, error) {
		res, err := c.Get("http://" + addr + path)
		if err != nil {
			return "", err
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != 200 {
			return "", errors.New(res.Status + " " + string(body))
		}
		return string(body), nil
	}
	slow := make(chan string, 1)
	go func() {
		body, err := get("/slow")
		if err != nil {
			body = err.Error()
		}
		slow <- body
	}()
	<-entered

	var (
		reloaded atomic.Bool
		stop     = make(chan struct{})
		loop     sync.WaitGroup
		mu       sync.Mutex
		failures []string
		sent     atomic.Int64
	)
	loop.Add(1)
	go func() {
		defer loop.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			after := reloaded.Load()
			body, err := get("/r")
			sent.Add(1)
			mu.Lock()
			switch {
			case err != nil:
				failures = append(failures, err.Error())
			case after && body != "B":
				failures = append(failures, "a request sent after the reload answered by "+body)
			}
			mu.Unlock()
		}
	}()
	for sent.Load() < 20 {
		time.Sleep(time.Millisecond) // polling the loop's count: some requests before the swap
	}
	writeFile(t, dir, "hangup.yaml", "listen: 127.0.0.1:0\nupstream: "+b.URL+"\nmax_inflight: 8\n")
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	line := next("config reloaded")
	reloaded.Store(true)
	if want := "upstream +" + b.Listener.Addr().String() + "; upstream -" + a.Listener.Addr().String(); line["changed"] != want {
		t.Errorf("changed=%q, want %q", line["changed"], want)
	}
	for range 40 {
		select {
		case <-atB:
		case <-time.After(10 * time.Second):
			t.Fatal("B got no request after the reload")
		}
	}
	close(stop)
	loop.Wait()
	for _, f := range failures {
		t.Error(f)
	}
	releaseOnce.Do(func() { close(release) })
	if body := <-slow; body != "A" {
		t.Errorf("the slow request at A got %q, want A's answer", body)
	}

	for _, tc := range []struct{ name, file, want string }{
		{"unknown key", "listen: 127.0.0.1:0\nupstream: " + a.URL + "\nmax_inflite: 8\n", `hangup.yaml:3: unknown key "max_inflite"`},
		{"the listener moved", "listen: 127.0.0.1:1\nupstream: " + a.URL + "\nmax_inflight: 8\n",
			`listen "127.0.0.1:0"→"127.0.0.1:1" (its socket is opened at start): only a restart applies this`},
	} {
		writeFile(t, dir, "hangup.yaml", tc.file)
		if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		line := next("config reload failed; the running configuration stays")
		if msg, _ := line["error"].(string); line["level"] != "ERROR" || !strings.Contains(msg, tc.want) {
			t.Errorf("%s: %v %q, want ERROR and %q", tc.name, line["level"], msg, tc.want)
		}
		if body, err := get("/after"); body != "B" {
			t.Errorf("%s: after the refused reload: %q %v, want B", tc.name, body, err)
		}
	}
	res, err := c.Get("http://" + admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(res.Body)
	res.Body.Close()
	for _, want := range []string{`hangup_proxy_config_reloads_total{result="ok"} 1`, `hangup_proxy_config_reloads_total{result="error"} 2`, "hangup_proxy_config_last_reload_success_timestamp_seconds 1."} {
		if !strings.Contains(string(metrics), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	tr.CloseIdleConnections()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := p.wait(t, 30*time.Second); err != nil {
		t.Errorf("the proxy exited with %v after SIGTERM, want 0", err)
	}
}
