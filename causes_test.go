package hangup_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/hangup-dev/hangup"
)

// Who ended a request (issue 15): the client, the server or the handler.
// Each test below has a real client on loopback and a handler that would
// run for 30 s on its own, so that a context left alive shows as a wait
// past waitLong, never as a timing assertion.

const handlerLong = 30 * time.Second

// TestServerCloseErrPolled: a handler that only polls ctx.Err(), never
// waiting on Done, sees Server.Close: Err turns non-nil and the cause is
// http.ErrServerClosed, not counted as a departure.
func TestServerCloseErrPolled(t *testing.T) {
	got := make(chan error, 1)
	in := make(chan struct{})
	stop := make(chan struct{})
	defer close(stop)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(in)
		ctx := r.Context()
		give := time.After(handlerLong)
		for ctx.Err() == nil {
			select {
			case <-stop:
				return
			case <-give:
				got <- errors.New("Err() still nil")
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
		got <- context.Cause(ctx)
	})}
	g := hangup.Install(srv)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { srv.Serve(ln); close(done) }()
	c := dialTCP(t, ln.Addr().String())
	write(t, c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	<-in
	srv.Close()
	select {
	case err := <-got:
		if !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("cause after Server.Close: %v, want http.ErrServerClosed", err)
		}
	case <-time.After(waitLong):
		t.Fatal("ctx.Err() still nil after Server.Close")
	}
	<-done
	if s := g.Stats(); s.GoneTotal() != 0 {
		t.Errorf("the server's own close counted as %d departures", s.GoneTotal())
	}
}
