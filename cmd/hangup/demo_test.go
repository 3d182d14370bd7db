package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestDemoBadFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--nope"}, "-nope"},
		{[]string{"--seconds", "0"}, "--seconds"},
		{[]string{"--seconds", "601"}, "--seconds"},
		{[]string{"--seconds", "abc"}, "-seconds"},
		{[]string{"--max-inflight", "0"}, "--max-inflight 0: want at least 1"},
		{[]string{"--log-format", "xml"}, "--log-format"},
		{[]string{"--db", "mysql://localhost/x"}, "not a PostgreSQL URL"},
		{[]string{"--db", "notaurl"}, `--db: "notaurl" is not a PostgreSQL URL`},
		{[]string{"--db", "postgres://%zz"}, "--db: cannot parse"},
		{[]string{"--db", "postgres://u:secret@host:port/x"}, "invalid port"},
		{[]string{"--db-pool", "8"}, "--db-pool needs --db"},
		{[]string{"--max-body-size", "lots"}, `invalid value "lots" for flag -max-body-size: invalid size "lots": want a number of bytes with an optional unit, e.g. 16MB`},
		{[]string{"--max-body-size", "16M"}, "write 16MB (10^6 bytes) or 16MiB (2^20)"},
		{[]string{"--max-body-size", "0"}, "--max-body-size 0: the demo needs a limit"},
		{[]string{"--upload-rate", "-1MB"}, "flag -upload-rate: negative size"},
		{[]string{"--upload-rate", "0"}, "--upload-rate 0: want a rate"},
		{[]string{"--queue-timeout", "10"}, "flag -queue-timeout: parse error"},
		{[]string{"--addr", ":9000"}, "flag --addr was renamed --listen"},
		{[]string{"--seconds", "1", "-addr=:9000"}, "flag --addr was renamed --listen"},
		{[]string{"--access-log", "--workers", "2"}, "flag --workers was renamed --max-inflight"},
		{[]string{"--max-upload", "1GiB"}, "flag --max-upload was renamed --max-body-size"},
		{[]string{"extra"}, "unexpected argument"},
	} {
		var stdout, stderr bytes.Buffer
		code := run(append([]string{"demo"}, tc.args...), &stdout, &stderr)
		msg := stderr.String()
		if code != 2 || strings.Count(msg, "\n") != 1 || !strings.Contains(msg, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want exit 2 and one line saying %q", tc.args, code, msg, tc.want)
		}
		if strings.Contains(msg, "secret") {
			t.Errorf("%v: the error shows the password: %q", tc.args, msg)
		}
	}
}

func TestDemoHelp(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run([]string{"demo", "-h"}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d", code)
	}
	for _, want := range []string{"usage: hangup demo", "-ignore-disconnect", "-max-inflight", "-listen address", "-max-body-size size", "(default 1GiB)", "(default 16MiB)", "16MB (10^6 bytes)", "-db-pool", "/slow?seconds=N&work="} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("help on stdout does not mention %q:\n%s", want, stdout.String())
		}
	}
	if stderr.Len() > 0 {
		t.Errorf("help printed %q on stderr; it goes on stdout (issue 11)", stderr.String())
	}
}

