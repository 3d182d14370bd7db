package fasthttphangup_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/hangup-dev/hangup"
	"github.com/hangup-dev/hangup/fasthttphangup"
	"github.com/valyala/fasthttp"
)

func TestClientLeaves(t *testing.T) {
	for _, tc := range []struct {
		name   string
		req    string
		rst    bool
		reason hangup.Reason
	}{
		{"GET FIN", reqGET, false, hangup.ReasonClosed},
		{"GET RST", reqGET, true, hangup.ReasonReset},
		{"POST body unread FIN", reqPOST, false, hangup.ReasonClosed},
		{"POST body unread RST", reqPOST, true, hangup.ReasonReset},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWaiter(waitLong)
			s := &fasthttp.Server{Handler: w.fasthttp}
			g := fasthttphangup.Install(s)
			c := dial(t, serve(t, s))
			send(t, c, tc.req)
			w.waitEntered(t)
			leave(t, c, tc.rst)
			wantGone(t, w.result(t), tc.reason)
			eventually(t, "request finished", func() bool { return g.Stats().InFlight == 0 })
			st := g.Stats()
			if st.Requests != 1 || st.Gone[hangup.PhaseHandler] != 1 || st.GoneTotal() != 1 {
				t.Errorf("stats = %+v, want 1 request gone in phase handler", st)
			}
		})
	}
}

// TestPlainFasthttpDoesNotCancel is the baseline: without the Guard, nothing
// tells the handler that its client left; RequestCtx.Done() closes only at
// shutdown.
func TestPlainFasthttpDoesNotCancel(t *testing.T) {
	for _, tc := range []struct{ name, req string }{
		{"GET", reqGET},
		{"POST body unread", reqPOST},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWaiter(quiet)
			s := &fasthttp.Server{Handler: w.fasthttp}
			c := dial(t, serve(t, s))
			send(t, c, tc.req)
			w.waitEntered(t)
			leave(t, c, false)
			if o := w.result(t); o.cancelled || o.departed {
				t.Fatalf("plain fasthttp cancelled the handler (%v); the baseline is wrong", o.cause)
			}
		})
	}
}

// TestKeepAlive serves two requests on one connection: the second, and the
// idle time between them, must raise no alarm.
func TestKeepAlive(t *testing.T) {
	w := newWaiter(quiet)
	s := &fasthttp.Server{Handler: func(fctx *fasthttp.RequestCtx) {
		if string(fctx.Path()) == "/fast" {
			fctx.SetBodyString("fast")
			return
		}
		w.fasthttp(fctx)
	}}
	g := fasthttphangup.Install(s)
	c := dial(t, serve(t, s))
	br := bufio.NewReader(c)

	send(t, c, "GET /fast HTTP/1.1\r\nHost: test\r\n\r\n")
	if res := readResponse(t, br); res.StatusCode != 200 {
		t.Fatalf("first request: status %d", res.StatusCode)
	}
	send(t, c, reqGET)
	w.waitEntered(t)
	if o := w.result(t); o.cancelled || o.departed {
		t.Fatalf("second request on a live connection was cancelled: %v", o.cause)
	}
	if res := readResponse(t, br); res.StatusCode != 200 {
		t.Fatalf("second request: status %d", res.StatusCode)
	}
	leave(t, c, false)
	eventually(t, "connection closed", func() bool { return g.Stats().Conns == 0 })
	if st := g.Stats(); st.Requests != 2 || st.GoneTotal() != 0 || st.InFlight != 0 {
		t.Errorf("stats = %+v, want 2 requests, none gone", st)
	}
}

// TestPipelinedAfterFIN: a client sends two requests and shuts down its
// writing side. The first is cancelled while it runs; the second is not
// handed to the handler at all.
func TestPipelinedAfterFIN(t *testing.T) {
	w := newWaiter(waitLong)
	s := &fasthttp.Server{Handler: w.fasthttp}
	g := fasthttphangup.Install(s)
	c := dial(t, serve(t, s))
	send(t, c, reqGET+reqGET)
	w.waitEntered(t)
	if err := c.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	wantGone(t, w.result(t), hangup.ReasonClosed)
	br := bufio.NewReader(c)
	readResponse(t, br)
	if res := readResponse(t, br); !res.Close {
		t.Error("the request that was not served did not close the connection")
	}
	eventually(t, "requests finished", func() bool { return g.Stats().Requests == 2 && g.Stats().InFlight == 0 })
	st := g.Stats()
	if st.Gone[hangup.PhaseHandler] != 1 || st.Gone[hangup.PhaseBeforeHandler] != 1 {
		t.Errorf("gone = %v, want one in handler and one before", st.Gone)
	}
	select {
	case <-w.entered:
		t.Error("the second request reached the handler")
	default:
	}
}

