package hangupvet

import "golang.org/x/tools/go/analysis"

// report reports every finding reachable from a handler once, with the
// path from the first handler that reaches it, and returns them with
// every handler that reaches them, their path and their cause.
func (g *graph) report() []Finding {
	from := g.reach()
	handlers := g.handlersOf()
	pkgName := g.pass.Pkg.Name()
	var out []Finding
	for _, n := range g.nodes {
		if _, ok := from[n]; !ok {
			continue
		}
		path := pathTo(from, n)
		var chain []string
		for m := n; m != nil; m = from[m] {
			chain = append([]string{pkgName + "." + m.name}, chain...)
		}
		for _, f := range n.findings {
			d := analysis.Diagnostic{Pos: f.pos, End: f.end, Category: f.rule.String(), Message: f.message(path)}
			if f.fix != nil {
				d.SuggestedFixes = []analysis.SuggestedFix{*f.fix}
			}
			g.pass.Report(d)
			r := Finding{
				Pos: g.pass.Fset.Position(f.pos), Rule: d.Category, Message: d.Message,
				Handlers: handlers[n], Path: chain, Cause: g.causeOf(f),
			}
			if f.callee != nil {
				r.Path = append(r.Path[:len(r.Path):len(r.Path)], f.callee.Path...)
			}
			out = append(out, r)
		}
	}
	return out
}

// handlersOf returns, for every function reachable from a handler without
// passing through detached code, the qualified names of all the handlers
// that reach it, in source order.
func (g *graph) handlersOf() map[*fnode][]string {
	reached := make(map[*fnode][]string)
	for _, h := range g.nodes {
		if !h.root {
			continue
		}
		name := g.pass.Pkg.Name() + "." + h.name
		seen := map[*fnode]bool{h: true}
		queue := []*fnode{h}
		for len(queue) > 0 {
			n := queue[0]
			queue = queue[1:]
			reached[n] = append(reached[n], name)
			for _, c := range n.callees {
				if !seen[c] && !c.detached {
					seen[c] = true
					queue = append(queue, c)
				}
			}
		}
	}
	return reached
}

// causeOf is the call that breaks the chain at f: f itself, or for a call
// into another package the cause its fact carries.
func (g *graph) causeOf(f *finding) Cause {
	if f.callee != nil {
		return f.callee.Cause
	}
	call := f.cause
	if call == "" {
		call = f.what
	}
	return Cause{Call: call, Pos: g.pass.Fset.Position(f.pos)}
}
