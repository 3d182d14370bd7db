package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"github.com/hangup-dev/hangup/cmd/proxy"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// withProxyEnv makes runProxy see env instead of the process environment.
func withProxyEnv(t *testing.T, env map[string]string) {
	old := proxyEnv
	proxyEnv = func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	t.Cleanup(func() { proxyEnv = old })
}

func TestProxyBadInput(t *testing.T) {
	dir := t.TempDir()
	junk := filepath.Join(dir, "junk.pem")
	os.WriteFile(junk, []byte("not a certificate"), 0o600)
	cases := []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"no upstream", nil, nil, "no upstream"},
		{"upstream without scheme", []string{"--upstream", "127.0.0.1:9000"}, nil, "want an http:// or https:// URL"},
		{"upstream without host", []string{"--upstream", "http://"}, nil, "with a host"},
		{"upstream of another scheme", []string{"--upstream", "ftp://example.com"}, nil, "http:// or https://"},
		{"negative max-inflight", []string{"--upstream", "http://a", "--max-inflight", "-1"}, nil, "--max-inflight -1: must not be negative"},
		{"negative queue timeout", []string{"--upstream", "http://a", "--queue-timeout", "-1s"}, nil, "--queue-timeout -1s: must not be negative"},
		{"negative gc floor", []string{"--upstream", "http://a", "--gc-floor", "-1"}, nil, `invalid value "-1" for flag -gc-floor: negative size`},
		{"size garbage", []string{"--upstream", "http://a", "--max-body-size", "big"}, nil, `invalid value "big" for flag -max-body-size: invalid size "big": want a number of bytes with an optional unit, e.g. 16MB`},
		{"ambiguous size", []string{"--upstream", "http://a", "--coalesce-buffer", "4m"}, nil, "write 4MB (10^6 bytes) or 4MiB (2^20)"},
		{"fraction of a byte", []string{"--upstream", "http://a", "--max-header-bytes", "1.0001KB"}, nil, "flag -max-header-bytes: size \"1.0001KB\" is not a whole number"},
		{"negative early answer buffer", []string{"--upstream", "http://a", "--early-answer-buffer", "-1"}, nil, "or off to turn it off"},
		{"size env", []string{"--upstream", "http://a"}, map[string]string{"HANGUP_LINGER_BYTES": "64 megs"}, `HANGUP_LINGER_BYTES="64 megs": unknown unit`},
		{"duration without unit", []string{"--upstream", "http://a", "--idle-timeout", "30"}, nil, "flag -idle-timeout: parse error"},
		{"not a number", []string{"--upstream", "http://a", "--queue", "many"}, nil, "invalid value"},
		{"bad env", []string{"--upstream", "http://a"}, map[string]string{"HANGUP_QUEUE": "many"}, "HANGUP_QUEUE"},
		{"negative env", nil, map[string]string{"HANGUP_UPSTREAM": "http://a", "HANGUP_LINGER_BYTES": "-5"}, "HANGUP_LINGER_BYTES"},
		{"cert without key", []string{"--upstream", "http://a", "--tls-cert", junk}, nil, "go together"},
		{"unreadable cert", []string{"--upstream", "http://a", "--tls-cert", filepath.Join(dir, "missing.pem"), "--tls-key", junk}, nil, "no such file"},
		{"junk cert", []string{"--upstream", "http://a", "--tls-cert", junk, "--tls-key", junk}, nil, "--tls-cert"},
		{"stray argument", []string{"--upstream", "http://a", "extra"}, nil, "unexpected argument"},
		{"bad trusted proxy", []string{"--upstream", "http://a", "--trusted-proxy", "10.0.0.0/8,nonsense"}, nil, `-trusted-proxy: "nonsense": want a CIDR`},
		{"bad log format", []string{"--upstream", "http://a", "--log-format", "xml"}, nil, "--log-format"},
		// HANGUP_UPSTREAM and one --upstream are one upstream, the flag's: the
		// error is the next one.
		{"upstream in env and flag", []string{"--upstream", "http://b", "--log-format", "xml"}, map[string]string{"HANGUP_UPSTREAM": "http://a"}, "--log-format"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			withProxyEnv(t, tc.env)
			var stdout, stderr bytes.Buffer
			err := runProxy(context.Background(), tc.args, &stdout, &stderr)
			if !errors.Is(err, errUsage) {
				t.Fatalf("err = %v, want a usage error", err)
			}
			if msg := err.Error(); !strings.Contains(msg, tc.want) || strings.Contains(msg, "\n") {
				t.Errorf("err = %q, want one line that mentions %q", msg, tc.want)
			}
			if stdout.Len()+stderr.Len() > 0 {
				t.Errorf("printed %q %q; main prints the error", stdout.String(), stderr.String())
			}
		})
	}
}

