package hangup_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hangup-dev/hangup"
)

// TestAdmission: a request in line whose client leaves never runs and is
// counted before the handler; a full line and a long wait get 503 with
// Retry-After.
func TestAdmission(t *testing.T) {
	release := make(chan struct{})
	var ran atomic.Int32
	reports := make(chan hangup.Report, 4)
	a := hangup.NewAdmission(1, 1, 0)
	var s *server
	s = startServer(t, serverOpts{
		opts: []hangup.Option{hangup.OnAbandon(func(r hangup.Report) { reports <- r })},
		handler: a.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			ran.Add(1)
			s.entered <- r
			<-release
			io.WriteString(w, "done")
		}))})

	first := dialTCP(t, s.addr())
	write(t, first, reqGET)
	s.waitEntered()

	second := dialTCP(t, s.addr())
	write(t, second, reqGET)
	waitFor(t, func() bool { return a.Stats().Waiting == 1 }, "the second request in line")

	third := dialTCP(t, s.addr())
	write(t, third, reqGET)
	resp, err := http.ReadResponse(bufio.NewReader(third), nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("full line answered %d, Retry-After %q; want 503 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"))
	}

	second.Close() // gives up in line
	rep := <-reports
	if rep.Phase != hangup.PhaseBeforeHandler {
		t.Errorf("client that left in line reported in phase %v, want before_handler", rep.Phase)
	}
	close(release)
	expectOK(t, bufio.NewReader(first))
	if n := ran.Load(); n != 1 {
		t.Errorf("handler ran %d times, want 1: the request whose client left must never run", n)
	}
	st := a.Stats()
	if st.Full != 1 || st.Left != 1 || st.Active != 0 || st.Waiting != 0 {
		t.Errorf("stats %+v, want one full, one left, nothing held", st)
	}
}

func TestAdmissionTimeoutAndOrder(t *testing.T) {
	ctx := context.Background()
	a := hangup.NewAdmission(1, 8, 50*time.Millisecond)
	release, err := a.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Acquire(ctx); !errors.Is(err, hangup.ErrQueueTimeout) {
		t.Fatalf("err = %v, want ErrQueueTimeout", err)
	}

	// First come, first served.
	b := hangup.NewAdmission(1, 8, 0)
	hold, _ := b.Acquire(ctx)
	order := make(chan int, 3)
	for i := 0; i < 3; i++ {
		go func() {
			r, err := b.Acquire(ctx)
			if err != nil {
				t.Error(err)
				return
			}
			order <- i
			r()
		}()
		waitFor(t, func() bool { return b.Stats().Waiting == i+1 }, "the waiter in line")
	}
	hold()
	for want := 0; want < 3; want++ {
		if got := <-order; got != want {
			t.Fatalf("waiter %d admitted, want %d", got, want)
		}
	}
	release()
}