func TestMustFinish(t *testing.T) {
	release := make(chan struct{})
	type seen struct {
		goneClosed, alive bool
		departed          bool
	}
	results := make(chan seen, 1)
	entered := make(chan struct{}, 1)
	h := fasthttphangup.MustFinish(func(fctx *fasthttp.RequestCtx) {
		ctx := fasthttphangup.Context(fctx)
		entered <- struct{}{}
		var s seen
		select {
		case <-fasthttphangup.Gone(ctx):
			s.goneClosed = true
		case <-time.After(waitLong):
		}
		<-release
		s.alive = ctx.Err() == nil
		_, s.departed = fasthttphangup.Departed(ctx)
		results <- s
	}, waitLong)
	s := &fasthttp.Server{Handler: h}
	g := fasthttphangup.Install(s)
	c := dial(t, serve(t, s))
	send(t, c, reqPOST)
	<-entered
	leave(t, c, false)
	eventually(t, "work detached", func() bool { return g.Stats().Detached == 1 })
	close(release)
	got := <-results
	if !got.goneClosed || !got.alive || !got.departed {
		t.Errorf("must-finish handler saw %+v; want Gone closed, context alive, Departed", got)
	}
	eventually(t, "request finished", func() bool { return g.Stats().InFlight == 0 })
	if st := g.Stats(); st.Detached != 0 {
		t.Errorf("detached = %d after the handler returned", st.Detached)
	}
}

func TestMustFinishDetachLimit(t *testing.T) {
	w := newWaiter(waitLong)
	s := &fasthttp.Server{Handler: fasthttphangup.MustFinish(w.fasthttp, waitLong)}
	fasthttphangup.Install(s, fasthttphangup.WithDetachLimit(0))
	c := dial(t, serve(t, s))
	send(t, c, reqGET)
	w.waitEntered(t)
	leave(t, c, false)
	o := w.result(t)
	if !errors.Is(o.cause, hangup.ErrDetachLimit) || !errors.Is(o.cause, hangup.ErrClientGone) {
		t.Errorf("cause = %v, want ErrDetachLimit and ErrClientGone", o.cause)
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

func TestAccessLog499(t *testing.T) {
	w := newWaiter(waitLong)
	logs := make(chanHandler, 4)
	var mu sync.Mutex
	var reports []hangup.Report
	s := &fasthttp.Server{Handler: w.fasthttp}
	fasthttphangup.Install(s,
		fasthttphangup.WithAccessLog(slog.New(logs)),
		fasthttphangup.OnAbandon(func(r hangup.Report) { mu.Lock(); reports = append(reports, r); mu.Unlock() }),
	)
	c := dial(t, serve(t, s))
	send(t, c, reqPOST)
	w.waitEntered(t)
	leave(t, c, false)
	w.result(t)
	var line map[string]any
	select {
	case line = <-logs:
	case <-time.After(waitLong):
		t.Fatal("no access log line")
	}
	if line["status"] != int64(499) || line["gone_reason"] != "closed" || line["gone_phase"] != "handler" ||
		line["method"] != "POST" || line["path"] != "/upload" || line["bytes_in"] != int64(5) {
		b, _ := json.Marshal(line)
		t.Errorf("log line = %s", b)
	}
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
	c := dial(t, serve(t, s))
	send(t, c, reqGET)
	readResponse(t, bufio.NewReader(c))
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
	c := dial(t, serve(t, s))
	send(t, c, reqGET)
	readResponse(t, bufio.NewReader(c))
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
	w := newWaiter(waitLong)
	s := &fasthttp.Server{Handler: func(fctx *fasthttp.RequestCtx) {
		if fasthttphangup.Context(fctx).Value(key{}) != "v" {
			t.Error("base context's value not visible")
		}
		w.fasthttp(fctx)
	}}
	fasthttphangup.Install(s, fasthttphangup.WithBaseContext(base))
	c := dial(t, serve(t, s))
	send(t, c, reqGET)
	w.waitEntered(t)
	stop := errors.New("shutting down")
	cancel(stop)
	if o := w.result(t); !errors.Is(o.cause, stop) {
		t.Errorf("cause = %v, want the base context's", o.cause)
	}
	readResponse(t, bufio.NewReader(c))
}

func TestMustFinishPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("MustFinish(h, 0) did not panic")
		}
	}()
	fasthttphangup.MustFinish(func(*fasthttp.RequestCtx) {}, 0)
}
