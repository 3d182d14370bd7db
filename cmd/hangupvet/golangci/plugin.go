// Package golangci registers hangupvet as a golangci-lint module plugin
// named "hangupvet". It is imported only for that side effect, by a custom
// golangci-lint binary built with `golangci-lint custom` (the steps are in
// ../hangupvet/README.md, "Under golangci-lint").
//
// The plugin runs the same analyzer as the hangupvet command, with its
// facts across packages and its suggested fixes, and golangci-lint prints
// one line per finding. The grouping by root cause (-summary) is the
// command's own: it needs every package's findings at once, and
// golangci-lint reports each package's diagnostics as they come.
package golangci

import (
	"fmt"

	"github.com/golangci/plugin-module-register/register"
	"golang.org/x/tools/go/analysis"

	"github.com/hangup-dev/hangup/cmd/hangupvet/hangupvet"
)

func init() { register.Plugin("hangupvet", newPlugin) }

// settings is what .golangci.yml may set under
// linters.settings.custom.hangupvet.settings: nothing, since the analyzer
// has no options. Decoding refuses unknown keys, so a key set there is an
// error and not silently ignored.
type settings struct{}

// newPlugin builds the plugin from the settings golangci-lint decoded from
// .golangci.yml: none (nil) or an empty map. Any key is an error that says
// to remove it.
func newPlugin(conf any) (register.LinterPlugin, error) {
	if _, err := register.DecodeSettings[settings](conf); err != nil {
		return nil, fmt.Errorf("hangupvet takes no settings; remove linters.settings.custom.hangupvet.settings from .golangci.yml (%w)", err)
	}
	return plugin{}, nil
}

// plugin is hangupvet as golangci-lint sees it.
type plugin struct{}

// BuildAnalyzers returns hangupvet's one analyzer.
func (plugin) BuildAnalyzers() ([]*analysis.Analyzer, error) {
	return []*analysis.Analyzer{hangupvet.Analyzer}, nil
}

// GetLoadMode asks for type information: the analyzer matches handlers
// and APIs by their types and passes facts between packages.
func (plugin) GetLoadMode() string { return register.LoadModeTypesInfo }
