// Package fiberhangup brings hangup to Fiber v3: c.Context() of every request
// is cancelled with cause hangup.ErrClientGone the moment its client goes
// away, which Fiber (on fasthttp) never tells a handler (gofiber/fiber#1160,
// #4263).
//
//	app := fiber.New()
//	g := fiberhangup.Install(app) // first, before any route or middleware
//	app.Post("/upload", func(c fiber.Ctx) error {
//		ctx := c.Context() // not c itself: its Done closes only at shutdown
//		if err := work(ctx); errors.Is(context.Cause(ctx), hangup.ErrClientGone) {
//			return nil // nobody to answer
//		}
//		...
//	})
//
// It is package fasthttphangup's Guard plus a Fiber middleware; see there
// for how connections are watched, the options, and the counters (Stats).
package fiberhangup

import (
	"context"
	"time"

	"github.com/gofiber/fiber/v3"
	"github.com/hangup-dev/hangup"
	"github.com/hangup-dev/hangup/fasthttphangup"
	"github.com/valyala/fasthttp"
)

// Install watches app's connections and registers New's middleware with
// app.Use, and returns the Guard. Call it right after fiber.New, before any
// other middleware or route: Fiber runs handlers in the order they were
// registered, and a handler that runs before the middleware gets no
// cancellable context.
func Install(app *fiber.App, opts ...fasthttphangup.Option) *fasthttphangup.Guard {
	g := fasthttphangup.New(opts...)
	g.Watch(app.Server())
	app.Use(New(g))
	return g
}

// New returns middleware that serves each request under g: c.Context() is
// the request's context (see fasthttphangup.Context), cancelled with cause
// hangup.ErrClientGone when the client goes away and with context.Canceled
// when the middleware returns. g must watch app.Server() (Guard.Watch) for
// departures to be seen.
//
// Like Fiber's logger, the middleware hands an error returned by the chain to
// app's ErrorHandler itself, so that the status it writes is the one counted
// and logged, and returns nil.
func New(g *fasthttphangup.Guard) fiber.Handler {
	return func(c fiber.Ctx) error {
		var err error
		g.Serve(c.RequestCtx(), func(ctx context.Context) {
			c.SetContext(ctx)
			if err = c.Next(); err != nil {
				if herr := c.App().ErrorHandler(c, err); herr != nil {
					_ = c.SendStatus(fiber.StatusInternalServerError)
				}
				err = nil
			}
			fasthttphangup.SetRoute(ctx, c.Route().Path)
		})
		return err
	}
}

// MustFinish returns middleware that marks the rest of the chain as work that
// must finish even when its client goes away (a payment, a write that must not
// stop half-way): c.Context() is then not cancelled when the client leaves,
// for at most deadline; see fasthttphangup.MustFinish. Put it on the route:
//
//	app.Post("/pay", fiberhangup.MustFinish(30*time.Second), pay)
//
// It panics if deadline is not positive.
func MustFinish(deadline time.Duration) fiber.Handler {
	if deadline <= 0 {
		panic("fiberhangup: MustFinish needs a positive deadline")
	}
	return func(c fiber.Ctx) error {
		var err error
		fasthttphangup.MustFinish(func(*fasthttp.RequestCtx) { err = c.Next() }, deadline)(c.RequestCtx())
		return err
	}
}

// Departed reports whether the client of c's request has gone away, and when
// and in which phase; see fasthttphangup.Departed. Unlike a look at the
// context's cause, it also tells for MustFinish routes.
func Departed(c fiber.Ctx) (hangup.Departure, bool) {
	return fasthttphangup.Departed(c.Context())
}

// Cause returns why c's request context was cancelled, nil while it is not:
// a cause matching hangup.ErrClientGone when the client left.
func Cause(c fiber.Ctx) error {
	return context.Cause(c.Context())
}

// Status returns the status to log for c: 499 (hangup.StatusClientClosedRequest)
// when the client went away, else the response's status. Use it in a custom
// logger; fasthttphangup.WithAccessLog logs 499 by itself.
func Status(c fiber.Ctx) int {
	if _, gone := Departed(c); gone {
		return hangup.StatusClientClosedRequest
	}
	return c.Response().StatusCode()
}
