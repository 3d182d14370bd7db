package main

import (
	"encoding/json"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
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

var update = flag.Bool("update", false, "rewrite testdata/*.golden with the output of the tests")

// feedsModule is testdata/feeds: three handlers reaching one query of a
// context-less store through two call sites and two paths, and a sleep
// reached by one of them.
func feedsModule(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs(filepath.Join("testdata", "feeds"))
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestSummary checks hangupvet -summary against testdata/feeds.summary.golden:
// the query first, reached by three handlers, then the sleep.
func TestSummary(t *testing.T) {
	out, err := command(t, feedsModule(t), os.Args[0], "-summary", "./...")
	if err == nil {
		t.Errorf("hangupvet -summary ./... succeeded; want exit 3 for the findings")
	}
	golden := filepath.Join("testdata", "feeds.summary.golden")
	if *update {
		if err := os.WriteFile(golden, []byte(out), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if out != string(want) {
		t.Errorf("hangupvet -summary ./... printed\n%s\nwant (%s)\n%s", out, golden, want)
	}
}

// TestText checks that the default output leads with the causes and then
// has one go vet style line per finding.
func TestText(t *testing.T) {
	out, _ := command(t, feedsModule(t), os.Args[0], "./...")
	want, err := os.ReadFile(filepath.Join("testdata", "feeds.summary.golden"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out, string(want)) {
		t.Errorf("hangupvet ./... printed\n%s\nwant it to start with the summary\n%s", out, want)
	}
	for _, line := range []string{
		"app/app.go:16:26: store.Store.Feeds breaks the request's cancellation: s.db.Query has no context in store.Store.Feeds (handler list → service.all)",
		"app/app.go:29:2: store.Store.Feed breaks the request's cancellation: s.db.Query has no context in store.Store.Feed → store.Store.Feeds (handler show)",
		"app/app.go:30:2: store.Backoff breaks",
	} {
		if !strings.Contains(out, "\n"+line) {
			t.Errorf("hangupvet ./... printed\n%s\nwant a line starting %q", out, line)
		}
	}
}

// TestJSON checks that -json carries every finding with all the handlers
// that reach it, its path from the first of them to the function holding
// the blocking call, and its cause.
func TestJSON(t *testing.T) {
	out, err := command(t, feedsModule(t), os.Args[0], "-json", "./...")
	if err != nil {
		t.Fatalf("hangupvet -json ./... = %v\n%s\nwant exit 0", err, out)
	}
	var got struct {
		Causes []struct {
			Call, Posn string
			Handlers   []string
			Sites      []string
		}
		Findings []struct {
			Posn, Rule, Cause string
			CausePosn         string `json:"cause_posn"`
			Handlers, Path    []string
		}
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("hangupvet -json ./... printed\n%s\nnot JSON: %v", out, err)
	}
	type finding struct {
		posn, cause, causePosn string
		handlers, path         []string
	}
	want := []finding{
		{"app/app.go:16:26", "(*sql.DB).Query", "store/store.go:14:9", []string{"app.list", "app.refresh"}, []string{"app.list", "app.service.all", "store.Store.Feeds"}},
		{"app/app.go:29:2", "(*sql.DB).Query", "store/store.go:14:9", []string{"app.show"}, []string{"app.show", "store.Store.Feed", "store.Store.Feeds"}},
		{"app/app.go:30:2", "time.Sleep", "store/store.go:24:2", []string{"app.show"}, []string{"app.show", "store.Backoff"}},
	}
	if len(got.Findings) != len(want) {
		t.Fatalf("hangupvet -json ./... has %d findings, want %d:\n%s", len(got.Findings), len(want), out)
	}
	for i, w := range want {
		g := got.Findings[i]
		if g.Posn != w.posn || g.Cause != w.cause || g.CausePosn != w.causePosn ||
			!slices.Equal(g.Handlers, w.handlers) || !slices.Equal(g.Path, w.path) {
			t.Errorf("finding %d = %+v, want %+v", i, g, w)
		}
	}
	if len(got.Causes) != 2 || got.Causes[0].Call != "(*sql.DB).Query" || len(got.Causes[0].Handlers) != 3 || len(got.Causes[0].Sites) != 2 {
		t.Errorf("hangupvet -json ./... causes = %+v, want the query first, with 3 handlers and 2 sites", got.Causes)
	}
}

// TestOwnArgs checks which command lines hangupvet's own driver takes and
// which go to singlechecker (go vet's included).
func TestOwnArgs(t *testing.T) {
	for _, tc := range []struct {
		name    string
		args    []string
		out     output
		own     bool
		wantErr bool
	}{
		{name: "patterns", args: []string{"./..."}, out: textOutput, own: true},
		{name: "summary", args: []string{"-summary", "./..."}, out: summaryOutput, own: true},
		{name: "json", args: []string{"--json", "./a", "./b"}, out: jsonOutput, own: true},
		{name: "summary and json", args: []string{"-summary", "-json", "./..."}, out: jsonOutput, own: true},
		{name: "fix", args: []string{"-fix", "./..."}},
		{name: "go vet unit", args: []string{"-json", "/tmp/vet.cfg"}},
		{name: "go vet version", args: []string{"-V=full"}},
		{name: "no patterns", args: []string{"-summary"}},
		{name: "summary and fix", args: []string{"-summary", "-fix", "./..."}, wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, _, own, err := ownArgs(tc.args)
			if (err != nil) != tc.wantErr || own != tc.own || own && out != tc.out {
				t.Errorf("ownArgs(%q) = %v, %v, %v; want %v, %v, error %v", tc.args, out, own, err, tc.out, tc.own, tc.wantErr)
			}
		})
	}
}
