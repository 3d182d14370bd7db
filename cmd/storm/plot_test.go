package storm

import (
	"bytes"
	"encoding/xml"
	"io"
	"strings"
	"testing"
)

func TestNiceTicks(t *testing.T) {
	for _, tc := range []struct {
		max  float64
		want string
	}{
		{0, "0 0.25 0.5 0.75 1"},
		{10, "0 2.5 5 7.5 10"},
		{97, "0 25 50 75 100"},
		{1234, "0 500 1000 1500"},
		{0.3, "0 0.1 0.2 0.3"},
	} {
		var got []string
		for _, v := range niceTicks(tc.max, 4, 1, 2, 2.5, 5, 10) {
			got = append(got, tickLabel(v))
		}
		if strings.Join(got, " ") != tc.want {
			t.Errorf("niceTicks(%v) = %q, want %q", tc.max, strings.Join(got, " "), tc.want)
		}
	}
}

// TestWritePlot checks that the SVG is well-formed XML with its three
// panels, and survives gaps and an empty run.
func TestWritePlot(t *testing.T) {
	p99 := 120.5
	inflight := 7.0
	res := &Result{
		Config: RunConfig{URL: "http://x/<&>", Mode: "closed", Users: 50, Patience: "uniform:1s-3s", Think: "0s", ReloadProb: 1, Abort: "fin"},
		Series: []Second{
			{T: 0, Sent: 10, Goodput: 8, Abandoned: 2, P99Ms: &p99, Inflight: &inflight},
			{T: 1, Sent: 10, Goodput: 0, Abandoned: 10, Errors: 1, Inflight: &inflight},
			{T: 2, Sent: 10, Goodput: 9, P99Ms: &p99},
		},
		Totals: Totals{ElapsedS: 3, Work: &Work{Useful: 1}},
	}
	for _, r := range []*Result{res, {}} {
		var b bytes.Buffer
		if err := WritePlot(&b, r); err != nil {
			t.Fatal(err)
		}
		d := xml.NewDecoder(&b)
		for {
			_, err := d.Token()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("plot is not well-formed XML: %v", err)
			}
		}
	}
	var b bytes.Buffer
	WritePlot(&b, res)
	for _, want := range []string{"Responses per second", "In-flight work", "p99 latency", "time (s)", "goodput", "mean patience", "http://x/&lt;&amp;&gt;"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("plot lacks %q", want)
		}
	}
}
