package ginhangup_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/hangup-dev/hangup"
	"github.com/hangup-dev/hangup/ginhangup"
)

// A client starts an upload and leaves before sending the whole body: the
// handler, which has not read the body, sees its context cancelled with
// hangup.ErrClientGone. Plain Gin would let it run on.
func Example() {
	r := gin.New()
	entered, done := make(chan struct{}), make(chan struct{})
	r.POST("/upload", func(c *gin.Context) {
		defer close(done)
		close(entered)
		ctx := c.Request.Context()
		select {
		case <-ctx.Done(): // a quota check, a database query...
		case <-time.After(10 * time.Second):
		}
		if errors.Is(context.Cause(ctx), hangup.ErrClientGone) {
			fmt.Println("client gone; log status", ginhangup.Status(c))
			return
		}
		c.String(http.StatusOK, "stored")
	})

	srv := &http.Server{Handler: r} // not r.Run: hangup needs the server
	hangup.Install(srv)
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	go srv.Serve(ln)
	defer srv.Close()

	c, _ := net.Dial("tcp", ln.Addr().String())
	io.WriteString(c, "POST /upload HTTP/1.1\r\nHost: example\r\nContent-Length: 1000\r\n\r\nhello")
	<-entered
	c.Close()
	<-done
	// Output: client gone; log status 499
}

// A payment route keeps its context when the client leaves, for at most 30
// seconds.
func ExampleMustFinish() {
	r := gin.New()
	r.POST("/pay", ginhangup.MustFinish(30*time.Second), func(c *gin.Context) {
		// charge(c.Request.Context(), ...) runs to its end
		if _, gone := ginhangup.Departed(c); gone {
			return // nobody to answer
		}
		c.String(http.StatusOK, "paid")
	})
}

// Gin's logger logs 499 for requests whose client left.
func ExampleLogFormatter() {
	r := gin.New()
	r.Use(gin.LoggerWithFormatter(ginhangup.LogFormatter(nil)))
}
