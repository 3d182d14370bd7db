package h2ctest_test

// Copies of the core's test helpers (helpers_test.go, causes_test.go) that
// h2c_test.go uses: a test in another module cannot use them in place.

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/hangup-dev/hangup"
)

// waitLong bounds every wait in the tests: generous, because CI is a loaded
// two-core machine. No test asserts a duration.
const waitLong = 10 * time.Second

// outcome is what a handler saw of its context.
type outcome struct {
	cause     error
	departure hangup.Departure
	departed  bool
}

// server is a Guard-installed server on loopback whose handler tells the
// test when it runs and what happened to its context.
type server struct {
	t       *testing.T
	srv     *httptest.Server
	g       *hangup.Guard
	entered chan *http.Request
	results chan outcome
}

// waitHandler reads nothing, tells the test it runs and waits for its
// context to end.
func (s *server) waitHandler(w http.ResponseWriter, r *http.Request) {
	s.entered <- r
	s.report(r.Context())
}

func (s *server) report(ctx context.Context) {
	select {
	case <-ctx.Done():
	case <-time.After(waitLong):
	}
	d, ok := hangup.Departed(ctx)
	s.results <- outcome{cause: context.Cause(ctx), departure: d, departed: ok}
}

func (s *server) addr() string { return s.srv.Listener.Addr().String() }

func (s *server) waitEntered() *http.Request {
	s.t.Helper()
	select {
	case r := <-s.entered:
		return r
	case <-time.After(waitLong):
		s.t.Fatal("handler never ran")
		return nil
	}
}

func (s *server) waitResult() outcome {
	s.t.Helper()
	select {
	case o := <-s.results:
		return o
	case <-time.After(2 * waitLong):
		s.t.Fatal("handler never returned")
		return outcome{}
	}
}

// expectGone asserts that the handler's context was cancelled because the
// client went away, in the given phase.
func expectGone(t *testing.T, o outcome, phase hangup.Phase) {
	t.Helper()
	if !errors.Is(o.cause, hangup.ErrClientGone) {
		t.Fatalf("context cause = %v, want ErrClientGone", o.cause)
	}
	if !o.departed {
		t.Fatalf("Departed reported false")
	}
	if o.departure.Phase != phase {
		t.Fatalf("phase = %v, want %v (reason %v)", o.departure.Phase, phase, o.departure.Reason)
	}
}

func get(t *testing.T, tr http.RoundTripper, ctx context.Context, url string) <-chan error {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() {
		resp, err := tr.RoundTrip(req)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		errc <- err
	}()
	return errc
}
