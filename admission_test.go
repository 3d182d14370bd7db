package hangup_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net/http"
	"slices"
	"sync"
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

// TestAdmissionLeaverSkipped: a waiter whose context ends is taken out of
// the line at once, and the slots go to the others in arrival order.
func TestAdmissionLeaverSkipped(t *testing.T) {
	a := hangup.NewAdmission(1, 10, 0)
	hold, err := a.Acquire(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	errGone := errors.New("test: client gone")
	ctxGone, cancel := context.WithCancelCause(context.Background())
	order := make(chan int, 5)
	gaveUp := make(chan struct{})
	var wg sync.WaitGroup
	for i := 0; i < 5; i++ {
		ctx := context.Background()
		if i == 2 {
			ctx = ctxGone
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			release, err := a.Acquire(ctx)
			if err != nil {
				if i != 2 || !errors.Is(err, errGone) {
					t.Errorf("waiter %d: %v", i, err)
				}
				close(gaveUp)
				return
			}
			order <- i
			release()
		}()
		waitFor(t, func() bool { return a.Stats().Waiting == i+1 }, "the waiter in line") // before the next one starts
	}
	cancel(errGone)
	<-gaveUp
	if st := a.Stats(); st.Waiting != 4 || st.Left != 1 || st.Queued != 5 {
		t.Fatalf("stats %+v after a waiter gave up, want 4 waiting, 1 left, 5 queued", st)
	}
	hold()
	wg.Wait()
	close(order)
	var got []int
	for i := range order {
		got = append(got, i)
	}
	if want := []int{0, 1, 3, 4}; !slices.Equal(got, want) {
		t.Errorf("slots went to %v, want %v", got, want)
	}
	if st := a.Stats(); st.Active != 0 || st.Waiting != 0 {
		t.Errorf("stats %+v at the end, want nothing held", st)
	}
}

// TestAdmissionTryAcquire: TryAcquire takes a free slot, and when there is
// none it neither waits nor counts.
func TestAdmissionTryAcquire(t *testing.T) {
	a := hangup.NewAdmission(1, 1, 0)
	release, ok := a.TryAcquire()
	if !ok {
		t.Fatal("TryAcquire failed on a free Admission")
	}
	if _, ok := a.TryAcquire(); ok {
		t.Fatal("TryAcquire took a second slot of one")
	}
	if st := a.Stats(); st != (hangup.AdmissionStats{Active: 1}) {
		t.Errorf("stats %+v after a failed TryAcquire, want only the slot held", st)
	}
	release()
	release, ok = a.TryAcquire()
	if !ok {
		t.Fatal("TryAcquire failed after the slot was released")
	}
	release()
}

// BenchmarkAdmission: a slot taken and given back, with a slot free
// (free: the path of every request under capacity) and with every
// goroutine contending for one slot (contended: through the line).
func BenchmarkAdmission(b *testing.B) {
	ctx := context.Background()
	b.Run("free", func(b *testing.B) {
		a := hangup.NewAdmission(1, 1, 0)
		b.ReportAllocs()
		for b.Loop() {
			release, err := a.Acquire(ctx)
			if err != nil {
				b.Fatal(err)
			}
			release()
		}
	})
	b.Run("contended", func(b *testing.B) {
		a := hangup.NewAdmission(1, 1<<20, 0)
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				release, err := a.Acquire(ctx)
				if err != nil {
					b.Error(err)
					return
				}
				release()
			}
		})
	})
}

// TestAdmissionSetLimit: a higher limit lets the waiters in at once, oldest
// first; a lower one takes no slot back and lets nobody in until fewer than
// the new limit are held, the line kept in its order.
func TestAdmissionSetLimit(t *testing.T) {
	ctx := context.Background()
	a := hangup.NewAdmission(1, 8, 0)
	first, _ := a.Acquire(ctx)
	got := make(chan string, 4)
	wait := func(name string, waiting int) {
		go func() {
			release, err := a.Acquire(ctx)
			if err != nil {
				got <- name + ": " + err.Error()
				return
			}
			got <- name
			release()
		}()
		waitFor(t, func() bool { return a.Stats().Waiting == waiting }, name+" in line")
	}
	wait("second", 1)
	wait("third", 2)
	a.SetLimit(3)
	if g1, g2 := <-got, <-got; !(g1 == "second" && g2 == "third" || g1 == "third" && g2 == "second") {
		t.Fatalf("after SetLimit(3): %q, %q; want both waiters in", g1, g2)
	}
	waitFor(t, func() bool { return a.Stats().Active == 1 }, "the waiters' slots given back")

	// Three held, then a limit of one: the fourth waits until two of
	// them are given back, not one.
	second, _ := a.Acquire(ctx)
	third, _ := a.Acquire(ctx)
	a.SetLimit(1)
	wait("fourth", 1)
	first()
	second()
	if st := a.Stats(); st.Active != 1 || st.Waiting != 1 {
		t.Fatalf("stats %+v with two of three given back under a limit of one, want one held and one waiting", st)
	}
	third()
	if g := <-got; g != "fourth" {
		t.Fatalf("got %q, want the fourth in once fewer than the limit were held", g)
	}
	waitFor(t, func() bool { return a.Stats() == hangup.AdmissionStats{Queued: 3} }, "every slot given back")
}
