package storm

import (
	"strings"
	"testing"
)

func TestThresholds(t *testing.T) {
	res := &Result{Totals: Totals{Sent: 100, Goodput: 90, Abandoned: 6, Errors: 4, SentPerS: 50, GoodputPerS: 45,
		Latency: Latency{Count: 90, P50: 120, P90: 300, P99: 480, Max: 900, Mean: 150},
		Work:    &Work{Useful: 9, Cancelled: 0.5, Wasted: 0.5}}}
	noGoodput := &Result{Totals: Totals{Sent: 10, Errors: 10}}
	for _, tc := range []struct {
		expr string
		res  *Result
		ok   bool
		why  string
	}{
		{"goodput>=0.9", res, true, ""},
		{"goodput>0.9", res, false, "measured 0.9 (90.0%)"},
		{"goodput >= 95%", res, false, "measured 0.9 (90.0%)"},
		{"abandoned<=0.06", res, true, ""},
		{"errors<0.05", res, true, ""},
		{"p99<500ms", res, true, ""},
		{"p99<0.4s", res, false, "measured 480ms"},
		{"p50<=120", res, true, ""},
		{"max<1s", res, true, ""},
		{"mean>200ms", res, false, "measured 150ms"},
		{"p90<1ms", noGoodput, false, "not measured: no response was delivered"},
		{"rps>=50", res, true, ""},
		{"goodput_rps>50", res, false, "measured 45/s"},
		{"wasted<=0.05", res, true, ""},
		{"wasted<0.05", res, false, "measured 0.05 (5.0%)"},
		{"wasted<=0.05", noGoodput, false, "not measured: give --metrics"},
		{"goodput>=0.5", &Result{}, false, "not measured: no request was sent"},
	} {
		th, err := ParseThreshold(tc.expr)
		if err != nil {
			t.Errorf("ParseThreshold(%q): %v", tc.expr, err)
			continue
		}
		got := th.Check(tc.res)
		if got.OK != tc.ok || !strings.Contains(got.Why, tc.why) || (tc.ok && got.Why != "") {
			t.Errorf("%s: ok %v why %q, want ok %v why %q", tc.expr, got.OK, got.Why, tc.ok, tc.why)
		}
	}
}

func TestParseThresholdErrors(t *testing.T) {
	for _, tc := range []struct{ expr, want string }{
		{"goodput", "no comparison"},
		{"goodput=0.9", "no comparison"},
		{"latency<1s", `unknown metric "latency"`},
		{"goodput>=2", "a share is between 0 and 1"},
		{"goodput>=-1%", "a share is between 0 and 1"},
		{"p99<fast", `"fast" is not a duration like 500ms`},
		{"rps>lots", `"lots" is not a number per second`},
		{"p99<", `"" is not a duration`},
		{"p99<<1s", `"<1s" is not a duration`},
	} {
		_, err := ParseThreshold(tc.expr)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), `"`+tc.expr+`"`) {
			t.Errorf("ParseThreshold(%q) = %v, want an error naming it and saying %q", tc.expr, err, tc.want)
		}
	}
}