// TestDemoServes runs the command as a user does, with JSON logs, asks it for
// some work and stops it as Ctrl-C does.
func TestDemoServes(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	logs, logw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- runDemo(ctx, []string{"--listen", "127.0.0.1:0", "--log-format", "json", "--seconds", "1"}, logw, io.Discard)
		logw.Close()
	}()
	lines := make(chan map[string]any, 100)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(logs)
		for sc.Scan() {
			var m map[string]any
			if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
				t.Errorf("log line is not JSON: %q", sc.Text())
				continue
			}
			lines <- m
		}
	}()
	waitLog := func(msg string) map[string]any {
		t.Helper()
		timeout := time.After(time.Minute)
		for {
			select {
			case m, ok := <-lines:
				if !ok {
					t.Fatalf("the demo ended before logging %q: %v", msg, <-done)
				}
				if m["msg"] == msg {
					return m
				}
			case <-timeout:
				t.Fatalf("no log line %q", msg)
			}
		}
	}
	url, _ := waitLog("hangup demo listening")["url"].(string)
	resp, err := http.Get(url + "/slow?work=cpu&seconds=0.2")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s %q", resp.Status, body)
	}
	waitLog("completed")
	cancel()
	for range lines {
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestDemoDatabaseUnreachable: a --db the demo cannot reach is a one-line
// error at start-up and exit 1, promptly when the port refuses and within
// the connect timeout when a server accepts but never answers: not a hang.
func TestDemoDatabaseUnreachable(t *testing.T) {
	t.Parallel()
	// A "server" that accepts connections and never says a word.
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	accepted := make(chan net.Conn, 8)
	go func() {
		for {
			c, err := silent.Accept()
			if err != nil {
				close(accepted)
				return
			}
			accepted <- c
		}
	}()
	defer func() {
		silent.Close()
		for c := range accepted {
			c.Close()
		}
	}()
	// A port nobody listens on.
	refusing, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := refusing.Addr().String()
	refusing.Close()

	for _, tc := range []struct {
		name, db, want string
	}{
		{"refused", "postgres://u:secret@" + refused + "/x", "connection refused"},
		// The default connect timeout, 5 s, is tested in package demo;
		// here the URL's own keeps the test short.
		{"silent", "postgres://u:secret@" + silent.Addr().String() + "/x?connect_timeout=1", "timeout"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			start := time.Now()
			code := run([]string{"demo", "--listen", "127.0.0.1:0", "--db", tc.db}, &stdout, &stderr)
			took := time.Since(start)
			msg := stderr.String()
			t.Logf("exit %d after %v: %s", code, took.Round(time.Millisecond), msg)
			if code != 1 || strings.Count(msg, "\n") != 1 ||
				!strings.Contains(msg, "cannot connect to ") || !strings.Contains(msg, tc.want) {
				t.Errorf("exit %d, stderr %q; want exit 1 and one line saying it cannot connect (%s)", code, msg, tc.want)
			}
			if strings.Contains(msg, "secret") {
				t.Errorf("the error shows the password: %q", msg)
			}
			// A loaded CI machine gets slack; a hang does not.
			if took > 20*time.Second {
				t.Errorf("took %v to give up", took)
			}
		})
	}
}

// TestDemoSIGHUP: SIGHUP to "hangup demo" is logged and changes nothing, as
// for the proxy (TestProxySIGHUP): the request in flight gets its answer and
// the demo serves the next one. It used to exit 129, the request in flight
// getting an empty reply.
func TestDemoSIGHUP(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a subprocess")
	}
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	p := startHangup(t, "demo", "--listen", "127.0.0.1:0", "--log-format", "json")
	// The demo measures SQLite's speed before it listens: slow under -race.
	url, _ := p.out.waitWithin(t, "hangup demo listening", time.Minute)["url"].(string)

	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	get := func(path string) (int, string, error) {
		res, err := hc.Get(url + path)
		if err != nil {
			return 0, "", err
		}
		defer res.Body.Close()
		body, err := io.ReadAll(res.Body)
		return res.StatusCode, string(body), err
	}
	type answer struct {
		status int
		body   string
		err    error
	}
	slow := make(chan answer, 1)
	go func() {
		// Its work waits 3 s on the demo's own upstream, costing no CPU.
		status, body, err := get("/slow?work=upstream&seconds=3")
		slow <- answer{status, body, err}
	}()
	p.out.waitFor(t, "received") // the request is in the handler
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	if line := p.out.waitFor(t, hangupMessage); line["level"] != "WARN" {
		t.Errorf("SIGHUP logged at %v, want WARN", line["level"])
	}
	a := <-slow
	if a.err != nil || a.status != 200 || !strings.Contains(a.body, "upstream worked 3 s") {
		t.Fatalf("the request in flight at SIGHUP got %d %q %v, want 200 and the work's result", a.status, a.body, a.err)
	}
	if status, body, err := get("/slow?work=upstream&seconds=0.1"); err != nil || status != 200 {
		t.Errorf("a request after SIGHUP got %d %q %v, want 200", status, body, err)
	}
	tr.CloseIdleConnections()

	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := p.wait(t, 30*time.Second); err != nil {
		t.Errorf("the demo exited with %v after SIGTERM, want 0", err)
	}
}
