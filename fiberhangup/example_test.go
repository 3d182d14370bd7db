package fiberhangup_test

import (
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/gofiber/fiber/v3"
	"github.com/hangup-dev/hangup"
	"github.com/hangup-dev/hangup/fiberhangup"
)

// A client posts and leaves while the handler works without reading the
// body; c.Context() is cancelled with hangup.ErrClientGone.
func ExampleInstall() {
	app := fiber.New()
	fiberhangup.Install(app) // first, before routes

	entered, done := make(chan struct{}), make(chan struct{})
	app.Post("/upload", func(c fiber.Ctx) error {
		defer close(done)
		close(entered)
		select {
		case <-c.Context().Done(): // a database query, an upstream call...
		case <-time.After(10 * time.Second):
		}
		if errors.Is(fiberhangup.Cause(c), hangup.ErrClientGone) {
			fmt.Println("client gone; log status", fiberhangup.Status(c))
			return nil
		}
		return c.SendString("stored")
	})

	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	app.Server().MaxIdleWorkerDuration = 20 * time.Millisecond // quick shutdown for the example
	go app.Listener(ln, fiber.ListenConfig{DisableStartupMessage: true})
	defer app.Shutdown()

	c, _ := net.Dial("tcp", ln.Addr().String())
	io.WriteString(c, "POST /upload HTTP/1.1\r\nHost: example\r\nContent-Length: 5\r\n\r\nhello")
	<-entered
	c.Close()
	<-done
	// Output: client gone; log status 499
}

// A payment route keeps its context when the client leaves, for at most
// 30 seconds.
func ExampleMustFinish() {
	app := fiber.New()
	fiberhangup.Install(app)
	app.Post("/pay", fiberhangup.MustFinish(30*time.Second), func(c fiber.Ctx) error {
		// charge(c.Context(), ...) runs to its end
		if _, gone := fiberhangup.Departed(c); gone {
			return nil // nobody to answer
		}
		return c.SendString("paid")
	})
}
