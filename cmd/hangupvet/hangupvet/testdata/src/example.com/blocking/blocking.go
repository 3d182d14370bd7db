// Package blocking checks time.Sleep, channel operations and selects
// inside handlers.
package blocking

import (
	"context"
	"net/http"
	"time"
)

func sleeps(w http.ResponseWriter, r *http.Request) {
	time.Sleep(time.Second) // want `^time\.Sleep ignores the request's context: the handler keeps sleeping after the client left \(handler sleeps\); select on r\.Context\(\)\.Done\(\) and a timer$`
}

func receives(w http.ResponseWriter, r *http.Request) {
	results := make(chan int)
	go produce(r.Context(), results)
	<-results                 // want `^channel receive without a context case: it blocks after the client leaves \(handler receives\); receive in a select with a case <-r\.Context\(\)\.Done\(\)$`
	v := <-results            // want `channel receive without a context case`
	v, ok := <-results        // want `channel receive without a context case`
	<-time.After(time.Second) // want `channel receive without a context case`
	_, _ = v, ok
}

func produce(ctx context.Context, out chan<- int) {
	select {
	case out <- 1:
	case <-ctx.Done():
	}
}

func sends(w http.ResponseWriter, r *http.Request) {
	unbuffered := make(chan int)
	go func() { <-unbuffered }() // a goroutine of its own, not the request's
	unbuffered <- 1              // want `^channel send without a context case: it blocks after the client leaves \(handler sends\); send in a select with a case <-r\.Context\(\)\.Done\(\)$`

	// A send on a buffered channel does not block: the usual way to hand
	// back a goroutine's single result.
	errc := make(chan error, 1)
	go func() { errc <- nil }()
	select {
	case err := <-errc:
		_ = err
	case <-r.Context().Done():
	}
}

func selects(w http.ResponseWriter, r *http.Request) {
	a, b := make(chan int), make(chan int)
	select { // want `^select without a ctx\.Done\(\) case: it blocks after the client leaves \(handler selects\); add a case <-r\.Context\(\)\.Done\(\)$`
	case <-a:
	case b <- 1:
	}
	select { // want `select without a ctx\.Done\(\) case`
	}
}

func selectsWell(w http.ResponseWriter, r *http.Request) {
	a := make(chan int)
	ctx := r.Context()

	// A case on the context's Done channel, however it is reached.
	select {
	case <-a:
	case <-ctx.Done():
	}
	select {
	case <-a:
	case <-r.Context().Done():
	}
	done := ctx.Done()
	select {
	case <-a:
	case <-done:
	}
	var stop = gone(ctx)
	select {
	case <-a:
	case <-stop:
	}

	// A default case: it never blocks.
	select {
	case v := <-a:
		_ = v
	default:
	}

	// Waiting on the Done channel itself is what the handler should do.
	<-ctx.Done()
	<-gone(ctx)
}

// gone is shaped like hangup.Gone: a channel closed when ctx's client
// leaves.
func gone(ctx context.Context) <-chan struct{} { return ctx.Done() }

// ctxParam is reached from a handler; its context parameter is what its
// advice names.
func viaHelper(w http.ResponseWriter, r *http.Request) { wait(r.Context()) }

func wait(ctx context.Context) {
	time.Sleep(time.Second) // want `\(handler viaHelper → wait\); select on ctx\.Done\(\) and a timer`
}

// Not reached from a handler.
func background(ch chan int) {
	<-ch
	ch <- 1
	time.Sleep(time.Second)
	select {}
}
