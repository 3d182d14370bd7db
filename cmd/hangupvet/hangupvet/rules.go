package hangupvet

import (
	"go/ast"
	"go/constant"
	"go/token"
	"go/types"
	"slices"
	"strings"

	"golang.org/x/tools/go/analysis"
	"golang.org/x/tools/go/types/typeutil"
)

// rule is the kind of break a finding is; its name is the diagnostic's
// category, which -json output carries for filtering.
type rule int

const (
	ruleRootContext   rule = iota // context.Background(), context.TODO()
	ruleNoContext                 // a row of contextless, or a call with a ...Context sibling
	ruleHTTP                      // net/http's rows of contextless
	ruleSleep                     // time.Sleep
	ruleChanOp                    // a channel send or receive outside a select
	ruleSelect                    // a select with neither default nor a Done case
	ruleWithoutCancel             // context.WithoutCancel
	ruleCallsBreaker              // a call to another package's function that breaks the chain
	ruleDropped                   // any of the above where the function was handed a context and lost it
	ruleGinContext                // a *gin.Context handed on as a context.Context
)

var ruleNames = [...]string{
	ruleRootContext:   "root-context",
	ruleNoContext:     "no-context",
	ruleHTTP:          "http-no-context",
	ruleSleep:         "sleep",
	ruleChanOp:        "channel",
	ruleSelect:        "select",
	ruleWithoutCancel: "without-cancel",
	ruleCallsBreaker:  "calls-breaker",
	ruleDropped:       "dropped-context",
	ruleGinContext:    "gin-context",
}

func (r rule) String() string { return ruleNames[r] }

// finding is one place that breaks the chain. Its message reads
// "<what>: <why> (<call path>); <advice>".
type finding struct {
	pos, end token.Pos
	rule     rule
	what     string // "db.Query has no context"
	why      string // "this query keeps running after the client leaves"
	advice   string // "use QueryContext(r.Context(), …)"
	fix      *analysis.SuggestedFix
	callee   *breaksChain // for ruleCallsBreaker: the fact of the function called
	cause    string       // the call as a cause: "(*sql.DB).Query"; what when empty

	// weak findings are not passed on as facts from a dependency, where
	// they are usually the library's own business: its channel operations
	// are its synchronisation, and a fresh context it does not hand
	// straight to a call often only carries values (jwx's jwt.Validate).
	weak bool
}

func (f *finding) message(path string) string {
	return f.what + ": " + f.why + " (" + path + "); " + f.advice
}

// scan walks n's body, recording its callees, its literals and its
// findings. Literals become nodes of their own and are scanned at once.
func (g *graph) scan(n *fnode) {
	var (
		stack []ast.Node
		comms = make(map[ast.Node]bool) // send and receive operations that are select cases
		// unbound are the functions started by go statements that are
		// not handed the request (see boundToRequest).
		unbound = make(map[ast.Node]bool)
	)
	ast.Inspect(n.body, func(x ast.Node) bool {
		if x == nil {
			stack = stack[:len(stack)-1]
			return true
		}
		if lit, ok := x.(*ast.FuncLit); ok {
			child := g.addLiteral(n, lit, stack)
			if !g.detached.at(lit.Pos()) && !unbound[lit] {
				n.callees = append(n.callees, child)
			}
			return false
		}
		stack = append(stack, x)
		switch x := x.(type) {
		case *ast.Ident:
			if c := g.callee(x); c != nil && !g.detached.at(x.Pos()) && !unbound[x] {
				n.callees = append(n.callees, c)
			}
		case *ast.GoStmt:
			if !g.boundToRequest(x.Call) {
				g.unboundGo[x.Pos()] = true
				// Not following the goroutine: mark what it runs.
				switch fun := ast.Unparen(x.Call.Fun).(type) {
				case *ast.FuncLit:
					unbound[fun] = true
				case *ast.Ident:
					unbound[fun] = true
				case *ast.SelectorExpr:
					unbound[fun.Sel] = true
				}
			}
		case *ast.AssignStmt:
			g.noteChannels(x.Lhs, x.Rhs)
		case *ast.ValueSpec:
			names := make([]ast.Expr, len(x.Names))
			for i, id := range x.Names {
				names[i] = id
			}
			g.noteChannels(names, x.Values)
		case *ast.CallExpr:
			g.calls[x.Lparen] = x
			g.checkGinContext(n, x)
			g.checkCall(n, x, stack)
		case *ast.SelectStmt:
			g.checkSelect(n, x, comms)
		case *ast.SendStmt:
			if !comms[x] && !g.isBuffered(x.Chan) {
				g.add(n, &finding{
					pos: x.Pos(), end: x.End(), rule: ruleChanOp, weak: true,
					what:   "channel send without a context case",
					why:    "it blocks after the client leaves",
					advice: "send in a select with a case <-" + g.doneText(n, x.Pos()),
				})
			}
		case *ast.UnaryExpr:
			if x.Op == token.ARROW && !comms[x] && !g.isDoneChan(x.X) {
				g.add(n, &finding{
					pos: x.Pos(), end: x.End(), rule: ruleChanOp, weak: true,
					what:   "channel receive without a context case",
					why:    "it blocks after the client leaves",
					advice: "receive in a select with a case <-" + g.doneText(n, x.Pos()),
				})
			}
		}
		return true
	})
}

