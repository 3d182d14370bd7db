package fasthttphangup_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"time"

	"github.com/hangup-dev/hangup"
	"github.com/hangup-dev/hangup/fasthttphangup"
	"github.com/valyala/fasthttp"
)

// A client sends a POST and leaves while the handler works without reading
// the body: the handler's context is cancelled with hangup.ErrClientGone.
func ExampleInstall() {
	entered := make(chan struct{})
	done := make(chan struct{})
	s := &fasthttp.Server{Handler: func(fctx *fasthttp.RequestCtx) {
		defer close(done)
		ctx := fasthttphangup.Context(fctx)
		close(entered)
		select {
		case <-ctx.Done(): // a database query, an upstream call...
		case <-time.After(10 * time.Second):
		}
		var gone *hangup.GoneError
		if errors.As(context.Cause(ctx), &gone) {
			fmt.Println("client gone:", gone.Reason, "in phase", gone.Phase)
		}
	}, MaxIdleWorkerDuration: 20 * time.Millisecond}
	fasthttphangup.Install(s)

	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	go s.Serve(ln)
	defer s.Shutdown()

	c, _ := net.Dial("tcp", ln.Addr().String())
	io.WriteString(c, "POST /upload HTTP/1.1\r\nHost: example\r\nContent-Length: 5\r\n\r\nhello")
	<-entered
	c.Close()
	<-done
	// Output: client gone: closed in phase handler
}

// MustFinish lets a payment run to its end even when the client leaves,
// for at most the deadline.
func ExampleMustFinish() {
	pay := func(fctx *fasthttp.RequestCtx) {
		ctx := fasthttphangup.Context(fctx)
		_ = ctx // charge(ctx, ...): not cancelled when the client leaves
		if _, gone := fasthttphangup.Departed(ctx); gone {
			return // nobody to answer
		}
		fctx.SetBodyString("paid")
	}
	s := &fasthttp.Server{Handler: fasthttphangup.MustFinish(pay, 30*time.Second)}
	fasthttphangup.Install(s, fasthttphangup.WithAccessLog(slog.New(slog.NewTextHandler(os.Stderr, nil))))
}

// Stats has hangup's shape, so an exporter written for hangup.Guard.Stats
// reads a fasthttp Guard as well.
func ExampleGuard_Stats() {
	g := fasthttphangup.Install(&fasthttp.Server{Handler: func(*fasthttp.RequestCtx) {}})
	st := g.Stats()
	fmt.Println(st.InFlight, st.GoneTotal(), st.GoneIn(hangup.PhaseHandler))
	// Output: 0 0 0
}

// Serve is how a framework adapter hands the request's context to its own
// handler type; see package fiberhangup.
func ExampleGuard_Serve() {
	g := fasthttphangup.New()
	s := &fasthttp.Server{}
	g.Watch(s)
	s.Handler = func(fctx *fasthttp.RequestCtx) {
		g.Serve(fctx, func(ctx context.Context) {
			fasthttphangup.SetRoute(ctx, "/items/{id}")
			// frameworkHandler(fctx, ctx)
		})
	}
}
