package storm

import (
	"strings"
	"testing"
	"time"
)

func TestStages(t *testing.T) {
	st, err := ParseStages("30s:50, 1m:200,30s:0")
	if err != nil {
		t.Fatal(err)
	}
	if st.String() != "30s:50,1m0s:200,30s:0" || st.Duration() != 2*time.Minute || st.Max() != 200 {
		t.Errorf("%v: duration %v max %d", st, st.Duration(), st.Max())
	}
	for _, tc := range []struct {
		at   time.Duration
		want float64
	}{{0, 0}, {15 * time.Second, 25}, {30 * time.Second, 50}, {60 * time.Second, 125}, {90 * time.Second, 200}, {105 * time.Second, 100}, {3 * time.Minute, 0}} {
		if got := st.UsersAt(tc.at); got != tc.want {
			t.Errorf("UsersAt(%v) = %v, want %v", tc.at, got, tc.want)
		}
	}
	for _, tc := range []struct {
		id   int
		at   time.Duration
		wait time.Duration // within a millisecond
		ok   bool
	}{
		{0, 0, time.Millisecond, true},                   // the first user starts at once
		{25, 0, 15*time.Second + time.Millisecond, true}, // user 25 when the ramp passes 25
		{25, 20 * time.Second, 0, true},
		{100, 10 * time.Second, 40*time.Second + 5*time.Millisecond/10, true},
		{150, 100 * time.Second, 0, false}, // ramping down: never again
	} {
		wait, ok := st.untilWanted(tc.id, tc.at)
		if ok != tc.ok || (ok && (wait < tc.wait-time.Millisecond || wait > tc.wait+time.Millisecond)) {
			t.Errorf("untilWanted(%d, %v) = %v, %v; want %v, %v", tc.id, tc.at, wait, ok, tc.wait, tc.ok)
		}
	}
	for _, bad := range []string{"", "30s", "x:5", "30s:-1", "0s:5", "30s:five", "1s:0,2s:0"} {
		if _, err := ParseStages(bad); err == nil || !strings.Contains(err.Error(), bad) {
			t.Errorf("ParseStages(%q) = %v, want an error naming it", bad, err)
		}
	}
}
