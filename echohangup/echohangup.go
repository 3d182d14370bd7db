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
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/hangup-dev/hangup"
	"github.com/hangup-dev/hangup/internal/guardhook"
	"github.com/labstack/echo/v4"
)

// Install wires e.Server and e.TLSServer with hangup.Install (both with
// opts), registers the Guard of e.Server as Echo pre-middleware (Middleware),
// and returns that Guard. Call it before starting e, which then keeps every
// departure in sight whichever way it is started: e.Start, e.StartTLS,
// e.StartAutoTLS, e.StartH2CServer (its HTTP/1 requests are watched; its
// HTTP/2 streams get what net/http reports of them, as cause
// hangup.ErrClientGone), e.StartServer(e.Server), or an http.Server with
// Handler: e. To start it with a server of your own, e.StartServer(s) as
// Echo advises for timeouts, call hangup.Install(s) before: Echo sets
// s.Handler to e, which drops hangup's wrapper but keeps its connection
// hooks, and the pre-middleware does the rest. A request served by a server
// without hangup's hooks logs a warning, once per process (see Middleware).
//
// The Guard runs as middleware rather than as the server's Handler because
// Echo's Start and StartServer set Handler to e, which would drop a wrapped
// handler; the connection hooks (ConnContext, ConnState) that hangup.Install
// chains are kept. The Guard returned counts the requests and (Stats) the
// connections of e.Server; e.TLSServer's own Guard only watches its
// connections, and MustFinish work served over e.TLSServer is not waited for
// by the returned Guard's Shutdown.
func Install(e *echo.Echo, opts ...hangup.Option) *hangup.Guard {
	g := wire(e.Server, opts)
	wire(e.TLSServer, opts) // StartTLS, StartAutoTLS
	e.Pre(Middleware(g))
	return g
}

// wire installs hangup's connection hooks on s and leaves its Handler as it
// was: Echo sets it to e when it starts s.
func wire(s *http.Server, opts []hangup.Option) *hangup.Guard {
	h := s.Handler
	g := hangup.Install(s, opts...)
	s.Handler = h
	return g
}

// warnServer and warnGuard make the first request that hangup cannot guard
// say so, once per process each: without them, a client that leaves while
// its request body is unread is never detected, Status logs 200, and nothing
// would tell why.
var warnServer, warnGuard sync.Once

// guarded reports whether ctx is a request context that hangup guards, and
// logs the warning above if it is not.
func guarded(ctx context.Context) bool {
	if guardhook.Guarded(ctx) {
		return true
	}
	warnGuard.Do(func() {
		slog.Warn("echohangup: this request is not guarded by hangup (Echo started without echohangup.Install?): " +
			"clients that leave are not detected, and Departed, Status and MustFinish do nothing (logs say 200, not 499); " +
			"call echohangup.Install(e) before starting Echo")
	})
	return false
}

// checkServer warns if the server that serves r has no ConnContext, the
// hook through which hangup.Install watches its connections. A server with a
// ConnContext of someone else's passes unnoticed.
func checkServer(r *http.Request) {
	s, _ := r.Context().Value(http.ServerContextKey).(*http.Server)
	if s == nil || s.ConnContext != nil {
		return
	}
	warnServer.Do(func() {
		slog.Warn("echohangup: this Echo is served by an http.Server that hangup does not watch " +
			"(e.StartServer(s) with a server of your own?): a client that leaves while its request body is unread is not detected; " +
			"call hangup.Install(s) before e.StartServer(s), or start Echo with e.Start")
	})
}

// Middleware returns Echo middleware that runs each request under g (see
// hangup.Guard.Handler): c.Request() is replaced by one whose context hangup
// cancels, and c.Response() writes through hangup, which counts and logs.
// Register it with e.Pre, so that it comes first. On its own it sees what
// net/http reports; with the server wired by hangup.Install on the server
// that serves e, it sees every departure (Install does both).
//
// Served by an http.Server that has no ConnContext, as one of your own that
// hangup.Install never saw, it logs a warning with slog's default logger,
// once per process, naming the fix.
//
// Like Echo's logger, it hands an error returned by the chain to c.Error
// itself, so that the status written is the one counted and logged, and
// returns nil.
func Middleware(g *hangup.Guard) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			res := c.Response()
			w0, r0 := res.Writer, c.Request()
			checkServer(r0)
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
			guarded(c.Request().Context())
			var err error
			hangup.MustFinish(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
				err = next(c)
			}), deadline).ServeHTTP(c.Response(), c.Request())
			return err
		}
	}
}

// Departed reports whether the client of c's request has gone away, and when
// and in which phase; see hangup.Departed. Like Cause, Status and
// MustFinish, on a request that hangup does not guard (Echo started without
// Install) it logs a warning with slog's default logger, once per process.
func Departed(c echo.Context) (hangup.Departure, bool) {
	ctx := c.Request().Context()
	if d, ok := hangup.Departed(ctx); ok {
		return d, true
	}
	guarded(ctx) // warns if hangup does not guard ctx (a departure proves it does)
	return hangup.Departure{}, false
}

// Cause returns why c's request context was cancelled, nil while it is not:
// a cause matching hangup.ErrClientGone when the client left.
func Cause(c echo.Context) error {
	ctx := c.Request().Context()
	guarded(ctx)
	return context.Cause(ctx)
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
