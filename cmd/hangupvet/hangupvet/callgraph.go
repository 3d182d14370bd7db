package hangupvet

import (
	"fmt"
	"go/ast"
	"go/token"
	"go/types"
	"path/filepath"
	"strings"

	"golang.org/x/tools/go/analysis"
)

// fnode is a function with a body in the package under analysis: a
// declared function or method, or a function literal.
type fnode struct {
	name   string        // how call paths name it
	obj    *types.Func   // nil for a literal
	ftype  *ast.FuncType // its parameters, for the context in scope
	body   *ast.BlockStmt
	parent *fnode   // the function a literal is written in
	syntax ast.Node // its *ast.FuncDecl or *ast.FuncLit, by which SSA names it
	sig    *types.Signature

	root     bool // an HTTP handler
	detached bool // its doc comment holds //hangup:detached

	// callees are the functions it calls or refers to, in source order.
	// Literals written inside it count as called: they almost always run
	// on its behalf (go statements, defers, callbacks).
	callees  []*fnode
	findings []*finding
}

// graph is the static call graph of one package, rooted at its handlers.
type graph struct {
	pass     *analysis.Pass
	detached *detachedIndex
	nodes    []*fnode // declared functions first, then literals, each in source order
	byObj    map[*types.Func]*fnode
	dep      bool // the package comes from the module cache

	// doneVars are the variables that hold a Done channel, so that a
	// select on them counts as watching the context.
	doneVars map[types.Object]bool
	// bufferedChans are the local channels made with a constant capacity;
	// a send on them does not block.
	bufferedChans map[types.Object]bool

	// calls are the package's calls by the position of their Lparen, and
	// unboundGo its go statements not handed the request (by the
	// position of "go"): what the SSA call sites need of the syntax.
	calls     map[token.Pos]*ast.CallExpr
	unboundGo map[token.Pos]bool
	// implementations caches, per interface method, the methods of the
	// package's and its imports' types that implement it.
	implementations map[*types.Func][]*types.Func
	// ifaceCalls are the calls through the module's interfaces, for the
	// packages that wire implementations up (wiring.go).
	ifaceCalls []ifaceCall
}

// ifaceCall is a call of interface method method in caller.
type ifaceCall struct {
	caller *fnode
	method *types.Func
}

func newGraph(pass *analysis.Pass) *graph {
	return &graph{
		pass:          pass,
		detached:      newDetachedIndex(pass.Fset, pass.Files),
		byObj:         make(map[*types.Func]*fnode),
		dep:           isDependency(pass),
		doneVars:      make(map[types.Object]bool),
		bufferedChans: make(map[types.Object]bool),

		calls:           make(map[token.Pos]*ast.CallExpr),
		unboundGo:       make(map[token.Pos]bool),
		implementations: make(map[*types.Func][]*types.Func),
	}
}

// build collects the package's functions, then scans each body for
// callees and findings. Declarations come first so that a call can find
// its callee wherever it is declared.
func (g *graph) build() {
	var (
		decls    []*fnode
		literals []*ast.GenDecl // package-level declarations, for the literals in their values
	)
	for _, f := range g.pass.Files {
		if g.isTestFile(f) {
			// Handlers in tests simulate slow or stuck clients on purpose.
			continue
		}
		for _, d := range f.Decls {
			if gd, ok := d.(*ast.GenDecl); ok {
				literals = append(literals, gd)
				continue
			}
			fd, ok := d.(*ast.FuncDecl)
			if !ok || fd.Body == nil {
				continue
			}
			obj, ok := g.pass.TypesInfo.Defs[fd.Name].(*types.Func)
			if !ok {
				continue
			}
			n := &fnode{
				name:     declName(fd),
				obj:      obj,
				syntax:   fd,
				ftype:    fd.Type,
				body:     fd.Body,
				sig:      obj.Signature(),
				detached: hasDetachedDoc(fd.Doc),
			}
			n.root = isHandler(n.sig) && !n.detached
			g.byObj[obj] = n
			g.nodes = append(g.nodes, n)
			decls = append(decls, n)
		}
	}
	for _, n := range decls {
		g.scan(n)
	}
	// A handler may also be a literal in a package-level variable:
	// var upload = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {...}).
	for _, gd := range literals {
		var stack []ast.Node
		ast.Inspect(gd, func(x ast.Node) bool {
			if x == nil {
				stack = stack[:len(stack)-1]
				return true
			}
			if lit, ok := x.(*ast.FuncLit); ok {
				g.addLiteral(nil, lit, stack)
				return false
			}
			stack = append(stack, x)
			return true
		})
	}
}

