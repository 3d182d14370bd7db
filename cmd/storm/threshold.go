package storm

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Threshold is a condition on a run's totals that a CI job can fail on, as
// k6's thresholds: METRIC OP VALUE, with OP one of < <= > >=. The metrics
// are
//
//	goodput, abandoned, errors    shares of the requests sent (0.9 or 90%)
//	p50, p90, p99, max, mean      goodput latency (500ms, 1.5s; a bare number is ms)
//	rps, goodput_rps              requests sent, and goodput, per second
//	wasted                        the share of server work done for users
//	                              already gone (needs Config.MetricsURL)
//
// e.g. goodput>=0.9, p99<500ms, wasted<=0.05.
type Threshold struct {
	Expr   string // as written
	metric string
	op     string
	value  float64 // shares as fractions, latencies in ms
}

// ThresholdResult is a Threshold checked against a run.
type ThresholdResult struct {
	Expr string `json:"expr"`
	// Value is the metric's value in the run (latencies in ms, shares as
	// fractions); null if the run did not measure it.
	Value *float64 `json:"value"`
	OK    bool     `json:"ok"`
	// Why says, for a failed threshold, what was measured, in one line.
	Why string `json:"why,omitempty"`
}

var thresholdMetrics = map[string]string{
	"goodput": "share", "abandoned": "share", "errors": "share", "wasted": "share",
	"p50": "latency", "p90": "latency", "p99": "latency", "max": "latency", "mean": "latency",
	"rps": "rate", "goodput_rps": "rate",
}

// ParseThreshold parses METRIC OP VALUE (see Threshold); spaces are
// allowed around OP. The error names the expression and what is wrong.
func ParseThreshold(s string) (Threshold, error) {
	bad := func(why string) (Threshold, error) {
		return Threshold{}, fmt.Errorf("bad threshold %q: %s; write e.g. goodput>=0.9, p99<500ms or wasted<=0.05", s, why)
	}
	i := strings.IndexAny(s, "<>")
	if i < 0 {
		return bad("no comparison (<, <=, > or >=)")
	}
	t := Threshold{Expr: s, metric: strings.TrimSpace(s[:i]), op: s[i : i+1]}
	rest := s[i+1:]
	if strings.HasPrefix(rest, "=") {
		t.op += "="
		rest = rest[1:]
	}
	kind, ok := thresholdMetrics[t.metric]
	if !ok {
		return bad(fmt.Sprintf("unknown metric %q (goodput, abandoned, errors, wasted, p50, p90, p99, max, mean, rps, goodput_rps)", t.metric))
	}
	v := strings.TrimSpace(rest)
	var err error
	switch kind {
	case "share":
		if pct, isPct := strings.CutSuffix(v, "%"); isPct {
			t.value, err = strconv.ParseFloat(pct, 64)
			t.value /= 100
		} else {
			t.value, err = strconv.ParseFloat(v, 64)
		}
		if err == nil && (t.value < 0 || t.value > 1) {
			return bad("a share is between 0 and 1 (or 0% and 100%)")
		}
	case "latency":
		if f, perr := strconv.ParseFloat(v, 64); perr == nil {
			t.value = f
		} else {
			var d time.Duration
			d, err = time.ParseDuration(v)
			t.value = float64(d) / 1e6
		}
	default:
		t.value, err = strconv.ParseFloat(v, 64)
	}
	if err != nil || math.IsNaN(t.value) || math.IsInf(t.value, 0) {
		return bad(fmt.Sprintf("%q is not a %s", v, map[string]string{"share": "share like 0.9 or 90%", "latency": "duration like 500ms", "rate": "number per second"}[kind]))
	}
	return t, nil
}

// String returns the expression as written.
func (t Threshold) String() string { return t.Expr }

// value returns the threshold's metric in res, or false if res did not
// measure it.
func (t Threshold) measure(res *Result) (float64, bool) {
	tt := &res.Totals
	share := func(n int64) (float64, bool) {
		if tt.Sent == 0 {
			return 0, false
		}
		return float64(n) / float64(tt.Sent), true
	}
	latency := func(v float64) (float64, bool) { return v, tt.Latency.Count > 0 }
	switch t.metric {
	case "goodput":
		return share(tt.Goodput)
	case "abandoned":
		return share(tt.Abandoned)
	case "errors":
		return share(tt.Errors)
	case "wasted":
		if tt.Work == nil {
			return 0, false
		}
		return tt.Work.WastedShare()
	case "p50":
		return latency(tt.Latency.P50)
	case "p90":
		return latency(tt.Latency.P90)
	case "p99":
		return latency(tt.Latency.P99)
	case "max":
		return latency(tt.Latency.Max)
	case "mean":
		return latency(tt.Latency.Mean)
	case "rps":
		return tt.SentPerS, true
	case "goodput_rps":
		return tt.GoodputPerS, true
	}
	return 0, false
}

// Check checks t against res.
func (t Threshold) Check(res *Result) ThresholdResult {
	v, ok := t.measure(res)
	if !ok {
		why := "not measured: no request was sent"
		switch thresholdMetrics[t.metric] {
		case "latency":
			why = "not measured: no response was delivered"
		}
		if t.metric == "wasted" {
			why = "not measured: give --metrics the server's /metrics, which must export demo_work_seconds_total, or hangup_work_after_gone_seconds with hangup_request_duration_seconds"
		}
		return ThresholdResult{Expr: t.Expr, Why: why}
	}
	var pass bool
	switch t.op {
	case "<":
		pass = v < t.value
	case "<=":
		pass = v <= t.value
	case ">":
		pass = v > t.value
	case ">=":
		pass = v >= t.value
	}
	r := ThresholdResult{Expr: t.Expr, Value: &v, OK: pass}
	if !pass {
		r.Why = "measured " + t.format(v)
	}
	return r
}

// format writes v in the threshold's unit.
func (t Threshold) format(v float64) string {
	switch thresholdMetrics[t.metric] {
	case "share":
		return fmt.Sprintf("%.4g (%.1f%%)", v, 100*v)
	case "latency":
		return fmt.Sprintf("%.3gms", v)
	}
	return fmt.Sprintf("%.4g/s", v)
}
