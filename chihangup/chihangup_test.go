package chihangup_test

import (
	"context"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"
	"github.com/hangup-dev/hangup"
	"github.com/hangup-dev/hangup/chihangup"
	"github.com/hangup-dev/hangup/internal/adaptertest"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestSuite runs the adapters' shared suite through chi's router. chi has
// no Status of its own: its handlers see the plain hangup context.
func TestSuite(t *testing.T) {
	adaptertest.Run(t, adaptertest.Server{Name: "chi", Start: startSuite, NetHTTP: true})
}

func startSuite(t testing.TB, rec *adaptertest.Recorder, mode adaptertest.Mode) (string, adaptertest.Guard) {
	r := chi.NewRouter()
	if mode == adaptertest.MustFinish {
		r.With(chihangup.MustFinish(adaptertest.WaitLong)).Handle(adaptertest.Path, handler(rec))
	} else {
		r.Handle(adaptertest.Path, handler(rec))
	}
	return adaptertest.ServeHTTP(t, r, mode != adaptertest.Plain)
}

// handler reports to rec what its request's context went through.
func handler(rec *adaptertest.Recorder) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		o := rec.Observe(ctx, hangup.Gone(ctx))
		o.Cause = context.Cause(ctx)
		o.Departure, o.Departed = hangup.Departed(ctx)
		rec.Record(o)
		io.WriteString(w, "done")
	}
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
	logs := adaptertest.NewLogs()
	statuses := make(statusFormatter, 4)
	rec := adaptertest.NewRecorder(adaptertest.WaitLong)
	r := chi.NewRouter()
	r.Use(middleware.RequestLogger(chihangup.LogFormatter(statuses)))
	r.Post(adaptertest.Path, handler(rec))
	r.Get("/ok", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok") })
	addr, _ := adaptertest.ServeHTTP(t, r, true, hangup.WithAccessLog(logs.Logger()))

	adaptertest.Abandon(t, addr, adaptertest.PostCutShort, adaptertest.FIN, rec)
	adaptertest.Want499(t, logs.Next(t), adaptertest.Path)
	if s := <-statuses; s != 499 {
		t.Errorf("chi logger status %d, want 499", s)
	}

	c := adaptertest.Dial(t, addr)
	c.Send(adaptertest.Get("/ok"))
	if s := <-statuses; s != 200 {
		t.Errorf("chi logger status %d for a served request, want 200", s)
	}
	logs.Next(t)
}

func TestMustFinishPanics(t *testing.T) {
	adaptertest.WantPanic(t, "MustFinish(0)", func() { chihangup.MustFinish(0) })
}
