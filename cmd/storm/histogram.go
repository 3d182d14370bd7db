package storm

import (
	"math"
	"math/bits"
	"slices"
	"time"
)

// Histogram counts non-negative values (here latencies in nanoseconds) in
// log-linear buckets, as HdrHistogram does with 3 significant digits: every
// power-of-two range is split into 1024 equal sub-buckets, so any value is
// reported to within 1/1024 (under 0.1%) of its true value, whatever its
// magnitude, in memory that depends on the spread of the values, not on
// their number.
//
// Counts are kept in a map rather than HdrHistogram's dense array because
// a run keeps one histogram per second for the p99 series; a dense array
// covering 1µs..1min is ~150 KB, a sparse one holds only the buckets used.
//
// The zero Histogram is empty and ready to use. It is not safe for
// concurrent use.
type Histogram struct {
	counts   map[int32]uint64
	n        uint64
	min, max int64
	sum      float64
}

const (
	// subBucketBits sets the precision: 2^11 = 2048 sub-buckets for the
	// first range and 1024 for each range after, enough to tell 1000 from
	// 1001 — 3 significant decimal digits.
	subBucketBits = 11
	subBucketHalf = 1 << (subBucketBits - 1)
)

// bucketIndex maps v to its bucket. Values below 2048 each get their own
// bucket; above that, range b (values with bit length 11+b) is split into
// 1024 buckets of width 2^b.
func bucketIndex(v int64) int32 {
	shift := bits.Len64(uint64(v)) - subBucketBits
	if shift < 0 {
		shift = 0
	}
	return int32(shift*subBucketHalf) + int32(v>>uint(shift))
}

// bucketRange returns the lowest value of bucket i and the bucket's width.
func bucketRange(i int32) (lo, width int64) {
	if i < 2*subBucketHalf {
		return int64(i), 1
	}
	shift := int64(i)/subBucketHalf - 1
	sub := int64(i) - shift*subBucketHalf
	return sub << uint(shift), 1 << uint(shift)
}

// Record adds v; negative values count as 0.
func (h *Histogram) Record(v int64) {
	if v < 0 {
		v = 0
	}
	if h.counts == nil {
		h.counts = make(map[int32]uint64)
	}
	h.counts[bucketIndex(v)]++
	if h.n == 0 || v < h.min {
		h.min = v
	}
	if v > h.max {
		h.max = v
	}
	h.n++
	h.sum += float64(v)
}

// RecordDuration adds d in nanoseconds.
func (h *Histogram) RecordDuration(d time.Duration) { h.Record(int64(d)) }

// Merge adds every value counted in o to h.
func (h *Histogram) Merge(o *Histogram) {
	if o.n == 0 {
		return
	}
	if h.counts == nil {
		h.counts = make(map[int32]uint64, len(o.counts))
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	if h.n == 0 || o.min < h.min {
		h.min = o.min
	}
	h.max = max(h.max, o.max)
	h.n += o.n
	h.sum += o.sum
}

// Count returns the number of values recorded.
func (h *Histogram) Count() uint64 { return h.n }

// Max returns the largest value recorded, exactly; 0 if none.
func (h *Histogram) Max() int64 { return h.max }

// Min returns the smallest value recorded, exactly; 0 if none.
func (h *Histogram) Min() int64 { return h.min }

// Mean returns the exact mean of the values recorded; 0 if none.
func (h *Histogram) Mean() float64 {
	if h.n == 0 {
		return 0
	}
	return h.sum / float64(h.n)
}

// Quantile returns the value below or at which a fraction q (0..1) of the
// recorded values lie, to within 0.1%: like HdrHistogram, the highest value
// equivalent to the bucket holding the value of rank ceil(q·n), clamped to
// the exact minimum and maximum. It returns 0 for an empty histogram.
func (h *Histogram) Quantile(q float64) int64 {
	if h.n == 0 {
		return 0
	}
	if math.IsNaN(q) || q <= 0 {
		return h.min
	}
	if q >= 1 {
		return h.max
	}
	rank := uint64(math.Ceil(q * float64(h.n)))
	rank = max(rank, 1)
	keys := make([]int32, 0, len(h.counts))
	for i := range h.counts {
		keys = append(keys, i)
	}
	slices.Sort(keys)
	var seen uint64
	for _, i := range keys {
		seen += h.counts[i]
		if seen >= rank {
			lo, w := bucketRange(i)
			return min(max(lo+w-1, h.min), h.max)
		}
	}
	return h.max
}

// QuantileDuration is Quantile for histograms of nanoseconds.
func (h *Histogram) QuantileDuration(q float64) time.Duration {
	return time.Duration(h.Quantile(q))
}

// each calls f for every bucket that holds values, in no order, with the
// highest value equivalent to the bucket (as Quantile reports it, clamped
// to the exact extremes) and its count.
func (h *Histogram) each(f func(v int64, n uint64)) {
	for i, c := range h.counts {
		lo, w := bucketRange(i)
		f(min(max(lo+w-1, h.min), h.max), c)
	}
}
