package gcfloor

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func heapGoal() uint64 {
	s := []metrics.Sample{{Name: "/gc/heap/goal:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// collectUntil runs collections until cond holds (the finalizer that adjusts
// the percentage runs after a collection, on the runtime's own goroutine).
func collectUntil(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); {
		runtime.GC()
		if cond() {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("heap goal %d bytes, GC percent %d: never as expected", heapGoal(), gcPercent())
}

func gcPercent() int {
	p := debug.SetGCPercent(100)
	debug.SetGCPercent(p)
	return p
}

func TestFloorRaisesGoalAndStopRestores(t *testing.T) {
	const floor = 256 << 20
	base := gcPercent()
	f := Start(floor)
	if f == nil {
		t.Fatal("Start returned nil with the collector on")
	}
	collectUntil(t, func() bool { return heapGoal() >= floor-floor/100 })
	if g := heapGoal(); g > floor+floor/10 {
		t.Errorf("heap goal %d bytes, want about the floor, %d", g, floor)
	}
	if p := gcPercent(); p <= base {
		t.Errorf("GC percent %d under the floor, want more than %d", p, base)
	}
	f.Stop()
	f.Stop() // twice is harmless
	if p := gcPercent(); p != base {
		t.Errorf("after Stop: GC percent %d, want %d back", p, base)
	}
	collectUntil(t, func() bool { return heapGoal() < floor/2 })
}

// sink keeps allocations from being optimised away.
var sink []byte

func collectionsWhileAllocating(total int) uint32 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for n := 0; n < total; n += 64 << 10 {
		sink = make([]byte, 64<<10)
	}
	sink = nil
	runtime.ReadMemStats(&after)
	return after.NumGC - before.NumGC
}

func TestFloorMeansFewerCollections(t *testing.T) {
	const total = 1 << 30
	runtime.GC()
	without := collectionsWhileAllocating(total)
	f := Start(128 << 20)
	defer f.Stop()
	collectUntil(t, func() bool { return heapGoal() >= 100<<20 })
	with := collectionsWhileAllocating(total)
	t.Logf("allocating %d MiB: %d collections without a floor, %d with a 128 MiB floor", total>>20, without, with)
	if with == 0 || with*4 > without {
		t.Errorf("%d collections with the floor, %d without: want some, and at most a quarter", with, without)
	}
}

func TestNothingToDo(t *testing.T) {
	if f := Start(0); f != nil {
		t.Error("Start(0) started a floor")
	}
	old := debug.SetGCPercent(-1)
	defer debug.SetGCPercent(old)
	if f := Start(64 << 20); f != nil {
		f.Stop()
		t.Error("Start with GOGC=off started a floor")
	}
	var f *Floor
	f.Stop() // nil is harmless
}

func TestPercentFor(t *testing.T) {
	for _, tc := range []struct {
		floor, live, scan uint64
		base, want        int
	}{
		{floor: 64 << 20, live: 0, scan: 0, base: 100, want: 1600},             // not measured yet: the minimum goal
		{floor: 64 << 20, live: 1 << 20, scan: 1 << 20, base: 100, want: 1600}, // the minimum goal reaches the floor first
		{floor: 64 << 20, live: 4 << 20, scan: 5 << 20, base: 100, want: 1200}, // stacks and globals count
		{floor: 64 << 20, live: 8 << 20, scan: 8 << 20, base: 100, want: 700},
		{floor: 64 << 20, live: 16 << 20, scan: 16 << 20, base: 100, want: 300},
		{floor: 64 << 20, live: 40 << 20, scan: 40 << 20, base: 100, want: 100},   // GOGC already gives more
		{floor: 64 << 20, live: 128 << 20, scan: 128 << 20, base: 100, want: 100}, // above the floor
		{floor: 64 << 20, live: 16 << 20, scan: 16 << 20, base: 400, want: 400},   // GOGC=400 gives more
		{floor: 1 << 40, live: 1, scan: 1, base: 100, want: maxPercent},           // bounded
		{floor: 1 << 20, live: 1 << 10, scan: 1 << 10, base: 100, want: 100},      // under the minimum goal
	} {
		if got := percentFor(tc.floor, tc.live, tc.scan, tc.base); got != tc.want {
			t.Errorf("percentFor(%d, %d, %d, %d) = %d, want %d", tc.floor, tc.live, tc.scan, tc.base, got, tc.want)
		}
	}
}

func TestFloorsShareTheProcess(t *testing.T) {
	base := gcPercent()
	small, large := Start(64<<20), Start(256<<20)
	collectUntil(t, func() bool { return heapGoal() >= 250<<20 })
	large.Stop()
	collectUntil(t, func() bool { g := heapGoal(); return g >= 63<<20 && g < 128<<20 })
	small.Stop()
	if p := gcPercent(); p != base {
		t.Errorf("after the last Stop: GC percent %d, want %d back", p, base)
	}
}
