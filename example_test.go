package hangup_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"time"

	"github.com/hangup-dev/hangup"
)

// Install a Guard on a server: every request's context is then cancelled
// with cause ErrClientGone when its client leaves, even while its body is
// unread.
func ExampleInstall() {
	done := make(chan string, 1)
	entered := make(chan struct{})
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		<-r.Context().Done() // a query, an upstream call… stops here
		d, _ := hangup.Departed(r.Context())
		done <- fmt.Sprintf("gone: %v, phase %v", errors.Is(context.Cause(r.Context()), hangup.ErrClientGone), d.Phase)
	}))
	hangup.Install(srv.Config)
	srv.Start()
	defer srv.Close()

	// A client posts a large upload, sends six bytes of it, and gives up.
	c, _ := net.Dial("tcp", srv.Listener.Addr().String())
	fmt.Fprint(c, "POST / HTTP/1.1\r\nHost: example\r\nContent-Length: 1000000\r\n\r\nabcdef")
	<-entered
	c.Close()
	fmt.Println(<-done)
	// Output: gone: true, phase handler
}

// MustFinish keeps work going after the client left, bounded by a deadline;
// Gone still tells the handler that nobody will read the answer.
func ExampleMustFinish() {
	pay := func(ctx context.Context) error { return nil } // a write that must not stop half-way
	mux := http.NewServeMux()
	mux.Handle("POST /pay", hangup.MustFinish(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := pay(r.Context()); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		select {
		case <-hangup.Gone(r.Context()):
			slog.Info("paid, but the client had left; it will see the payment on its next visit")
		default:
			fmt.Fprintln(w, "paid")
		}
	}), 30*time.Second))
	srv := &http.Server{Addr: ":8080", Handler: mux}
	hangup.Install(srv, hangup.WithDetachLimit(100))
	_ = srv // srv.ListenAndServe()
}

// WithAccessLog logs one line per request, with nginx's status 499 for
// requests whose client left.
func ExampleWithAccessLog() {
	srv := &http.Server{Addr: ":8080"}
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	hangup.Install(srv,
		hangup.WithAccessLog(log),
		hangup.OnAbandon(func(r hangup.Report) {
			log.Warn("work outlived its client", "route", r.Route, "phase", r.Phase, "stopped_after", r.StoppedAfter)
		}),
		hangup.WithKeepAlive(30*time.Second, 10*time.Second, 3),
	)
}

// Gone is the CloseNotifier of contexts: a channel closed when the client
// leaves.
func ExampleGone() {
	h := func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-hangup.Gone(r.Context()):
			return
		case <-time.After(time.Second):
			fmt.Fprintln(w, "still here")
		}
	}
	_ = h
}

// A Guard without Install is plain middleware: it sees only what net/http
// reports (see Guard.Handler).
func ExampleGuard_Handler() {
	g := hangup.New()
	mux := http.NewServeMux()
	handler := g.Handler(mux)
	_ = handler // http.ListenAndServe(":8080", handler)
	fmt.Println(g.Stats().InFlight)
	// Output: 0
}

// An Admission in front of heavy work: four at once, a hundred in line, none
// waiting longer than users will; a user who gives up in line costs nothing.
func ExampleAdmission() {
	heavy := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// rows, err := db.QueryContext(r.Context(), heavyQuery)
	})
	line := hangup.NewAdmission(4, 100, 1500*time.Millisecond)
	mux := http.NewServeMux()
	mux.Handle("/report", line.Handler(heavy))
	srv := &http.Server{Addr: ":8080", Handler: mux}
	hangup.Install(srv)
	fmt.Println(line.Stats().Active)
	// Output: 0
}

// TryAcquire before Wait tells a request that must wait in line from one
// that gets a slot at once: to say so, or to count it.
func ExampleAdmission_TryAcquire() {
	line := hangup.NewAdmission(1, 10, 0)
	work := func(ctx context.Context, name string) (done func()) {
		release, ok := line.TryAcquire()
		if !ok {
			fmt.Println(name, "waits for a slot")
			var err error
			if release, err = line.Wait(ctx); err != nil {
				return func() {} // ErrQueueFull, ErrQueueTimeout, or the client left
			}
		}
		fmt.Println(name, "works")
		return release
	}
	first := work(context.Background(), "first")
	ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
	defer cancel()
	work(ctx, "second")() // gives up: first holds the slot
	first()
	work(context.Background(), "third")()
	fmt.Println(line.Stats().Queued, "queued")
	// Output:
	// first works
	// second waits for a slot
	// third works
	// 1 queued
}

// spanKey stands for a tracing library's context key (OpenTelemetry's
// trace.SpanFromContext reads its own).
type spanKey struct{}

// WithTraceID gives the access log the trace id of the span that a tracing
// middleware wrapped around the Guard put in the request's context.
func ExampleWithTraceID() {
	log := slog.New(slog.NewTextHandler(os.Stdout, &slog.HandlerOptions{
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			switch a.Key {
			case "time", "duration", "remote":
				return slog.Attr{} // left out, for a steady Output
			}
			return a
		},
	}))
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok")
	}))
	hangup.Install(srv.Config,
		hangup.WithAccessLog(log),
		hangup.WithTraceID(func(ctx context.Context) string {
			id, _ := ctx.Value(spanKey{}).(string)
			return id
		}))
	guarded := srv.Config.Handler
	srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The tracing middleware, outside the Guard: otelhttp.NewHandler.
		ctx := context.WithValue(r.Context(), spanKey{}, "4bf92f3577b34da6a3ce929d0e0e4736")
		guarded.ServeHTTP(w, r.WithContext(ctx))
	})
	srv.Start()
	defer srv.Close()

	req, _ := http.NewRequest("GET", srv.URL+"/orders", nil)
	req.Header.Set("User-Agent", "example/1.0")
	req.Header.Set("X-Request-Id", "req-42")
	res, err := srv.Client().Do(req)
	if err != nil {
		panic(err)
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	// Output: level=INFO msg=request method=GET path=/orders proto=HTTP/1.1 status=200 bytes_in=0 bytes_out=2 user_agent=example/1.0 request_id=req-42 trace_id=4bf92f3577b34da6a3ce929d0e0e4736
}
