package hangupvet

import (
	"fmt"
	"go/token"
	"go/types"
	"slices"
	"strings"

	"golang.org/x/tools/go/analysis"
	"golang.org/x/tools/go/ssa"
)

// Implementations wired up outside the handler's package (a handler in
// login calls its Storer interface; store implements it; app, which
// imports both, hands a *store.DB to login.New) are out of the handler's
// pass: a pass sees its package and its imports, and facts flow only to
// importers. The pass that sees both is the wiring package's. So the
// handler's package tells, in a wiredCalls package fact, which methods of
// the module's interfaces its handlers call; the implementation's package
// gives its methods breaksChain facts as always; and the wiring package
// reports where it converts a type whose method breaks the chain to an
// interface whose method a handler calls, unless the handler's pass saw
// that type (it is of the handler's package or of a module package that
// one imports) and has reported it at the call.

// wiredCalls is the package fact of a package whose handlers call
// methods of the module's interfaces.
type wiredCalls struct {
	Calls []wiredCall
}

// wiredCall is one such call: the interface method, and the path to the
// function that calls it from the first handler that reaches it.
type wiredCall struct {
	Iface  string   // the interface as its package path and name: example.com/login.Storer
	Method string   // Save
	Path   []string // login.Resource.signup → login.Resource.save, each qualified
}

// AFact marks wiredCalls as an analysis fact.
func (*wiredCalls) AFact() {}

func (f *wiredCalls) String() string {
	calls := make([]string, len(f.Calls))
	for i, c := range f.Calls {
		calls[i] = c.Iface + "." + c.Method + " from " + strings.Join(c.Path, " → ")
	}
	return "wiredCalls: " + strings.Join(calls, "; ")
}

// ifaceName names the interface that declares method im: its package's
// path and its name, or "" for an interface without a name.
func ifaceName(im *types.Func) string {
	named, ok := types.Unalias(im.Signature().Recv().Type()).(*types.Named)
	if !ok || named.Obj().Pkg() == nil {
		return ""
	}
	return named.Obj().Pkg().Path() + "." + named.Obj().Name()
}

// exportWiredCalls exports the wiredCalls fact of the package: the calls
// through the module's interfaces reached from a handler, the first of
// each method.
func (g *graph) exportWiredCalls() {
	if len(g.ifaceCalls) == 0 {
		return
	}
	from := g.reach()
	pkgName := g.pass.Pkg.Name()
	fact := &wiredCalls{}
	seen := make(map[string]bool)
	for _, u := range g.ifaceCalls {
		if _, ok := from[u.caller]; !ok {
			continue
		}
		iface := ifaceName(u.method)
		if iface == "" || seen[iface+"."+u.method.Name()] {
			continue
		}
		seen[iface+"."+u.method.Name()] = true
		var path []string
		for m := u.caller; m != nil; m = from[m] {
			path = append([]string{pkgName + "." + m.name}, path...)
		}
		fact.Calls = append(fact.Calls, wiredCall{Iface: iface, Method: u.method.Name(), Path: path})
	}
	if len(fact.Calls) > 0 {
		g.pass.ExportPackageFact(fact)
	}
}

// checkWiring reports each conversion, in src, of a type of another
// package to an interface whose method a handler calls (a wiredCalls
// fact of an imported package) where the type's method breaks the chain
// (a breaksChain fact). The finding is at the conversion, the wiring:
// the handler's package cannot see it.
func (g *graph) checkWiring(src []*ssa.Function) []Finding {
	calls := make(map[string]handlerCall)
	for _, pf := range g.pass.AllPackageFacts() {
		if f, ok := pf.Fact.(*wiredCalls); ok {
			for _, c := range f.Calls {
				if _, ok := calls[c.Iface+"."+c.Method]; !ok {
					calls[c.Iface+"."+c.Method] = handlerCall{c, pf.Package}
				}
			}
		}
	}
	if len(calls) == 0 {
		return nil
	}
	var out []Finding
	seen := make(map[string]bool) // type and interface method already reported
	for _, fn := range src {
		for _, b := range fn.Blocks {
			for _, instr := range b.Instrs {
				mi, ok := instr.(*ssa.MakeInterface)
				if !ok {
					continue
				}
				out = append(out, g.checkConversion(mi, calls, seen)...)
			}
		}
	}
	return out
}

// handlerCall is a wiredCall with the package of its handler.
type handlerCall struct {
	wiredCall
	pkg *types.Package
}

// sees reports whether the pass of c's package saw the implementations of
// p, and so reported them at the call: p is that package or one of the
// module's packages it imports (see implementing).
func (g *graph) sees(c handlerCall, p *types.Package) bool {
	return p == c.pkg || g.sameModule(p) && slices.Contains(c.pkg.Imports(), p)
}

// checkConversion reports mi when it wires a breaking method to a call
// in calls, once per type and interface method in seen: which of two
// conversions a handler's call meets (a store handed to two APIs, one of
// which calls it) is not known, and one finding shows the fix.
func (g *graph) checkConversion(mi *ssa.MakeInterface, calls map[string]handlerCall, seen map[string]bool) []Finding {
	named, ok := types.Unalias(mi.Type()).(*types.Named)
	if !ok || named.Obj().Pkg() == nil {
		return nil
	}
	iface, _ := named.Underlying().(*types.Interface)
	if iface == nil {
		return nil
	}
	pos := conversionPos(mi)
	if !pos.IsValid() || g.detached.at(pos) {
		return nil
	}
	name := named.Obj().Pkg().Path() + "." + named.Obj().Name()
	var out []Finding
	for im := range iface.Methods() {
		c, ok := calls[name+"."+im.Name()]
		if !ok {
			continue
		}
		obj, _, _ := types.LookupFieldOrMethod(mi.X.Type(), true, im.Pkg(), im.Name())
		m, ok := obj.(*types.Func)
		if !ok || m.Pkg() == nil || m.Pkg() == g.pass.Pkg || g.sees(c, m.Pkg()) {
			continue
		}
		var fact breaksChain
		key := mi.X.Type().String() + " " + name + "." + im.Name()
		if seen[key] || !g.pass.ImportObjectFact(m.Origin(), &fact) {
			continue
		}
		seen[key] = true
		msg := fmt.Sprintf("%s is wired here as %s.%s, and %s breaks the request's cancellation: %s in %s (handler %s); pass the request's context to it and have it use the context",
			types.TypeString(mi.X.Type(), (*types.Package).Name), named.Obj().Pkg().Name(), named.Obj().Name(),
			qualifiedName(m), fact.Finding, strings.Join(fact.Path, " → "), strings.Join(c.Path, " → "))
		g.pass.Report(analysis.Diagnostic{Pos: pos, Category: ruleCallsBreaker.String(), Message: msg})
		out = append(out, Finding{
			Pos: g.pass.Fset.Position(pos), Rule: ruleCallsBreaker.String(), Message: msg,
			Handlers: c.Path[:1], Path: append(append([]string(nil), c.Path...), fact.Path...), Cause: fact.Cause,
		})
	}
	return out
}

// conversionPos is where mi is written: the conversion itself when it is
// explicit, else where its value goes (the call it is an argument of, the
// field it is stored in); NoPos for a value that goes nowhere.
func conversionPos(mi *ssa.MakeInterface) token.Pos {
	if mi.Pos().IsValid() {
		return mi.Pos()
	}
	for _, r := range *mi.Referrers() {
		if r.Pos().IsValid() {
			return r.Pos()
		}
	}
	return token.NoPos
}
