package otelhangup_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/hangup-dev/hangup"
	"github.com/hangup-dev/hangup/otelhangup"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// waitLong bounds every wait; no test asserts a duration.
const waitLong = 10 * time.Second

// TestSpans runs an otelhttp-instrumented handler under hangup.Install that
// calls a real upstream through otelhttp's Transport and holds a "database"
// span around a real blocking socket read (a stand-in for a driver: the
// span ends in error when the read fails, as a driver's does when its
// context is cancelled), while real loopback clients stay or leave. The
// spans go through otelhangup.SpanProcessor to the SDK's span recorder.
func TestSpans(t *testing.T) {
	cases := []struct {
		name       string
		scenario   // h2: net/http's client over TLS; else a raw TCP client
		leave      func(*net.TCPConn)
		wantReason string // "" for a client that stays
		wantStatus int    // the server span's http.response.status_code
		wantDBErr  bool   // the database span stays an error
	}{
		{name: "FIN", scenario: scenario{up: "block", db: "block"}, leave: closeConn, wantReason: "closed", wantStatus: 499},
		{name: "RST", scenario: scenario{up: "block", db: "block"}, leave: resetConn, wantReason: "reset", wantStatus: 499},
		{name: "FIN, then 500", scenario: scenario{up: "block", db: "block", answer: "500"}, leave: closeConn, wantReason: "closed", wantStatus: 500},
		{name: "HTTP/2 stream reset", scenario: scenario{up: "block", db: "block", h2: true}, wantReason: "stream_reset", wantStatus: 499},
		{name: "completed", scenario: scenario{up: "answer", db: "answer"}, wantStatus: 200},
		{name: "database fails, client stays", scenario: scenario{up: "answer", db: "fail"}, wantStatus: 200, wantDBErr: true},
		// MustFinish work goes on after the client left, its context
		// alive: a query that fails then is an error of its own.
		{name: "MustFinish, database fails after FIN", scenario: scenario{up: "answer", db: "fail", mustFinish: true}, leave: closeConn, wantReason: "closed", wantStatus: 200, wantDBErr: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, tc.scenario)
			switch {
			case tc.wantReason == "":
				e.get(t)
			case tc.h2:
				e.leaveH2(t)
			default:
				e.leaveH1(t, tc.leave)
			}
			spans := e.rec.Ended()
			var servers, dbs, clients []sdktrace.ReadOnlySpan
			for _, s := range spans {
				switch {
				case s.SpanKind() == trace.SpanKindServer:
					servers = append(servers, s)
				case s.Name() == "db.query":
					dbs = append(dbs, s)
				case s.SpanKind() == trace.SpanKindClient:
					clients = append(clients, s)
				}
			}
			if len(servers) != 1 || len(dbs) != 1 || len(clients) != 1 {
				t.Fatalf("%d server, %d database, %d client spans, want one each", len(servers), len(dbs), len(clients))
			}
			srv := servers[0]
			if got := intAttr(srv.Attributes(), "http.response.status_code"); got != tc.wantStatus {
				t.Errorf("server span http.response.status_code = %d, want %d", got, tc.wantStatus)
			}
			if srv.Status().Code != codes.Unset {
				t.Errorf("server span status %v, want Unset", srv.Status())
			}
			evs := events(srv, "hangup.client_gone")
			if tc.wantReason == "" {
				if len(evs) != 0 {
					t.Errorf("a client that stayed: server span has %d hangup.client_gone events", len(evs))
				}
			} else if len(evs) != 1 {
				t.Errorf("server span has %d hangup.client_gone events, want 1", len(evs))
			} else {
				ev := evs[0]
				if got := strAttr(ev.Attributes, "hangup.reason"); got != tc.wantReason {
					t.Errorf("event hangup.reason = %q, want %q", got, tc.wantReason)
				}
				if got := strAttr(ev.Attributes, "hangup.phase"); got != "handler" {
					t.Errorf("event hangup.phase = %q, want handler", got)
				}
				if el, ok := attr(ev.Attributes, "hangup.elapsed"); !ok || el.AsFloat64() <= 0 {
					t.Errorf("event hangup.elapsed = %v, want > 0", el.Emit())
				}
				if sa, ok := attr(ev.Attributes, "hangup.stopped_after"); !ok || sa.AsFloat64() < 0 {
					t.Errorf("event hangup.stopped_after = %v, want >= 0", sa.Emit())
				}
			}
			if tc.wantReason != "" {
				select {
				case sc := <-e.abandoned:
					if !sc.Equal(srv.SpanContext()) {
						t.Errorf("OnAbandon: otelhangup.SpanContext = %v, want the server span's %v", sc, srv.SpanContext())
					}
				case <-time.After(waitLong):
					t.Error("OnAbandon not called")
				}
			}
			if got := clients[0].Status().Code; got != codes.Unset {
				t.Errorf("upstream client span status %v, want Unset", clients[0].Status())
			}
			wantDB := codes.Unset
			if tc.wantDBErr {
				wantDB = codes.Error
			}
			if got := dbs[0].Status().Code; got != wantDB {
				t.Errorf("database span status %v, want %v", dbs[0].Status(), wantDB)
			}
			for _, s := range append(clients, dbs...) {
				_, marked := attr(s.Attributes(), "hangup.client_gone")
				if want := tc.wantReason != "" && !tc.mustFinish && (s == clients[0] || !tc.wantDBErr); marked != want {
					t.Errorf("span %q marked hangup.client_gone: %v, want %v", s.Name(), marked, want)
				}
			}
		})
	}
}

