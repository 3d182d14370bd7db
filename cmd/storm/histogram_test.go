package storm

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// maxRelErr is the precision promised: 3 significant digits, like
// HdrHistogram with numberOfSignificantValueDigits = 3.
const maxRelErr = 1.0 / 1024

func TestHistogramBuckets(t *testing.T) {
	// Every value falls in the bucket its index names, and buckets are
	// contiguous and ordered.
	prevIdx, prevHi := int32(-1), int64(-1)
	check := func(v int64) {
		i := bucketIndex(v)
		lo, w := bucketRange(i)
		if v < lo || v-lo >= w {
			t.Fatalf("value %d in bucket %d = [%d, %d)", v, i, lo, lo+w)
		}
		if lo > 0 && float64(w)/float64(lo) > maxRelErr*2+1e-12 && lo >= 2048 {
			t.Fatalf("bucket %d = [%d, %d) is wider than 1/1024 of its values", i, lo, lo+w)
		}
		if i < prevIdx {
			t.Fatalf("index of %d is %d, below the index %d of a smaller value", v, i, prevIdx)
		}
		if i == prevIdx+1 && lo != prevHi+1 {
			t.Fatalf("bucket %d starts at %d, previous ended at %d: not contiguous", i, lo, prevHi)
		}
		prevIdx, prevHi = i, lo+w-1
	}
	for v := int64(0); v < 1<<17; v++ {
		check(v)
	}
	for v := int64(1 << 17); v < 1<<50; v += v/3000 + 1 {
		check(v)
	}
	check(math.MaxInt64)
}

func TestHistogramSmallValuesExact(t *testing.T) {
	var h Histogram
	for v := int64(0); v < 2048; v++ {
		h.Record(v)
	}
	for _, q := range []float64{0.001, 0.25, 0.5, 0.9, 0.99} {
		want := int64(math.Ceil(q*2048)) - 1
		if got := h.Quantile(q); got != want {
			t.Errorf("Quantile(%v) = %d, want %d exactly", q, got, want)
		}
	}
}

// TestHistogramAccuracy compares quantiles to the exact ones of the same
// values, spread over ten orders of magnitude.
func TestHistogramAccuracy(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, name := range []string{"log-uniform", "latency-like"} {
		var h Histogram
		vals := make([]int64, 200000)
		for i := range vals {
			var v int64
			if name == "log-uniform" {
				v = int64(math.Pow(10, r.Float64()*10))
			} else {
				// 50ms service time with a long tail, in ns.
				v = int64(50e6 * (1 + r.ExpFloat64()*r.ExpFloat64()))
			}
			vals[i] = v
			h.Record(v)
		}
		slices.Sort(vals)
		for _, q := range []float64{0.01, 0.1, 0.5, 0.75, 0.9, 0.99, 0.999, 0.9999} {
			exact := vals[int(math.Ceil(q*float64(len(vals))))-1]
			got := h.Quantile(q)
			if got < exact || float64(got-exact) > maxRelErr*float64(exact) {
				t.Errorf("%s: Quantile(%v) = %d, exact %d: off by %.4f%%, more than 0.1%%",
					name, q, got, exact, 100*float64(got-exact)/float64(exact))
			}
		}
		if h.Max() != vals[len(vals)-1] || h.Min() != vals[0] || h.Quantile(1) != h.Max() {
			t.Errorf("%s: min/max %d/%d, want exact %d/%d", name, h.Min(), h.Max(), vals[0], vals[len(vals)-1])
		}
		if h.Count() != uint64(len(vals)) {
			t.Errorf("%s: Count = %d, want %d", name, h.Count(), len(vals))
		}
	}
}

func TestHistogramMerge(t *testing.T) {
	var a, b, all Histogram
	for i := range 1000 {
		v := int64(i * i * 37)
		all.Record(v)
		if i%3 == 0 {
			a.Record(v)
		} else {
			b.Record(v)
		}
	}
	a.Merge(&b)
	for _, q := range []float64{0, 0.5, 0.9, 0.99, 1} {
		if a.Quantile(q) != all.Quantile(q) {
			t.Errorf("merged Quantile(%v) = %d, want %d", q, a.Quantile(q), all.Quantile(q))
		}
	}
	if a.Count() != all.Count() || a.Mean() != all.Mean() || a.Min() != all.Min() || a.Max() != all.Max() {
		t.Errorf("merged summary differs: %d %v %d %d vs %d %v %d %d",
			a.Count(), a.Mean(), a.Min(), a.Max(), all.Count(), all.Mean(), all.Min(), all.Max())
	}
}

func TestHistogramEmpty(t *testing.T) {
	var h Histogram
	if h.Quantile(0.99) != 0 || h.Max() != 0 || h.Mean() != 0 || h.Count() != 0 {
		t.Error("empty histogram reports non-zero values")
	}
	h.RecordDuration(1500 * time.Millisecond)
	if got := h.QuantileDuration(0.5); got != 1500*time.Millisecond {
		t.Errorf("single value: median %v, want 1.5s (clamped to the exact max)", got)
	}
}
