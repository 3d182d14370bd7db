package fasthttphangup_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/hangup-dev/hangup"
	"github.com/hangup-dev/hangup/fasthttphangup"
	"github.com/valyala/fasthttp"
)

// waitLong bounds every wait for something that must happen: generous,
// because CI is a loaded two-core machine. No test asserts a duration.
const waitLong = 10 * time.Second

// quiet is how long a baseline test watches a context that must stay alive.
const quiet = 300 * time.Millisecond

const (
	reqGET  = "GET /work HTTP/1.1\r\nHost: test\r\n\r\n"
	reqPOST = "POST /upload HTTP/1.1\r\nHost: test\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello"
)

// outcome is what a handler saw of its context.
type outcome struct {
	cancelled bool
	cause     error
	departure hangup.Departure
	departed  bool
}

// waiter is a handler that tells the test when it runs and then waits for its
// context to be cancelled, for at most wait.
type waiter struct {
	wait    time.Duration
	entered chan struct{}
	results chan outcome
}

func newWaiter(wait time.Duration) *waiter {
	return &waiter{wait: wait, entered: make(chan struct{}, 16), results: make(chan outcome, 16)}
}

func (w *waiter) handle(ctx context.Context) {
	w.entered <- struct{}{}
	t := time.NewTimer(w.wait)
	defer t.Stop()
	var o outcome
	select {
	case <-ctx.Done():
		o.cancelled = true
		o.cause = context.Cause(ctx)
	case <-t.C:
	}
	o.departure, o.departed = fasthttphangup.Departed(ctx)
	w.results <- o
}

func (w *waiter) fasthttp(fctx *fasthttp.RequestCtx) {
	w.handle(fasthttphangup.Context(fctx))
	fctx.SetBodyString("done")
}

func (w *waiter) waitEntered(t *testing.T) {
	t.Helper()
	select {
	case <-w.entered:
	case <-time.After(waitLong):
		t.Fatal("handler never ran")
	}
}

func (w *waiter) result(t *testing.T) outcome {
	t.Helper()
	select {
	case o := <-w.results:
		return o
	case <-time.After(waitLong):
		t.Fatal("handler never returned")
		return outcome{}
	}
}

// serve runs s on a loopback listener until the test ends.
func serve(t *testing.T, s *fasthttp.Server) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	// fasthttp's worker-pool cleaner notices a stopped server only after
	// sleeping this long (10 s by default), which goleak would see.
	s.MaxIdleWorkerDuration = 20 * time.Millisecond
	done := make(chan error, 1)
	go func() { done <- s.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitLong)
		defer cancel()
		if err := s.ShutdownWithContext(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		<-done
	})
	return ln.Addr().String()
}

func dial(t *testing.T, addr string) *net.TCPConn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c.(*net.TCPConn)
}

func send(t *testing.T, c net.Conn, s string) {
	t.Helper()
	if _, err := io.WriteString(c, s); err != nil {
		t.Fatal(err)
	}
}

// leave makes the client go away: a FIN, or with rst an RST.
func leave(t *testing.T, c *net.TCPConn, rst bool) {
	t.Helper()
	if rst {
		if err := c.SetLinger(0); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
}

func readResponse(t *testing.T, br *bufio.Reader) *http.Response {
	t.Helper()
	res, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadAll(res.Body); err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res
}

// wantGone checks that the handler's context was cancelled because its
// client left, for reason.
func wantGone(t *testing.T, o outcome, reason hangup.Reason) {
	t.Helper()
	if !o.cancelled {
		t.Fatal("context not cancelled after the client left")
	}
	if !errors.Is(o.cause, hangup.ErrClientGone) {
		t.Fatalf("cause = %v, want hangup.ErrClientGone", o.cause)
	}
	var ge *hangup.GoneError
	if !errors.As(o.cause, &ge) {
		t.Fatalf("cause %T is not a *hangup.GoneError", o.cause)
	}
	if ge.Reason != reason || ge.Phase != hangup.PhaseHandler {
		t.Errorf("departure = %v/%v, want %v/%v", ge.Phase, ge.Reason, hangup.PhaseHandler, reason)
	}
	if !o.departed || o.departure != ge.Departure {
		t.Errorf("Departed = %v, %v; want %v, true", o.departure, o.departed, ge.Departure)
	}
}

// eventually waits for cond, which the server makes true after the handler
// returned.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitLong)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("never: %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}
