package hangupvet

import (
	"fmt"
	"go/ast"
	"go/types"
	"slices"
	"strings"

	"golang.org/x/tools/go/analysis"
)

// api is a context-less API and what to call instead. contextless is the
// one table of them: a new row is all it takes to report another API (and a
// want comment in testdata/src/example.com/apis, which TestAPITable checks).
type api struct {
	pkg string // import path
	// recv names the receiver types of a method, each a pointer
	// receiver; none for a package-level function.
	recv []string
	name string
	rule rule

	what string // the finding's subject; "" for "<the call> has no context"
	why  string // what keeps going, and for how long

	// use is what to call instead, as the advice names it: a method's
	// context-taking sibling ("QueryContext"), or a function written with
	// the package's name ("net.DefaultResolver.LookupHost").
	use string
	// rewrite, when set, makes the fix: the replacement of a method's
	// name, or of a function's whole expression with %s standing for
	// the package's name at the call ("%s.DefaultResolver.LookupHost").
	// The context then goes first among the arguments, followed by extra.
	rewrite, extra string
	// advice replaces the advice built from use when the change is not a
	// matter of passing a context first; {ctx} stands for the context in
	// scope.
	advice string
}

const (
	queryRuns = "this query keeps running after the client leaves"
	stmtRuns  = "this statement keeps running after the client leaves"
	dialWaits = "the dial keeps waiting after the client leaves"
	lookupRun = "the lookup keeps waiting after the client leaves"
	httpRuns  = "the outgoing request keeps running after the client leaves"
	httpSend  = "build it with http.NewRequestWithContext({ctx}, …) and send it with Client.Do"
)

var sqlTypes = []string{"DB", "Tx", "Conn", "Stmt"}

// contextless lists the context-less APIs hangupvet reports, wherever
// their context-taking equivalent lives. Calls with a sibling of the same
// name plus "Context" that takes a context first and otherwise the same
// arguments (sqlx's Get, net.Dialer.Dial, tls.Conn.Handshake) need no
// row: checkSibling finds those, except in the packages of notCancelling.
//
// time.Sleep is a row although no API replaces it: it is the commonest way
// a handler waits for nothing, and the select that replaces it is short.
var contextless = []api{
	{pkg: "database/sql", recv: sqlTypes, name: "Query", rule: ruleNoContext, why: queryRuns, use: "QueryContext", rewrite: "QueryContext"},
	{pkg: "database/sql", recv: sqlTypes, name: "QueryRow", rule: ruleNoContext, why: queryRuns, use: "QueryRowContext", rewrite: "QueryRowContext"},
	{pkg: "database/sql", recv: sqlTypes, name: "Exec", rule: ruleNoContext, why: stmtRuns, use: "ExecContext", rewrite: "ExecContext"},
	{pkg: "database/sql", recv: sqlTypes, name: "Prepare", rule: ruleNoContext, why: "preparing the statement goes on after the client leaves", use: "PrepareContext", rewrite: "PrepareContext"},
	{pkg: "database/sql", recv: sqlTypes, name: "Begin", rule: ruleNoContext, why: "the transaction is not tied to the request and keeps running after the client leaves", use: "BeginTx", rewrite: "BeginTx", extra: "nil"},
	{pkg: "database/sql", recv: sqlTypes, name: "Ping", rule: ruleNoContext, why: "the ping keeps waiting after the client leaves", use: "PingContext", rewrite: "PingContext"},

	{pkg: "net/http", name: "NewRequest", rule: ruleHTTP, why: httpRuns, use: "http.NewRequestWithContext", rewrite: "%s.NewRequestWithContext"},
	{pkg: "net/http", name: "Get", rule: ruleHTTP, why: httpRuns, advice: httpSend},
	{pkg: "net/http", name: "Head", rule: ruleHTTP, why: httpRuns, advice: httpSend},
	{pkg: "net/http", name: "Post", rule: ruleHTTP, why: httpRuns, advice: httpSend},
	{pkg: "net/http", name: "PostForm", rule: ruleHTTP, why: httpRuns, advice: httpSend},
	{pkg: "net/http", recv: []string{"Client"}, name: "Get", rule: ruleHTTP, why: httpRuns, advice: httpSend},
	{pkg: "net/http", recv: []string{"Client"}, name: "Head", rule: ruleHTTP, why: httpRuns, advice: httpSend},
	{pkg: "net/http", recv: []string{"Client"}, name: "Post", rule: ruleHTTP, why: httpRuns, advice: httpSend},
	{pkg: "net/http", recv: []string{"Client"}, name: "PostForm", rule: ruleHTTP, why: httpRuns, advice: httpSend},

	{pkg: "net", name: "Dial", rule: ruleNoContext, why: dialWaits, use: "net.Dialer.DialContext", rewrite: "(&%s.Dialer{}).DialContext"},
	{pkg: "net", name: "DialTimeout", rule: ruleNoContext, why: dialWaits, advice: "use (&net.Dialer{Timeout: …}).DialContext({ctx}, …)"},
	{pkg: "crypto/tls", name: "Dial", rule: ruleNoContext, why: dialWaits, advice: "use (&tls.Dialer{Config: …}).DialContext({ctx}, …)"},
	{pkg: "crypto/tls", name: "DialWithDialer", rule: ruleNoContext, why: dialWaits, advice: "use (&tls.Dialer{NetDialer: …, Config: …}).DialContext({ctx}, …)"},
	{pkg: "net", name: "LookupHost", rule: ruleNoContext, why: lookupRun, use: "net.DefaultResolver.LookupHost", rewrite: "%s.DefaultResolver.LookupHost"},
	{pkg: "net", name: "LookupIP", rule: ruleNoContext, why: lookupRun, use: "net.DefaultResolver.LookupIP", rewrite: "%s.DefaultResolver.LookupIP", extra: `"ip"`},
	{pkg: "net", name: "LookupAddr", rule: ruleNoContext, why: lookupRun, use: "net.DefaultResolver.LookupAddr", rewrite: "%s.DefaultResolver.LookupAddr"},
	{pkg: "net", name: "LookupCNAME", rule: ruleNoContext, why: lookupRun, use: "net.DefaultResolver.LookupCNAME", rewrite: "%s.DefaultResolver.LookupCNAME"},
	{pkg: "net", name: "LookupMX", rule: ruleNoContext, why: lookupRun, use: "net.DefaultResolver.LookupMX", rewrite: "%s.DefaultResolver.LookupMX"},
	{pkg: "net", name: "LookupNS", rule: ruleNoContext, why: lookupRun, use: "net.DefaultResolver.LookupNS", rewrite: "%s.DefaultResolver.LookupNS"},
	{pkg: "net", name: "LookupPort", rule: ruleNoContext, why: lookupRun, use: "net.DefaultResolver.LookupPort", rewrite: "%s.DefaultResolver.LookupPort"},
	{pkg: "net", name: "LookupSRV", rule: ruleNoContext, why: lookupRun, use: "net.DefaultResolver.LookupSRV", rewrite: "%s.DefaultResolver.LookupSRV"},
	{pkg: "net", name: "LookupTXT", rule: ruleNoContext, why: lookupRun, use: "net.DefaultResolver.LookupTXT", rewrite: "%s.DefaultResolver.LookupTXT"},
	{pkg: "os/exec", name: "Command", rule: ruleNoContext, why: "the command keeps running after the client leaves", use: "exec.CommandContext", rewrite: "%s.CommandContext"},

	{pkg: "time", name: "Sleep", rule: ruleSleep, what: "time.Sleep ignores the request's context", why: "the handler keeps sleeping after the client left", advice: "select on {done} and a timer"},
}