// boundToRequest reports whether the goroutine that call starts works for
// the request: it is passed a context, the request, a framework context or
// the ResponseWriter, or it is a literal that uses one of those from the
// function it is written in. A goroutine handed none of them was detached
// by its author (a tunnel's accept loop, a fire-and-forget notification),
// and what it does is not the handler's work.
func (g *graph) boundToRequest(call *ast.CallExpr) bool {
	info := g.pass.TypesInfo
	for _, a := range call.Args {
		if isRequestBound(info.TypeOf(a)) {
			return true
		}
	}
	lit, ok := ast.Unparen(call.Fun).(*ast.FuncLit)
	if !ok {
		return false
	}
	bound := false
	ast.Inspect(lit.Body, func(x ast.Node) bool {
		id, ok := x.(*ast.Ident)
		if !ok || bound {
			return !bound
		}
		if v, ok := info.Uses[id].(*types.Var); ok && isRequestBound(v.Type()) &&
			!(lit.Pos() <= v.Pos() && v.Pos() < lit.End()) {
			bound = true
		}
		return true
	})
	return bound
}

// isRequestBound reports whether a value of type t belongs to one request.
func isRequestBound(t types.Type) bool {
	return t != nil && (contextRank(t) >= 0 || isNamed(t, netHTTPPath, "ResponseWriter"))
}

// add records f unless it lies in detached code.
func (g *graph) add(n *fnode, f *finding) {
	if !g.detached.at(f.pos) {
		g.noteDropped(n, f)
		n.findings = append(n.findings, f)
	}
}

// checkCall applies the rules about calls.
func (g *graph) checkCall(n *fnode, call *ast.CallExpr, stack []ast.Node) {
	fn, ok := typeutil.Callee(g.pass.TypesInfo, call).(*types.Func)
	if !ok || fn.Pkg() == nil {
		return
	}
	name := fn.Name()
	recv := fn.Signature().Recv()
	switch path := fn.Pkg().Path(); {
	case path == "context" && recv == nil && (name == "Background" || name == "TODO"):
		if isNilFallback(g.pass.TypesInfo, call, stack) || isLogArgument(g.pass.TypesInfo, call, stack) {
			return
		}
		f := &finding{
			pos: call.Pos(), end: call.End(), rule: ruleRootContext,
			what: "context." + name + "()",
			why:  "cuts the request's cancellation: work under it keeps running after the client leaves",
			weak: !isContextArgument(g.pass.TypesInfo, call, stack),
		}
		if ctx := g.contextInScope(n, call.Pos()); ctx == "" {
			f.advice = "pass the request's context down and use it"
		} else if assignsTo(stack, call, ctx) {
			// ctx = context.Background(): the fix is to drop the
			// statement, which may not be what its author meant.
			f.advice = "keep using " + ctx
		} else {
			f.advice = "use " + ctx
			f.fix = replaceFix("Use "+ctx, call, ctx)
		}
		g.add(n, f)
		return

	case path == "context" && recv == nil && name == "WithoutCancel":
		g.add(n, &finding{
			pos: call.Pos(), end: call.End(), rule: ruleWithoutCancel,
			what:   "context.WithoutCancel",
			why:    "drops the request's cancellation: work under it keeps running after the client leaves",
			advice: "if it must finish, say so with a " + detachedDirective + " comment",
		})
		return
	}

	if a := lookupAPI(fn); a != nil {
		g.add(n, g.checkAPI(n, call, fn, a))
		return
	}
	if f := g.checkSibling(n, call, fn); f != nil {
		g.add(n, f)
		return
	}
	if fn.Pkg() != g.pass.Pkg {
		g.checkBreaker(n, call, fn)
	}
}

