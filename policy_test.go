package hangup_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hangup-dev/hangup"
)

// TestMustFinish: work marked MustFinish keeps its context after the client
// left, Gone still fires, and the work is bounded by its deadline and by the
// detach limit.
func TestMustFinish(t *testing.T) {
	t.Run("keeps-running", func(t *testing.T) {
		var s *server
		reports := make(chan hangup.Report, 1)
		h := hangup.MustFinish(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			s.entered <- r
			select {
			case <-hangup.Gone(r.Context()):
			case <-time.After(waitLong):
			}
			time.Sleep(20 * time.Millisecond) // the rest of the work
			d, ok := hangup.Departed(r.Context())
			s.results <- outcome{cause: r.Context().Err(), departure: d, departed: ok}
		}), waitLong)
		s = startServer(t, serverOpts{handler: h, opts: []hangup.Option{hangup.OnAbandon(func(r hangup.Report) { reports <- r })}})
		c := dialTCP(t, s.addr())
		write(t, c, reqGET)
		s.waitEntered()
		c.Close()
		o := s.waitResult()
		if o.cause != nil {
			t.Fatalf("MustFinish context cancelled: %v", o.cause)
		}
		if !o.departed || o.departure.Phase != hangup.PhaseHandler {
			t.Fatalf("Departed = %+v, %v; want phase handler", o.departure, o.departed)
		}
		rep := <-reports
		if !rep.MustFinish || rep.StoppedAfter <= 0 {
			t.Fatalf("report %+v: want MustFinish and a positive StoppedAfter", rep)
		}
	})
	t.Run("deadline", func(t *testing.T) {
		var s *server
		h := hangup.MustFinish(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			s.waitHandler(w, r)
		}), 50*time.Millisecond)
		s = startServer(t, serverOpts{handler: h})
		c := dialTCP(t, s.addr())
		write(t, c, reqGET)
		s.waitEntered()
		c.Close()
		o := s.waitResult()
		if !errors.Is(o.cause, hangup.ErrDetachTimeout) || !errors.Is(o.cause, hangup.ErrClientGone) {
			t.Fatalf("cause = %v, want ErrDetachTimeout and ErrClientGone", o.cause)
		}
	})
	t.Run("limit", func(t *testing.T) {
		var s *server
		h := hangup.MustFinish(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			s.waitHandler(w, r)
		}), 300*time.Millisecond)
		s = startServer(t, serverOpts{handler: h, opts: []hangup.Option{hangup.WithDetachLimit(1)}})
		c1, c2 := dialTCP(t, s.addr()), dialTCP(t, s.addr())
		write(t, c1, reqGET)
		write(t, c2, reqGET)
		s.waitEntered()
		s.waitEntered()
		c1.Close()
		c2.Close()
		var limited, timedOut int
		for i := 0; i < 2; i++ {
			o := s.waitResult()
			switch {
			case errors.Is(o.cause, hangup.ErrDetachLimit):
				limited++
			case errors.Is(o.cause, hangup.ErrDetachTimeout):
				timedOut++
			default:
				t.Errorf("cause = %v", o.cause)
			}
		}
		if limited != 1 || timedOut != 1 {
			t.Fatalf("limited %d, timed out %d; want one each", limited, timedOut)
		}
	})
}

// TestShutdownWaitsForDetachedWork: Guard.Shutdown returns only after
// MustFinish work whose client left has finished.
func TestShutdownWaitsForDetachedWork(t *testing.T) {
	var finished atomic.Bool
	entered := make(chan struct{})
	srv := httptest.NewUnstartedServer(hangup.MustFinish(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		<-hangup.Gone(r.Context())
		time.Sleep(200 * time.Millisecond) // work that must finish
		finished.Store(true)
	}), waitLong))
	g := hangup.Install(srv.Config)
	srv.Start()
	defer srv.Close()
	c := dialTCP(t, srv.Listener.Addr().String())
	write(t, c, reqGET)
	<-entered
	c.Close()
	for g.Stats().Detached == 0 {
		time.Sleep(time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitLong)
	defer cancel()
	if err := g.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if !finished.Load() {
		t.Fatal("Shutdown returned before the detached work finished")
	}
}

// TestAccessLog499 checks the access log: 499 for a client that left (with
// the status the handler had written), the real status otherwise.
func TestAccessLog499(t *testing.T) {
	var buf syncBuffer
	log := slog.New(slog.NewJSONHandler(&buf, nil))
	var s *server
	s = startServer(t, serverOpts{opts: []hangup.Option{hangup.WithAccessLog(log)},
		handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/fast" {
				io.WriteString(w, "ok")
				return
			}
			s.waitHandler(w, r)
		})})
	resp, err := http.Get(s.srv.URL + "/fast")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	http.DefaultClient.CloseIdleConnections()
	c := dialTCP(t, s.addr())
	write(t, c, "GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
	s.waitEntered()
	c.Close()
	s.waitResult()
	s.srv.Close() // the log line is written after the handler returns

	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	status := map[string]float64{}
	for _, l := range lines {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("bad log line %q: %v", l, err)
		}
		status[m["path"].(string)] = m["status"].(float64)
		if m["path"] == "/slow" && (m["gone_phase"] != "handler" || m["gone_reason"] != "closed") {
			t.Errorf("log line %s lacks the phase and reason", l)
		}
	}
	if status["/fast"] != 200 || status["/slow"] != 499 {
		t.Fatalf("statuses %v, want /fast 200 and /slow 499; log:\n%s", status, buf.String())
	}
}