// notCancelling are the packages whose ...Context variants cancel nothing,
// so that checkSibling leaves them alone: log/slog's only carry values to
// the handler, and os/signal's NotifyContext is a different way to wait
// for a signal, not a cancellable Notify (Notify itself registers and
// returns; the wait on its channel is the channel rule's business).
var notCancelling = map[string]bool{"log/slog": true, "os/signal": true}

// lookupAPI returns the row of contextless for fn, or nil.
func lookupAPI(fn *types.Func) *api {
	recv := ""
	if r := fn.Signature().Recv(); r != nil {
		t := types.Unalias(r.Type())
		p, ok := t.(*types.Pointer)
		if !ok {
			return nil
		}
		n, ok := types.Unalias(p.Elem()).(*types.Named)
		if !ok {
			return nil
		}
		recv = n.Obj().Name()
	}
	for i := range contextless {
		a := &contextless[i]
		if a.name != fn.Name() || a.pkg != fn.Pkg().Path() || (recv == "") != (len(a.recv) == 0) {
			continue
		}
		if recv == "" || slices.Contains(a.recv, recv) {
			return a
		}
	}
	return nil
}

// checkAPI reports a call to a row of contextless, with the fix its row
// allows when a context is in scope.
func (g *graph) checkAPI(n *fnode, call *ast.CallExpr, fn *types.Func, a *api) *finding {
	ctx := g.contextInScope(n, call.Pos())
	f := &finding{
		pos: call.Pos(), end: call.End(), rule: a.rule,
		what: a.what, why: a.why, cause: causeName(fn),
	}
	if f.what == "" {
		f.what = calleeText(call, fn) + " has no context"
	}
	switch {
	case a.advice != "":
		c, done := ctx, g.doneText(n, call.Pos())
		if c == "" {
			c = "ctx"
		}
		f.advice = strings.NewReplacer("{ctx}", c, "{done}", done).Replace(a.advice)
	case ctx == "":
		f.advice = "pass the request's context down and use " + a.use
	default:
		args := ctx
		if a.extra != "" {
			args += ", " + a.extra
		}
		if a.extra == "" || len(call.Args) > 0 {
			args += ", …"
		}
		f.advice = "use " + a.use + "(" + args + ")"
		if a.rewrite != "" {
			f.fix = g.rewriteFix(call, fn, a, ctx)
		}
	}
	return f
}

// rewriteFix is the fix of a row with a rewrite: a method renamed to its
// sibling, or a function's expression replaced, the context put first.
func (g *graph) rewriteFix(call *ast.CallExpr, fn *types.Func, a *api, ctx string) *analysis.SuggestedFix {
	instead := a.rewrite
	var replace ast.Node
	if fn.Signature().Recv() == nil {
		// The package's name as the call writes it; a dot import or
		// anything else gets no fix.
		sel, ok := ast.Unparen(call.Fun).(*ast.SelectorExpr)
		if !ok {
			return nil
		}
		id, ok := sel.X.(*ast.Ident)
		if !ok {
			return nil
		}
		if _, ok := g.pass.TypesInfo.Uses[id].(*types.PkgName); !ok {
			return nil
		}
		instead, replace = fmt.Sprintf(a.rewrite, id.Name), sel
	}
	return switchToContextFix("Use "+a.use, call, replace, instead, ctx, a.extra)
}