// env is a server under test: its upstream, its database stand-in, and
// the tracer provider that records their spans.
type env struct {
	rec         *tracetest.SpanRecorder
	srv         *httptest.Server
	started     []chan struct{} // what runs once the request is under way (see waitCalls)
	serverEnded chan struct{}
	abandoned   chan trace.SpanContext // what OnAbandon found for its request
}

// scenario is what the server under test does.
type scenario struct {
	up, db     string // what the upstream and the database do: "block" until cancelled, or "answer"; "fail": the database drops the connection
	answer     string // what the handler writes once its calls ended: "" nothing when cancelled, "500" a 500 when cancelled
	h2         bool   // serve TLS with HTTP/2
	mustFinish bool   // the handler is hangup.MustFinish work that starts its calls once the client left
}

func newEnv(t *testing.T, sc scenario) *env {
	e := &env{
		rec:         tracetest.NewSpanRecorder(),
		serverEnded: make(chan struct{}, 1),
		abandoned:   make(chan trace.SpanContext, 1),
	}
	upstreamIn := make(chan struct{}, 1) // the upstream's handler runs
	dbIn := make(chan struct{}, 1)       // the database accepted the handler's connection
	entered := make(chan struct{}, 1)    // the MustFinish handler runs
	for _, c := range []struct {
		on bool
		ch chan struct{}
	}{{sc.up == "block", upstreamIn}, {sc.db == "block", dbIn}, {sc.mustFinish, entered}} {
		if c.on {
			e.started = append(e.started, c.ch)
		}
	}
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithSpanProcessor(otelhangup.SpanProcessor(e.rec)),
		sdktrace.WithSpanProcessor(signal{e.serverEnded}), // after the recorder has the span
	)
	t.Cleanup(func() { tp.Shutdown(context.Background()) })

	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if sc.up == "block" {
			upstreamIn <- struct{}{}
			<-r.Context().Done()
			return
		}
		io.WriteString(w, "upstream")
	}))
	t.Cleanup(upstream.Close)
	dbAddr := startDB(t, sc.db, dbIn)

	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	client := &http.Client{Transport: otelhttp.NewTransport(tr, otelhttp.WithTracerProvider(tp))}
	tracer := tp.Tracer("db")
	var handler http.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		if sc.mustFinish {
			entered <- struct{}{}
			<-hangup.Gone(ctx)
		}
		var wg sync.WaitGroup
		var upErr error
		wg.Go(func() {
			req, _ := http.NewRequestWithContext(ctx, "GET", upstream.URL, nil)
			resp, err := client.Do(req)
			if err != nil {
				upErr = err
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		})
		wg.Go(func() { query(ctx, tracer, dbAddr) })
		wg.Wait()
		if ctx.Err() == nil {
			io.WriteString(w, "ok")
		} else if sc.answer == "500" && upErr != nil {
			http.Error(w, "upstream: "+upErr.Error(), http.StatusInternalServerError)
		}
	})
	if sc.mustFinish {
		handler = hangup.MustFinish(handler, waitLong)
	}
	e.srv = httptest.NewUnstartedServer(otelhttp.NewHandler(handler, "server", otelhttp.WithTracerProvider(tp)))
	hangup.Install(e.srv.Config, hangup.OnAbandon(func(r hangup.Report) {
		e.abandoned <- otelhangup.SpanContext(r.Context)
	}))
	if sc.h2 {
		e.srv.EnableHTTP2 = true
		e.srv.StartTLS()
	} else {
		e.srv.Start()
	}
	t.Cleanup(e.srv.Close)
	return e
}