// TestBeforeHandler: a pipelined request read after its client left never
// reaches the handler and is counted in phase before_handler.
func TestBeforeHandler(t *testing.T) {
	var mu sync.Mutex
	var phases []hangup.Phase
	var calls atomic.Int32
	var s *server
	s = startServer(t, serverOpts{
		opts: []hangup.Option{hangup.OnAbandon(func(r hangup.Report) {
			mu.Lock()
			phases = append(phases, r.Phase)
			mu.Unlock()
		})},
		handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			calls.Add(1)
			s.waitHandler(w, r)
			// Answers anyway: a half-closed client may read it. (One that
			// wrote nothing would get no response at all.)
			io.WriteString(w, "answered anyway")
		})})
	c := dialTCP(t, s.addr())
	write(t, c, reqGET+reqGET)
	s.waitEntered()
	// A half-close: gone by the default policy, yet the socket still
	// reads, so the server goes on to read the second request.
	halfClose(t, c)
	expectGone(t, s.waitResult(), hangup.PhaseHandler)
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := io.ReadAll(resp.Body); string(b) != "answered anyway" {
		t.Errorf("first answer %q, want the handler's", b)
	}
	resp.Body.Close()
	if _, err := http.ReadResponse(br, nil); err == nil {
		t.Error("the second request, whose client had left, got an answer")
	}
	s.srv.Close()
	mu.Lock()
	defer mu.Unlock()
	if calls.Load() != 1 {
		t.Errorf("handler called %d times, want 1", calls.Load())
	}
	if len(phases) != 2 || phases[1] != hangup.PhaseBeforeHandler {
		t.Errorf("phases %v, want [handler before_handler]", phases)
	}
	if st := s.g.Stats(); st.GoneIn(hangup.PhaseBeforeHandler) != 1 {
		t.Errorf("stats %+v, want one before_handler", st)
	}
}

// TestMiddlewareOnly: without Install, Guard.Handler turns net/http's own
// cancellation into ErrClientGone — for the cases net/http sees.
func TestMiddlewareOnly(t *testing.T) {
	entered := make(chan struct{}, 1)
	results := make(chan error, 1)
	g := hangup.New()
	srv := httptest.NewServer(g.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		entered <- struct{}{}
		select {
		case <-r.Context().Done():
		case <-time.After(waitLong):
		}
		results <- context.Cause(r.Context())
	})))
	defer srv.Close()
	c := dialTCP(t, srv.Listener.Addr().String())
	write(t, c, reqGET)
	<-entered
	c.Close()
	err := <-results
	var ge *hangup.GoneError
	if !errors.As(err, &ge) || ge.Reason != hangup.ReasonNetHTTP {
		t.Fatalf("cause = %v, want a GoneError with reason net_http", err)
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// TestLeftAfterCompleteResponse: a client that reads its whole answer and
// closes while the handler is still busy (draining an upload, say) did not
// abandon the request: no OnAbandon, and the log keeps the real status.
func TestLeftAfterCompleteResponse(t *testing.T) {
	var buf syncBuffer
	var abandoned atomic.Int32
	var s *server
	s = startServer(t, serverOpts{
		opts: []hangup.Option{
			hangup.WithAccessLog(slog.New(slog.NewJSONHandler(&buf, nil))),
			hangup.OnAbandon(func(hangup.Report) { abandoned.Add(1) }),
		},
		handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", "6")
			w.WriteHeader(http.StatusUnauthorized)
			io.WriteString(w, "denied")
			http.NewResponseController(w).Flush()
			s.waitHandler(w, r) // busy until the client leaves
		})})
	c := dialTCP(t, s.addr())
	write(t, c, reqPostPartial)
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	io.ReadAll(resp.Body)
	s.waitEntered()
	c.Close()
	s.waitResult()
	s.srv.Close()
	if n := abandoned.Load(); n != 0 {
		t.Errorf("OnAbandon called %d times for a request whose answer was complete", n)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(strings.TrimSpace(buf.String())), &m); err != nil {
		t.Fatalf("log %q: %v", buf.String(), err)
	}
	if m["status"] != float64(401) {
		t.Errorf("logged status %v, want the 401 that was delivered", m["status"])
	}
}
