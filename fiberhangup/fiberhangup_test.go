package fiberhangup_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/gofiber/fiber/v3"
	"github.com/hangup-dev/hangup"
	"github.com/hangup-dev/hangup/fasthttphangup"
	"github.com/hangup-dev/hangup/fiberhangup"
)

// waitLong bounds every wait for something that must happen; no test
// asserts a duration.
const waitLong = 10 * time.Second

// quiet is how long a baseline test watches a context that must stay alive.
const quiet = 300 * time.Millisecond

const (
	reqGET  = "GET /work HTTP/1.1\r\nHost: test\r\n\r\n"
	reqPOST = "POST /work HTTP/1.1\r\nHost: test\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello"
)

type outcome struct {
	cancelled bool
	cause     error
	departed  bool
	status    int
}

// waiter is a Fiber handler that tells the test when it runs and waits for
// c.Context() to be cancelled, for at most wait.
type waiter struct {
	wait    time.Duration
	entered chan struct{}
	results chan outcome
}

func newWaiter(wait time.Duration) *waiter {
	return &waiter{wait: wait, entered: make(chan struct{}, 4), results: make(chan outcome, 4)}
}

func (w *waiter) handle(c fiber.Ctx) error {
	ctx := c.Context()
	w.entered <- struct{}{}
	t := time.NewTimer(w.wait)
	defer t.Stop()
	var o outcome
	select {
	case <-ctx.Done():
		o.cancelled = true
	case <-c.Done(): // fasthttp's own: closed only at shutdown
		o.cancelled = true
	case <-t.C:
	}
	o.cause = fiberhangup.Cause(c)
	_, o.departed = fiberhangup.Departed(c)
	o.status = fiberhangup.Status(c)
	w.results <- o
	return c.SendString("done")
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

// listen serves app on loopback until the test ends.
func listen(t *testing.T, app *fiber.App) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	// fasthttp's worker-pool cleaner notices a stopped server only after
	// sleeping this long (10 s by default), which goleak would see.
	app.Server().MaxIdleWorkerDuration = 20 * time.Millisecond
	done := make(chan error, 1)
	go func() { done <- app.Listener(ln, fiber.ListenConfig{DisableStartupMessage: true}) }()
	t.Cleanup(func() {
		if err := app.ShutdownWithTimeout(waitLong); err != nil {
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

func readResponse(t *testing.T, br *bufio.Reader) *http.Response {
	t.Helper()
	res, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return res
}

func TestClientLeaves(t *testing.T) {
	for _, tc := range []struct {
		name   string
		req    string
		rst    bool
		reason hangup.Reason
	}{
		{"GET FIN", reqGET, false, hangup.ReasonClosed},
		{"GET RST", reqGET, true, hangup.ReasonReset},
		{"POST body unread", reqPOST, false, hangup.ReasonClosed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWaiter(waitLong)
			app := fiber.New()
			g := fiberhangup.Install(app)
			app.All("/work", w.handle)
			c := dial(t, listen(t, app))
			send(t, c, tc.req)
			w.waitEntered(t)
			if tc.rst {
				c.SetLinger(0)
			}
			c.Close()
			o := w.result(t)
			var ge *hangup.GoneError
			if !o.cancelled || !errors.As(o.cause, &ge) || !errors.Is(o.cause, hangup.ErrClientGone) {
				t.Fatalf("cancelled=%v cause=%v, want a *hangup.GoneError", o.cancelled, o.cause)
			}
			if ge.Reason != tc.reason || ge.Phase != hangup.PhaseHandler {
				t.Errorf("departure %v/%v, want %v/%v", ge.Phase, ge.Reason, hangup.PhaseHandler, tc.reason)
			}
			if !o.departed || o.status != hangup.StatusClientClosedRequest {
				t.Errorf("Departed=%v Status=%d, want true, 499", o.departed, o.status)
			}
			if st := g.Stats(); st.Gone[hangup.PhaseHandler] != 1 {
				t.Errorf("stats %+v", st)
			}
		})
	}
}

// TestPlainFiberDoesNotCancel is the baseline: without fiberhangup, neither
// c.Context() nor c itself learns that the client left.
func TestPlainFiberDoesNotCancel(t *testing.T) {
	for _, req := range []string{reqGET, reqPOST} {
		w := newWaiter(quiet)
		app := fiber.New()
		app.All("/work", w.handle)
		c := dial(t, listen(t, app))
		send(t, c, req)
		w.waitEntered(t)
		c.Close()
		if o := w.result(t); o.cancelled || o.departed || o.cause != nil {
			t.Fatalf("plain Fiber cancelled the handler (%v); the baseline is wrong", o.cause)
		}
	}
}

func TestKeepAlive(t *testing.T) {
	w := newWaiter(quiet)
	app := fiber.New()
	g := fiberhangup.Install(app)
	app.Get("/fast", func(c fiber.Ctx) error { return c.SendString("fast") })
	app.Get("/work", w.handle)
	c := dial(t, listen(t, app))
	br := bufio.NewReader(c)
	send(t, c, "GET /fast HTTP/1.1\r\nHost: test\r\n\r\n")
	readResponse(t, br)
	send(t, c, reqGET)
	w.waitEntered(t)
	if o := w.result(t); o.cancelled || o.departed {
		t.Fatalf("second request on a live connection cancelled: %v", o.cause)
	}
	if res := readResponse(t, br); res.StatusCode != 200 {
		t.Fatalf("status %d", res.StatusCode)
	}
	if st := g.Stats(); st.Requests != 2 || st.GoneTotal() != 0 || st.Watched != 1 {
		t.Errorf("stats %+v, want 2 requests on 1 watched connection, none gone", st)
	}
}

func TestMustFinish(t *testing.T) {
	release := make(chan struct{})
	entered := make(chan struct{}, 1)
	results := make(chan [2]bool, 1)
	app := fiber.New()
	g := fiberhangup.Install(app)
	app.Post("/pay", fiberhangup.MustFinish(waitLong), func(c fiber.Ctx) error {
		entered <- struct{}{}
		<-fasthttphangup.Gone(c.Context())
		<-release
		_, departed := fiberhangup.Departed(c)
		results <- [2]bool{c.Context().Err() == nil, departed}
		return nil
	})
	c := dial(t, listen(t, app))
	send(t, c, "POST /pay HTTP/1.1\r\nHost: test\r\nContent-Length: 2\r\n\r\n{}")
	<-entered
	c.Close()
	deadline := time.Now().Add(waitLong)
	for g.Stats().Detached != 1 {
		if time.Now().After(deadline) {
			t.Fatal("work never detached")
		}
		time.Sleep(time.Millisecond)
	}
	close(release)
	if got := <-results; !got[0] || !got[1] {
		t.Errorf("alive=%v departed=%v, want both", got[0], got[1])
	}
}

// chanHandler is a slog.Handler that hands each record's attributes over.
type chanHandler chan map[string]any

func (h chanHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h chanHandler) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h chanHandler) WithGroup(string) slog.Handler            { return h }
func (h chanHandler) Handle(_ context.Context, r slog.Record) error {
	m := map[string]any{}
	r.Attrs(func(a slog.Attr) bool { m[a.Key] = a.Value.Any(); return true })
	h <- m
	return nil
}

func TestAccessLog(t *testing.T) {
	logs := make(chanHandler, 4)
	w := newWaiter(waitLong)
	app := fiber.New()
	fiberhangup.Install(app, fasthttphangup.WithAccessLog(slog.New(logs)))
	app.Post("/items/:id", w.handle)
	app.Get("/teapot", func(fiber.Ctx) error { return fiber.ErrTeapot })
	addr := listen(t, app)

	// An error from the chain goes through Fiber's ErrorHandler first.
	c := dial(t, addr)
	send(t, c, "GET /teapot HTTP/1.1\r\nHost: test\r\n\r\n")
	if res := readResponse(t, bufio.NewReader(c)); res.StatusCode != fiber.StatusTeapot {
		t.Errorf("status %d, want 418", res.StatusCode)
	}
	if line := <-logs; line["status"] != int64(fiber.StatusTeapot) || line["route"] != "/teapot" {
		t.Errorf("log line %v", line)
	}

	c = dial(t, addr)
	send(t, c, "POST /items/7 HTTP/1.1\r\nHost: test\r\nContent-Length: 5\r\n\r\nhello")
	w.waitEntered(t)
	c.Close()
	w.result(t)
	line := <-logs
	if line["status"] != int64(499) || line["route"] != "/items/:id" || line["path"] != "/items/7" ||
		line["gone_reason"] != "closed" || line["handler_status"] != int64(200) {
		t.Errorf("log line %v", line)
	}
}

func TestMustFinishPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("MustFinish(0) did not panic")
		}
	}()
	fiberhangup.MustFinish(0)
}
