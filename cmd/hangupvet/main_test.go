package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

// runAsTool makes the test binary act as the hangupvet command, so the
// tests can hand it to go vet without building it first.
const runAsTool = "HANGUPVET_TEST_RUN_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(runAsTool) == "1" {
		main()
		return
	}
	goleak.VerifyTestMain(m)
}

const smokeSource = `package smoke

import (
	"net/http"
	"time"
)

func slow(w http.ResponseWriter, r *http.Request) {
	time.Sleep(time.Second)
}
`

// smokeModule writes a module with one handler that sleeps.
func smokeModule(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{
		"go.mod":   "module example.com/smoke\n\ngo 1.22\n",
		"smoke.go": smokeSource,
	}
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// command runs name with args in dir, the test binary acting as hangupvet,
// and returns its combined output.
func command(t *testing.T, dir, name string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	// The module has no dependencies and must not pick up flags or a
	// workspace meant for the repository.
	cmd.Env = append(os.Environ(), runAsTool+"=1", "GOFLAGS=", "GOWORK=off", "GOTOOLCHAIN=local")
	out, err := cmd.CombinedOutput()
	return string(out), err
}

const want = "smoke.go:9:2: time.Sleep ignores the request's context: the handler keeps sleeping after the client left (handler slow)"

func TestStandalone(t *testing.T) {
	out, err := command(t, smokeModule(t), os.Args[0], "./...")
	if err == nil || !strings.Contains(out, want) {
		t.Fatalf("hangupvet ./... = %v\n%s\nwant a failure reporting %q", err, out, want)
	}
}

func TestGoVet(t *testing.T) {
	goCmd, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command")
	}
	out, err := command(t, smokeModule(t), goCmd, "vet", "-vettool="+os.Args[0], "./...")
	if err == nil || !strings.Contains(out, want) {
		t.Fatalf("go vet -vettool=hangupvet ./... = %v\n%s\nwant a failure reporting %q", err, out, want)
	}
}

// TestHelp: hangupvet -h, -help and --help print the usage on stdout, as
// the hangup commands do, and exit 0.
func TestHelp(t *testing.T) {
	for _, flag := range []string{"-h", "-help", "--help"} {
		t.Run(flag, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], flag)
			cmd.Env = append(os.Environ(), runAsTool+"=1")
			var stdout, stderr strings.Builder
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			if err := cmd.Run(); err != nil || !strings.Contains(stdout.String(), "Usage: hangupvet") || stderr.Len() > 0 {
				t.Errorf("hangupvet %s: %v, stdout %q, stderr %q; want exit 0 and the usage on stdout", flag, err, stdout.String(), stderr.String())
			}
		})
	}
}
