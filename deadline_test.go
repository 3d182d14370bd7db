package hangup_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/hangup-dev/hangup"
	"github.com/hangup-dev/hangup/internal/adaptertest"
)

// TestOuterDeadline: Guard.Handler as plain middleware under
// http.TimeoutHandler (issue 15, case 9). hangup's request context derives
// from the connection's, not from the incoming request's, yet the handler
// must see the outer deadline (Deadline), and, once it passes,
// context.DeadlineExceeded as the error of its context and of contexts
// derived from it, with no departure counted. A client that leaves before
// the deadline is still told apart: cause ErrClientGone.
func TestOuterDeadline(t *testing.T) {
	type seen struct {
		deadline, outer time.Time
		ok              bool
		err, childErr   error
		cause           error
		departed        bool
	}
	for _, tr := range adaptertest.Transports {
		for _, tc := range []struct {
			name    string
			timeout time.Duration
			leave   bool // the client leaves before the deadline
		}{
			{"deadline passes", 100 * time.Millisecond, false},
			{"client leaves first", time.Hour, true},
		} {
			t.Run(tr.Name+"/"+tc.name, func(t *testing.T) {
				entered, results := make(chan struct{}, 1), make(chan seen, 1)
				outer := make(chan time.Time, 1)
				release := make(chan struct{})
				g := hangup.New()
				inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					ctx := r.Context()
					child, cancel := context.WithCancel(ctx)
					defer cancel()
					var s seen
					s.deadline, s.ok = ctx.Deadline()
					entered <- struct{}{}
					select {
					case <-child.Done():
					case <-time.After(waitLong):
					}
					s.err, s.childErr, s.cause = ctx.Err(), child.Err(), context.Cause(ctx)
					_, s.departed = hangup.Departed(ctx)
					s.outer = <-outer
					results <- s
					// Return only once TimeoutHandler answered, or its
					// select could take the handler's return for its
					// answer.
					select {
					case <-release:
					case <-time.After(waitLong):
					}
				})
				probe := func(next http.Handler) http.Handler {
					return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
						d, _ := r.Context().Deadline()
						outer <- d
						next.ServeHTTP(w, r)
					})
				}
				url, client, _ := tr.Serve(t, http.TimeoutHandler(probe(g.Handler(inner)), tc.timeout, "timeout"), false)

				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
				if err != nil {
					t.Fatal(err)
				}
				status := make(chan int, 1)
				go func() {
					res, err := client.Do(req)
					if err != nil {
						status <- 0
						return
					}
					io.Copy(io.Discard, res.Body)
					res.Body.Close()
					status <- res.StatusCode
				}()
				adaptertest.Await(t, entered, "handler entered")
				if tc.leave {
					cancel()
				}
				s := adaptertest.Await(t, results, "handler returned")
				code := adaptertest.Await(t, status, "client done")
				close(release)

				if !s.ok || !s.deadline.Equal(s.outer) {
					t.Errorf("Deadline() = %v, %v; want TimeoutHandler's %v", s.deadline, s.ok, s.outer)
				}
				if tc.leave {
					if !errors.Is(s.cause, hangup.ErrClientGone) || !s.departed {
						t.Errorf("cause %v, departed %v; want ErrClientGone, departed", s.cause, s.departed)
					}
					return
				}
				if code != http.StatusServiceUnavailable {
					t.Errorf("status %d, want TimeoutHandler's 503", code)
				}
				if s.err != context.DeadlineExceeded || s.childErr != context.DeadlineExceeded || !errors.Is(s.cause, context.DeadlineExceeded) {
					t.Errorf("Err() %v, a derived context's Err() %v, cause %v; want context.DeadlineExceeded for each", s.err, s.childErr, s.cause)
				}
				if s.departed {
					t.Error("the deadline counted as a departure")
				}
				if st := g.Stats(); st.GoneTotal() != 0 {
					t.Errorf("stats %+v, want none gone", st)
				}
			})
		}
	}
}
