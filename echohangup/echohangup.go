// Package echohangup brings hangup to Echo v4: the request context,
// c.Request().Context(), is cancelled with cause hangup.ErrClientGone the
// moment the client goes away, including while a POST body is still unread,
// which net/http alone never reports (golang/go#23262).
//
//	e := echo.New()
//	echohangup.Install(e)
//	e.POST("/upload", upload)
//	e.Start(":8080")
//
//	func upload(c echo.Context) error {
//		ctx := c.Request().Context()
//		if err := work(ctx); errors.Is(context.Cause(ctx), hangup.ErrClientGone) {
//			return nil // nobody to answer
//		}
//		...
//	}
package echohangup

import (
	"context"
	"net/http"
	"time"

	"github.com/hangup-dev/hangup"
	"github.com/labstack/echo/v4"
)

// Install wires e.Server with hangup.Install and registers the Guard as
// Echo pre-middleware (Middleware), and returns the Guard. Call it before
// e.Start, e.StartServer(e.Server) or e.Server.Serve.
//
// The Guard runs as middleware rather than as e.Server.Handler because
// Echo's Start sets e.Server.Handler to e, which would drop hangup's wrapper;
// the connection hooks (ConnContext, ConnState) that hangup.Install chains
// are kept. e.TLSServer (StartTLS, StartAutoTLS) is not wired: for TLS, set
// e.Server.TLSConfig and use e.StartServer(e.Server).
func Install(e *echo.Echo, opts ...hangup.Option) *hangup.Guard {
	h := e.Server.Handler
	g := hangup.Install(e.Server, opts...)
	e.Server.Handler = h
	e.Pre(Middleware(g))
	return g
}

// Middleware returns Echo middleware that runs each request under g (see
// hangup.Guard.Handler): c.Request() is replaced by one whose context hangup
// cancels, and c.Response() writes through hangup, which counts and logs.
// Register it with e.Pre, so that it comes first. On its own it sees what
// net/http reports; with the server wired by hangup.Install on the server
// that serves e, it sees every departure (Install does both).
//
// Like Echo's logger, it hands an error returned by the chain to c.Error
// itself, so that the status written is the one counted and logged, and
// returns nil.
func Middleware(g *hangup.Guard) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			res := c.Response()
			w0, r0 := res.Writer, c.Request()
			g.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				res.Writer = w
				c.SetRequest(r)
				if err := next(c); err != nil {
					c.Error(err)
				}
				// r is hangup's own copy of the request: the route it reports
				// and logs (Report.Route) is Echo's.
				r.Pattern = c.Path()
			})).ServeHTTP(w0, r0)
			res.Writer = w0
			c.SetRequest(r0)
			return nil
		}
	}
}

// MustFinish returns middleware that marks the route as work that must finish
// even when its client goes away, such as a payment: see hangup.MustFinish.
// Put it on the route:
//
//	e.POST("/pay", pay, echohangup.MustFinish(30*time.Second))
//
// It panics if deadline is not positive.
func MustFinish(deadline time.Duration) echo.MiddlewareFunc {
	if deadline <= 0 {
		panic("echohangup: MustFinish needs a positive deadline")
	}
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			var err error
			hangup.MustFinish(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
				err = next(c)
			}), deadline).ServeHTTP(c.Response(), c.Request())
			return err
		}
	}
}

// Departed reports whether the client of c's request has gone away, and when
// and in which phase; see hangup.Departed.
func Departed(c echo.Context) (hangup.Departure, bool) {
	return hangup.Departed(c.Request().Context())
}

// Cause returns why c's request context was cancelled, nil while it is not:
// a cause matching hangup.ErrClientGone when the client left.
func Cause(c echo.Context) error {
	return context.Cause(c.Request().Context())
}

// Status returns the status to log for c: 499 (hangup.StatusClientClosedRequest)
// when the client went away, else the response's status. Use it in Echo's
// RequestLogger, registered with e.Use so that it runs inside the Guard;
// hangup.WithAccessLog logs 499 by itself.
//
//	e.Use(middleware.RequestLoggerWithConfig(middleware.RequestLoggerConfig{
//		LogValuesFunc: func(c echo.Context, v middleware.RequestLoggerValues) error {
//			logger.Info("request", "uri", v.URI, "status", echohangup.Status(c))
//			return nil
//		},
//	}))
func Status(c echo.Context) int {
	if _, gone := Departed(c); gone {
		return hangup.StatusClientClosedRequest
	}
	return c.Response().Status
}
