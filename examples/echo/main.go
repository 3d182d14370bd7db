// Command echo is an Echo server with hangup: a request's context is
// cancelled the moment its client goes away, even while its body is unread.
//
//	go run ./examples/echo &
//	curl -m 1 localhost:8080/slow                      # logs status=499 after 1 s
//	curl -m 1 -T /dev/zero localhost:8080/upload       # same, body never read
//	curl -m 1 -X POST localhost:8080/pay               # runs to its end anyway
package main

import (
	"context"
	"errors"
	"flag"
	"log/slog"
	"net/http"
	"os"
	"time"

	"github.com/hangup-dev/hangup"
	"github.com/hangup-dev/hangup/echohangup"
	"github.com/labstack/echo/v4"
)

func main() {
	addr := flag.String("addr", "localhost:8080", "address to listen on")
	flag.Parse()

	e := echo.New()
	// The one line: Echo's server, wired, plus a 499 access log.
	echohangup.Install(e, hangup.WithAccessLog(slog.New(slog.NewTextHandler(os.Stderr, nil))))

	e.GET("/slow", slow)
	e.POST("/upload", slow) // reads no body: plain Echo never notices the client leave
	e.PUT("/upload", slow)
	e.POST("/pay", pay, echohangup.MustFinish(30*time.Second))

	if err := e.Start(*addr); !errors.Is(err, http.ErrServerClosed) {
		e.Logger.Fatal(err)
	}
}

// slow stands for a database query or an upstream call that honours its
// context.
func slow(c echo.Context) error {
	ctx := c.Request().Context()
	select {
	case <-time.After(5 * time.Second):
		return c.String(http.StatusOK, "done\n")
	case <-ctx.Done():
		if errors.Is(context.Cause(ctx), hangup.ErrClientGone) {
			return nil // nobody is left to answer
		}
		return context.Cause(ctx)
	}
}

// pay is work that must not stop half-way: its context survives the client
// for up to 30 s.
func pay(c echo.Context) error {
	//hangup:detached the payment stands for work that must finish, client or not
	time.Sleep(2 * time.Second) // charge(c.Request().Context(), ...)
	if d, gone := echohangup.Departed(c); gone {
		c.Logger().Infof("paid for a client that left %s ago", time.Since(d.At).Round(time.Millisecond))
		return nil
	}
	return c.String(http.StatusOK, "paid\n")
}