// TestProxyUpstreams: every --upstream is kept, none silently dropped (the
// flag package lets the last one win; issue 16, case 8): they are the pool
// (issue 12), and they replace HANGUP_UPSTREAM's. One given twice exits 2
// with one line that names it.
func TestProxyUpstreams(t *testing.T) {
	withProxyEnv(t, map[string]string{"HANGUP_UPSTREAM": "http://127.0.0.1:9000"})
	for _, tc := range []struct {
		name string
		args []string
		want []string // the pool; nil: an error
		msg  string
	}{
		{"env alone", nil, []string{"http://127.0.0.1:9000"}, ""},
		{"two", []string{"--upstream", "http://127.0.0.1:9001", "--upstream", "http://127.0.0.1:9002"},
			[]string{"http://127.0.0.1:9001", "http://127.0.0.1:9002"}, ""},
		{"comma-separated and a socket", []string{"--upstream", "http://a,http://b", "--upstream", "unix:/run/app.sock"},
			[]string{"http://a", "http://b", "unix:/run/app.sock"}, ""},
		{"https and h2c", []string{"--upstream", "https://a:9443", "--upstream", "h2c://b:50051"},
			[]string{"https://a:9443", "h2c://b:50051"}, ""},
		{"h2c without a host", []string{"--upstream", "h2c:///x"}, nil, "h2c://host:port (HTTP/2 without TLS)"},
		{"the same twice", []string{"--upstream=http://127.0.0.1:9001", "--upstream=http://127.0.0.1:9001"},
			nil, "--upstream http://127.0.0.1:9001 given twice: give each upstream once"},
		{"relative socket", []string{"--upstream", "unix:app.sock"}, nil, "socket's absolute path"},
		{"unknown balancing", []string{"--upstream", "http://a", "--lb", "random"}, nil, `--lb "random": want least_inflight, round_robin or first`},
		{"negative max-fails", []string{"--upstream", "http://a", "--max-fails", "-1"}, nil, "--max-fails -1: must not be negative"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := parseProxyFlags(tc.args, io.Discard)
			if tc.want == nil {
				if err == nil || !strings.Contains(err.Error(), tc.msg) || !errors.Is(err, errUsage) {
					t.Fatalf("error %v, want one that says %q", err, tc.msg)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, u := range f.cfg.Upstreams {
				got = append(got, u.String())
			}
			if strings.Join(got, " ") != strings.Join(tc.want, " ") {
				t.Errorf("upstreams %q, want %q", got, tc.want)
			}
		})
	}
}

// TestProxyTrustedProxyFlag: --trusted-proxy is repeatable and
// comma-separated, takes addresses as full-length prefixes, and replaces
// HANGUP_TRUSTED_PROXY rather than adding to it.
func TestProxyTrustedProxyFlag(t *testing.T) {
	var f prefixFlag
	for _, v := range []string{"10.0.0.0/8, 127.0.0.1", "::1,192.168.1.7/24"} {
		if err := f.Set(v); err != nil {
			t.Fatal(err)
		}
	}
	if got, want := f.String(), "10.0.0.0/8,127.0.0.1/32,::1/128,192.168.1.0/24"; got != want {
		t.Errorf("after two flags: %s, want %s", got, want)
	}
	withProxyEnv(t, map[string]string{"HANGUP_TRUSTED_PROXY": "10.0.0.0/8"})
	p, err := parseProxyFlags([]string{"--upstream", "http://a", "--trusted-proxy", "172.16.0.0/12"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := fmt.Sprint(p.cfg.TrustedProxies), "[172.16.0.0/12]"; got != want {
		t.Errorf("a flag and the environment: %s, want %s", got, want)
	}
}

func TestProxyHelp(t *testing.T) {
	withProxyEnv(t, nil)
	var stdout bytes.Buffer
	err := runProxy(context.Background(), []string{"-h"}, &stdout, io.Discard)
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("err = %v, want flag.ErrHelp", err)
	}
	for _, want := range []string{"usage: hangup proxy", "HANGUP_UPSTREAM", "-max-inflight", "-linger-time", "-coalesce-vary", "-preserve-host", "-trusted-proxy", "-flush-interval"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("help lacks %q", want)
		}
	}
}

// lineWriter hands each JSON log line to the test.
type lineWriter struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	lines chan map[string]any
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	for {
		line, err := w.buf.ReadBytes('\n')
		if err != nil {
			w.buf.Write(line)
			return len(p), nil
		}
		var m map[string]any
		if json.Unmarshal(line, &m) == nil {
			w.lines <- m
		}
	}
}

