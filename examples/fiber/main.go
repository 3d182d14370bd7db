// Command fiber is a Fiber v3 server with hangup: c.Context() is cancelled
// the moment the client goes away, which Fiber (on fasthttp) never does.
//
//	go run ./examples/fiber &
//	curl -m 1 localhost:8080/slow                      # logs status=499 after 1 s
//	curl -m 1 -X POST -d @big.json localhost:8080/upload  # same while the handler works
//	curl -m 1 -X POST localhost:8080/pay               # runs to its end anyway
package main

import (
	"context"
	"errors"
	"flag"
	"log"
	"log/slog"
	"os"
	"time"

	"github.com/gofiber/fiber/v3"
	"github.com/hangup-dev/hangup"
	"github.com/hangup-dev/hangup/fasthttphangup"
	"github.com/hangup-dev/hangup/fiberhangup"
)

func main() {
	addr := flag.String("addr", "localhost:8080", "address to listen on")
	flag.Parse()

	app := fiber.New()
	// The one line, first: watch the connections, and a 499 access log.
	fiberhangup.Install(app, fasthttphangup.WithAccessLog(slog.New(slog.NewTextHandler(os.Stderr, nil))))

	app.Get("/slow", slow)
	app.Post("/upload", slow) // fasthttp read the body; the handler works on
	app.Post("/pay", fiberhangup.MustFinish(30*time.Second), pay)

	log.Fatal(app.Listen(*addr))
}

// slow stands for a database query or an upstream call that honours its
// context: c.Context(), not c, whose Done closes only at shutdown.
func slow(c fiber.Ctx) error {
	ctx := c.Context()
	select {
	case <-time.After(5 * time.Second):
		return c.SendString("done\n")
	case <-ctx.Done():
		if errors.Is(context.Cause(ctx), hangup.ErrClientGone) {
			return nil // nobody is left to answer
		}
		return context.Cause(ctx)
	}
}

// pay is work that must not stop half-way: its context survives the client
// for up to 30 s.
func pay(c fiber.Ctx) error {
	//hangup:detached the payment stands for work that must finish, client or not
	time.Sleep(2 * time.Second) // charge(c.Context(), ...)
	if d, gone := fiberhangup.Departed(c); gone {
		log.Printf("paid for a client that left %s ago", time.Since(d.At).Round(time.Millisecond))
		return nil
	}
	return c.SendString("paid\n")
}
