package fasthttphangup_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hangup-dev/hangup"
	"github.com/hangup-dev/hangup/fasthttphangup"
	"github.com/hangup-dev/hangup/internal/adaptertest"
	"github.com/valyala/fasthttp"
)

// TestSuite runs the adapters' shared suite on fasthttp. In the baseline,
// without the Guard, nothing tells the handler that its client left:
// RequestCtx.Done() closes only at shutdown.
func TestSuite(t *testing.T) {
	adaptertest.Run(t, adaptertest.Server{Name: "fasthttp", Start: startSuite})
}

// TestPipelinedAfterFIN: a client sends two requests and shuts down its
// writing side. The first is cancelled while it runs (and answers anyway);
// the second is not handed to the handler at all, and gets no response:
// the connection is closed.
func TestPipelinedAfterFIN(t *testing.T) {
	rec := adaptertest.NewRecorder(adaptertest.WaitLong)
	addr, g := startSuite(t, rec, adaptertest.Installed)
	c := adaptertest.Dial(t, addr)
	c.Send(adaptertest.GET + adaptertest.GET)
	rec.WaitEntered(t)
	if err := c.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	adaptertest.WantGone(t, rec.Result(t), hangup.ReasonClosed)
	c.SetReadDeadline(time.Now().Add(adaptertest.WaitLong))
	b, err := io.ReadAll(c)
	if err != nil {
		t.Fatal(err)
	}
	if got := string(b); !strings.HasSuffix(got, "\r\n\r\ndone") || strings.Count(got, "HTTP/1.1 ") != 1 {
		t.Errorf("read %q, want the first request's answer and nothing for the second", got)
	}
	adaptertest.Eventually(t, "requests finished", func() bool { return g.Stats().Requests == 2 && g.Stats().InFlight == 0 })
	st := g.Stats()
	if st.GoneIn(hangup.PhaseHandler) != 1 || st.GoneIn(hangup.PhaseBeforeHandler) != 1 {
		t.Errorf("stats = %+v, want one gone in handler and one before", st)
	}
	if rec.Pending() != 0 {
		t.Error("the second request reached the handler")
	}
}

func TestMustFinishDetachLimit(t *testing.T) {
	rec := adaptertest.NewRecorder(adaptertest.WaitLong)
	s := &fasthttp.Server{Handler: fasthttphangup.MustFinish(handler(rec), adaptertest.WaitLong)}
	fasthttphangup.Install(s, fasthttphangup.WithDetachLimit(0))
	o := adaptertest.Abandon(t, serve(t, s), adaptertest.GET, adaptertest.FIN, rec)
	if !errors.Is(o.Cause, hangup.ErrDetachLimit) || !errors.Is(o.Cause, hangup.ErrClientGone) {
		t.Errorf("cause = %v, want ErrDetachLimit and ErrClientGone", o.Cause)
	}
}

func TestAccessLog499(t *testing.T) {
	rec := adaptertest.NewRecorder(adaptertest.WaitLong)
	logs := adaptertest.NewLogs()
	var mu sync.Mutex
	var reports []hangup.Report
	s := &fasthttp.Server{Handler: handler(rec)}
	fasthttphangup.Install(s,
		fasthttphangup.WithAccessLog(logs.Logger()),
		fasthttphangup.OnAbandon(func(r hangup.Report) { mu.Lock(); reports = append(reports, r); mu.Unlock() }),
	)
	adaptertest.Abandon(t, serve(t, s), adaptertest.PostWhole, adaptertest.FIN, rec)
	line := logs.Next(t)
	adaptertest.Want499(t, line, adaptertest.Path)
	adaptertest.WantAttrs(t, line, map[string]any{"method": "POST", "bytes_in": int64(5)})
	mu.Lock()
	defer mu.Unlock()
	if len(reports) != 1 || reports[0].Reason != hangup.ReasonClosed || reports[0].Method != "POST" {
		t.Errorf("reports = %+v", reports)
	}
}

func TestAccessLogServed(t *testing.T) {
	var buf bytes.Buffer
	var mu sync.Mutex
	logged := make(chan struct{}, 1)
	s := &fasthttp.Server{Handler: func(fctx *fasthttp.RequestCtx) { fctx.SetBodyString("hi") }}
	fasthttphangup.Install(s, fasthttphangup.WithAccessLog(slog.New(slog.NewJSONHandler(writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		buf.Write(p)
		logged <- struct{}{}
		return len(p), nil
	}), nil))))
	c := adaptertest.Dial(t, serve(t, s))
	c.Send(adaptertest.GET)
	c.ReadResponse()
	<-logged
	mu.Lock()
	defer mu.Unlock()
	var line map[string]any
	if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
		t.Fatal(err)
	}
	if line["status"] != float64(200) || line["bytes_out"] != float64(2) || line["gone_reason"] != nil {
		t.Errorf("log line = %s", buf.Bytes())
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// TestWithoutWatch: a Guard that was never told about the server still gives
// every request a context, cancelled when the handler returns.
func TestWithoutWatch(t *testing.T) {
	g := fasthttphangup.New()
	var ctx context.Context
	s := &fasthttp.Server{Handler: g.Handler(func(fctx *fasthttp.RequestCtx) {
		ctx = fasthttphangup.Context(fctx)
		if ctx.Err() != nil {
			t.Error("context cancelled before the handler returned")
		}
	})}
	c := adaptertest.Dial(t, serve(t, s))
	c.Send(adaptertest.GET)
	c.ReadResponse()
	if ctx == nil || !errors.Is(context.Cause(ctx), context.Canceled) {
		t.Errorf("after the handler: cause %v, want context.Canceled", context.Cause(ctx))
	}
	if st := g.Stats(); st.Conns != 0 || st.Requests != 1 {
		t.Errorf("stats = %+v", st)
	}
}

func TestBaseContext(t *testing.T) {
	type key struct{}
	base, cancel := context.WithCancelCause(context.WithValue(context.Background(), key{}, "v"))
	rec := adaptertest.NewRecorder(adaptertest.WaitLong)
	h := handler(rec)
	s := &fasthttp.Server{Handler: func(fctx *fasthttp.RequestCtx) {
		if fasthttphangup.Context(fctx).Value(key{}) != "v" {
			t.Error("base context's value not visible")
		}
		h(fctx)
	}}
	fasthttphangup.Install(s, fasthttphangup.WithBaseContext(base))
	c := adaptertest.Dial(t, serve(t, s))
	c.Send(adaptertest.GET)
	rec.WaitEntered(t)
	stop := errors.New("shutting down")
	cancel(stop)
	if o := rec.Result(t); !errors.Is(o.Cause, stop) {
		t.Errorf("cause = %v, want the base context's", o.Cause)
	}
	c.ReadResponse()
}

func TestMustFinishPanics(t *testing.T) {
	adaptertest.WantPanic(t, "MustFinish(h, 0)", func() { fasthttphangup.MustFinish(func(*fasthttp.RequestCtx) {}, 0) })
}
