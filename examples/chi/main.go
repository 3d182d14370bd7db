// Command chi is a chi server with hangup: a request's context is cancelled
// the moment its client goes away, even while its body is unread.
//
//	go run ./examples/chi &
//	curl -m 1 localhost:8080/slow                      # logs 499 after 1 s
//	curl -m 1 -T /dev/zero localhost:8080/upload       # same, body never read
//	curl -m 1 -X POST localhost:8080/pay               # runs to its end anyway
package main

import (
	"context"
	"errors"
	"flag"
	"io"
	"log"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/hangup-dev/hangup"
	"github.com/hangup-dev/hangup/chihangup"
)

func main() {
	addr := flag.String("addr", "localhost:8080", "address to listen on")
	flag.Parse()

	r := chi.NewRouter()
	r.Use(chihangup.Logger) // chi's logger, with 499
	r.Get("/slow", slow)
	r.Post("/upload", slow) // reads no body: plain chi never notices the client leave
	r.Put("/upload", slow)
	r.With(chihangup.MustFinish(30*time.Second)).Post("/pay", pay)

	// The one line: the server that serves the router, wired.
	srv := &http.Server{Addr: *addr, Handler: r}
	hangup.Install(srv)

	if err := srv.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
		log.Fatal(err)
	}
}

// slow stands for a database query or an upstream call that honours its
// context.
func slow(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	select {
	case <-time.After(5 * time.Second):
		io.WriteString(w, "done\n")
	case <-ctx.Done():
		if errors.Is(context.Cause(ctx), hangup.ErrClientGone) {
			return // nobody is left to answer
		}
		http.Error(w, context.Cause(ctx).Error(), http.StatusServiceUnavailable)
	}
}

// pay is work that must not stop half-way: its context survives the client
// for up to 30 s.
func pay(w http.ResponseWriter, r *http.Request) {
	//hangup:detached the payment stands for work that must finish, client or not
	time.Sleep(2 * time.Second) // charge(r.Context(), ...)
	if d, gone := hangup.Departed(r.Context()); gone {
		log.Printf("paid for a client that left %s ago", time.Since(d.At).Round(time.Millisecond))
		return
	}
	io.WriteString(w, "paid\n")
}