// addLiteral makes a node for a function literal written in parent, and
// scans it.
func (g *graph) addLiteral(parent *fnode, lit *ast.FuncLit, stack []ast.Node) *fnode {
	sig, _ := g.pass.TypesInfo.TypeOf(lit).(*types.Signature)
	if sig == nil {
		sig = types.NewSignatureType(nil, nil, nil, nil, nil, false)
	}
	n := &fnode{
		name:   literalName(stack, lit),
		syntax: lit,
		ftype:  lit.Type,
		body:   lit.Body,
		parent: parent,
		sig:    sig,
	}
	if isHandler(sig) && !g.detached.at(lit.Pos()) {
		n.root = true
		n.name = g.literalHandlerName(stack, lit)
	}
	g.nodes = append(g.nodes, n)
	g.scan(n)
	return n
}

// callee returns the node of the package-level function or method that id
// refers to, if it has a body in this package.
func (g *graph) callee(id *ast.Ident) *fnode {
	fn, ok := g.pass.TypesInfo.Uses[id].(*types.Func)
	if !ok {
		return nil
	}
	return g.byObj[fn.Origin()]
}

// reach finds, for every function reachable from a handler without
// passing through detached code, the function it is first reached from.
// The search is breadth-first from all handlers in source order, so each
// function gets a shortest path from the first handler that reaches it.
func (g *graph) reach() map[*fnode]*fnode {
	from := make(map[*fnode]*fnode)
	var queue []*fnode
	for _, n := range g.nodes {
		if n.root {
			from[n] = nil
			queue = append(queue, n)
		}
	}
	for len(queue) > 0 {
		n := queue[0]
		queue = queue[1:]
		for _, c := range n.callees {
			if _, seen := from[c]; seen || c.detached {
				continue
			}
			from[c] = n
			queue = append(queue, c)
		}
	}
	return from
}

// pathTo renders the call path from a handler to n: "handler Upload → save".
func pathTo(from map[*fnode]*fnode, n *fnode) string {
	var names []string
	for ; n != nil; n = from[n] {
		names = append(names, n.name)
	}
	names[len(names)-1] = "handler " + names[len(names)-1]
	var b strings.Builder
	for i := len(names) - 1; i >= 0; i-- {
		b.WriteString(names[i])
		if i > 0 {
			b.WriteString(" → ")
		}
	}
	return b.String()
}

// declName names a declared function the way its package would write a
// call to it: Upload, or Server.Upload for a method.
func declName(fd *ast.FuncDecl) string {
	if fd.Recv == nil || len(fd.Recv.List) == 0 {
		return fd.Name.Name
	}
	t := fd.Recv.List[0].Type
	for {
		switch x := t.(type) {
		case *ast.StarExpr:
			t = x.X
			continue
		case *ast.IndexExpr:
			t = x.X
			continue
		case *ast.IndexListExpr:
			t = x.X
			continue
		case *ast.ParenExpr:
			t = x.X
			continue
		}
		break
	}
	if id, ok := t.(*ast.Ident); ok {
		return id.Name + "." + fd.Name.Name
	}
	return fd.Name.Name
}

// literalName names a function literal in a call path after how it runs.
func literalName(stack []ast.Node, lit *ast.FuncLit) string {
	if len(stack) >= 2 {
		if call, ok := stack[len(stack)-1].(*ast.CallExpr); ok && call.Fun == lit {
			switch stack[len(stack)-2].(type) {
			case *ast.GoStmt:
				return "go func"
			case *ast.DeferStmt:
				return "defer func"
			}
		}
	}
	return "func literal"
}

// literalHandlerName names a handler written as a literal after its route
// when it is registered with one ("/upload", "POST /upload"), else after
// the variable it is assigned to, else after where it is.
func (g *graph) literalHandlerName(stack []ast.Node, lit *ast.FuncLit) string {
	// Look through wrappers such as http.HandlerFunc(...) or
	// middleware(...) for the call that registers it.
	for i := len(stack) - 1; i >= 0 && i >= len(stack)-3; i-- {
		call, ok := stack[i].(*ast.CallExpr)
		if !ok {
			break
		}
		if len(call.Args) >= 2 {
			if bl, ok := call.Args[0].(*ast.BasicLit); ok && bl.Kind == token.STRING {
				return bl.Value
			}
		}
	}
	// Else after the variable it is assigned to.
	for i := len(stack) - 1; i >= 0 && i >= len(stack)-3; i-- {
		switch x := stack[i].(type) {
		case *ast.ValueSpec:
			if len(x.Names) == 1 {
				return x.Names[0].Name
			}
		case *ast.AssignStmt:
			if id, ok := x.Lhs[0].(*ast.Ident); ok && len(x.Lhs) == 1 {
				return id.Name
			}
		}
	}
	p := g.pass.Fset.Position(lit.Pos())
	return fmt.Sprintf("func literal (%s:%d)", filepath.Base(p.Filename), p.Line)
}

func (g *graph) isTestFile(f *ast.File) bool {
	return strings.HasSuffix(g.pass.Fset.File(f.Pos()).Name(), "_test.go")
}
