package chihangup_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"
	"github.com/hangup-dev/hangup"
	"github.com/hangup-dev/hangup/chihangup"
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
}

type waiter struct {
	wait    time.Duration
	entered chan struct{}
	results chan outcome
}

func newWaiter(wait time.Duration) *waiter {
	return &waiter{wait: wait, entered: make(chan struct{}, 4), results: make(chan outcome, 4)}
}

func (w *waiter) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	w.entered <- struct{}{}
	t := time.NewTimer(w.wait)
	defer t.Stop()
	var o outcome
	select {
	case <-ctx.Done():
		o.cancelled = true
	case <-t.C:
	}
	o.cause = context.Cause(ctx)
	_, o.departed = hangup.Departed(ctx)
	w.results <- o
	io.WriteString(rw, "done")
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
func start(t *testing.T, r chi.Router, opts []hangup.Option) (string, *hangup.Guard) {
	t.Helper()
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
			r := chi.NewRouter()
			r.Handle("/work", w)
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
			if ge.Reason != hangup.ReasonClosed || ge.Phase != hangup.PhaseHandler || !o.departed {
				t.Errorf("departure %v/%v, departed %v", ge.Phase, ge.Reason, o.departed)
			}
			if st := g.Stats(); st.GoneTotal() != 1 {
				t.Errorf("stats %+v", st)
			}
		})
	}
}

// TestPlainChiDoesNotCancelUnreadBody is the baseline: chi on net/http
// cancels nothing while the body is unread (golang/go#23262).
func TestPlainChiDoesNotCancelUnreadBody(t *testing.T) {
	w := newWaiter(quiet)
	r := chi.NewRouter()
	r.Handle("/work", w)
	addr, _ := start(t, r, nil)
	c := dial(t, addr)
	send(t, c, reqPOST)
	w.waitEntered(t)
	c.Close()
	if o := w.result(t); o.cancelled || o.departed {
		t.Fatalf("plain chi cancelled the handler (%v); the baseline is wrong", o.cause)
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

// statusFormatter is a chi LogFormatter that hands the logged status over.
type statusFormatter chan int

func (f statusFormatter) NewLogEntry(*http.Request) middleware.LogEntry { return f }
func (f statusFormatter) Write(status, _ int, _ http.Header, _ time.Duration, _ any) {
	f <- status
}
func (f statusFormatter) Panic(any, []byte) {}

// TestAccessLog499 checks both hangup's own access log and chi's logger
// with LogFormatter.
func TestAccessLog499(t *testing.T) {
	logs := make(chanHandler, 4)
	statuses := make(statusFormatter, 4)
	w := newWaiter(waitLong)
	r := chi.NewRouter()
	r.Use(middleware.RequestLogger(chihangup.LogFormatter(statuses)))
	r.Post("/work", w.ServeHTTP)
	r.Get("/ok", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok") })
	addr, _ := start(t, r, []hangup.Option{hangup.WithAccessLog(slog.New(logs))})

	c := dial(t, addr)
	send(t, c, reqPOST)
	w.waitEntered(t)
	c.Close()
	w.result(t)
	if line := <-logs; line["status"] != int64(499) || line["path"] != "/work" || line["gone_reason"] != "closed" {
		t.Errorf("hangup log line %v", line)
	}
	if s := <-statuses; s != 499 {
		t.Errorf("chi logger status %d, want 499", s)
	}

	c = dial(t, addr)
	send(t, c, "GET /ok HTTP/1.1\r\nHost: test\r\n\r\n")
	if s := <-statuses; s != 200 {
		t.Errorf("chi logger status %d for a served request, want 200", s)
	}
	<-logs
}

func TestMustFinish(t *testing.T) {
	release := make(chan struct{})
	entered := make(chan struct{}, 1)
	results := make(chan [2]bool, 1)
	r := chi.NewRouter()
	r.With(chihangup.MustFinish(waitLong)).Post("/pay", func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		entered <- struct{}{}
		<-hangup.Gone(ctx)
		<-release
		_, departed := hangup.Departed(ctx)
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
	chihangup.MustFinish(0)
}
