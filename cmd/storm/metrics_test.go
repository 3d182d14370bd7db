package storm

import (
	"math"
	"strings"
	"testing"
)

const exposition = `# HELP demo_work_seconds_total Seconds of handler work, by outcome.
# TYPE demo_work_seconds_total counter
demo_work_seconds_total{outcome="completed",work="sleep"} 12.5
demo_work_seconds_total{work="sleep",outcome="cancelled"} 3.25
demo_work_seconds_total{work="cpu",outcome="completed"} 1.5 1700000000000
demo_work_seconds_total{work="cpu",outcome="wasted"} 2e-1
demo_work_seconds_total{work="cpu", outcome="wasted", note="a \"quoted\" \\ value, {with} braces"} 0.3

# TYPE hangup_requests_in_flight gauge
hangup_requests_in_flight 7
go_gc_duration_seconds{quantile="1"} +Inf
process_open_fds NaN
`

func TestParseMetrics(t *testing.T) {
	samples, err := ParseMetrics(strings.NewReader(exposition))
	if err != nil {
		t.Fatal(err)
	}
	if len(samples) != 8 {
		t.Fatalf("got %d samples, want 8: %+v", len(samples), samples)
	}
	if got := samples[4].Labels["note"]; got != `a "quoted" \ value, {with} braces` {
		t.Errorf("escaped label value = %q", got)
	}
	if !math.IsInf(samples[6].Value, 1) || !math.IsNaN(samples[7].Value) {
		t.Errorf("+Inf/NaN parsed as %v, %v", samples[6].Value, samples[7].Value)
	}
	s := Extract(samples)
	want := Work{Useful: 14, Cancelled: 3.25, Wasted: 0.5}
	if !s.HasWork || !s.HasInflight || math.Abs(s.Work.Useful-want.Useful) > 1e-9 ||
		math.Abs(s.Work.Cancelled-want.Cancelled) > 1e-9 || math.Abs(s.Work.Wasted-want.Wasted) > 1e-9 || s.Inflight != 7 {
		t.Errorf("Extract = %+v, want work %+v and in-flight 7", s, want)
	}
}

func TestParseMetricsErrors(t *testing.T) {
	for _, bad := range []string{
		"novalue",
		`x{a="b"`,
		`x{a=b} 1`,
		`x 1 2 3`,
		`x notanumber`,
	} {
		if _, err := ParseMetrics(strings.NewReader(bad + "\n")); err == nil {
			t.Errorf("ParseMetrics(%q) accepted", bad)
		}
	}
	if s := Extract(nil); s.HasWork || s.HasInflight {
		t.Error("Extract of nothing claims metrics")
	}
}
