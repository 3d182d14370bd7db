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

// TestServerCloseCancels: Server.Close ends the requests still running,
// as it does without hangup, with cause http.ErrServerClosed; the handler
// that waits on its context is not left running.
func TestServerCloseCancels(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts []hangup.Option
	}{
		{"default", nil},
		{"half-close waits", []hangup.Option{hangup.HalfCloseWaits()}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := make(chan error, 1)
			in := make(chan struct{})
			srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				close(in)
				select {
				case <-r.Context().Done():
					got <- context.Cause(r.Context())
				case <-time.After(waitLong):
					got <- errors.New("still running")
				}
			})}
			g := hangup.Install(srv, tc.opts...)
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			done := make(chan struct{})
			go func() { srv.Serve(ln); close(done) }()
			c, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
			<-in
			srv.Close()
			if err := <-got; !errors.Is(err, http.ErrServerClosed) {
				t.Errorf("cause after Server.Close: %v, want http.ErrServerClosed", err)
			}
			<-done
			if s := g.Stats(); s.GoneTotal() != 0 {
				t.Errorf("the server's own close counted as %d departures", s.GoneTotal())
			}
		})
	}
}
