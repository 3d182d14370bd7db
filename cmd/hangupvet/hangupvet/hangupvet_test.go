package hangupvet

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path"
	"path/filepath"
	"strings"
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
		"example.com/dropped",  // contexts handed to a function and lost there
		"example.com/dynamic",  // calls through interfaces and function values
	}
	// fixPackages also have a .golden file beside each source file: the
	// source with every suggested fix applied.
	fixPackages = []string{
		"example.com/apis",       // every row of the table of context-less APIs
		"example.com/contexts",   // context.Background/TODO/WithoutCancel, pgx
		"example.com/sqlcalls",   // database/sql and ...Context siblings (sqlx)
		"example.com/httpcalls",  // http.Get and friends, http.NewRequest
		"example.com/scope",      // which context expression a fix writes, and when there is none
		"example.com/gincontext", // a *gin.Context handed on as a context.Context
	}
	// factPackages: app calls into mid and store, mid into store.
	factPackages = []string{"example.com/store", "example.com/mid", "example.com/app"}
	// wiringPackages: app hands a store.DB to login, whose handlers call it
	// through an interface; login does not import store.
	wiringPackages = []string{"example.com/wiring/login", "example.com/wiring/store", "example.com/wiring/app"}
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

// TestWiring checks that an implementation wired up outside the handler's
// package is reported where it is wired, when a method a handler calls
// breaks the chain.
func TestWiring(t *testing.T) {
	analysistest.Run(t, analysistest.TestData(), Analyzer, wiringPackages...)
}

// TestAPITable checks that every row of contextless has a call in
// testdata/src/example.com/apis with a want comment on its line, so that a
// row added to the table without a golden case fails here. The calls are
// matched by name and by the package or receiver the row names.
func TestAPITable(t *testing.T) {
	fset := token.NewFileSet()
	file := filepath.Join(analysistest.TestData(), "src", "example.com", "apis", "apis.go")
	f, err := parser.ParseFile(fset, file, nil, parser.ParseComments)
	if err != nil {
		t.Fatal(err)
	}
	wanted := make(map[int]bool)
	for _, cg := range f.Comments {
		for _, c := range cg.List {
			if strings.HasPrefix(c.Text, "// want ") {
				wanted[fset.Position(c.Pos()).Line] = true
			}
		}
	}
	imported := make(map[string]bool)
	for _, spec := range f.Imports {
		imported[path.Base(strings.Trim(spec.Path.Value, `"`))] = true
	}
	// The calls on want lines, as "pkg.Name" for a function and
	// ".Name" for a method: the test data calls methods on variables.
	called := make(map[string]bool)
	ast.Inspect(f, func(n ast.Node) bool {
		call, ok := n.(*ast.CallExpr)
		if !ok || !wanted[fset.Position(call.Pos()).Line] {
			return true
		}
		if sel, ok := call.Fun.(*ast.SelectorExpr); ok {
			if id, ok := sel.X.(*ast.Ident); ok && imported[id.Name] {
				called[id.Name+"."+sel.Sel.Name] = true
			} else {
				called["."+sel.Sel.Name] = true
			}
		}
		return true
	})
	for _, a := range contextless {
		key := "." + a.name
		if len(a.recv) == 0 {
			key = path.Base(a.pkg) + "." + a.name
		}
		if !called[key] {
			t.Errorf("row %s %v %s of contextless has no call with a want comment in %s", a.pkg, a.recv, a.name, file)
		}
	}
}