// checkGinContext reports each *gin.Context that call hands on where a
// context.Context is expected. Gin's Context implements context.Context,
// but its Done and Err are nil unless the engine sets ContextWithFallback,
// which is off by default (gin v1.8.1 added it; v1.12 still defaults to
// off): a query or an outgoing request handed the *gin.Context itself is
// never cancelled, whatever its client does. Its request's context is. An
// engine that does set ContextWithFallback makes these findings false;
// one pass cannot see the engine, which main usually builds.
func (g *graph) checkGinContext(n *fnode, call *ast.CallExpr) {
	info := g.pass.TypesInfo
	if tv, ok := info.Types[call.Fun]; !ok || tv.IsType() {
		return // a conversion
	}
	sig, ok := info.TypeOf(call.Fun).Underlying().(*types.Signature)
	if !ok || call.Ellipsis.IsValid() {
		return
	}
	params := sig.Params()
	for i, arg := range call.Args {
		if !isPointerTo(info.TypeOf(arg), ginPath, "Context") {
			continue
		}
		var param types.Type
		switch {
		case i < params.Len()-1 || i < params.Len() && !sig.Variadic():
			param = params.At(i).Type()
		case sig.Variadic():
			param = params.At(params.Len() - 1).Type().(*types.Slice).Elem()
		}
		if !isContext(param) {
			continue
		}
		c := types.ExprString(arg)
		use := requestContextOf(c, info.TypeOf(arg))
		g.add(n, &finding{
			pos: arg.Pos(), end: arg.End(), rule: ruleGinContext,
			what:   c + " is a *gin.Context",
			why:    "as a context.Context it is never cancelled unless the engine sets ContextWithFallback, so what it is handed to keeps running after the client leaves",
			advice: "use " + use,
			fix:    replaceFix("Use "+use, arg, use),
		})
	}
}

// checkSibling reports a call to a function or method that has a sibling
// of the same name plus "Context" taking a context.Context first and
// otherwise the same parameters and results, as sqlx's Get and
// GetContext, net.Dialer's Dial and DialContext or tls.Conn's Handshake
// and HandshakeContext: a row of contextless made on the spot. The
// packages of notCancelling are left out.
func (g *graph) checkSibling(n *fnode, call *ast.CallExpr, fn *types.Func) *finding {
	if notCancelling[fn.Pkg().Path()] {
		return nil
	}
	sib := siblingWithContext(g.pass.TypesInfo, call, fn)
	if sib == nil {
		return nil
	}
	a := &api{rule: ruleNoContext, why: "it keeps running after the client leaves", use: sib.Name(), rewrite: sib.Name()}
	if fn.Signature().Recv() == nil {
		a.use, a.rewrite = fn.Pkg().Name()+"."+sib.Name(), "%s."+sib.Name()
	}
	return g.checkAPI(n, call, fn, a)
}

// siblingWithContext finds fn's context-taking sibling, if it has one.
func siblingWithContext(info *types.Info, call *ast.CallExpr, fn *types.Func) *types.Func {
	want := fn.Name() + "Context"
	var obj types.Object
	if recv := fn.Signature().Recv(); recv != nil {
		// Look the sibling up on the type the call goes through, which
		// may embed the one that declares fn.
		t := recv.Type()
		if sel, ok := call.Fun.(*ast.SelectorExpr); ok {
			if s := info.Selections[sel]; s != nil {
				t = s.Recv()
			}
		}
		obj, _, _ = types.LookupFieldOrMethod(t, true, fn.Pkg(), want)
	} else {
		obj = fn.Pkg().Scope().Lookup(want)
	}
	sib, ok := obj.(*types.Func)
	if !ok {
		return nil
	}
	a, b := fn.Signature(), sib.Signature()
	if b.Params().Len() != a.Params().Len()+1 || !isContext(b.Params().At(0).Type()) ||
		a.Variadic() != b.Variadic() || !types.Identical(a.Results(), b.Results()) {
		return nil
	}
	for i := range a.Params().Len() {
		if !types.Identical(a.Params().At(i).Type(), b.Params().At(i+1).Type()) {
			return nil
		}
	}
	return sib
}

