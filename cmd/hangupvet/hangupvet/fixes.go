package hangupvet

import (
	"go/ast"
	"go/token"
	"go/types"

	"golang.org/x/tools/go/analysis"
)

// contextInScope returns an expression for the request's context that can
// be written at pos in n, or "" when there is none. It looks at the
// parameters of n and then of the functions n is written in, innermost
// first, since a literal's own context parameter is the one its caller
// meant for it. Within one function it prefers r.Context() of an
// *http.Request, then a context.Context parameter, then a framework
// context (c.Request().Context() for Echo, c.Request.Context() for Gin,
// c.Context() for Fiber v3). A parameter shadowed at pos does not count.
func (g *graph) contextInScope(n *fnode, pos token.Pos) string {
	for f := n; f != nil; f = f.parent {
		best, bestRank := "", -1
		for _, field := range f.ftype.Params.List {
			for _, id := range field.Names {
				obj := g.pass.TypesInfo.Defs[id]
				if obj == nil || id.Name == "_" || !g.visibleAt(obj, pos) {
					continue
				}
				rank := contextRank(obj.Type())
				if rank >= 0 && (bestRank < 0 || rank < bestRank) {
					best, bestRank = requestContextOf(id.Name, obj.Type()), rank
				}
			}
		}
		if best != "" {
			return best
		}
	}
	return ""
}

// visibleAt reports whether obj's name refers to obj at pos.
func (g *graph) visibleAt(obj types.Object, pos token.Pos) bool {
	scope := g.pass.Pkg.Scope().Innermost(pos)
	if scope == nil {
		return false
	}
	_, found := scope.LookupParent(obj.Name(), pos)
	return found == obj
}

// doneText is the Done channel to suggest waiting on at pos in n.
func (g *graph) doneText(n *fnode, pos token.Pos) string {
	if ctx := g.contextInScope(n, pos); ctx != "" {
		return ctx + ".Done()"
	}
	return "ctx.Done()"
}

// replaceFix replaces the whole of x with expr, as context.Background()
// with r.Context().
func replaceFix(message string, x ast.Expr, expr string) *analysis.SuggestedFix {
	return &analysis.SuggestedFix{
		Message: message,
		TextEdits: []analysis.TextEdit{{
			Pos: x.Pos(), End: x.End(), NewText: []byte(expr),
		}},
	}
}

// switchToContextFix writes instead over replace, or over the called
// function's name when replace is nil, and passes ctx first, and then
// extra if it is not empty: db.Query(q, args...) becomes
// db.QueryContext(ctx, q, args...), db.Begin() becomes db.BeginTx(ctx,
// nil) and net.Dial(n, a) (&net.Dialer{}).DialContext(ctx, n, a). It
// returns nil when the call does not name its function directly.
func switchToContextFix(message string, call *ast.CallExpr, replace ast.Node, instead, ctx, extra string) *analysis.SuggestedFix {
	var name ast.Node = replace
	if name == nil {
		switch fun := ast.Unparen(call.Fun).(type) {
		case *ast.SelectorExpr:
			name = fun.Sel
		case *ast.Ident:
			name = fun
		default:
			return nil
		}
	}
	lead := ctx
	if extra != "" {
		lead += ", " + extra
	}
	insert := analysis.TextEdit{Pos: call.Rparen, End: call.Rparen, NewText: []byte(lead)}
	if len(call.Args) > 0 {
		insert = analysis.TextEdit{Pos: call.Args[0].Pos(), End: call.Args[0].Pos(), NewText: []byte(lead + ", ")}
	}
	return &analysis.SuggestedFix{
		Message: message,
		TextEdits: []analysis.TextEdit{
			{Pos: name.Pos(), End: name.End(), NewText: []byte(instead)},
			insert,
		},
	}
}
