package chihangup_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/hangup-dev/hangup"
	"github.com/hangup-dev/hangup/chihangup"
)

// A client starts an upload and leaves before sending the whole body: the
// handler, which has not read the body, sees r.Context() cancelled with
// hangup.ErrClientGone. Plain chi would let it run on.
func Example() {
	r := chi.NewRouter()
	entered, done := make(chan struct{}), make(chan struct{})
	r.Post("/upload", func(w http.ResponseWriter, r *http.Request) {
		defer close(done)
		close(entered)
		ctx := r.Context()
		select {
		case <-ctx.Done(): // a quota check, a database query...
		case <-time.After(10 * time.Second):
		}
		if errors.Is(context.Cause(ctx), hangup.ErrClientGone) {
			d, _ := hangup.Departed(ctx)
			fmt.Println("client gone:", d.Reason)
			return
		}
		io.WriteString(w, "stored")
	})

	srv := &http.Server{Handler: r}
	hangup.Install(srv)
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	go srv.Serve(ln)
	defer srv.Close()

	c, _ := net.Dial("tcp", ln.Addr().String())
	io.WriteString(c, "POST /upload HTTP/1.1\r\nHost: example\r\nContent-Length: 1000\r\n\r\nhello")
	<-entered
	c.Close()
	<-done
	// Output: client gone: closed
}

// A payment route keeps its context when the client leaves, for at most 30
// seconds.
func ExampleMustFinish() {
	r := chi.NewRouter()
	r.With(chihangup.MustFinish(30*time.Second)).Post("/pay", func(w http.ResponseWriter, r *http.Request) {
		// charge(r.Context(), ...) runs to its end
		if _, gone := hangup.Departed(r.Context()); gone {
			return // nobody to answer
		}
		io.WriteString(w, "paid")
	})
}

// chi's logger, logging 499 for requests whose client left.
func ExampleLogger() {
	r := chi.NewRouter()
	r.Use(chihangup.Logger)
}
