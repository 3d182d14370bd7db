package hangup

import (
	"context"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestReviewSetLimitStress changes an Admission's limit up and down while
// holders release, waiters time out and leave; it checks that the number
// holding a slot never exceeds the largest limit set, that every waiter
// ends, and that once all is done exactly the final limit can be taken.
func TestReviewSetLimitStress(t *testing.T) {
	for round := range 20 {
		a := NewAdmission(3, 1000, time.Duration(round%3)*time.Millisecond)
		var held, ceiling atomic.Int64
		ceiling.Store(3)
		var wg sync.WaitGroup
		for g := range 16 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := rand.New(rand.NewPCG(uint64(round), uint64(g)))
				for range 200 {
					ctx, cancel := context.WithCancel(context.Background())
					if r.IntN(4) == 0 {
						d := time.Duration(r.IntN(50)) * time.Microsecond
						go func() { time.Sleep(d); cancel() }()
					}
					var release func()
					var err error
					if r.IntN(5) == 0 {
						var ok bool
						if release, ok = a.TryAcquire(); !ok {
							cancel()
							continue
						}
					} else {
						release, err = a.Acquire(ctx)
					}
					cancel()
					if err != nil {
						continue
					}
					if n, c := held.Add(1), ceiling.Load(); n > c {
						t.Errorf("%d hold a slot, the largest limit set is %d", n, c)
					}
					time.Sleep(time.Duration(r.IntN(20)) * time.Microsecond)
					held.Add(-1)
					release()
				}
			}()
		}
		done, setterDone := make(chan struct{}), make(chan struct{})
		go func() {
			defer close(setterDone)
			r := rand.New(rand.NewPCG(uint64(round), 99))
			for {
				select {
				case <-done:
					return
				default:
				}
				l := 1 + r.IntN(6)
				if int64(l) > ceiling.Load() {
					ceiling.Store(int64(l))
				}
				a.SetLimit(l)
				time.Sleep(time.Duration(r.IntN(100)) * time.Microsecond)
			}
		}()
		wg.Wait()
		close(done)
		<-setterDone
		a.SetLimit(4)
		s := a.Stats()
		if s.Active != 0 || s.Waiting != 0 {
			t.Fatalf("round %d: after all ended: %+v", round, s)
		}
		var rel []func()
		for {
			f, ok := a.TryAcquire()
			if !ok {
				break
			}
			rel = append(rel, f)
		}
		if len(rel) != 4 {
			t.Fatalf("round %d: %d slots free at limit 4", round, len(rel))
		}
		for _, f := range rel {
			f()
		}
	}
}
