package golangci

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/golangci/plugin-module-register/register"
	"go.uber.org/goleak"
	"golang.org/x/tools/go/analysis"
	"golang.org/x/tools/go/analysis/analysistest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// buildAnalyzers does what golangci-lint does with a module plugin: it
// looks the plugin up by the name .golangci.yml gives it, builds it from
// the settings and asks for its analyzers.
func buildAnalyzers(t *testing.T, conf any) ([]*analysis.Analyzer, error) {
	t.Helper()
	newPlugin, err := register.GetPlugin("hangupvet")
	if err != nil {
		t.Fatal(err)
	}
	p, err := newPlugin(conf)
	if err != nil {
		return nil, err
	}
	if mode := p.GetLoadMode(); mode != register.LoadModeTypesInfo {
		t.Errorf("GetLoadMode() = %q, want %q: the analyzer needs types and facts", mode, register.LoadModeTypesInfo)
	}
	return p.BuildAnalyzers()
}

// TestPlugin runs the analyzers the plugin hands golangci-lint on the
// analyzer's own golden packages for facts (a handler in app calls into
// mid and store): the findings, and the facts that carry them across
// packages, are the command's.
func TestPlugin(t *testing.T) {
	analyzers, err := buildAnalyzers(t, nil)
	if err != nil || len(analyzers) == 0 {
		t.Fatalf("analyzers %v, error %v", analyzers, err)
	}
	testdata, err := filepath.Abs(filepath.Join("..", "hangupvet", "testdata"))
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range analyzers {
		analysistest.Run(t, testdata, a, "example.com/store", "example.com/mid", "example.com/app")
	}
}

// TestSettings checks the settings golangci-lint may hand the plugin: none
// and an empty map build it, a key is refused with what to do.
func TestSettings(t *testing.T) {
	for _, tc := range []struct {
		name    string
		conf    any
		wantErr string
	}{
		{"none", nil, ""},
		{"empty", map[string]any{}, ""},
		{"a key", map[string]any{"strict": true}, `hangupvet takes no settings; remove linters.settings.custom.hangupvet.settings from .golangci.yml (decoding settings: json: unknown field "strict")`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			analyzers, err := buildAnalyzers(t, tc.conf)
			switch {
			case tc.wantErr != "":
				if err == nil || err.Error() != tc.wantErr {
					t.Fatalf("error %v, want %q", err, tc.wantErr)
				}
			case err != nil:
				t.Fatal(err)
			case len(analyzers) != 1 || analyzers[0].Name != "hangupvet":
				names := make([]string, len(analyzers))
				for i, a := range analyzers {
					names[i] = a.Name
				}
				t.Fatalf("analyzers %s, want hangupvet", strings.Join(names, " "))
			}
		})
	}
}
