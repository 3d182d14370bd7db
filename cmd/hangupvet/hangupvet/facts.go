package hangupvet

import (
	"fmt"
	"slices"
	"strings"
)

// breaksChain is the fact that calling a function leads to code that
// breaks the request's cancellation chain, so that a handler in another
// package calling it is told at the call site.
type breaksChain struct {
	// Finding is what breaks the chain: "db.Exec has no context".
	Finding string
	// Path is the call path from the function to the finding, each name
	// qualified with its package: store.Save → store.insert.
	Path []string
	// Cause is the call at the end of Path that breaks the chain.
	Cause Cause
}

// AFact marks breaksChain as an analysis fact.
func (*breaksChain) AFact() {}

func (f *breaksChain) String() string {
	return fmt.Sprintf("breaksChain: %s in %s", f.Finding, strings.Join(f.Path, " → "))
}

// exportFacts attaches a breaksChain fact to each exported function from
// which a finding can be reached, whether or not a handler in this package
// reaches it. For a dependency from the module cache it trusts functions
// that take a context.Context to honour it, and passes on no weak
// findings.
func (g *graph) exportFacts() {
	pkgName := g.pass.Pkg.Name()
	for _, n := range g.nodes {
		if n.obj == nil || !n.obj.Exported() || n.detached {
			continue
		}
		if g.dep && hasContextParam(n.sig) {
			continue
		}
		path, f := g.firstFinding(n)
		if f == nil {
			continue
		}
		fact := &breaksChain{Finding: f.what, Cause: g.causeOf(f)}
		for _, m := range path {
			name := m.name
			if m.obj != nil {
				name = pkgName + "." + name
			}
			fact.Path = append(fact.Path, name)
		}
		if f.callee != nil {
			// Go on into the other package rather than repeating its
			// summary.
			fact.Finding = f.callee.Finding
			fact.Path = append(fact.Path, f.callee.Path...)
		}
		g.pass.ExportObjectFact(n.obj, fact)
	}
}

// firstFinding searches breadth-first from start for the nearest finding
// that may become a fact, and returns it with the call path from start to
// the function that holds it.
func (g *graph) firstFinding(start *fnode) ([]*fnode, *finding) {
	via := map[*fnode]*fnode{start: nil}
	queue := []*fnode{start}
	for len(queue) > 0 {
		n := queue[0]
		queue = queue[1:]
		for _, f := range n.findings {
			if g.dep && f.weak {
				continue
			}
			var path []*fnode
			for m := n; m != nil; m = via[m] {
				path = append(path, m)
			}
			slices.Reverse(path)
			return path, f
		}
		for _, c := range n.callees {
			if _, seen := via[c]; seen || c.detached {
				continue
			}
			via[c] = n
			queue = append(queue, c)
		}
	}
	return nil, nil
}
