package storm

import (
	"bufio"
	"fmt"
	"html"
	"io"
	"math"
	"strconv"
	"strings"
)

// Plot geometry, in SVG user units (pixels at 100%).
const (
	plotWidth   = 960
	plotLeft    = 80 // room for y tick labels and the axis title
	plotRight   = 150
	plotTop     = 100 // title and subtitle
	panelHeight = 170
	panelGap    = 52 // panel title and x tick labels
	plotBottom  = 52
)

// series is one line of a panel; nil points are gaps.
type series struct {
	name   string
	color  string
	dashed bool
	points []*float64
}

// panel is one of the stacked charts.
type panel struct {
	title    string
	unit     string
	lines    []series
	ref      *float64 // a horizontal reference line, e.g. the mean patience
	refLabel string
}

// WritePlot writes r as an SVG image: goodput per second, in-flight work and
// p99 latency over time, in three stacked panels sharing the time axis.
func WritePlot(w io.Writer, r *Result) error {
	n := len(r.Series)
	goodput := make([]*float64, n)
	abandoned := make([]*float64, n)
	errs := make([]*float64, n)
	inflight := make([]*float64, n)
	open := make([]*float64, n)
	p99 := make([]*float64, n)
	hasInflight, hasErrors := false, false
	for i, s := range r.Series {
		goodput[i] = ptr(float64(s.Goodput))
		abandoned[i] = ptr(float64(s.Abandoned))
		errs[i] = ptr(float64(s.Errors))
		open[i] = ptr(float64(s.Open))
		inflight[i] = s.Inflight
		p99[i] = s.P99Ms
		hasInflight = hasInflight || s.Inflight != nil
		hasErrors = hasErrors || s.Errors > 0
	}
	rate := panel{title: "Responses per second", unit: "per second", lines: []series{
		{name: "goodput", color: "#1a9850", points: goodput},
		{name: "abandoned", color: "#f46d43", dashed: true, points: abandoned},
	}}
	if hasErrors {
		rate.lines = append(rate.lines, series{name: "errors", color: "#d73027", dashed: true, points: errs})
	}
	work := panel{title: "In-flight work", unit: "requests", lines: []series{
		{name: "open (client)", color: "#4575b4", dashed: hasInflight, points: open},
	}}
	if hasInflight {
		work.title = "In-flight work (server: hangup_requests_in_flight)"
		work.lines = append([]series{{name: "in flight (server)", color: "#542788", points: inflight}}, work.lines...)
	}
	lat := panel{title: "p99 latency of goodput", unit: "ms", lines: []series{
		{name: "p99", color: "#b2182b", points: p99},
	}}
	if d, err := ParseDist(r.Config.Patience); err == nil && d.Mean() > 0 {
		lat.ref = ptr(float64(d.Mean().Milliseconds()))
		lat.refLabel = "mean patience"
	}
	panels := []panel{rate, work, lat}

	height := plotTop + len(panels)*panelHeight + (len(panels)-1)*panelGap + plotBottom
	b := bufio.NewWriter(w)
	fmt.Fprintf(b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="Helvetica, Arial, sans-serif" font-size="12">`+"\n",
		plotWidth, height, plotWidth, height)
	fmt.Fprintf(b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	fmt.Fprintf(b, `<text x="%d" y="30" font-size="18" font-weight="bold">%s</text>`+"\n", plotLeft, esc(plotTitle(r)))
	for i, line := range plotSubtitle(r) {
		fmt.Fprintf(b, `<text x="%d" y="%d" fill="#555">%s</text>`+"\n", plotLeft, 52+18*i, esc(line))
	}

	xmax := float64(max(n, 1))
	for i, p := range panels {
		top := plotTop + i*(panelHeight+panelGap)
		writePanel(b, p, top, xmax, i == len(panels)-1)
	}
	fmt.Fprintln(b, `</svg>`)
	return b.Flush()
}

func writePanel(b *bufio.Writer, p panel, top int, xmax float64, last bool) {
	left, right := float64(plotLeft), float64(plotWidth-plotRight)
	y0, y1 := float64(top+panelHeight), float64(top)
	ymax := 0.0
	for _, l := range p.lines {
		for _, v := range l.points {
			if v != nil && !math.IsInf(*v, 0) && !math.IsNaN(*v) {
				ymax = math.Max(ymax, *v)
			}
		}
	}
	if p.ref != nil {
		ymax = math.Max(ymax, *p.ref)
	}
	// 5% headroom keeps a flat line at the maximum off the frame.
	yticks := niceTicks(ymax*1.05, 4, 1, 2, 2.5, 5, 10)
	ytop := yticks[len(yticks)-1]
	xs := func(t float64) float64 { return left + (right-left)*t/xmax }
	ys := func(v float64) float64 { return y0 - (y0-y1)*v/ytop }

	fmt.Fprintf(b, `<text x="%g" y="%g" font-size="14" font-weight="bold">%s</text>`+"\n", left, y1-10, esc(p.title))
	// Grid and y ticks.
	for _, v := range yticks {
		y := ys(v)
		fmt.Fprintf(b, `<line x1="%g" y1="%.1f" x2="%g" y2="%.1f" stroke="#e5e5e5"/>`+"\n", left, y, right, y)
		fmt.Fprintf(b, `<text x="%g" y="%.1f" text-anchor="end" fill="#333">%s</text>`+"\n", left-6, y+4, tickLabel(v))
	}
	fmt.Fprintf(b, `<text transform="translate(%g,%g) rotate(-90)" text-anchor="middle" fill="#333">%s</text>`+"\n",
		left-52, (y0+y1)/2, esc(p.unit))
	// X ticks: whole seconds.
	for _, t := range niceTicks(xmax, 8, 1, 2, 5, 10) {
		if t > xmax {
			break
		}
		x := xs(t)
		fmt.Fprintf(b, `<line x1="%.1f" y1="%g" x2="%.1f" y2="%g" stroke="#f0f0f0"/>`+"\n", x, y1, x, y0)
		fmt.Fprintf(b, `<line x1="%.1f" y1="%g" x2="%.1f" y2="%g" stroke="#333"/>`+"\n", x, y0, x, y0+4)
		fmt.Fprintf(b, `<text x="%.1f" y="%g" text-anchor="middle" fill="#333">%s</text>`+"\n", x, y0+17, tickLabel(t))
	}
	if last {
		fmt.Fprintf(b, `<text x="%g" y="%g" text-anchor="middle" fill="#333">time (s)</text>`+"\n", (left+right)/2, y0+36)
	}
	// Axes.
	fmt.Fprintf(b, `<path d="M%g %g V%g H%g" fill="none" stroke="#333"/>`+"\n", left, y1, y0, right)
	if p.ref != nil {
		y := ys(*p.ref)
		fmt.Fprintf(b, `<line x1="%g" y1="%.1f" x2="%g" y2="%.1f" stroke="#999" stroke-dasharray="2 3"/>`+"\n", left, y, right, y)
		fmt.Fprintf(b, `<text x="%g" y="%.1f" fill="#777" font-size="11">%s</text>`+"\n", right+6, y+4, esc(p.refLabel))
	}
	// Lines: each point at the middle of its second; nil points break the
	// line, a lone point between gaps is drawn as a dot.
	for li, l := range p.lines {
		var d strings.Builder
		run := 0
		for i, v := range l.points {
			if v == nil || math.IsNaN(*v) || math.IsInf(*v, 0) {
				run = 0
				continue
			}
			x, y := xs(float64(i)+0.5), ys(*v)
			if run == 0 {
				fmt.Fprintf(&d, "M%.1f %.1f", x, y)
				next := i + 1
				if next >= len(l.points) || l.points[next] == nil {
					fmt.Fprintf(b, `<circle cx="%.1f" cy="%.1f" r="2.5" fill="%s"/>`+"\n", x, y, l.color)
				}
			} else {
				fmt.Fprintf(&d, " L%.1f %.1f", x, y)
			}
			run++
		}
		dash := ""
		if l.dashed {
			dash = ` stroke-dasharray="6 4"`
		}
		if d.Len() > 0 {
			fmt.Fprintf(b, `<path d="%s" fill="none" stroke="%s" stroke-width="2" stroke-linejoin="round"%s/>`+"\n", d.String(), l.color, dash)
		}
		// Legend, right of the panel.
		ly := y1 + 14 + float64(li)*18
		fmt.Fprintf(b, `<line x1="%g" y1="%g" x2="%g" y2="%g" stroke="%s" stroke-width="2"%s/>`+"\n", right+10, ly-4, right+34, ly-4, l.color, dash)
		fmt.Fprintf(b, `<text x="%g" y="%g" fill="#333">%s</text>`+"\n", right+40, ly, esc(l.name))
	}
}

func plotTitle(r *Result) string {
	c := r.Config
	who := fmt.Sprintf("%d users", c.Users)
	if c.Mode == "open" {
		who = fmt.Sprintf("%g arrivals/s", c.Rate)
	}
	return fmt.Sprintf("hangup storm: %s, patience %s, reload %.0f%%, abort %s", who, c.Patience, 100*c.ReloadProb, c.Abort)
}

// plotSubtitle is the run in figures, one or two lines (the work split on
// its own, so the line fits the picture's width).
func plotSubtitle(r *Result) []string {
	t := r.Totals
	p99 := "–"
	if t.Latency.Count > 0 {
		p99 = fmtMs(t.Latency.P99)
	}
	lines := []string{fmt.Sprintf("%s · %.0fs · goodput %.1f/s · abandoned %.1f/s · errors %d · p99 %s",
		r.Config.URL, t.ElapsedS, t.GoodputPerS, t.AbandonedPerS, t.Errors, p99)}
	if w := t.Work; w != nil {
		lines = append(lines, fmt.Sprintf("server work: useful %.1fs, cancelled %.1fs, wasted %.1fs", w.Useful, w.Cancelled, w.Wasted))
	}
	return lines
}

// niceTicks returns 0 and evenly spaced round values (one of steps times a
// power of ten) up to the first one at or above vmax; about n+1 of them.
// Steps must be increasing and end with 10.
func niceTicks(vmax float64, n int, steps ...float64) []float64 {
	if !(vmax > 0) {
		vmax = 1
	}
	raw := vmax / float64(n)
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	step := mag
	for _, m := range steps {
		if m*mag >= raw {
			step = m * mag
			break
		}
	}
	var ticks []float64
	for i := 0; ; i++ {
		v := float64(i) * step
		ticks = append(ticks, v)
		if v >= vmax*(1-1e-9) {
			return ticks
		}
	}
}

// tickLabel formats an axis value briefly: 1500 as 1.5k.
func tickLabel(v float64) string {
	if v >= 10000 {
		return strconv.FormatFloat(v/1000, 'g', 6, 64) + "k"
	}
	return strconv.FormatFloat(v, 'g', 6, 64)
}

// fmtMs formats milliseconds for people: 850ms, 1.25s.
func fmtMs(ms float64) string {
	if ms >= 1000 {
		return strconv.FormatFloat(ms/1000, 'f', 2, 64) + "s"
	}
	if ms >= 10 {
		return strconv.FormatFloat(ms, 'f', 0, 64) + "ms"
	}
	return strconv.FormatFloat(ms, 'f', 2, 64) + "ms"
}

func esc(s string) string { return html.EscapeString(s) }

func ptr(v float64) *float64 { return &v }
