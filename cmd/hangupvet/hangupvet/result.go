package hangupvet

import (
	"go/token"
	"go/types"
	"reflect"
	"strings"
)

// Finding is one diagnostic of the analyzer with what its message only
// spells out in words: every handler that reaches it, its call path and
// its root cause. A package's findings are the analyzer's result, so that
// a driver that sees every package (the hangupvet command) can group
// them by cause; go vet, which runs one package at a time, ignores them.
type Finding struct {
	Pos     token.Position // the call site reported
	Rule    string         // the diagnostic's category: "no-context", "calls-breaker", …
	Message string         // the diagnostic's message

	// Handlers are the handlers of the package that reach the finding,
	// qualified with the package's name ("app.upload"), in source order.
	Handlers []string
	// Path is the call chain from the first of Handlers to the function
	// that holds the blocking call, across packages: app.upload →
	// store.DB.Save → store.DB.insert.
	Path []string
	// Cause is the blocking call itself; findings at calls into another
	// package share the cause of the function they call.
	Cause Cause
}

// Cause is the call that breaks the chain, where a fix stops every report
// it leads to: (*sql.DB).Exec at store/store.go:26:9.
type Cause struct {
	Call string         // "(*sql.DB).Exec", "time.Sleep", "context.Background()"
	Pos  token.Position // where it is written
}

// resultType is the type of the analyzer's result.
var resultType = reflect.TypeFor[[]Finding]()

// causeName names fn as a cause: pkg.Func, or (*pkg.Type).Method.
func causeName(fn *types.Func) string {
	recv := fn.Signature().Recv()
	if recv == nil {
		return fn.Pkg().Name() + "." + fn.Name()
	}
	t, star := recv.Type(), ""
	if p, ok := types.Unalias(t).(*types.Pointer); ok {
		t, star = p.Elem(), "*"
	}
	name := types.TypeString(t, func(p *types.Package) string { return p.Name() })
	if i := strings.IndexByte(name, '['); i >= 0 {
		name = name[:i] // a generic type's arguments say nothing here
	}
	return "(" + star + name + ")." + fn.Name()
}
