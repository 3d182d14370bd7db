package hangup

import (
	"net/http"
	"reflect"
)

// h2cPkg is the package of x/net's h2c.NewHandler.
const h2cPkg = "golang.org/x/net/http2/h2c"

// guardH2C returns h with its streams guarded, when h is what x/net's
// h2c.NewHandler(inner, s) returns, and h itself otherwise.
//
// Such a handler hijacks the connection of the request that starts h2c (the
// prior-knowledge preface, or an Upgrade: h2c request) and serves HTTP/2 on
// it itself, calling inner for every stream: the streams never pass through
// srv.Handler, so wrapping srv.Handler alone leaves them with x/net's plain
// context.Canceled. Install therefore guards a copy of it whose inner
// handler is g.Handler(inner); the user's value is not changed. The streams
// then come to hangup with the hijacked connection's context: the watcher
// no longer watches that socket (it is x/net's), so their departures are
// what the HTTP/2 server reports, decided as for built-in HTTP/2
// (streamEnded).
//
// The type is recognised by its package path and its exported field
// Handler, without importing x/net: the core depends on the standard
// library and x/sys only. An h2c handler wrapped in other middleware is not
// reached; wrap its inner handler with Guard.Handler yourself.
func (g *Guard) guardH2C(h http.Handler) http.Handler {
	v := reflect.ValueOf(h)
	if v.Kind() != reflect.Pointer || v.IsNil() || v.Elem().Kind() != reflect.Struct {
		return h
	}
	t := v.Elem().Type()
	if t.PkgPath() != h2cPkg {
		return h
	}
	if f, ok := t.FieldByName("Handler"); !ok || !f.IsExported() || f.Type != reflect.TypeFor[http.Handler]() {
		return h
	}
	cp := reflect.New(t)
	cp.Elem().Set(v.Elem())
	f := cp.Elem().FieldByName("Handler")
	inner, _ := f.Interface().(http.Handler)
	if inner == nil {
		inner = http.DefaultServeMux
	}
	f.Set(reflect.ValueOf(g.Handler(inner)))
	guarded, ok := cp.Interface().(http.Handler)
	if !ok {
		return h
	}
	return guarded
}
