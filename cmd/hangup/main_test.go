package main

import (
	"bytes"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// hangupProcess is the hangup command running as its own process (see
// TestProxyHelperProcess), its JSON log lines on out.
type hangupProcess struct {
	cmd    *exec.Cmd
	out    *lineWriter
	stderr bytes.Buffer  // read only once done is closed
	done   chan struct{} // closed when the process has exited
	err    error         // cmd.Wait's, once done is closed
}

// startHangup runs "hangup args..." as a subprocess, without the test's
// HANGUP_* environment. On failure the process is killed and its stderr
// logged; at the end of the test it is waited for.
func startHangup(t *testing.T, args ...string) *hangupProcess {
	t.Helper()
	p := &hangupProcess{out: &lineWriter{lines: make(chan map[string]any, 256)}, done: make(chan struct{})}
	p.cmd = exec.Command(os.Args[0], append([]string{"-test.run=^TestProxyHelperProcess$", "--"}, args...)...)
	p.cmd.Env = []string{"HANGUP_TEST_HELPER_PROCESS=1"}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "HANGUP_") {
			p.cmd.Env = append(p.cmd.Env, kv)
		}
	}
	p.cmd.Stdout, p.cmd.Stderr = p.out, &p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		if t.Failed() {
			p.cmd.Process.Kill()
		}
		<-p.done
		if t.Failed() {
			t.Logf("hangup %s: %v; stderr: %s", strings.Join(args, " "), p.err, p.stderr.String())
		}
	})
	return p
}

// exited reports whether the process has exited, and how.
func (p *hangupProcess) exited() (bool, error) {
	select {
	case <-p.done:
		return true, p.err
	default:
		return false, nil
	}
}

// wait returns the process's exit status, or fails the test if it runs on
// for d.
func (p *hangupProcess) wait(t *testing.T, d time.Duration) error {
	t.Helper()
	select {
	case <-p.done:
		return p.err
	case <-time.After(d):
		t.Fatalf("the process did not exit within %v", d)
		return nil
	}
}