// checkBreaker reports a call to another package's function that carries
// a breaksChain fact.
func (g *graph) checkBreaker(n *fnode, call *ast.CallExpr, fn *types.Func) {
	var fact breaksChain
	if !g.pass.ImportObjectFact(fn.Origin(), &fact) {
		return
	}
	name := qualifiedName(fn)
	g.add(n, &finding{
		pos: call.Pos(), end: call.End(), rule: ruleCallsBreaker,
		what:   name + " breaks the request's cancellation",
		why:    fact.Finding + " in " + strings.Join(fact.Path, " → "),
		advice: "pass the request's context to it and have it use the context",
		callee: &fact,
	})
}

// checkSelect reports a select that can block with nothing watching the
// request: no default and no case receiving from a Done channel. Its
// cases are not reported one by one.
func (g *graph) checkSelect(n *fnode, sel *ast.SelectStmt, comms map[ast.Node]bool) {
	watched := false
	for _, s := range sel.Body.List {
		cc := s.(*ast.CommClause)
		if cc.Comm == nil {
			watched = true // default: it never blocks
			continue
		}
		comms[cc.Comm] = true
		var recv ast.Expr
		switch c := cc.Comm.(type) {
		case *ast.ExprStmt:
			recv = c.X
		case *ast.AssignStmt:
			recv = c.Rhs[0]
		}
		if u, ok := ast.Unparen(recv).(*ast.UnaryExpr); ok && u.Op == token.ARROW {
			comms[u] = true
			if g.isDoneChan(u.X) {
				watched = true
			}
		}
	}
	if watched {
		return
	}
	g.add(n, &finding{
		pos: sel.Pos(), end: sel.Body.Lbrace, rule: ruleSelect, weak: true,
		what:   "select without a ctx.Done() case",
		why:    "it blocks after the client leaves",
		advice: "add a case <-" + g.doneText(n, sel.Pos()),
	})
}

// isDoneChan reports whether e yields a channel that is closed when a
// context ends: a call to a Done() <-chan struct{} method (context.Context
// and its implementations), a call of a function that takes a
// context.Context and returns a <-chan struct{} (hangup.Gone), or a
// variable assigned one of those.
func (g *graph) isDoneChan(e ast.Expr) bool {
	info := g.pass.TypesInfo
	switch e := ast.Unparen(e).(type) {
	case *ast.Ident:
		return g.doneVars[info.ObjectOf(e)]
	case *ast.CallExpr:
		fn, ok := typeutil.Callee(info, e).(*types.Func)
		if !ok || !isDoneChanType(info.TypeOf(e)) {
			return false
		}
		if fn.Name() == "Done" && fn.Signature().Recv() != nil && fn.Signature().Params().Len() == 0 {
			return true
		}
		return hasContextParam(fn.Signature())
	}
	return false
}

// isDoneChanType reports whether t is <-chan struct{}.
func isDoneChanType(t types.Type) bool {
	ch, ok := types.Unalias(t).(*types.Chan)
	if !ok || ch.Dir() != types.RecvOnly {
		return false
	}
	s, ok := ch.Elem().Underlying().(*types.Struct)
	return ok && s.NumFields() == 0
}

// noteChannels remembers the variables assigned a Done channel and the
// channels made with a constant, non-zero capacity.
func (g *graph) noteChannels(lhs, rhs []ast.Expr) {
	if len(lhs) != len(rhs) {
		return
	}
	info := g.pass.TypesInfo
	for i, r := range rhs {
		id, ok := lhs[i].(*ast.Ident)
		if !ok {
			continue
		}
		obj := info.ObjectOf(id)
		if obj == nil {
			continue
		}
		if g.isDoneChan(r) {
			g.doneVars[obj] = true
		}
		if isBufferedMake(info, r) {
			g.bufferedChans[obj] = true
		}
	}
}

// isBufferedMake reports whether e is make(chan T, n) with a constant n > 0.
func isBufferedMake(info *types.Info, e ast.Expr) bool {
	call, ok := ast.Unparen(e).(*ast.CallExpr)
	if !ok || len(call.Args) != 2 {
		return false
	}
	id, ok := ast.Unparen(call.Fun).(*ast.Ident)
	if !ok {
		return false
	}
	if b, ok := info.Uses[id].(*types.Builtin); !ok || b.Name() != "make" {
		return false
	}
	tv, ok := info.Types[call.Args[1]]
	return ok && tv.Value != nil && constant.Sign(tv.Value) > 0
}

