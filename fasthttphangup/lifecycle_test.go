package fasthttphangup_test

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/hangup-dev/hangup"
	"github.com/hangup-dev/hangup/fasthttphangup"
	"github.com/hangup-dev/hangup/internal/adaptertest"
	"github.com/valyala/fasthttp"
)

// The rules fasthttp's requests share with net/http's (internal/lifecycle):
// these drifted while fasthttphangup had its own copy.

// TestCompleteAnswerIsNotAbandoned: a client sends its request and
// half-closes; the handler sees the departure and answers anyway. As with
// hangup's Guard, a response written whole (a status without a body, an
// answer to HEAD, a body as long as the Content-Length the handler set) is
// no abandon: OnAbandon is not called and the access log keeps the real
// status. A body of no declared length is not known to be complete: 499.
// OnDone gets every one, Report.Abandoned telling them apart.
func TestCompleteAnswerIsNotAbandoned(t *testing.T) {
	for _, tc := range []struct {
		name       string
		req        string
		answer     func(fctx *fasthttp.RequestCtx)
		wantStatus int64
		abandoned  bool
	}{
		{"no-content", adaptertest.GET, func(fctx *fasthttp.RequestCtx) { fctx.SetStatusCode(fasthttp.StatusNoContent) }, 204, false},
		{"declared-length", adaptertest.GET, func(fctx *fasthttp.RequestCtx) {
			fctx.Response.Header.SetContentLength(5)
			fctx.SetBodyString("hello")
		}, 200, false},
		{"head", "HEAD " + adaptertest.Path + " HTTP/1.1\r\nHost: test\r\n\r\n", func(fctx *fasthttp.RequestCtx) {
			fctx.Response.Header.Set("ETag", `"v1"`)
		}, 200, false},
		{"undeclared-length", adaptertest.GET, func(fctx *fasthttp.RequestCtx) { fctx.SetBodyString("hello") }, hangup.StatusClientClosedRequest, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			logs := adaptertest.NewLogs()
			var abandoned atomic.Int32
			done := make(chan hangup.Report, 1)
			s := quietServer(func(fctx *fasthttp.RequestCtx) {
				select {
				case <-fasthttphangup.Gone(fasthttphangup.Context(fctx)):
				case <-time.After(adaptertest.WaitLong):
				}
				tc.answer(fctx)
			})
			fasthttphangup.Install(s,
				fasthttphangup.WithAccessLog(logs.Logger()),
				fasthttphangup.OnAbandon(func(hangup.Report) { abandoned.Add(1) }),
				fasthttphangup.OnDone(func(r hangup.Report) { done <- r }))
			if got := halfCloseAndRead(t, serve(t, s), tc.req); got == "" {
				t.Fatal("the half-closed client read nothing, want the answer")
			}
			line := logs.Next(t) // OnAbandon, if called, ran before the line
			adaptertest.WantAttrs(t, line, map[string]any{"status": tc.wantStatus, "gone_reason": "closed", "gone_phase": "handler"})
			if n := abandoned.Load(); (n == 1) != tc.abandoned || n > 1 {
				t.Errorf("OnAbandon called %d times, want abandoned = %v", n, tc.abandoned)
			}
			select {
			case r := <-done:
				if r.Abandoned() != tc.abandoned || r.Context == nil {
					t.Errorf("OnDone: Abandoned %v, Context %v; want %v and the request's context", r.Abandoned(), r.Context, tc.abandoned)
				}
			case <-time.After(adaptertest.WaitLong):
				t.Error("OnDone not called")
			}
		})
	}
}

// TestMustFinishRefusedAfterDeparture: as hangup.SetMustFinish, MustFinish
// gives no policy to a request whose client already left when it is
// reached: its context is cancelled already, there is nothing to finish,
// and its report says it was not allowed to.
func TestMustFinishRefusedAfterDeparture(t *testing.T) {
	entered := make(chan struct{}, 1)
	reports := make(chan hangup.Report, 1)
	var refused atomic.Bool
	inner := fasthttphangup.MustFinish(func(fctx *fasthttp.RequestCtx) {
		refused.Store(!hangup.SetMustFinish(fasthttphangup.Context(fctx), time.Minute))
	}, adaptertest.WaitLong)
	s := quietServer(func(fctx *fasthttp.RequestCtx) {
		entered <- struct{}{}
		<-fasthttphangup.Gone(fasthttphangup.Context(fctx))
		inner(fctx)
	})
	fasthttphangup.Install(s, fasthttphangup.OnAbandon(func(r hangup.Report) { reports <- r }))
	c := adaptertest.Dial(t, serve(t, s))
	c.Send(adaptertest.GET)
	<-entered
	c.Close()
	r := <-reports
	if r.MustFinish || r.Reason != hangup.ReasonClosed {
		t.Errorf("report: MustFinish %v, reason %v; want false, closed", r.MustFinish, r.Reason)
	}
	if !refused.Load() {
		t.Error("hangup.SetMustFinish accepted a request whose client had left")
	}
}

// TestAdmissionWaitPhase: as for net/http's requests, a client that leaves
// while its fasthttp request waits in an Admission's line (Wait) is counted
// in phase before_handler, not handler: its work had not started.
func TestAdmissionWaitPhase(t *testing.T) {
	line := hangup.NewAdmission(1, 1, 0)
	hold, err := line.Acquire(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer hold()
	waited := make(chan error, 1)
	s := quietServer(func(fctx *fasthttp.RequestCtx) {
		release, err := line.Wait(fasthttphangup.Context(fctx))
		if err == nil {
			release()
		}
		waited <- err
	})
	g := fasthttphangup.Install(s)
	c := adaptertest.Dial(t, serve(t, s))
	c.Send(adaptertest.GET)
	deadline := time.Now().Add(adaptertest.WaitLong)
	for line.Stats().Queued == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the request never waited in line")
		}
		time.Sleep(time.Millisecond)
	}
	c.Close()
	if err := <-waited; err == nil {
		t.Fatal("Wait admitted a request whose client left, want an error")
	}
	st := g.Stats()
	if st.GoneIn(hangup.PhaseBeforeHandler) != 1 || st.GoneIn(hangup.PhaseHandler) != 0 {
		t.Errorf("gone before_handler %d, handler %d; want 1, 0", st.GoneIn(hangup.PhaseBeforeHandler), st.GoneIn(hangup.PhaseHandler))
	}
}
