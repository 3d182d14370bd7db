package hangup_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/hangup-dev/hangup"
	"go.uber.org/goleak"
)

// TestShutdownDetachAfterTimeout: Guard.Shutdown whose context ends while a
// MustFinish request runs after its client left returns the context's error
// and leaves nothing behind; a request that detaches afterwards, once the
// count of detached work went back to zero, is no misuse of anything (the
// Guard's sync.WaitGroup was: Add from zero while Shutdown's Wait was
// pending, reported by the race detector), and a second Shutdown waits for
// it.
func TestShutdownDetachAfterTimeout(t *testing.T) {
	release := map[string]chan struct{}{"/a": make(chan struct{}), "/b": make(chan struct{})}
	entered := make(chan string, 2)
	srv := &http.Server{Handler: hangup.MustFinish(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		entered <- r.URL.Path
		<-hangup.Gone(r.Context())
		<-release[r.URL.Path]
	}), waitLong)}
	g := hangup.Install(srv)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan struct{})
	go func() { srv.Serve(ln); close(served) }()
	defer func() { srv.Close(); <-served }()

	request := func(path string) *net.TCPConn {
		c := dialTCP(t, ln.Addr().String())
		write(t, c, "GET "+path+" HTTP/1.1\r\nHost: x\r\n\r\n")
		select {
		case p := <-entered:
			if p != path {
				t.Fatalf("handler for %s ran, want %s", p, path)
			}
		case <-time.After(waitLong):
			t.Fatalf("handler for %s never ran", path)
		}
		return c
	}
	detached := func(n int64) {
		t.Helper()
		deadline := time.Now().Add(waitLong)
		for g.Stats().Detached != n {
			if time.Now().After(deadline) {
				t.Fatalf("detached = %d, want %d", g.Stats().Detached, n)
			}
			time.Sleep(time.Millisecond)
		}
	}

	a := request("/a")
	b := request("/b")
	a.Close()
	detached(1)

	// Both handlers still run, so the server's graceful shutdown outlasts
	// the context, and so does the detached work.
	ignore := goleak.IgnoreCurrent()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	err = g.Shutdown(ctx)
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown: %v, want the context's deadline", err)
	}
	if err := goleak.Find(ignore); err != nil {
		t.Errorf("Shutdown returned and left a goroutine behind: %v", err)
	}

	close(release["/a"])
	detached(0)
	b.Close() // /b detaches: the count goes up from zero again
	detached(1)

	again := make(chan error, 1)
	go func() { again <- g.Shutdown(context.Background()) }()
	close(release["/b"])
	select {
	case err := <-again:
		if err != nil && !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("second Shutdown: %v", err)
		}
	case <-time.After(2 * waitLong):
		t.Fatal("second Shutdown never returned")
	}
	if n := g.Stats().Detached; n != 0 {
		t.Errorf("second Shutdown returned with %d detached requests running", n)
	}
}
