package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/hangup-dev/hangup/cmd/storm"
)

func init() {
	register("storm", "a load generator of impatient users", runStorm)
}

const stormUsage = `usage: hangup storm --url URL [flags]

Load URL with users who give up: each sends a GET and waits at most its
patience; then it closes the connection (FIN, or RST with --abort rst) and
reloads at once (probability --reload-prob) or leaves for --think. Reports
goodput (responses delivered in full to a user still waiting), abandonments,
errors and latency, and with --metrics the server's useful, cancelled and
wasted work.

Patience and think times are distributions: 2s, uniform:1s-3s or exp:2s;
other durations are like 500ms, 10s, 2m.

Flags:
`

// stormRenamed are the storm's old flag names.
var stormRenamed = map[string]string{"timeout": "connect-timeout"}

// runStorm is "hangup storm": it parses flags, runs storm.Run and prints.
func runStorm(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("storm", flag.ContinueOnError)
	var (
		cfg      = storm.Config{Patience: storm.Uniform(time.Second, 3*time.Second)}
		abort    = "fin"
		asJSON   bool
		plotFile string
	)
	fs.StringVar(&cfg.URL, "url", "", "`URL` to load (required), e.g. http://localhost:8888/work")
	fs.IntVar(&cfg.Users, "users", 10, "`N` closed-loop users; with --rate, the cap on visitors outstanding (10000 unless given)")
	fs.Var(&cfg.Patience, "patience", "how long a user waits: `D`, uniform:A-B or exp:MEAN")
	fs.Var(&cfg.Think, "think", "pause after a response, an error or leaving: `D`, uniform:A-B or exp:MEAN")
	fs.Float64Var(&cfg.ReloadProb, "reload-prob", 1, "probability `P` that a user who gives up reloads at once rather than leaving")
	fs.DurationVar(&cfg.Duration, "duration", 10*time.Second, "length of the run; 0 runs until interrupted")
	fs.Float64Var(&cfg.Rate, "rate", 0, "open loop: `R` visitors arriving per second (Poisson) instead of closed-loop users")
	fs.StringVar(&abort, "abort", abort, "how a user who gives up closes its connection: fin or rst")
	fs.StringVar(&cfg.MetricsURL, "metrics", "", "Prometheus `URL` of the server to scrape for demo_work_seconds_total and hangup_requests_in_flight")
	fs.DurationVar(&cfg.Settle, "settle", time.Second, "with --metrics, wait this long after the run before the final scrape, so that abandoned work still running is counted")
	fs.BoolVar(&asJSON, "json", false, "print the result as JSON on stdout")
	fs.StringVar(&plotFile, "plot", "", "write goodput, in-flight work and p99 over time to `FILE.svg`")
	fs.DurationVar(&cfg.ConnectTimeout, "connect-timeout", 5*time.Second, "give up connecting after this long (patience bounds the connect too)")

	if err := parseFlags(fs, args, stormUsage, stormRenamed, stdout); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q; the URL goes in --url: %w", fs.Arg(0), errUsage)
	}
	if cfg.URL == "" {
		return fmt.Errorf("--url is required, e.g. --url http://localhost:8888/: %w", errUsage)
	}
	a, err := storm.ParseAbort(abort)
	if err != nil {
		return fmt.Errorf("--abort: %v: %w", err, errUsage)
	}
	cfg.Abort = a
	usersSet := false
	fs.Visit(func(f *flag.Flag) { usersSet = usersSet || f.Name == "users" })
	if cfg.Rate > 0 && !usersSet {
		cfg.Users = 10000
	}
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("%v: %w", err, errUsage)
	}
	if plotFile != "" {
		// Fail before the run, not after it.
		f, err := os.Create(plotFile)
		if err != nil {
			return fmt.Errorf("cannot write the plot: %v", err)
		}
		f.Close()
	}

	live := stormIsTerminal(stderr)
	if live {
		cfg.Progress = func(s storm.Second) { fmt.Fprintf(stderr, "\r\x1b[K%s", stormProgressLine(s)) }
	}
	res, err := storm.Run(ctx, cfg)
	if live {
		fmt.Fprintln(stderr)
	}
	if err != nil {
		var ce *storm.ConfigError
		if errors.As(err, &ce) {
			return fmt.Errorf("%v: %w", err, errUsage)
		}
		return err
	}
	for _, w := range res.Warnings {
		fmt.Fprintf(stderr, "hangup storm: warning: %s\n", w)
	}
	if plotFile != "" {
		if err := stormWritePlot(plotFile, res); err != nil {
			return err
		}
		fmt.Fprintf(stderr, "hangup storm: plot written to %s\n", plotFile)
	}
	if asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(res)
	}
	stormPrintTable(stdout, res)
	return nil
}

func stormWritePlot(name string, res *storm.Result) error {
	f, err := os.Create(name)
	if err != nil {
		return fmt.Errorf("cannot write the plot: %v", err)
	}
	if err := storm.WritePlot(f, res); err != nil {
		f.Close()
		return fmt.Errorf("cannot write the plot: %v", err)
	}
	return f.Close()
}

// stormIsTerminal reports whether w is a terminal, where a progress line that
// rewrites itself is welcome; in a file or a pipe it would be noise.
func stormIsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