// isBuffered reports whether ch is a variable made with a constant,
// non-zero capacity: a send on it, typically a goroutine's single result,
// does not block.
func (g *graph) isBuffered(ch ast.Expr) bool {
	id, ok := ast.Unparen(ch).(*ast.Ident)
	return ok && g.bufferedChans[g.pass.TypesInfo.ObjectOf(id)]
}

// isContextArgument reports whether call is passed straight to a function
// known statically that takes a context, as in gorm's
// s.BeginTx(context.Background(), opts): a context-less wrapper around a
// context-taking call.
func isContextArgument(info *types.Info, call *ast.CallExpr, stack []ast.Node) bool {
	if len(stack) < 2 {
		return false
	}
	outer, ok := stack[len(stack)-2].(*ast.CallExpr)
	if !ok || !slices.Contains(outer.Args, ast.Expr(call)) {
		return false
	}
	fn := typeutil.StaticCallee(info, outer)
	return fn != nil && hasContextParam(fn.Signature())
}

// isLogArgument reports whether call is passed straight to log/slog, as in
// logger.LogAttrs(context.Background(), ...): a logger reads values from
// its context and is not cancelled by it.
func isLogArgument(info *types.Info, call *ast.CallExpr, stack []ast.Node) bool {
	if len(stack) < 2 {
		return false
	}
	outer, ok := stack[len(stack)-2].(*ast.CallExpr)
	if !ok || !slices.Contains(outer.Args, ast.Expr(call)) {
		return false
	}
	fn, ok := typeutil.Callee(info, outer).(*types.Func)
	return ok && fn.Pkg() != nil && fn.Pkg().Path() == "log/slog"
}

// assignsTo reports whether call is assigned to the variable named name.
func assignsTo(stack []ast.Node, call *ast.CallExpr, name string) bool {
	if len(stack) < 2 {
		return false
	}
	as, ok := stack[len(stack)-2].(*ast.AssignStmt)
	if !ok || len(as.Lhs) != len(as.Rhs) {
		return false
	}
	for i, r := range as.Rhs {
		if id, ok := as.Lhs[i].(*ast.Ident); ok && r == call && id.Name == name {
			return true
		}
	}
	return false
}

// isNilFallback reports whether call is the right-hand side of the usual
// guard "if ctx == nil { ctx = context.Background() }", which fills in for
// a caller that passed no context rather than cutting one.
func isNilFallback(info *types.Info, call *ast.CallExpr, stack []ast.Node) bool {
	if len(stack) < 4 {
		return false
	}
	as, ok := stack[len(stack)-2].(*ast.AssignStmt)
	if !ok || len(as.Lhs) != 1 || len(as.Rhs) != 1 || as.Rhs[0] != call {
		return false
	}
	target, ok := as.Lhs[0].(*ast.Ident)
	if !ok {
		return false
	}
	// The assignment sits in the body block of an if statement.
	ifs, ok := stack[len(stack)-4].(*ast.IfStmt)
	if !ok || ifs.Body != stack[len(stack)-3] {
		return false
	}
	cond, ok := ast.Unparen(ifs.Cond).(*ast.BinaryExpr)
	if !ok || cond.Op != token.EQL {
		return false
	}
	x, y := ast.Unparen(cond.X), ast.Unparen(cond.Y)
	if isNil(info, x) {
		x, y = y, x
	}
	id, ok := x.(*ast.Ident)
	return ok && isNil(info, y) && info.ObjectOf(id) == info.ObjectOf(target)
}

func isNil(info *types.Info, e ast.Expr) bool {
	id, ok := e.(*ast.Ident)
	if !ok {
		return false
	}
	_, isNil := info.Uses[id].(*types.Nil)
	return isNil
}

// calleeText is how a finding names the function called: the source of
// the call's function expression ("db.Query", "s.db.Query"), or the
// method's qualified name when that source is long.
func calleeText(call *ast.CallExpr, fn *types.Func) string {
	if s := types.ExprString(call.Fun); len(s) <= 40 {
		return s
	}
	return qualifiedName(fn)
}

// qualifiedName names another package's function as its callers write it:
// store.Save, or store.DB.Save for a method.
func qualifiedName(fn *types.Func) string {
	name := fn.Name()
	if recv := fn.Signature().Recv(); recv != nil {
		t := recv.Type()
		if p, ok := types.Unalias(t).(*types.Pointer); ok {
			t = p.Elem()
		}
		if nt, ok := types.Unalias(t).(*types.Named); ok {
			name = nt.Obj().Name() + "." + name
		}
	}
	return fn.Pkg().Name() + "." + name
}
