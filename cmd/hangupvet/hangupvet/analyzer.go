// Package hangupvet defines an analyzer that finds the places where an HTTP
// handler breaks the request's cancellation chain.
//
// hangup cancels a request's context the moment its client disconnects, but
// that only stops work that was handed the context. hangupvet starts from
// every HTTP handler in a package (net/http, chi, Echo, Gin and Fiber v3),
// follows the calls it makes inside the package, and reports each place on
// the way where work stops listening to the request: fresh root contexts,
// database/sql and net/http calls without a context, time.Sleep, blocking
// channel operations and selects without a ctx.Done() case,
// context.WithoutCancel, and a *gin.Context handed on as a context.Context
// (gin never cancels it by default). Each report carries the call path from the handler
// and, where the change is mechanical, a suggested fix.
//
// Functions that break the chain carry a fact, so a handler in another
// package that calls them gets a report at the call site; an
// implementation of an interface the handlers call, wired up by a package
// that imports both (main), gets one where it is wired.
//
// Code that must finish on purpose is marked with a //hangup:detached
// comment, either on the line before a statement or at the end of its line,
// or in the doc comment of a function, which silences the function and
// everything it calls.
package hangupvet

import (
	"strings"

	"golang.org/x/tools/go/analysis"
)

// Analyzer reports code reachable from an HTTP handler that keeps running
// after the handler's client has gone away.
var Analyzer = &analysis.Analyzer{
	Name: "hangupvet",
	Doc: `find code that breaks a request's cancellation chain

hangupvet follows the calls made by HTTP handlers (net/http, chi, Echo, Gin,
Fiber v3) and reports work that ignores the request's context: fresh
context.Background()/TODO() roots, database/sql and net/http calls without a
context, time.Sleep, blocking channel operations and selects without a
ctx.Done() case, context.WithoutCancel, and a *gin.Context handed on as a
context.Context (gin never cancels it by default). Mark code that must
finish on purpose with a //hangup:detached comment.`,
	URL:        "https://pkg.go.dev/github.com/hangup-dev/hangup/cmd/hangupvet/hangupvet",
	Run:        run,
	FactTypes:  []analysis.Fact{(*breaksChain)(nil), (*wiredCalls)(nil)},
	ResultType: resultType,
}

func run(pass *analysis.Pass) (any, error) {
	// The standard library is full of channel operations and fresh
	// contexts behind context-less convenience APIs; the rules below cover
	// those APIs at their call sites, and facts about the library's
	// internals would only repeat them as noise.
	if isStd(pass) {
		return []Finding(nil), nil
	}
	g := newGraph(pass)
	g.build()
	var wired []Finding
	if !g.dep {
		src := g.buildSSA()
		g.addDynamicEdges(src)
		wired = g.checkWiring(src)
	}
	findings := append(g.report(), wired...)
	g.exportFacts()
	g.exportWiredCalls()
	return findings, nil
}

// isStd reports whether pass analyzes a standard library package: one
// outside any module whose path does not start with a domain name.
func isStd(pass *analysis.Pass) bool {
	if pass.Module != nil && pass.Module.Path != "" {
		return false
	}
	first, _, _ := strings.Cut(pass.Pkg.Path(), "/")
	return !strings.Contains(first, ".")
}

// isDependency reports whether pass analyzes a package of a module taken
// from the module cache rather than the code being checked. Such packages
// only feed facts, and those are limited to the clear-cut rules (see
// exportFacts).
func isDependency(pass *analysis.Pass) bool {
	return pass.Module != nil && pass.Module.Version != ""
}
