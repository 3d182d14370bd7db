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
	"golang.org/x/tools/go/analysis/singlechecker"

	"github.com/hangup-dev/hangup/cmd/hangupvet/hangupvet"
)

func main() { singlechecker.Main(hangupvet.Analyzer) }
