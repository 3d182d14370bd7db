// Command gin is a Gin server with hangup: a request's context is cancelled
// the moment its client goes away, even while its body is unread.
//
//	go run ./examples/gin &
//	curl -m 1 localhost:8080/slow                      # logs 499 after 1 s
//	curl -m 1 -T /dev/zero localhost:8080/upload       # same, body never read
//	curl -m 1 -X POST localhost:8080/pay               # runs to its end anyway
package main

import (
	"context"
	"errors"
	"flag"
	"log"
	"log/slog"
	"net/http"
	"os"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/hangup-dev/hangup"
	"github.com/hangup-dev/hangup/ginhangup"
)

func main() {
	addr := flag.String("addr", "localhost:8080", "address to listen on")
	flag.Parse()

	r := gin.New()
	r.Use(gin.LoggerWithFormatter(ginhangup.LogFormatter(nil)), gin.Recovery())
	r.GET("/slow", slow)
	r.POST("/upload", slow) // reads no body: plain Gin never notices the client leave
	r.PUT("/upload", slow)
	r.POST("/pay", ginhangup.MustFinish(30*time.Second), pay)

	// The two lines: an http.Server of our own instead of r.Run, wired.
	srv := &http.Server{Addr: *addr, Handler: r}
	hangup.Install(srv, hangup.WithAccessLog(slog.New(slog.NewTextHandler(os.Stderr, nil))))

	if err := srv.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
		log.Fatal(err)
	}
}

// slow stands for a database query or an upstream call that honours its
// context.
func slow(c *gin.Context) {
	ctx := c.Request.Context()
	select {
	case <-time.After(5 * time.Second):
		c.String(http.StatusOK, "done\n")
	case <-ctx.Done():
		if errors.Is(context.Cause(ctx), hangup.ErrClientGone) {
			return // nobody is left to answer
		}
		c.AbortWithError(http.StatusServiceUnavailable, context.Cause(ctx))
	}
}

// pay is work that must not stop half-way: its context survives the client
// for up to 30 s.
func pay(c *gin.Context) {
	//hangup:detached the payment stands for work that must finish, client or not
	time.Sleep(2 * time.Second) // charge(c.Request.Context(), ...)
	if d, gone := ginhangup.Departed(c); gone {
		log.Printf("paid for a client that left %s ago", time.Since(d.At).Round(time.Millisecond))
		return
	}
	c.String(http.StatusOK, "paid\n")
}
