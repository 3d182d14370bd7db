// Package ginhangup brings hangup to Gin: the request context,
// c.Request.Context(), is cancelled with cause hangup.ErrClientGone the
// moment the client goes away, including while a POST body is still unread,
// which net/http alone never reports (golang/go#23262).
//
// Gin runs on net/http, so the setup is hangup's own: r.Run makes an
// http.Server that nobody can reach to install hangup on, so replace it with
// Run, or serve the engine with an http.Server of your own and install
// hangup on it.
//
//	r := gin.New()
//	r.POST("/upload", upload)
//	ginhangup.Run(r, ":8080") // instead of r.Run(":8080")
//
//	// or, to keep the server (timeouts, Shutdown):
//	srv := &http.Server{Addr: ":8080", Handler: r}
//	hangup.Install(srv)
//	srv.ListenAndServe()
//
//	func upload(c *gin.Context) {
//		ctx := c.Request.Context()
//		if err := work(ctx); errors.Is(context.Cause(ctx), hangup.ErrClientGone) {
//			return // nobody to answer
//		}
//		...
//	}
//
// The helpers (MustFinish, Departed, Cause, Status, LogFormatter) need a
// request that hangup guards. The first time one of them sees a request that
// it does not, as on an engine started with r.Run, it logs a warning with
// slog's default logger, once per process, naming the fix.
//
// *gin.Context is itself a context.Context, but its Done returns nil unless
// the engine's ContextWithFallback is set; use c.Request.Context(), or set
// r.ContextWithFallback = true.
package ginhangup

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/hangup-dev/hangup"
	"github.com/hangup-dev/hangup/internal/guardhook"
)

// Run serves r on addr, as r.Run(addr) does, on an http.Server wired by
// hangup.Install (with opts); it returns what ListenAndServe returns. It is
// the one-line replacement for r.Run, whose server cannot be reached to
// install hangup on. For timeouts or a graceful Shutdown, build the
// http.Server yourself (Handler: r.Handler()) and call hangup.Install on it.
func Run(r *gin.Engine, addr string, opts ...hangup.Option) error {
	srv := &http.Server{Addr: addr, Handler: r.Handler()}
	hangup.Install(srv, opts...)
	return srv.ListenAndServe()
}

// RunListener is Run on a listener of your own, for r.RunListener(ln).
func RunListener(r *gin.Engine, ln net.Listener, opts ...hangup.Option) error {
	srv := &http.Server{Handler: r.Handler()}
	hangup.Install(srv, opts...)
	return srv.Serve(ln)
}

// warnOnce makes the first helper that serves a request hangup does not
// guard say so, once per process: without it, a server started with r.Run
// logs 200 for clients that left and cancels nothing, and nothing says why.
var warnOnce sync.Once

// guarded reports whether ctx is a request context that hangup guards, and
// logs the warning above if it is not.
func guarded(ctx context.Context) bool {
	if guardhook.Guarded(ctx) {
		return true
	}
	warnOnce.Do(func() {
		slog.Warn("ginhangup: this request is not guarded by hangup (was the engine started with r.Run?): " +
			"clients that leave are not detected, and Departed, Status, LogFormatter and MustFinish do nothing (logs say 200, not 499); " +
			"start it with ginhangup.Run(r, addr), or serve it with an http.Server{Handler: r} passed to hangup.Install")
	})
	return false
}

// MustFinish returns middleware that marks the rest of the chain as work that
// must finish even when its client goes away, such as a payment: see
// hangup.MustFinish. Put it on the route:
//
//	r.POST("/pay", ginhangup.MustFinish(30*time.Second), pay)
//
// It panics if deadline is not positive.
func MustFinish(deadline time.Duration) gin.HandlerFunc {
	if deadline <= 0 {
		panic("ginhangup: MustFinish needs a positive deadline")
	}
	return func(c *gin.Context) {
		guarded(c.Request.Context())
		hangup.MustFinish(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
			c.Next()
		}), deadline).ServeHTTP(c.Writer, c.Request)
	}
}

// Departed reports whether the client of c's request has gone away, and when
// and in which phase; see hangup.Departed.
func Departed(c *gin.Context) (hangup.Departure, bool) {
	ctx := c.Request.Context()
	if d, ok := hangup.Departed(ctx); ok {
		return d, true
	}
	guarded(ctx) // warns if hangup does not guard ctx (a departure proves it does)
	return hangup.Departure{}, false
}

// Cause returns why c's request context was cancelled, nil while it is not:
// a cause matching hangup.ErrClientGone when the client left.
func Cause(c *gin.Context) error {
	ctx := c.Request.Context()
	guarded(ctx)
	return context.Cause(ctx)
}

// Status returns the status to log for c: 499 (hangup.StatusClientClosedRequest)
// when the client went away, else the response's status.
func Status(c *gin.Context) int {
	if _, gone := Departed(c); gone {
		return hangup.StatusClientClosedRequest
	}
	return c.Writer.Status()
}

// LogFormatter returns f for gin.LoggerWithFormatter, made to log status 499
// for a request whose client went away before its handler returned, as nginx
// does. A nil f formats a line like Gin's default one. hangup.WithAccessLog
// logs 499 by itself, to a log/slog.Logger.
func LogFormatter(f gin.LogFormatter) gin.LogFormatter {
	if f == nil {
		f = plainFormatter
	}
	return func(p gin.LogFormatterParams) string {
		if p.Request != nil {
			if _, gone := hangup.Departed(p.Request.Context()); gone {
				p.StatusCode = hangup.StatusClientClosedRequest
			} else {
				guarded(p.Request.Context())
			}
		}
		return f(p)
	}
}

func plainFormatter(p gin.LogFormatterParams) string {
	return fmt.Sprintf("[GIN] %v | %3d | %13v | %15s | %-7s %#v\n%s",
		p.TimeStamp.Format("2006/01/02 - 15:04:05"), p.StatusCode, p.Latency,
		p.ClientIP, p.Method, p.Path, p.ErrorMessage)
}
