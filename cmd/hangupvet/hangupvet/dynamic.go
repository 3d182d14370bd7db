package hangupvet

import (
	"go/ast"
	"go/types"
	"strings"

	"golang.org/x/tools/go/callgraph"
	"golang.org/x/tools/go/callgraph/vta"
	"golang.org/x/tools/go/ssa"
)

// addDynamicEdges adds the callees of the calls that the syntax cannot
// resolve, found on the package's SSA form: a call through an interface
// goes to the method of every type of the package and of its imports that
// implements the interface (class hierarchy analysis: an interface with
// two implementations reaches both), and a call of a function value goes
// to the functions that VTA finds flowing into it (a method value stored
// in a struct field, a closure a constructor returns). A callee of this
// package becomes an edge; one of another package is reported at the call
// when it carries a breaksChain fact.
//
// VTA answers interface calls too, but only with the types it sees flow
// into the value within this package; a service layer wired up in main
// gives it none, and that is the shape the rule is for. Function values
// have no such way in: a function is only a candidate where its value is
// taken, which VTA sees.
//
// Packages from the module cache get no such edges: their interface calls
// reach every implementation in their imports (gin's Context.Render every
// renderer, YAML's among them), which is noise about code the user does
// not own.
func (g *graph) addDynamicEdges(src []*ssa.Function) {
	bySyntax := make(map[ast.Node]*fnode, len(g.nodes))
	for _, n := range g.nodes {
		bySyntax[n.syntax] = n
	}
	funcs := vtaFuncs(src)
	var cg *callgraph.Graph // built at the first call of a function value
	for _, f := range src {
		n := bySyntax[f.Syntax()]
		if n == nil {
			continue // in a test file, or generated
		}
		for _, b := range f.Blocks {
			for _, instr := range b.Instrs {
				site, ok := instr.(ssa.CallInstruction)
				if !ok {
					continue
				}
				cc := site.Common()
				if cc.StaticCallee() != nil {
					continue // the syntax saw it
				}
				if _, ok := cc.Value.(*ssa.Builtin); ok {
					continue
				}
				if g.detached.at(cc.Pos()) || g.unboundGo[site.Pos()] {
					continue
				}
				call := g.calls[cc.Pos()]
				if cc.IsInvoke() {
					ms := g.implementing(cc.Method)
					for _, m := range ms {
						g.addCallee(n, call, m, nil)
					}
					if g.ownInterface(cc.Method) != nil {
						g.ifaceCalls = append(g.ifaceCalls, ifaceCall{n, cc.Method})
					}
					continue
				}
				if cg == nil {
					cg = vta.CallGraph(funcs, nil)
				}
				for _, c := range calleesAt(cg, site) {
					for _, c := range unwrap(c) {
						g.addCallee(n, call, nil, bySyntax[c.Syntax()])
						if obj, ok := c.Object().(*types.Func); ok && c.Syntax() == nil {
							g.addCallee(n, call, obj, nil)
						}
					}
				}
			}
		}
	}
}

// buildSSA builds the package's SSA form, as the buildssa pass does, and
// returns its functions with bodies and their literals. It is not that
// pass because a required pass runs on every package the analysis loads,
// the standard library and the module cache included, which tripled the
// time of a run over this repository; only the code being checked needs
// it.
func (g *graph) buildSSA() []*ssa.Function {
	prog := ssa.NewProgram(g.pass.Fset, 0)
	for _, p := range g.pass.Pkg.Imports() {
		prog.CreatePackage(p, nil, nil, true)
	}
	pkg := prog.CreatePackage(g.pass.Pkg, g.pass.Files, g.pass.TypesInfo, false)
	pkg.Build()
	var funcs []*ssa.Function
	var add func(f *ssa.Function)
	add = func(f *ssa.Function) {
		if f == nil {
			return
		}
		funcs = append(funcs, f)
		for _, anon := range f.AnonFuncs {
			add(anon)
		}
	}
	add(pkg.Func("init")) // the literals of package-level variables
	for _, n := range g.nodes {
		if n.obj != nil {
			add(prog.FuncValue(n.obj))
		}
	}
	return funcs
}

// addCallee makes m, or the node of method fn of this package, a callee
// of n, or reports the call when fn is another package's function with a
// fact.
func (g *graph) addCallee(n *fnode, call *ast.CallExpr, fn *types.Func, m *fnode) {
	if m == nil && fn != nil {
		if fn.Pkg() != g.pass.Pkg {
			if call != nil && fn.Pkg() != nil {
				g.checkBreaker(n, call, fn)
			}
			return
		}
		m = g.byObj[fn.Origin()]
	}
	if m != nil && m != n {
		n.callees = append(n.callees, m)
	}
}

