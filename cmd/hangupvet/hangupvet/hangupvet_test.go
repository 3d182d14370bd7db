package hangupvet

import (
	"testing"

	"go.uber.org/goleak"
	"golang.org/x/tools/go/analysis/analysistest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// The testdata packages, one per concern. Each holds the findings it
// expects as // want comments next to code that must pass: the context
// passed correctly, code no handler reaches, and //hangup:detached code.
// They are loaded together, since loading net/http and database/sql from
// source is most of a run's time.
var (
	rulePackages = []string{
		"example.com/roots",    // every kind of handler, and look-alikes that are not
		"example.com/reach",    // call paths through functions, methods, literals and values
		"example.com/blocking", // time.Sleep, channel operations, selects
		"example.com/detached", // //hangup:detached on statements, lines and functions
	}
	// fixPackages also have a .golden file beside each source file: the
	// source with every suggested fix applied.
	fixPackages = []string{
		"example.com/contexts",  // context.Background/TODO/WithoutCancel, pgx
		"example.com/sqlcalls",  // database/sql and ...Context siblings (sqlx)
		"example.com/httpcalls", // http.Get and friends, http.NewRequest
		"example.com/scope",     // which context expression a fix writes, and when there is none
	}
	// factPackages: app calls into mid and store, mid into store.
	factPackages = []string{"example.com/store", "example.com/mid", "example.com/app"}
)

func TestRules(t *testing.T) {
	analysistest.Run(t, analysistest.TestData(), Analyzer, rulePackages...)
}

func TestSuggestedFixes(t *testing.T) {
	analysistest.RunWithSuggestedFixes(t, analysistest.TestData(), Analyzer, fixPackages...)
}

// TestFacts checks that a handler in one package is told about the chain
// its call into another package breaks, also through a package between
// them, and that the facts say where.
func TestFacts(t *testing.T) {
	analysistest.Run(t, analysistest.TestData(), Analyzer, factPackages...)
}
