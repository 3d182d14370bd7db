package hangup

import (
	"net/http"
	"reflect"
	"sync/atomic"
	"unsafe"
)

// inShutdownField is the offset of net/http's Server.inShutdown, the flag
// that Server.Close and Server.Shutdown both set before they close anything
// (server.go). net/http has no accessor for it, and nothing else tells a
// connection that the server is closing it from one that its client closed:
// on HTTP/2 net/http cancels every stream with the same plain
// context.Canceled in both cases, and on TLS the close_notify that
// Server.Close sends makes the client answer with a FIN that the watcher
// sees before the socket is closed. The field is found by name and type
// once; if a Go release renames it, ok is false, hangup takes every such
// departure for the client's as before, and TestServerCloseHTTP2 fails.
var inShutdownField = func() (f struct {
	off uintptr
	ok  bool
}) {
	sf, ok := reflect.TypeFor[http.Server]().FieldByName("inShutdown")
	if ok && sf.Type == reflect.TypeFor[atomic.Bool]() {
		f.off, f.ok = sf.Offset, true
	}
	return f
}()

// serverInShutdown reports whether srv's Close or Shutdown has begun.
func serverInShutdown(srv *http.Server) bool {
	if srv == nil || !inShutdownField.ok {
		return false
	}
	return (*atomic.Bool)(unsafe.Add(unsafe.Pointer(srv), inShutdownField.off)).Load()
}

// serverClosing reports whether the installed server is being closed by
// Server.Close: it is in shutdown and Shutdown's hooks have not run. During
// a graceful Shutdown (hooks run) clients still leave on their own, and
// their departures are theirs; Server.Close called after Shutdown gave up
// (Shutdown's cut) is not told apart from them.
func (g *Guard) serverClosing() bool {
	return g != nil && g.srv != nil && !g.draining.Load() && serverInShutdown(g.srv)
}
