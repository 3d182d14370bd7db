package demo

import (
	"testing"
	"time"
)

// TestAfterGoneBuckets: a duration lands in the first bucket whose bound it
// does not pass (Prometheus's le), past the last bound in the last bucket.
func TestAfterGoneBuckets(t *testing.T) {
	for _, tc := range []struct {
		name   string
		d      time.Duration
		bucket int
	}{
		{"zero", 0, 0},
		{"first bound", 50 * time.Microsecond, 0},
		{"just past it", 51 * time.Microsecond, 1},
		{"one second", time.Second, 13},
		{"a little more", 1001 * time.Millisecond, 14},
		{"last bound", 300 * time.Second, 20},
		{"past every bound", time.Hour, 21},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := newBoard()
			b.abandon(tc.d)
			st := b.stats()
			if len(st.AfterGone) != len(afterGoneBounds)+1 || st.AfterGone[tc.bucket] != 1 || st.Abandoned != 1 {
				t.Errorf("%v: histogram %v, want one in bucket %d", tc.d, st.AfterGone, tc.bucket)
			}
			if st.AfterGoneSeconds != tc.d.Seconds() {
				t.Errorf("%v: sum %v s", tc.d, st.AfterGoneSeconds)
			}
		})
	}
}
