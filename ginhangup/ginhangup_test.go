package ginhangup_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/hangup-dev/hangup"
	"github.com/hangup-dev/hangup/ginhangup"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	gin.SetMode(gin.ReleaseMode)
	goleak.VerifyTestMain(m)
}

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

// handle waits on c itself, which works because the tests set
// ContextWithFallback, and on c.Request.Context().
func (w *waiter) handle(c *gin.Context) {
	ctx := c.Request.Context()
	w.entered <- struct{}{}
	t := time.NewTimer(w.wait)
	defer t.Stop()
	var o outcome
	select {
	case <-ctx.Done():
		o.cancelled = true
	case <-c.Done():
		o.cancelled = true
	case <-t.C:
	}
	o.cause = ginhangup.Cause(c)
	_, o.departed = ginhangup.Departed(c)
	o.status = ginhangup.Status(c)
	w.results <- o
	c.String(http.StatusOK, "done")
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

// start serves r on loopback, with hangup installed unless opts is nil.
func start(t *testing.T, r *gin.Engine, opts []hangup.Option) (string, *hangup.Guard) {
	t.Helper()
	r.ContextWithFallback = true
	srv := &http.Server{Handler: r}
	var g *hangup.Guard
	if opts != nil {
		g = hangup.Install(srv, opts...)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitLong)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		<-done
	})
	return ln.Addr().String(), g
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
			r := gin.New()
			r.Any("/work", w.handle)
			addr, g := start(t, r, []hangup.Option{})
			c := dial(t, addr)
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
			if st := g.Stats(); st.GoneTotal() != 1 {
				t.Errorf("stats %+v", st)
			}
		})
	}
}

// TestPlainGinDoesNotCancelUnreadBody is the baseline: Gin on net/http
// cancels nothing while the body is unread (golang/go#23262).
func TestPlainGinDoesNotCancelUnreadBody(t *testing.T) {
	w := newWaiter(quiet)
	r := gin.New()
	r.POST("/work", w.handle)
	addr, _ := start(t, r, nil)
	c := dial(t, addr)
	send(t, c, reqPOST)
	w.waitEntered(t)
	c.Close()
	if o := w.result(t); o.cancelled || o.departed {
		t.Fatalf("plain Gin cancelled the handler (%v); the baseline is wrong", o.cause)
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

type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestAccessLog499 checks both hangup's own access log and Gin's logger
// with LogFormatter.
func TestAccessLog499(t *testing.T) {
	logs := make(chanHandler, 4)
	var ginLog syncBuffer
	w := newWaiter(waitLong)
	r := gin.New()
	r.Use(gin.LoggerWithConfig(gin.LoggerConfig{
		Formatter: ginhangup.LogFormatter(func(p gin.LogFormatterParams) string {
			return fmt.Sprintf("%s %s %d\n", p.Method, p.Path, p.StatusCode)
		}),
		Output: &ginLog,
	}))
	r.POST("/work", w.handle)
	addr, _ := start(t, r, []hangup.Option{hangup.WithAccessLog(slog.New(logs))})
	c := dial(t, addr)
	send(t, c, reqPOST)
	w.waitEntered(t)
	c.Close()
	w.result(t)
	if line := <-logs; line["status"] != int64(499) || line["path"] != "/work" || line["gone_reason"] != "closed" {
		t.Errorf("hangup log line %v", line)
	}
	if got := ginLog.String(); got != "POST /work 499\n" {
		t.Errorf("gin log %q, want status 499", got)
	}
}

func TestMustFinish(t *testing.T) {
	release := make(chan struct{})
	entered := make(chan struct{}, 1)
	results := make(chan [2]bool, 1)
	r := gin.New()
	r.POST("/pay", ginhangup.MustFinish(waitLong), func(c *gin.Context) {
		ctx := c.Request.Context()
		entered <- struct{}{}
		<-hangup.Gone(ctx)
		<-release
		_, departed := ginhangup.Departed(c)
		results <- [2]bool{ctx.Err() == nil, departed}
	})
	addr, g := start(t, r, []hangup.Option{})
	c := dial(t, addr)
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
	ginhangup.MustFinish(0)
}
