package main

import (
	"bytes"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
	"time"
)

// TestVersion: "hangup version", "--version" and "-version" print one line,
// the version from the build information and Go's, and exit 0.
func TestVersion(t *testing.T) {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		t.Fatal("no build information in the test binary")
	}
	want := versionLine(bi) + "\n"
	for _, args := range [][]string{{"version"}, {"--version"}, {"-version"}} {
		var stdout, stderr bytes.Buffer
		code := run(args, &stdout, &stderr)
		if code != 0 || stdout.String() != want || stderr.Len() > 0 {
			t.Errorf("hangup %s: exit %d, stdout %q, stderr %q; want exit 0 and %q", args[0], code, stdout.String(), stderr.String(), want)
		}
	}
	if !strings.HasPrefix(want, "hangup ") || !strings.Contains(want, " "+runtime.Version()+" ") {
		t.Errorf("version line %q: want hangup, the version, and Go's %s", want, runtime.Version())
	}
	var stdout, stderr bytes.Buffer
	if code := run([]string{"version", "extra"}, &stdout, &stderr); code != 2 || strings.Count(stderr.String(), "\n") != 1 {
		t.Errorf("hangup version extra: exit %d, stderr %q; want exit 2 and one line", code, stderr.String())
	}
}

// TestVersionLine: what is printed for a release, a build from a checkout and
// a binary without build information.
func TestVersionLine(t *testing.T) {
	platform := " " + runtime.GOOS + "/" + runtime.GOARCH
	for _, tc := range []struct {
		name string
		bi   *debug.BuildInfo
		want string
	}{
		{"release", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Path: "github.com/hangup-dev/hangup", Version: "v0.1.0"}},
			"hangup v0.1.0 go1.26.8" + platform},
		{"checkout", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Path: "github.com/hangup-dev/hangup", Version: "(devel)"},
			Settings: []debug.BuildSetting{
				{Key: "-race", Value: "true"},
				{Key: "vcs", Value: "git"},
				{Key: "vcs.revision", Value: "93778bc0aa6c7f1e0b3d4c1f2e5a6b7c8d9e0f12"},
				{Key: "vcs.time", Value: "2026-12-01T20:00:00Z"},
				{Key: "vcs.modified", Value: "true"},
			}},
			"hangup (devel) vcs.revision=93778bc0aa6c7f1e0b3d4c1f2e5a6b7c8d9e0f12 vcs.modified=true go1.26.8" + platform},
		{"checkout, pseudo-version", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v0.0.0-20261201200000-93778bc0aa6c+dirty"},
			Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "93778bc0aa6c"}, {Key: "vcs.modified", Value: "false"}}},
			"hangup v0.0.0-20261201200000-93778bc0aa6c+dirty vcs.revision=93778bc0aa6c vcs.modified=false go1.26.8" + platform},
		{"no main version", &debug.BuildInfo{GoVersion: "go1.26.8"}, "hangup (devel) go1.26.8" + platform},
		{"no build information", nil, "hangup (unknown) " + runtime.Version() + platform},
	} {
		if got := versionLine(tc.bi); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}

// TestHelp: "hangup help CMD" prints the command's own usage on stdout, as
// "hangup CMD -h" and "hangup CMD --help" do, and exits 0; it used to print
// the list of commands.
func TestHelp(t *testing.T) {
	withProxyEnv(t, nil)
	for _, name := range []string{"demo", "proxy", "storm", "version"} {
		t.Run(name, func(t *testing.T) {
			var help, helpErr bytes.Buffer
			code := run([]string{"help", name}, &help, &helpErr)
			if code != 0 || !strings.HasPrefix(help.String(), "usage: hangup "+name) || helpErr.Len() > 0 {
				t.Fatalf("hangup help %s: exit %d, stdout %q, stderr %q; want exit 0 and its usage on stdout", name, code, help.String(), helpErr.String())
			}
			for _, flag := range []string{"-h", "--help"} {
				var stdout, stderr bytes.Buffer
				code := run([]string{name, flag}, &stdout, &stderr)
				if code != 0 || stdout.String() != help.String() || stderr.Len() > 0 {
					t.Errorf("hangup %s %s: exit %d, stderr %q, stdout differs from hangup help %s: %v",
						name, flag, code, stderr.String(), name, stdout.String() != help.String())
				}
			}
		})
	}
	for _, args := range [][]string{{"help"}, {"-h"}, {"--help"}, {"-help"}} {
		var stdout, stderr bytes.Buffer
		code := run(args, &stdout, &stderr)
		if code != 0 || !strings.HasPrefix(stdout.String(), "usage: hangup <command>") || stderr.Len() > 0 {
			t.Errorf("hangup %s: exit %d, stdout %q, stderr %q; want exit 0 and the list of commands", strings.Join(args, " "), code, stdout.String(), stderr.String())
		}
		for _, name := range commandNames() {
			if !strings.Contains(stdout.String(), "\n  "+name+" ") {
				t.Errorf("hangup %s does not list %s:\n%s", strings.Join(args, " "), name, stdout.String())
			}
		}
	}
	var stdout, stderr bytes.Buffer
	if code := run(nil, &stdout, &stderr); code != 2 || stdout.Len() > 0 || !strings.HasPrefix(stderr.String(), "usage: hangup <command>") {
		t.Errorf("hangup: exit %d, stdout %q, stderr %q; want exit 2 and the list of commands on stderr", code, stdout.String(), stderr.String())
	}
}

