// Package fiber is a stub of github.com/gofiber/fiber/v3 with just the
// types hangupvet matches.
package fiber

import "context"

// Ctx is the request context of a Fiber v3 handler; in v3 it is an
// interface.
type Ctx interface {
	Context() context.Context
}

// Handler is a Fiber handler.
type Handler = func(Ctx) error

// App is a router.
type App struct{}

// New returns a router.
func New() *App { return &App{} }

// Get registers h for GET requests to path.
func (a *App) Get(path string, h Handler) {}
