package echohangup_test

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

	"github.com/hangup-dev/hangup"
	"github.com/hangup-dev/hangup/echohangup"
	"github.com/labstack/echo/v4"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// waitLong bounds every wait for something that must happen; no test
// asserts a duration.
const waitLong = 10 * time.Second

// quiet is how long a baseline test watches a context that must stay alive.
const quiet = 300 * time.Millisecond

const (
	reqGET = "GET /work HTTP/1.1\r\nHost: test\r\n\r\n"
	// reqPOST promises 1000 bytes of body and sends 5: an upload cut short.
	reqPOST = "POST /work HTTP/1.1\r\nHost: test\r\nContent-Length: 1000\r\n\r\nhello"
)

type outcome struct {
	cancelled bool
	cause     error
	departed  bool
	status    int
}

type waiter struct {
	wait    time.Duration
	entered chan struct{}
	results chan outcome
}

func newWaiter(wait time.Duration) *waiter {
	return &waiter{wait: wait, entered: make(chan struct{}, 4), results: make(chan outcome, 4)}
}

func (w *waiter) handle(c echo.Context) error {
	ctx := c.Request().Context()
	w.entered <- struct{}{}
	t := time.NewTimer(w.wait)
	defer t.Stop()
	var o outcome
	select {
	case <-ctx.Done():
		o.cancelled = true
	case <-t.C:
	}
	o.cause = echohangup.Cause(c)
	_, o.departed = echohangup.Departed(c)
	o.status = echohangup.Status(c)
	w.results <- o
	return c.String(http.StatusOK, "done")
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

// start serves e with e.Start, Echo's own way, on a loopback listener.
func start(t *testing.T, e *echo.Echo) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e.HideBanner, e.HidePort = true, true
	e.Listener = ln
	done := make(chan error, 1)
	go func() { done <- e.Start("") }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitLong)
		defer cancel()
		if err := e.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		<-done
	})
	return ln.Addr().String()
}

func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func send(t *testing.T, c net.Conn, s string) {
	t.Helper()
	if _, err := io.WriteString(c, s); err != nil {
		t.Fatal(err)
	}
}

func TestClientLeaves(t *testing.T) {
	for _, tc := range []struct{ name, req string }{
		{"GET", reqGET},
		{"POST body unread", reqPOST},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWaiter(waitLong)
			e := echo.New()
			g := echohangup.Install(e)
			e.Any("/work", w.handle)
			c := dial(t, start(t, e))
			send(t, c, tc.req)
			w.waitEntered(t)
			c.Close()
			o := w.result(t)
			var ge *hangup.GoneError
			if !o.cancelled || !errors.As(o.cause, &ge) || !errors.Is(o.cause, hangup.ErrClientGone) {
				t.Fatalf("cancelled=%v cause=%v, want a *hangup.GoneError", o.cancelled, o.cause)
			}
			if ge.Reason != hangup.ReasonClosed || ge.Phase != hangup.PhaseHandler {
				t.Errorf("departure %v/%v", ge.Phase, ge.Reason)
			}
			if !o.departed || o.status != hangup.StatusClientClosedRequest {
				t.Errorf("Departed=%v Status=%d, want true, 499", o.departed, o.status)
			}
			if st := g.Stats(); st.Requests != 1 || st.GoneTotal() != 1 {
				t.Errorf("stats %+v", st)
			}
		})
	}
}

// TestPlainEchoDoesNotCancelUnreadBody is the baseline: Echo on net/http
// cancels nothing while the body is unread (golang/go#23262).
func TestPlainEchoDoesNotCancelUnreadBody(t *testing.T) {
	w := newWaiter(quiet)
	e := echo.New()
	e.POST("/work", w.handle)
	c := dial(t, start(t, e))
	send(t, c, reqPOST)
	w.waitEntered(t)
	c.Close()
	if o := w.result(t); o.cancelled || o.departed {
		t.Fatalf("plain Echo cancelled the handler (%v); the baseline is wrong", o.cause)
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
	reports := make(chan hangup.Report, 4)
	w := newWaiter(waitLong)
	e := echo.New()
	echohangup.Install(e, hangup.WithAccessLog(slog.New(logs)), hangup.OnAbandon(func(r hangup.Report) { reports <- r }))
	e.POST("/items/:id", w.handle)
	e.GET("/teapot", func(echo.Context) error { return echo.NewHTTPError(http.StatusTeapot) })
	addr := start(t, e)

	// An error from the handler is written inside the Guard, so its status
	// is the one logged.
	c := dial(t, addr)
	send(t, c, "GET /teapot HTTP/1.1\r\nHost: test\r\n\r\n")
	res, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil || res.StatusCode != http.StatusTeapot {
		t.Fatalf("response %v, %v", res, err)
	}
	if line := <-logs; line["status"] != int64(http.StatusTeapot) {
		t.Errorf("log line %v", line)
	}

	c = dial(t, addr)
	send(t, c, "POST /items/7 HTTP/1.1\r\nHost: test\r\nContent-Length: 1000\r\n\r\nhello")
	w.waitEntered(t)
	c.Close()
	w.result(t)
	if line := <-logs; line["status"] != int64(499) || line["path"] != "/items/7" ||
		line["gone_reason"] != "closed" || line["gone_phase"] != "handler" {
		t.Errorf("log line %v", line)
	}
	if r := <-reports; r.Route != "/items/:id" || r.Status != http.StatusOK {
		t.Errorf("report route %q status %d, want Echo's route and 200", r.Route, r.Status)
	}
}

func TestMustFinish(t *testing.T) {
	release := make(chan struct{})
	entered := make(chan struct{}, 1)
	results := make(chan [2]bool, 1)
	e := echo.New()
	g := echohangup.Install(e)
	e.POST("/pay", func(c echo.Context) error {
		ctx := c.Request().Context()
		entered <- struct{}{}
		<-hangup.Gone(ctx)
		<-release
		_, departed := echohangup.Departed(c)
		results <- [2]bool{ctx.Err() == nil, departed}
		return nil
	}, echohangup.MustFinish(waitLong))
	c := dial(t, start(t, e))
	send(t, c, "POST /pay HTTP/1.1\r\nHost: test\r\nContent-Length: 100\r\n\r\n{")
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

func TestMustFinishPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("MustFinish(0) did not panic")
		}
	}()
	echohangup.MustFinish(0)
}