// TestHelpProcess: the exit codes and streams of help and of an unknown
// command as the shell sees them, from the command run as its own process
// (main's os.Exit, not only run's return value).
func TestHelpProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("starts subprocesses")
	}
	for _, tc := range []struct {
		args       []string
		code       int
		stdout     string // its beginning
		stderrLine string // a part of the one line on stderr; "" for nothing on stderr
	}{
		{[]string{"help"}, 0, "usage: hangup <command>", ""},
		{[]string{"help", "demo"}, 0, "usage: hangup demo", ""},
		{[]string{"proxy", "-h"}, 0, "usage: hangup proxy", ""},
		{[]string{"storm", "--help"}, 0, "usage: hangup storm", ""},
		{[]string{"version", "-help"}, 0, "usage: hangup version", ""},
		{[]string{"nosuch"}, 2, "", `unknown command "nosuch"`},
		{[]string{"help", "nosuch"}, 2, "", `unknown command "nosuch"`},
		{[]string{"demo", "--addr", ":0"}, 2, "", "flag --addr was renamed --listen"},
		{[]string{"storm", "--threshold", "p99<<1ms", "http://127.0.0.1:1/"}, 2, "", `bad threshold "p99<<1ms"`},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			cmd := exec.Command(os.Args[0], append([]string{"-test.run=^TestProxyHelperProcess$", "--"}, tc.args...)...)
			cmd.Env = append(os.Environ(), "HANGUP_TEST_HELPER_PROCESS=1")
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			code := 0
			if ee, ok := err.(*exec.ExitError); ok {
				code = ee.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			okStderr := stderr.Len() == 0
			if tc.stderrLine != "" {
				okStderr = strings.Count(stderr.String(), "\n") == 1 && strings.Contains(stderr.String(), tc.stderrLine) &&
					!strings.Contains(stderr.String(), errUsage.Error())
			}
			okStdout := strings.HasPrefix(stdout.String(), tc.stdout) && (tc.stdout != "" || stdout.Len() == 0)
			if code != tc.code || !okStdout || !okStderr {
				t.Errorf("exit %d, stdout %q, stderr %q; want exit %d, stdout starting %q, stderr %q",
					code, stdout.String(), stderr.String(), tc.code, tc.stdout, tc.stderrLine)
			}
		})
	}
}

// TestUnknownCommand: an unknown command, also after help, is one line on
// stderr that names the commands there are, and exit 2.
func TestUnknownCommand(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"nosuch"}, `unknown command "nosuch"; the commands are demo, proxy, storm, version`},
		{[]string{"-x", "proxy"}, `unknown command "-x"; the commands are demo, proxy, storm, version`},
		{[]string{"help", "nosuch"}, `unknown command "nosuch"; the commands are demo, proxy, storm, version`},
		{[]string{"help", "proxy", "storm"}, `hangup help: want one command`},
	} {
		var stdout, stderr bytes.Buffer
		code := run(tc.args, &stdout, &stderr)
		msg := stderr.String()
		if code != 2 || strings.Count(msg, "\n") != 1 || !strings.Contains(msg, tc.want) || stdout.Len() > 0 {
			t.Errorf("hangup %s: exit %d, stdout %q, stderr %q; want exit 2 and one line saying %q", strings.Join(tc.args, " "), code, stdout.String(), msg, tc.want)
		}
	}
}

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