func (w *lineWriter) waitFor(t *testing.T, msg string) map[string]any {
	t.Helper()
	return w.waitWithin(t, msg, 10*time.Second)
}

// waitWithin is waitFor with a timeout of d.
func (w *lineWriter) waitWithin(t *testing.T, msg string, d time.Duration) map[string]any {
	t.Helper()
	deadline := time.After(d)
	for {
		select {
		case m := <-w.lines:
			if m["msg"] == msg {
				return m
			}
		case <-deadline:
			t.Fatalf("no %q log line", msg)
			return nil
		}
	}
}

// TestProxyRuns: a real run, configured partly by the environment, that
// forwards one request, answers on the admin listener, and exits cleanly
// when its context is cancelled.
func TestProxyRuns(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "hello from upstream, via "+r.Header.Get("X-Forwarded-Host"))
	}))
	defer up.Close()
	withProxyEnv(t, map[string]string{"HANGUP_UPSTREAM": up.URL, "HANGUP_LISTEN": "127.0.0.1:1"})

	out := &lineWriter{lines: make(chan map[string]any, 64)}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- runProxy(ctx, []string{"--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0", "--log-format", "json", "--max-inflight", "4"}, out, io.Discard)
	}()
	started := out.waitFor(t, "proxy listening")
	addr, _ := started["listen"].(string)
	admin, _ := started["admin"].(string)

	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	res, err := c.Get("http://" + addr + "/hi")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if want := "hello from upstream, via " + addr; res.StatusCode != 200 || string(body) != want {
		t.Errorf("got %d %q, want 200 %q", res.StatusCode, body, want)
	}
	if line := out.waitFor(t, "request"); line["status"] != 200.0 || line["uri"] != "/hi" {
		t.Errorf("access log line = %v", line)
	}
	res, err = c.Get("http://" + admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if !strings.Contains(string(metrics), `hangup_proxy_upstream_requests_total{outcome="completed"} 1`) {
		t.Errorf("/metrics does not count the request")
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("runProxy = %v after cancel, want nil", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("runProxy did not return after its context was cancelled")
	}
}

// TestProxyHelperProcess is not a test: run by TestProxySIGTERM and
// startHangup as a subprocess (the os/exec pattern), it is the hangup command, with the
// arguments after "--". It runs main's run, signal handling included, so the
// subprocess is the real command without a separate go build (which, under
// -race on a cold cache, would take longer than the whole package).
func TestProxyHelperProcess(t *testing.T) {
	if os.Getenv("HANGUP_TEST_HELPER_PROCESS") != "1" {
		t.Skip("the hangup command, run as a subprocess by TestProxySIGTERM")
	}
	i := slices.Index(os.Args, "--")
	if i < 0 {
		os.Exit(3)
	}
	os.Exit(run(os.Args[i+1:], os.Stdout, os.Stderr))
}

// TestProxySIGTERM: "hangup proxy" as its own process. On SIGTERM it stops
// accepting (new connections are refused), the request in flight gets the
// rest of its body, and the process exits 0, which it does only when nothing
// had to be cut at --shutdown-timeout.
func TestProxySIGTERM(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a subprocess")
	}
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	entered := make(chan struct{}, 1)
	release := make(chan struct{})
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "first half\n")
		http.NewResponseController(w).Flush()
		entered <- struct{}{}
		select {
		case <-release:
			io.WriteString(w, "second half\n")
		case <-r.Context().Done():
		}
	}))
	defer up.Close()
	defer func() {
		select {
		case <-release:
		default:
			close(release) // on failure, before up.Close waits for the handler
		}
	}()

	out := &lineWriter{lines: make(chan map[string]any, 256)}
	var stderr bytes.Buffer
	cmd := exec.Command(os.Args[0], "-test.run=^TestProxyHelperProcess$", "--",
		"proxy", "--listen", "127.0.0.1:0", "--upstream", up.URL, "--log-format", "json", "--shutdown-timeout", "20s")
	cmd.Env = []string{"HANGUP_TEST_HELPER_PROCESS=1"}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "HANGUP_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Stdout, cmd.Stderr = out, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		if t.Failed() {
			cmd.Process.Kill()
			t.Logf("stderr: %s", stderr.String())
		}
		<-exited
	}()
	started := out.waitFor(t, "proxy listening")
	addr, _ := started["listen"].(string)

	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	io.WriteString(c, "GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
	select {
	case <-entered:
	case <-time.After(10 * time.Second):
		t.Fatal("the request never reached the upstream")
	}
	br := bufio.NewReader(c)
	res, err := http.ReadResponse(br, &http.Request{Method: "GET"})
	if err != nil {
		t.Fatal(err)
	}
	first := make([]byte, len("first half\n"))
	if _, err := io.ReadFull(res.Body, first); err != nil {
		t.Fatal(err)
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	out.waitFor(t, "shutting down")
	// The listener closes as shutdown begins; until it has, a dial may still
	// get through.
	deadline := time.Now().Add(10 * time.Second)
	for {
		nc, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			if !errors.Is(err, syscall.ECONNREFUSED) {
				t.Fatalf("dial after SIGTERM: %v, want connection refused", err)
			}
			break
		}
		nc.Close()
		if time.Now().After(deadline) {
			t.Fatal("the proxy still accepts connections after SIGTERM")
		}
		time.Sleep(5 * time.Millisecond)
	}
	select {
	case err := <-exited:
		t.Fatalf("the proxy exited (%v) with a request in flight", err)
	default:
	}

	close(release)
	rest, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("the request in flight: %v after %q", err, rest)
	}
	if body := string(first) + string(rest); res.StatusCode != 200 || body != "first half\nsecond half\n" {
		t.Errorf("the request in flight got %d %q, want 200 and the whole body", res.StatusCode, body)
	}
	if line := out.waitFor(t, "request"); line["status"] != 200.0 || line["uri"] != "/slow" {
		t.Errorf("access log line = %v", line)
	}

	select {
	case err := <-exited:
		exited <- err // for the deferred wait
		if err != nil {
			t.Fatalf("the proxy exited with %v, want 0; stderr: %s", err, stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the proxy did not exit after SIGTERM")
	}
	out.waitFor(t, "proxy stopped")
}

// TestProxySIGHUP: SIGHUP (issue 16, case 7) without --config is logged and
// changes nothing.
// The request in flight gets the upstream's whole answer, and the proxy
// serves the next request. By default SIGHUP ends a Go program: the proxy
// exited 129 at once and the request in flight got an empty reply.
func TestProxySIGHUP(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a subprocess")
	}
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	entered := make(chan struct{}, 1)
	release := make(chan struct{})
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/slow" {
			io.WriteString(w, "fast answer\n")
			return
		}
		io.WriteString(w, "first half\n")
		http.NewResponseController(w).Flush()
		entered <- struct{}{}
		select {
		case <-release:
			io.WriteString(w, "second half\n")
		case <-r.Context().Done():
		}
	}))
	defer up.Close()
	var releaseOnce sync.Once
	defer releaseOnce.Do(func() { close(release) }) // on failure, before up.Close waits for the handler

	p := startHangup(t, "proxy", "--listen", "127.0.0.1:0", "--upstream", up.URL, "--log-format", "json")
	addr, _ := p.out.waitFor(t, "proxy listening")["listen"].(string)

	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	io.WriteString(c, "GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
	select {
	case <-entered:
	case <-time.After(10 * time.Second):
		t.Fatal("the request never reached the upstream")
	}
	res, err := http.ReadResponse(bufio.NewReader(c), &http.Request{Method: "GET"})
	if err != nil {
		t.Fatal(err)
	}
	first := make([]byte, len("first half\n"))
	if _, err := io.ReadFull(res.Body, first); err != nil {
		t.Fatal(err)
	}

	// The request is in flight: its head and first half relayed, the
	// upstream's handler waiting for release.
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	line := p.out.waitFor(t, proxyHangupMessage)
	if line["level"] != "WARN" {
		t.Errorf("SIGHUP logged at %v, want WARN", line["level"])
	}
	if gone, err := p.exited(); gone {
		t.Fatalf("the proxy exited (%v) on SIGHUP", err)
	}

	releaseOnce.Do(func() { close(release) })
	rest, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("the request in flight: %v after %q", err, rest)
	}
	if body := string(first) + string(rest); res.StatusCode != 200 || body != "first half\nsecond half\n" {
		t.Errorf("the request in flight got %d %q, want 200 and the whole body", res.StatusCode, body)
	}
	if line := p.out.waitFor(t, "request"); line["status"] != 200.0 || line["uri"] != "/slow" {
		t.Errorf("access log line = %v", line)
	}

	// A new connection, after SIGHUP: the proxy still accepts and serves.
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	res, err = hc.Get("http://" + addr + "/after")
	if err != nil {
		t.Fatalf("a request after SIGHUP: %v", err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || string(body) != "fast answer\n" {
		t.Errorf("a request after SIGHUP got %d %q, want 200 %q", res.StatusCode, body, "fast answer\n")
	}
	tr.CloseIdleConnections()
	c.Close()

	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := p.wait(t, 30*time.Second); err != nil {
		t.Errorf("the proxy exited with %v after SIGTERM, want 0", err)
	}
}

// TestProxySizes: every size flag of the proxy takes the units of
// bytesize.Parse, from the command line and from the environment, and
// keeps its default when not given.
func TestProxySizes(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
		get  func(f *proxyFlags) int64
		want int64
	}{
		{"max-body-size", []string{"--max-body-size", "16MB"}, nil, func(f *proxyFlags) int64 { return f.cfg.MaxBodySize }, 16e6},
		{"max-body-size default", nil, nil, func(f *proxyFlags) int64 { return f.cfg.MaxBodySize }, 0},
		{"max-header-bytes", []string{"--max-header-bytes=32KiB"}, nil, func(f *proxyFlags) int64 { return int64(f.cfg.MaxHeaderBytes) }, 32 << 10},
		{"max-header-bytes default", nil, nil, func(f *proxyFlags) int64 { return int64(f.cfg.MaxHeaderBytes) }, proxy.DefaultMaxHeaderBytes},
		{"coalesce-buffer", []string{"--coalesce-buffer", "1.5MiB"}, nil, func(f *proxyFlags) int64 { return int64(f.cfg.CoalesceBuffer) }, 3 << 19},
		{"linger-bytes", []string{"--linger-bytes", "1gb"}, nil, func(f *proxyFlags) int64 { return f.cfg.LingerBytes }, 1e9},
		{"linger-bytes plain", []string{"--linger-bytes", "4096"}, nil, func(f *proxyFlags) int64 { return f.cfg.LingerBytes }, 4096},
		{"early-answer-buffer off", []string{"--early-answer-buffer", "off"}, nil, func(f *proxyFlags) int64 { return f.cfg.EarlyAnswerBuffer }, -1},
		{"early-answer-buffer", []string{"--early-answer-buffer", "512KiB"}, nil, func(f *proxyFlags) int64 { return f.cfg.EarlyAnswerBuffer }, 512 << 10},
		{"gc-floor", []string{"--gc-floor", "128MiB"}, nil, func(f *proxyFlags) int64 { return f.gcFloor }, 128 << 20},
		{"gc-floor default", nil, nil, func(f *proxyFlags) int64 { return f.gcFloor }, defaultGCFloor},
		{"env", nil, map[string]string{"HANGUP_MAX_BODY_SIZE": "2 GiB"}, func(f *proxyFlags) int64 { return f.cfg.MaxBodySize }, 2 << 30},
		{"flag over env", []string{"--max-body-size", "1KB"}, map[string]string{"HANGUP_MAX_BODY_SIZE": "2GiB"}, func(f *proxyFlags) int64 { return f.cfg.MaxBodySize }, 1000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			withProxyEnv(t, tc.env)
			f, err := parseProxyFlags(append([]string{"--upstream", "http://a"}, tc.args...), io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			if got := tc.get(f); got != tc.want {
				t.Errorf("%q: %d, want %d", tc.args, got, tc.want)
			}
		})
	}
}
