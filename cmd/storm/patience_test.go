package storm

import (
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

func TestParseDist(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		mean     time.Duration
	}{
		{"2s", "2s", 2 * time.Second},
		{"0s", "0s", 0},
		{" 150ms ", "150ms", 150 * time.Millisecond},
		{"uniform:1s-3s", "uniform:1s-3s", 2 * time.Second},
		{"uniform:500ms-500ms", "uniform:500ms-500ms", 500 * time.Millisecond},
		{"exp:2s", "exp:2s", 2 * time.Second},
		{"exponential:100ms", "exp:100ms", 100 * time.Millisecond},
	} {
		d, err := ParseDist(tc.in)
		if err != nil {
			t.Errorf("ParseDist(%q): %v", tc.in, err)
			continue
		}
		if d.String() != tc.want || d.Mean() != tc.mean {
			t.Errorf("ParseDist(%q) = %s mean %v, want %s mean %v", tc.in, d, d.Mean(), tc.want, tc.mean)
		}
		again, err := ParseDist(d.String())
		if err != nil || again != d {
			t.Errorf("%q does not round-trip: %v %v", d.String(), again, err)
		}
	}
	for _, bad := range []string{"", "2", "soon", "-1s", "uniform:3s-1s", "uniform:1s", "uniform:-1s-2s", "exp:", "exp:-2s", "normal:1s"} {
		if _, err := ParseDist(bad); err == nil {
			t.Errorf("ParseDist(%q) accepted", bad)
		} else if !strings.Contains(err.Error(), "uniform:1s-3s") {
			t.Errorf("ParseDist(%q) error %q does not show the accepted forms", bad, err)
		}
	}
}

func TestDistSample(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, spec := range []string{"2s", "uniform:1s-3s", "exp:2s"} {
		d, _ := ParseDist(spec)
		var sum time.Duration
		const n = 20000
		for range n {
			v := d.Sample(r)
			if v < 0 {
				t.Fatalf("%s: negative sample %v", spec, v)
			}
			if spec == "uniform:1s-3s" && (v < time.Second || v > 3*time.Second) {
				t.Fatalf("%s: sample %v out of range", spec, v)
			}
			sum += v
		}
		mean := sum / n
		if mean < 1900*time.Millisecond || mean > 2100*time.Millisecond {
			t.Errorf("%s: sample mean %v, want about 2s", spec, mean)
		}
	}
}
