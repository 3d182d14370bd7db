package echohangup_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/hangup-dev/hangup"
	"github.com/hangup-dev/hangup/echohangup"
	"github.com/labstack/echo/v4"
)

// A client starts an upload and leaves before sending the whole body: the
// handler, which has not read the body, sees its context cancelled with
// hangup.ErrClientGone. Plain Echo would let it run on.
func ExampleInstall() {
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	echohangup.Install(e)

	entered, done := make(chan struct{}), make(chan struct{})
	e.POST("/upload", func(c echo.Context) error {
		defer close(done)
		close(entered)
		ctx := c.Request().Context()
		select {
		case <-ctx.Done(): // a quota check, a database query...
		case <-time.After(10 * time.Second):
		}
		if errors.Is(context.Cause(ctx), hangup.ErrClientGone) {
			fmt.Println("client gone; log status", echohangup.Status(c))
			return nil
		}
		return c.String(http.StatusOK, "stored")
	})

	e.Listener, _ = net.Listen("tcp", "127.0.0.1:0")
	go e.Start("")
	defer e.Close()

	c, _ := net.Dial("tcp", e.Listener.Addr().String())
	io.WriteString(c, "POST /upload HTTP/1.1\r\nHost: example\r\nContent-Length: 1000\r\n\r\nhello")
	<-entered
	c.Close()
	<-done
	// Output: client gone; log status 499
}

// A payment route keeps its context when the client leaves, for at most 30
// seconds.
func ExampleMustFinish() {
	e := echo.New()
	echohangup.Install(e, hangup.WithAccessLog(slog.New(slog.NewTextHandler(os.Stderr, nil))))
	e.POST("/pay", func(c echo.Context) error {
		// charge(c.Request().Context(), ...) runs to its end
		if _, gone := echohangup.Departed(c); gone {
			return nil // nobody to answer
		}
		return c.String(http.StatusOK, "paid")
	}, echohangup.MustFinish(30*time.Second))
}
