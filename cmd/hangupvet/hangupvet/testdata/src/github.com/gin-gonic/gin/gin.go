// Package gin is a stub of github.com/gin-gonic/gin with just the types
// hangupvet matches.
package gin

import (
	"net/http"
	"time"
)

// Context is the request context of a Gin handler. As gin's, it is a
// context.Context that is never cancelled: the engine's
// ContextWithFallback is off.
type Context struct {
	Request *http.Request
}

func (c *Context) Deadline() (time.Time, bool) { return time.Time{}, false }
func (c *Context) Done() <-chan struct{}       { return nil }
func (c *Context) Err() error                  { return nil }
func (c *Context) Value(key any) any           { return nil }

// HandlerFunc is a Gin handler.
type HandlerFunc func(*Context)

// Engine is a router.
type Engine struct{}

// New returns a router.
func New() *Engine { return &Engine{} }

// GET registers handlers for GET requests to path.
func (e *Engine) GET(path string, handlers ...HandlerFunc) {}