func stormProgressLine(s storm.Second) string {
	line := fmt.Sprintf("%4.0fs  sent %5d/s  goodput %5d/s  abandoned %5d/s  errors %4d/s  p99 %8s  open %5d",
		s.T+1, s.Sent, s.Goodput, s.Abandoned, s.Errors, stormMsOrDash(s.P99Ms), s.Open)
	if s.Inflight != nil {
		line += fmt.Sprintf("  server in-flight %.0f", *s.Inflight)
	}
	return line
}

func stormMsOrDash(ms *float64) string {
	if ms == nil {
		return "-"
	}
	return stormFmtMs(*ms)
}

// stormFmtMs formats milliseconds for people: 0.42ms, 52ms, 1.25s.
func stormFmtMs(ms float64) string {
	switch {
	case ms >= 1000:
		return fmt.Sprintf("%.2fs", ms/1000)
	case ms >= 10:
		return fmt.Sprintf("%.0fms", ms)
	}
	return fmt.Sprintf("%.2fms", ms)
}

func stormPrintTable(w io.Writer, res *storm.Result) {
	c, t := res.Config, res.Totals
	who := fmt.Sprintf("%d users", c.Users)
	if c.Mode == "open" {
		who = fmt.Sprintf("%g visitors/s (at most %d outstanding)", c.Rate, c.Users)
	}
	fmt.Fprintf(w, "hangup storm: %s, patience %s, think %s, reload %.0f%%, abort %s\n",
		who, c.Patience, c.Think, 100*c.ReloadProb, c.Abort)
	fmt.Fprintf(w, "%s for %.1fs\n\n", c.URL, t.ElapsedS)

	perS := func(n int64) string {
		if t.ElapsedS <= 0 {
			return "-"
		}
		return fmt.Sprintf("%.1f", float64(n)/t.ElapsedS)
	}
	pct := func(n int64) string {
		if t.Sent == 0 {
			return ""
		}
		return fmt.Sprintf("%.1f%%", 100*float64(n)/float64(t.Sent))
	}
	row := func(label, total, rate, share string) {
		fmt.Fprintf(w, "%-10s  %8s  %10s  %7s\n", label, total, rate, share)
	}
	num := func(n int64) string { return fmt.Sprint(n) }
	row("", "total", "per second", "of sent")
	row("sent", num(t.Sent), perS(t.Sent), "")
	row("goodput", num(t.Goodput), perS(t.Goodput), pct(t.Goodput))
	row("abandoned", num(t.Abandoned), perS(t.Abandoned), pct(t.Abandoned))
	row("errors", num(t.Errors), perS(t.Errors), pct(t.Errors))
	row("unfinished", num(t.Unfinished), "", pct(t.Unfinished))

	fmt.Fprintf(w, "\nabandoned: %d reloads, %d left\n", t.Reloads, t.Left)
	e := t.ErrorsByKind
	fmt.Fprintf(w, "errors:    connect %d, status >= 500 %d, reset %d, other %d\n", e.Connect, e.Status5xx, e.Reset, e.Other)
	if t.Dropped > 0 {
		fmt.Fprintf(w, "dropped:   %d arrivals found %d visitors outstanding and were not sent (raise --users)\n", t.Dropped, c.Users)
	}
	if l := t.Latency; l.Count > 0 {
		fmt.Fprintf(w, "latency:   p50 %s  p90 %s  p99 %s  max %s  (%d responses)\n",
			stormFmtMs(l.P50), stormFmtMs(l.P90), stormFmtMs(l.P99), stormFmtMs(l.Max), l.Count)
	} else {
		fmt.Fprintf(w, "latency:   no response was delivered\n")
	}
	if wk := t.Work; wk != nil {
		all := wk.Useful + wk.Cancelled + wk.Wasted
		share := func(v float64) string {
			if all <= 0 {
				return ""
			}
			return fmt.Sprintf(" (%.0f%%)", 100*v/all)
		}
		fmt.Fprintf(w, "server work: useful %.1fs%s, cancelled %.1fs%s, wasted %.1fs%s\n",
			wk.Useful, share(wk.Useful), wk.Cancelled, share(wk.Cancelled), wk.Wasted, share(wk.Wasted))
	}
	if len(res.Series) > 0 {
		fmt.Fprintf(w, "\n%s\n", stormSparkline(res))
	}
}

// stormSparkline draws goodput per second in one line of block characters, so
// that a collapse under load shows in a terminal without a plot.
func stormSparkline(res *storm.Result) string {
	const blocks = "▁▂▃▄▅▆▇█"
	levels := []rune(blocks)
	var top int64
	for _, s := range res.Series {
		top = max(top, s.Goodput)
	}
	var b strings.Builder
	b.WriteString("goodput/s ")
	for _, s := range res.Series {
		i := 0
		if top > 0 {
			i = int(float64(s.Goodput) / float64(top) * float64(len(levels)-1))
		}
		if s.Goodput == 0 {
			b.WriteRune(' ')
			continue
		}
		b.WriteRune(levels[i])
	}
	fmt.Fprintf(&b, " max %d", top)
	return b.String()
}
