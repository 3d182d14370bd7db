package h2ctest_test

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/h2c"

	"github.com/hangup-dev/hangup"
)

// TestH2CNewHandler: x/net's h2c.NewHandler hijacks the connection and
// serves HTTP/2 on it itself, calling its inner handler for each stream.
// Under Install those streams are guarded like built-in h2c's: a stream the
// client resets, or a connection it drops, ends the handler's context with
// cause ErrClientGone, and Departed says so. The client is x/net's own
// HTTP/2 Transport speaking h2c with prior knowledge.
func TestH2CNewHandler(t *testing.T) {
	for _, how := range []string{"stream-reset", "connection-lost"} {
		t.Run(how, func(t *testing.T) {
			s := &server{t: t, entered: make(chan *http.Request, 16), results: make(chan outcome, 16)}
			s.srv = httptest.NewUnstartedServer(h2c.NewHandler(http.HandlerFunc(s.waitHandler), &http2.Server{}))
			s.g = hangup.Install(s.srv.Config)
			s.srv.Start()
			t.Cleanup(s.srv.Close)
			conns := make(chan net.Conn, 1)
			tr := &http2.Transport{
				AllowHTTP: true,
				DialTLSContext: func(ctx context.Context, network, addr string, _ *tls.Config) (net.Conn, error) {
					c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
					if err == nil {
						// Server.Close does not close hijacked connections:
						// the test does, for goleak.
						t.Cleanup(func() { c.Close() })
						select {
						case conns <- c:
						default:
						}
					}
					return c, err
				},
			}
			defer tr.CloseIdleConnections()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			errc := get(t, tr, ctx, "http://"+s.addr()+"/")
			if r := s.waitEntered(); r.ProtoMajor != 2 {
				t.Fatalf("request came over %s, want HTTP/2", r.Proto)
			}
			if how == "stream-reset" {
				cancel()
			} else {
				(<-conns).Close()
			}
			o := s.waitResult()
			expectGone(t, o, hangup.PhaseHandler)
			want := []hangup.Reason{hangup.ReasonStreamReset}
			if how == "connection-lost" {
				want = append(want, hangup.ReasonClosed, hangup.ReasonReset)
			}
			if !slices.Contains(want, o.departure.Reason) {
				t.Errorf("reason = %v, want one of %v", o.departure.Reason, want)
			}
			<-errc
		})
	}
}
