package hangupvet

import "golang.org/x/tools/go/analysis"

// report reports every finding reachable from a handler once, with the
// path from the first handler that reaches it.
func (g *graph) report() {
	from := g.reach()
	for _, n := range g.nodes {
		if _, ok := from[n]; !ok {
			continue
		}
		path := pathTo(from, n)
		for _, f := range n.findings {
			d := analysis.Diagnostic{Pos: f.pos, End: f.end, Category: f.rule.String(), Message: f.message(path)}
			if f.fix != nil {
				d.SuggestedFixes = []analysis.SuggestedFix{*f.fix}
			}
			g.pass.Report(d)
		}
	}
}
