package hangupvet

import (
	"fmt"
	"go/ast"
	"go/token"
	"go/types"
)

// A function that is handed the request's context and then does blocking
// work without it has taken the context and dropped it: the parameter is
// blank or never used, a variable of the same name shadows it, or an
// assignment replaces it with something not made from it. Such a finding
// is reported as dropped-context, at the call that should have used the
// context, saying how it was lost: the fix is in that function, not in
// its callers, which did pass the context.

// dropped is how a function lost the context it was handed.
type dropped struct {
	holder string // the function that was handed it: "Service.Get"
	param  string // the parameter's name, "" when blank or unnamed
	how    string // "never uses it", "shadows it at line 12", …
	usable bool   // the parameter itself can still be written at the finding
}

// droppedAt reports whether the context that the function at pos (n, or
// the innermost function n is written in that takes one) was handed is
// lost at pos, and how.
func (g *graph) droppedAt(n *fnode, pos token.Pos) *dropped {
	for f := n; f != nil; f = f.parent {
		param, ok := contextParam(g.pass.TypesInfo, f.ftype)
		if !ok {
			continue
		}
		d := &dropped{holder: f.name}
		if param == nil {
			d.how = "ignores it (the parameter is blank)"
			return d
		}
		d.param = param.Name()
		if !g.visibleAt(param, pos) {
			_, shadow := g.pass.Pkg.Scope().Innermost(pos).LookupParent(param.Name(), pos)
			d.how = "shadows it"
			if shadow != nil {
				d.how += fmt.Sprintf(" at line %d", g.pass.Fset.Position(shadow.Pos()).Line)
			}
			return d
		}
		if at := g.replacedBefore(f, param, pos); at.IsValid() {
			d.how = fmt.Sprintf("replaces it at line %d", g.pass.Fset.Position(at).Line)
			return d
		}
		if !g.uses(f.body, param) {
			d.how, d.usable = "never uses it", true
			return d
		}
		return nil
	}
	return nil
}

// contextParam returns the first context.Context parameter of ft: its
// variable, or nil when it is blank or unnamed. ok is false when ft takes
// no context.
func contextParam(info *types.Info, ft *ast.FuncType) (param *types.Var, ok bool) {
	for _, field := range ft.Params.List {
		if !isContext(info.TypeOf(field.Type)) {
			continue
		}
		if len(field.Names) == 0 {
			return nil, true
		}
		id := field.Names[0]
		v, _ := info.Defs[id].(*types.Var)
		if id.Name == "_" || v == nil {
			return nil, true
		}
		return v, true
	}
	return nil, false
}

// uses reports whether body refers to v.
func (g *graph) uses(body ast.Node, v *types.Var) bool {
	found := false
	ast.Inspect(body, func(x ast.Node) bool {
		if id, ok := x.(*ast.Ident); ok && g.pass.TypesInfo.Uses[id] == v {
			found = true
		}
		return !found
	})
	return found
}

// replacedBefore returns the position of the last assignment to v in f
// before pos whose value is not made from v (ctx = context.Background()),
// or token.NoPos. The usual guard "if ctx == nil { ctx = … }" fills in
// for a caller that passed nothing and does not count.
func (g *graph) replacedBefore(f *fnode, v *types.Var, pos token.Pos) token.Pos {
	at := token.NoPos
	var stack []ast.Node
	ast.Inspect(f.body, func(x ast.Node) bool {
		if x == nil {
			stack = stack[:len(stack)-1]
			return true
		}
		stack = append(stack, x)
		as, ok := x.(*ast.AssignStmt)
		if !ok || as.Tok != token.ASSIGN || as.Pos() >= pos || len(as.Lhs) != len(as.Rhs) {
			return true
		}
		for i, l := range as.Lhs {
			id, ok := l.(*ast.Ident)
			if !ok || g.pass.TypesInfo.Uses[id] != v || g.uses(as.Rhs[i], v) {
				continue
			}
			if call, ok := as.Rhs[i].(*ast.CallExpr); ok && isNilFallback(g.pass.TypesInfo, call, append(stack, call)) {
				continue
			}
			at = as.Pos()
		}
		return true
	})
	return at
}

// noteDropped turns f into a dropped-context finding when the function it
// is in lost the context it was handed. The fix, if any, stays only when
// the parameter itself is what it writes.
func (g *graph) noteDropped(n *fnode, f *finding) {
	switch f.rule {
	case ruleRootContext, ruleWithoutCancel:
		// Their message already says that the context is cut.
		return
	}
	d := g.droppedAt(n, f.pos)
	if d == nil {
		return
	}
	f.rule = ruleDropped
	name := "a context"
	if d.param != "" {
		name = "the request's context as " + d.param
	}
	f.why += ", though " + d.holder + " was handed " + name + " and " + d.how
	if !d.usable {
		f.fix = nil
		if d.param == "" {
			f.advice = "name the context parameter and pass it on"
		} else {
			f.advice = "keep " + d.param + " as it was handed and pass it on"
		}
	}
}
