//go:build ignore

// The helpers' common lines (stormtable.go, peers.go and fleettable.go are each built
// with this file: go build -o X bench/X.go bench/cli.go): argument counts
// and fatal errors, one line on stderr naming the helper.
package main

import (
	"fmt"
	"os"
	"path/filepath"
)

func need(args []string, n int) {
	if len(args) != n {
		fail(fmt.Sprintf("want %d arguments, got %d", n, len(args)))
	}
}

func check(err error) {
	if err != nil {
		fail(err.Error())
	}
}

func fail(msg string) {
	fmt.Fprintf(os.Stderr, "%s: %s\n", filepath.Base(os.Args[0]), msg)
	os.Exit(1)
}
