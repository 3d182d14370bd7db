package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
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
		{"not a number", []string{"--upstream", "http://a", "--queue", "many"}, nil, "invalid value"},
		{"bad env", []string{"--upstream", "http://a"}, map[string]string{"HANGUP_QUEUE": "many"}, "HANGUP_QUEUE"},
		{"negative env", nil, map[string]string{"HANGUP_UPSTREAM": "http://a", "HANGUP_LINGER_BYTES": "-5"}, "HANGUP_LINGER_BYTES"},
		{"cert without key", []string{"--upstream", "http://a", "--tls-cert", junk}, nil, "go together"},
		{"unreadable cert", []string{"--upstream", "http://a", "--tls-cert", filepath.Join(dir, "missing.pem"), "--tls-key", junk}, nil, "no such file"},
		{"junk cert", []string{"--upstream", "http://a", "--tls-cert", junk, "--tls-key", junk}, nil, "--tls-cert"},
		{"stray argument", []string{"--upstream", "http://a", "extra"}, nil, "unexpected argument"},
		{"bad log format", []string{"--upstream", "http://a", "--log-format", "xml"}, nil, "--log-format"},
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

func TestProxyHelp(t *testing.T) {
	withProxyEnv(t, nil)
	var stdout bytes.Buffer
	err := runProxy(context.Background(), []string{"-h"}, &stdout, io.Discard)
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("err = %v, want flag.ErrHelp", err)
	}
	for _, want := range []string{"usage: hangup proxy", "HANGUP_UPSTREAM", "-max-inflight", "-linger-time", "-coalesce-vary"} {
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
	deadline := time.After(10 * time.Second)
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
