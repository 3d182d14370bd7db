// Command hangupvet reports code that breaks an HTTP request's cancellation
// chain: work reachable from a handler that keeps running after the client
// has gone away. See package github.com/hangup-dev/hangup/cmd/hangupvet/hangupvet.
//
// It runs on its own:
//
//	hangupvet ./...
//	hangupvet -fix ./...
//
// or under go vet:
//
//	go vet -vettool=$(which hangupvet) ./...
package main

import (
	"os"

	"golang.org/x/tools/go/analysis/singlechecker"

	"github.com/hangup-dev/hangup/cmd/hangupvet/hangupvet"
)

func main() {
	// singlechecker prints the usage asked for with -h on stderr; every
	// hangup command prints its help on stdout (issue 11), so that
	// "hangupvet -h | less" works. Asked for help, the process prints it and
	// exits 0, and nothing else: its stderr may as well be stdout.
	if wantsHelp(os.Args[1:]) {
		os.Stderr = os.Stdout
	}
	singlechecker.Main(hangupvet.Analyzer)
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
