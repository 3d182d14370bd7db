// Package gin is a stub of github.com/gin-gonic/gin with just the types
// hangupvet matches.
package gin

import "net/http"

// Context is the request context of a Gin handler.
type Context struct {
	Request *http.Request
}

// HandlerFunc is a Gin handler.
type HandlerFunc func(*Context)

// Engine is a router.
type Engine struct{}

// New returns a router.
func New() *Engine { return &Engine{} }

// GET registers handlers for GET requests to path.
func (e *Engine) GET(path string, handlers ...HandlerFunc) {}