// query is the database call: a span around a read of a real socket that
// ends when ctx does, as a driver's query does.
func query(ctx context.Context, tracer trace.Tracer, addr string) {
	ctx, span := tracer.Start(ctx, "db.query", trace.WithSpanKind(trace.SpanKindClient))
	defer span.End()
	err := func() error {
		c, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
		if err != nil {
			return err
		}
		defer c.Close()
		stop := context.AfterFunc(ctx, func() { c.Close() })
		defer stop()
		var b [1]byte
		if _, err := c.Read(b[:]); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return err
		}
		return nil
	}()
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
}

// startDB listens for the database's one connection: "block" holds it
// until the client closes it, "answer" answers a byte, "fail" drops it.
func startDB(t *testing.T, mode string, in chan<- struct{}) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		switch mode {
		case "block":
			in <- struct{}{}
			io.Copy(io.Discard, c)
		case "answer":
			c.Write([]byte{1})
			io.Copy(io.Discard, c)
		}
	}()
	t.Cleanup(func() { ln.Close(); <-done })
	return ln.Addr().String()
}

// get makes a request that completes.
func (e *env) get(t *testing.T) {
	resp, err := http.Get(e.srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	http.DefaultClient.CloseIdleConnections()
	e.waitServerSpan(t)
}

// leaveH1 sends a request on a raw TCP connection and leaves once the
// handler's calls are under way (see waitCalls).
func (e *env) leaveH1(t *testing.T, leave func(*net.TCPConn)) {
	c, err := net.Dial("tcp", e.srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	e.waitCalls(t)
	leave(c.(*net.TCPConn))
	e.waitServerSpan(t)
}

// leaveH2 makes the request with net/http's HTTP/2 client and cancels it
// once both calls are under way: the client resets the stream (RST_STREAM)
// and keeps the connection.
func (e *env) leaveH2(t *testing.T) {
	client := e.srv.Client()
	defer client.CloseIdleConnections()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errc := make(chan error, 1)
	go func() {
		req, _ := http.NewRequestWithContext(ctx, "GET", e.srv.URL, nil)
		resp, err := client.Do(req)
		if err == nil {
			if resp.ProtoMajor != 2 {
				err = errors.New("served over " + resp.Proto + ", not HTTP/2")
			}
			resp.Body.Close()
		}
		errc <- err
	}()
	e.waitCalls(t)
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("client: %v, want context.Canceled", err)
	}
	// Before the deferred close: the server must see the reset alone.
	e.waitServerSpan(t)
}

func (e *env) waitServerSpan(t *testing.T) {
	t.Helper()
	select {
	case <-e.serverEnded:
	case <-time.After(waitLong):
		t.Fatal("the server span never ended")
	}
}

// waitCalls waits for what runs once the request is under way: the calls
// that block, and a MustFinish handler.
func (e *env) waitCalls(t *testing.T) {
	t.Helper()
	for _, ch := range e.started {
		select {
		case <-ch:
		case <-time.After(waitLong):
			t.Fatal("the handler's calls never started")
		}
	}
}

func closeConn(c *net.TCPConn) { c.Close() }
func resetConn(c *net.TCPConn) { c.SetLinger(0); c.Close() }

// signal tells the test when a server span ended.
type signal struct{ ch chan<- struct{} }

func (s signal) OnStart(context.Context, sdktrace.ReadWriteSpan) {}
func (s signal) OnEnd(sp sdktrace.ReadOnlySpan) {
	if sp.SpanKind() == trace.SpanKindServer {
		s.ch <- struct{}{}
	}
}
func (s signal) Shutdown(context.Context) error   { return nil }
func (s signal) ForceFlush(context.Context) error { return nil }

func events(s sdktrace.ReadOnlySpan, name string) []sdktrace.Event {
	var out []sdktrace.Event
	for _, ev := range s.Events() {
		if ev.Name == name {
			out = append(out, ev)
		}
	}
	return out
}

func attr(attrs []attribute.KeyValue, key string) (attribute.Value, bool) {
	for _, kv := range attrs {
		if string(kv.Key) == key {
			return kv.Value, true
		}
	}
	return attribute.Value{}, false
}

func intAttr(attrs []attribute.KeyValue, key string) int {
	v, _ := attr(attrs, key)
	return int(v.AsInt64())
}

func strAttr(attrs []attribute.KeyValue, key string) string {
	v, _ := attr(attrs, key)
	return v.AsString()
}
