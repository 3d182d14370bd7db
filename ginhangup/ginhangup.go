// Package ginhangup brings hangup to Gin: the request context,
// c.Request.Context(), is cancelled with cause hangup.ErrClientGone the
// moment the client goes away, including while a POST body is still unread,
// which net/http alone never reports (golang/go#23262).
//
// Gin runs on net/http, so the setup is hangup's own: serve the engine with
// an http.Server of your own (r.Run makes one that you cannot reach) and
// install hangup on it.
//
//	r := gin.New()
//	r.POST("/upload", upload)
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
// *gin.Context is itself a context.Context, but its Done returns nil unless
// the engine's ContextWithFallback is set; use c.Request.Context(), or set
// r.ContextWithFallback = true.
package ginhangup

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/hangup-dev/hangup"
)

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
		hangup.MustFinish(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
			c.Next()
		}), deadline).ServeHTTP(c.Writer, c.Request)
	}
}

// Departed reports whether the client of c's request has gone away, and when
// and in which phase; see hangup.Departed.
func Departed(c *gin.Context) (hangup.Departure, bool) {
	return hangup.Departed(c.Request.Context())
}

// Cause returns why c's request context was cancelled, nil while it is not:
// a cause matching hangup.ErrClientGone when the client left.
func Cause(c *gin.Context) error {
	return context.Cause(c.Request.Context())
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
