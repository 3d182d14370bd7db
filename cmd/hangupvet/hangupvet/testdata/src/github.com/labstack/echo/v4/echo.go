// Package echo is a stub of github.com/labstack/echo/v4 with just the
// types hangupvet matches.
package echo

import "net/http"

// Context is the request context of an Echo handler.
type Context interface {
	Request() *http.Request
}

// HandlerFunc is an Echo handler.
type HandlerFunc func(Context) error

// Echo is a router.
type Echo struct{}

// New returns a router.
func New() *Echo { return &Echo{} }

// GET registers h for GET requests to path.
func (e *Echo) GET(path string, h HandlerFunc) {}
