// Command hangupvet reports code that breaks an HTTP request's cancellation
// chain: work reachable from a handler that keeps running after the client
// has gone away. See package github.com/hangup-dev/hangup/cmd/hangupvet/hangupvet.
//
// It runs on its own:
//
//	hangupvet ./...            the root causes to fix first, then every finding
//	hangupvet -summary ./...   the root causes only
//	hangupvet -json ./...      both, with the call path of every finding
//	hangupvet -fix ./...
//
// or under go vet, which prints one line per finding:
//
//	go vet -vettool=$(which hangupvet) ./...
//
// Grouping findings by cause needs every package's findings at once, so
// package patterns with no flag but -summary and -json go to hangupvet's
// own driver (driver.go), which reads the analyzer's results; every other
// use, go vet's included, goes to singlechecker as before.
package main

import (
	"flag"
	"fmt"
	"os"

	"golang.org/x/tools/go/analysis/singlechecker"

	"github.com/hangup-dev/hangup/cmd/hangupvet/hangupvet"
)

func main() {
	args := os.Args[1:]
	// singlechecker prints the usage asked for with -h on stderr; every
	// hangup command prints its help on stdout (issue 11), so that
	// "hangupvet -h | less" works. Asked for help, the process prints it and
	// exits 0, and nothing else: its stderr may as well be stdout.
	if wantsHelp(args) {
		os.Stderr = os.Stdout
	}
	out, patterns, own, err := ownArgs(args)
	if err != nil {
		fmt.Fprintln(os.Stderr, "hangupvet:", err)
		os.Exit(2)
	}
	if own {
		os.Exit(run(out, patterns))
	}
	// Listed in the usage; singlechecker never sees it set (ownArgs).
	flag.Bool("summary", false, "print only the root causes, grouped, the ones reached by the most handlers first")
	singlechecker.Main(hangupvet.Analyzer)
}

// run analyzes the packages patterns name and prints the findings, and
// returns the exit code: 3 when there are findings in text, as go vet's
// drivers do, 1 when the analysis failed, else 0.
func run(out output, patterns []string) int {
	findings, err := analyze(patterns, os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "hangupvet:", err)
		return 1
	}
	dir, _ := os.Getwd()
	p, causes := printer{dir: dir}, group(findings)
	switch {
	case out == jsonOutput:
		if err := p.printJSON(os.Stdout, findings, causes); err != nil {
			fmt.Fprintln(os.Stderr, "hangupvet:", err)
			return 1
		}
		return 0
	case len(findings) == 0:
		return 0
	case out == summaryOutput:
		p.printCauses(os.Stdout, findings, causes)
	default:
		p.printText(os.Stdout, findings, causes)
	}
	return 3
}

// wantsHelp reports whether args ask for the usage: -h, -help or --help
// before the first package pattern.
func wantsHelp(args []string) bool {
	for _, a := range args {
		switch {
		case a == "-h" || a == "-help" || a == "--help" || a == "--h":
			return true
		case a == "--" || len(a) < 2 || a[0] != '-':
			return false
		}
	}
	return false
}
