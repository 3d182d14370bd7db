package chihangup_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"
	"github.com/hangup-dev/hangup"
	"github.com/hangup-dev/hangup/chihangup"
	"github.com/hangup-dev/hangup/internal/adaptertest"
)

// chiKnows is the set chi's middleware.NewWrapResponseWriter passes on.
const chiKnows = adaptertest.Flusher | adaptertest.Hijacker | adaptertest.Pusher | adaptertest.ReaderFrom

// TestMiddlewareStack: a chi router with a middleware stack (chi's RequestLogger
// with chihangup's LogFormatter, and Recoverer, which wrap the writer with chi's
// middleware.NewWrapResponseWriter, as do Compress and others) and a
// middleware of its own that wraps it again, over HTTP/1, HTTP/2 over TLS
// and h2c. chi picks its wrapper by asserting optional interfaces (HTTP/2:
// Flusher and Pusher; HTTP/1: Flusher, Hijacker and ReaderFrom): the one it
// builds on hangup's writer must have the interfaces of the one it would
// build on net/http's. The handler streams through it (Flush, Push on
// HTTP/2, io.Copy) and stops when its client leaves, its context cancelled
// with ErrClientGone.
func TestMiddlewareStack(t *testing.T) {
	for _, tr := range adaptertest.Transports {
		t.Run(tr.Name, func(t *testing.T) {
			type result struct {
				got, want adaptertest.Ifaces
				pushErr   error
				cause     error
			}
			results := make(chan result, 1)
			r := chi.NewRouter()
			quiet := &middleware.DefaultLogFormatter{Logger: log.New(io.Discard, "", 0), NoColor: true}
			r.Use(middleware.RequestLogger(chihangup.LogFormatter(quiet)), middleware.Recoverer)
			r.Use(func(next http.Handler) http.Handler {
				return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					ww := middleware.NewWrapResponseWriter(w, r.ProtoMajor)
					next.ServeHTTP(ww, r)
				})
			})
			r.Get("/stream", func(w http.ResponseWriter, r *http.Request) {
				raw := adaptertest.RawWriter(r.Context())
				res := result{
					got:  adaptertest.IfacesOf(w),
					want: adaptertest.IfacesOf(middleware.NewWrapResponseWriter(raw, r.ProtoMajor)),
				}
				if res.want != tr.Want&chiKnows {
					t.Errorf("chi on net/http's writer has %v, want %v: the test's expectations are out of date", res.want, tr.Want&chiKnows)
				}
				if p, ok := w.(http.Pusher); ok {
					res.pushErr = p.Push("/style.css", nil)
				}
				w.Header().Set("Content-Type", "text/event-stream")
				ctx := r.Context()
				stop := time.After(adaptertest.WaitLong)   // should the context never end
				io.Copy(w, strings.NewReader("event 0\n")) // ReadFrom, where there is one
				for i := 1; ; i++ {
					fmt.Fprintf(w, "event %d\n", i)
					if f, ok := w.(http.Flusher); ok {
						f.Flush()
					}
					select {
					case <-ctx.Done():
						res.cause = context.Cause(ctx)
						results <- res
						return
					case <-stop:
						results <- res
						return
					case <-time.After(time.Millisecond): // a ticker's pace
					}
				}
			})
			url, client, _ := tr.Serve(t, r, true)
			s := adaptertest.OpenStream(t, client, url+"/stream")
			s.WantLines("event 0", "event 1", "event 2")
			s.Leave()
			res := adaptertest.Await(t, results, "handler returned")
			if res.got != res.want {
				t.Errorf("chi's writer on hangup's has %v; on net/http's it has %v", res.got, res.want)
			}
			if tr.HTTP2 && !errors.Is(res.pushErr, http.ErrNotSupported) {
				// Go's client refuses pushes: net/http says so.
				t.Errorf("Push: %v, want net/http's http.ErrNotSupported", res.pushErr)
			}
			if !errors.Is(res.cause, hangup.ErrClientGone) {
				t.Errorf("cause %v, want ErrClientGone", res.cause)
			}
		})
	}
}
