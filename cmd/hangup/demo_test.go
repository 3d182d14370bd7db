package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
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
		{[]string{"--workers", "0"}, "--workers"},
		{[]string{"--log-format", "xml"}, "--log-format"},
		{[]string{"--db", "mysql://localhost/x"}, "--db"},
		{[]string{"--db-pool", "8"}, "--db-pool needs --db"},
		{[]string{"--max-upload", "lots"}, "invalid size"},
		{[]string{"extra"}, "unexpected argument"},
	} {
		var stdout, stderr bytes.Buffer
		code := run(append([]string{"demo"}, tc.args...), &stdout, &stderr)
		msg := stderr.String()
		if code != 2 || strings.Count(msg, "\n") != 1 || !strings.Contains(msg, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want exit 2 and one line saying %q", tc.args, code, msg, tc.want)
		}
	}
}

func TestDemoHelp(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run([]string{"demo", "-h"}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d", code)
	}
	for _, want := range []string{"usage: hangup demo", "-ignore-disconnect", "-workers", "-db-pool", "/slow?seconds=N&work="} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("help does not mention %q:\n%s", want, stderr.String())
		}
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
		done <- runDemo(ctx, []string{"--addr", "127.0.0.1:0", "--log-format", "json", "--seconds", "1"}, logw, io.Discard)
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