// implementing returns the methods that a call of interface method im may
// run: those of the non-interface named types of this package and of the
// direct imports of its own module that implement im's interface, by value
// or by pointer, for an interface method declared in the module. Other
// interfaces and other modules' types are left out: an io.Writer in a
// handler is plumbing, and following it to every writer in reach (a
// proxy's access log to its upstream connection's Write) is a false
// alarm; a service interface is the module's own.
func (g *graph) implementing(im *types.Func) []*types.Func {
	if ms, ok := g.implementations[im]; ok {
		return ms
	}
	var ms []*types.Func
	if iface := g.ownInterface(im); iface != nil {
		scopes := []*types.Scope{g.pass.Pkg.Scope()}
		for _, p := range g.pass.Pkg.Imports() {
			if g.sameModule(p) {
				scopes = append(scopes, p.Scope())
			}
		}
		for _, scope := range scopes {
			for _, name := range scope.Names() {
				tn, ok := scope.Lookup(name).(*types.TypeName)
				if !ok || tn.IsAlias() {
					continue
				}
				t, ok := tn.Type().(*types.Named)
				if !ok || t.TypeParams().Len() > 0 || types.IsInterface(t) {
					continue
				}
				var impl types.Type = t
				if !types.Implements(impl, iface) {
					if impl = types.NewPointer(t); !types.Implements(impl, iface) {
						continue
					}
				}
				obj, _, _ := types.LookupFieldOrMethod(impl, false, im.Pkg(), im.Name())
				if m, ok := obj.(*types.Func); ok {
					ms = append(ms, m)
				}
			}
		}
	}
	g.implementations[im] = ms
	return ms
}

// ownInterface returns the interface that declares im when it is one of
// the module's, else nil.
func (g *graph) ownInterface(im *types.Func) *types.Interface {
	iface, _ := im.Signature().Recv().Type().Underlying().(*types.Interface)
	if iface == nil || im.Pkg() == nil || im.Pkg() != g.pass.Pkg && !g.sameModule(im.Pkg()) {
		return nil
	}
	return iface
}

// calleesAt returns the callees of site in cg.
func calleesAt(cg *callgraph.Graph, site ssa.CallInstruction) []*ssa.Function {
	node := cg.Nodes[site.Parent()]
	if node == nil {
		return nil
	}
	var fs []*ssa.Function
	for _, e := range node.Out {
		if e.Site == site {
			fs = append(fs, e.Callee.Func)
		}
	}
	return fs
}

// unwrap returns the functions a synthetic wrapper calls (a bound method
// value's (*T).m$bound, a thunk), or f itself when it is not one.
func unwrap(f *ssa.Function) []*ssa.Function {
	if f.Synthetic == "" || f.Syntax() != nil {
		return []*ssa.Function{f}
	}
	var fs []*ssa.Function
	for _, b := range f.Blocks {
		for _, instr := range b.Instrs {
			if site, ok := instr.(ssa.CallInstruction); ok {
				if c := site.Common().StaticCallee(); c != nil {
					fs = append(fs, c)
				}
			}
		}
	}
	if len(fs) == 0 {
		return []*ssa.Function{f}
	}
	return fs
}

// vtaFuncs is the set of functions VTA analyses: the package's own and
// the wrappers they take as values (a bound method value's
// (*T).m$bound), without which a call of such a value resolves to
// nothing.
func vtaFuncs(src []*ssa.Function) map[*ssa.Function]bool {
	funcs := make(map[*ssa.Function]bool, len(src))
	for _, f := range src {
		funcs[f] = true
	}
	var ops []*ssa.Value
	for _, f := range src {
		for _, b := range f.Blocks {
			for _, instr := range b.Instrs {
				for _, op := range instr.Operands(ops[:0]) {
					if fn, ok := (*op).(*ssa.Function); ok && fn.Synthetic != "" {
						funcs[fn] = true
					}
				}
			}
		}
	}
	return funcs
}

// sameModule reports whether p belongs to the module under analysis. With
// no module (GOPATH mode, the tests) it goes by the first element of the
// path.
func (g *graph) sameModule(p *types.Package) bool {
	if m := g.pass.Module; m != nil && m.Path != "" {
		return p.Path() == m.Path || strings.HasPrefix(p.Path(), m.Path+"/")
	}
	first := func(path string) string { f, _, _ := strings.Cut(path, "/"); return f }
	return strings.Contains(first(p.Path()), ".") && first(p.Path()) == first(g.pass.Pkg.Path())
}
