// Package gcfloor keeps the garbage collector's heap goal from falling below
// a floor, for servers whose live heap is small and whose allocation rate is
// high.
//
// With GOGC=100 the collector runs each time the heap doubles its live part.
// A proxy holding a few megabytes live and allocating ten kilobytes a request
// then collects fifty times a second at 20,000 requests a second, and each
// cycle has costs that do not shrink with the heap (stacks, globals, the
// write barrier while marking, assists). Raising GOGC helps but makes memory
// grow with the live heap without bound; a floor does not: the heap goal is
// max(floor, what GOGC gives), so a process uses at most floor bytes more
// than it would otherwise, and behaves exactly as GOGC says once its live
// heap is large.
//
// After every collection, a finalizer reads the live heap and sets the GC
// percentage for the next cycle; nothing runs between collections.
package gcfloor

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
)

// maxPercent bounds the percentage set, whatever the live heap.
const maxPercent = 100_000

// The floor is the process's: the GC percentage is. Floors started together
// (tests, two servers in one process) share it; the largest wins, and the
// percentage found by the first Start comes back with the last Stop.
var (
	mu     sync.Mutex
	floors = map[*Floor]struct{}{}
	base   int  // the GC percentage before the first Start: what GOGC gave
	armed  bool // a sentinel waits for the next collection
	sample = []metrics.Sample{
		{Name: "/gc/heap/live:bytes"},
		{Name: "/gc/scan/stack:bytes"},
		{Name: "/gc/scan/globals:bytes"},
	}
)

// A Floor keeps the heap goal at or above its size until Stop is called.
type Floor struct{ size uint64 }

// Start keeps the heap goal at least floor bytes, and returns the Floor to
// stop it with. It does nothing and returns nil when floor is zero or the
// collector is off (GOGC=off); the collector's own percentage, from GOGC or
// debug.SetGCPercent, stays the rule above the floor.
func Start(floor uint64) *Floor {
	mu.Lock()
	defer mu.Unlock()
	if len(floors) == 0 {
		base = debug.SetGCPercent(100)
		debug.SetGCPercent(base)
	}
	if floor == 0 || base < 0 {
		return nil
	}
	f := &Floor{size: floor}
	floors[f] = struct{}{}
	adjust()
	if !armed {
		armed = true
		arm()
	}
	return f
}

// Stop ends the floor; the last one restores the GC percentage found by the
// first Start. It may be called on a nil Floor, and more than once.
func (f *Floor) Stop() {
	if f == nil {
		return
	}
	mu.Lock()
	defer mu.Unlock()
	if _, ok := floors[f]; !ok {
		return
	}
	delete(floors, f)
	if len(floors) == 0 {
		debug.SetGCPercent(base)
		return
	}
	adjust()
}

// sentinel is garbage from birth; its finalizer runs after the next
// collection. It is large enough not to share a tiny-allocator block, whose
// finalizers may never run.
type sentinel struct{ _ [32]byte }

func arm() {
	runtime.SetFinalizer(&sentinel{}, func(*sentinel) {
		mu.Lock()
		defer mu.Unlock()
		if len(floors) == 0 {
			armed = false
			return
		}
		adjust()
		arm()
	})
}

// adjust sets the percentage for the coming cycle, for the largest floor.
// It runs with mu held and at least one floor.
func adjust() {
	var floor uint64
	for f := range floors {
		floor = max(floor, f.size)
	}
	metrics.Read(sample)
	var v [3]uint64
	for i, s := range sample {
		if s.Value.Kind() == metrics.KindUint64 {
			v[i] = s.Value.Uint64()
		}
	}
	debug.SetGCPercent(percentFor(floor, v[0], v[0]+v[1]+v[2], base))
}

// heapMinimum is the runtime's smallest heap goal at GOGC=100; it scales
// with the percentage (runtime/mgcpacer.go, defaultHeapMinimum).
const heapMinimum = 4 << 20

// percentFor is the smallest GC percentage that makes the heap goal at least
// floor, and never less than base. The runtime's goal is the larger of
// live + scan*percent/100, where live is the heap marked by the last
// collection and scan is that plus the stacks and globals it scanned, and of
// heapMinimum*percent/100.
func percentFor(floor, live, scan uint64, base int) int {
	if live >= floor {
		return base
	}
	p := floor * 100 / heapMinimum
	if live > 0 && scan > 0 {
		p = min(p, (floor-live)*100/scan)
	}
	if p > maxPercent {
		p = maxPercent
	}
	return max(int(p), base)
}
