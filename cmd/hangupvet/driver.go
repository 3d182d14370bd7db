package main

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"golang.org/x/tools/go/analysis"
	"golang.org/x/tools/go/analysis/checker"
	"golang.org/x/tools/go/packages"

	"github.com/hangup-dev/hangup/cmd/hangupvet/hangupvet"
)

// output is how the driver prints the findings.
type output int

const (
	textOutput    output = iota // the causes, then a line per finding
	summaryOutput               // the causes only
	jsonOutput                  // causes and findings with their paths, as JSON
)

// errSummaryAlone is returned when -summary comes with a flag of the
// single-package driver, which cannot group.
var errSummaryAlone = errors.New("-summary goes only with package patterns (and -json); run -fix and the other flags without it")

// ownArgs reports whether args are for hangupvet's own driver: package
// patterns after nothing but -summary and -json. Anything else (-fix,
// -diff, go vet's -V=full, -flags and unit.cfg) is the business of
// singlechecker, which also speaks go vet's protocol.
func ownArgs(args []string) (out output, patterns []string, own bool, err error) {
	summary, other := false, false
	for i, a := range args {
		if a == "--" {
			patterns = args[i+1:]
			break
		}
		if !strings.HasPrefix(a, "-") {
			patterns = args[i:]
			break
		}
		switch strings.TrimLeft(a, "-") {
		case "summary", "summary=true":
			summary = true
		case "json", "json=true":
			out = jsonOutput
		case "summary=false", "json=false":
		default:
			other = true
		}
	}
	switch {
	case other && summary:
		return 0, nil, false, errSummaryAlone
	case other || len(patterns) == 0 || len(patterns) == 1 && strings.HasSuffix(patterns[0], ".cfg"):
		return 0, nil, false, nil
	case summary && out != jsonOutput:
		out = summaryOutput
	}
	return out, patterns, true, nil
}

// analyze loads the packages patterns name, without their tests (their
// handlers simulate slow servers on purpose), runs the analyzer over them
// and their dependencies and returns the findings of all of them. Errors
// in the packages are written to stderr and fail the run.
func analyze(patterns []string, stderr io.Writer) ([]hangupvet.Finding, error) {
	cfg := &packages.Config{Mode: packages.LoadAllSyntax | packages.NeedModule}
	pkgs, err := packages.Load(cfg, patterns...)
	if err != nil {
		return nil, fmt.Errorf("loading %s: %w", strings.Join(patterns, " "), err)
	}
	if len(pkgs) == 0 {
		return nil, fmt.Errorf("%s matched no packages; run hangupvet from inside the module, with ./... for all of it", strings.Join(patterns, " "))
	}
	broken := 0
	packages.Visit(pkgs, nil, func(p *packages.Package) {
		for _, e := range p.Errors {
			fmt.Fprintln(stderr, e)
			broken++
		}
	})
	if broken > 0 {
		return nil, fmt.Errorf("%d errors in the packages; fix them (go build %s) and run again", broken, strings.Join(patterns, " "))
	}
	graph, err := checker.Analyze([]*analysis.Analyzer{hangupvet.Analyzer}, pkgs, nil)
	if err != nil {
		return nil, err
	}
	var findings []hangupvet.Finding
	for _, act := range graph.Roots {
		if act.Err != nil {
			return nil, fmt.Errorf("%s: %w", act.Package.PkgPath, act.Err)
		}
		findings = append(findings, act.Result.([]hangupvet.Finding)...)
	}
	return findings, nil
}
