package main

import (
	"cmp"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/hangup-dev/hangup/cmd/storm"
)

func init() {
	register("storm", "a load generator of impatient users", runStorm)
}

const stormUsage = `usage: hangup storm [flags] URL
       hangup storm [flags] --targets FILE

Load URL with users who give up: each sends a request (GET unless -m) and
waits at most its patience; then it closes the connection (FIN, or RST with
--abort rst) and reloads at once (probability --reload-prob) or leaves for
--think. Reports goodput (responses delivered in full to a user still
waiting), abandonments, status codes, errors and latency, and with
--metrics the server's useful, cancelled and wasted work.

For a patient load generator, as hey or vegeta: --patience inf.

Patience and think times are distributions: 2s, uniform:1s-3s, exp:2s or
inf; other durations are like 500ms, 10s, 2m. Exit status: 0, 1 (the run
failed), 2 (bad flags), 3 (a --threshold failed).

Flags:
`

// stormRepeated is a flag given once per value: -H, --threshold.
type stormRepeated []string

func (r *stormRepeated) String() string     { return strings.Join(*r, ", ") }
func (r *stormRepeated) Set(v string) error { *r = append(*r, v); return nil }

// runStorm is "hangup storm": it parses flags, runs storm.Run and prints.
func runStorm(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("storm", flag.ContinueOnError)
	var (
		cfg        = storm.Config{Patience: storm.Uniform(time.Second, 3*time.Second)}
		abort      = "fin"
		asJSON     bool
		plotFile   string
		method     string
		headers    stormRepeated
		body       string
		bodyFile   string
		targets    string
		insecure   bool
		caFile     string
		thresholds stormRepeated
		stages     string
		csvFile    string
		hdrFile    string
	)
	fs.StringVar(&cfg.URL, "url", "", "`URL` to load, instead of the argument, e.g. http://localhost:8888/work")
	fs.StringVar(&method, "m", "", "request `METHOD` (default GET)")
	fs.Var(&headers, "H", "request header `\"Name: value\"`, repeatable; with --targets, added to every target")
	fs.StringVar(&body, "d", "", "request `BODY`")
	fs.StringVar(&bodyFile, "D", "", "request body from `FILE`")
	fs.StringVar(&targets, "targets", "", "requests from `FILE` in vegeta's format (METHOD URL, headers, @BODYFILE), taken in turn")
	fs.BoolVar(&cfg.HTTP2, "http2", false, "speak HTTP/2: h2 over TLS for https://, h2c (prior knowledge) for http://")
	fs.BoolVar(&insecure, "insecure", false, "do not verify the server's TLS certificate")
	fs.StringVar(&caFile, "cacert", "", "verify the server's TLS certificate against the PEM certificates in `FILE`")
	fs.IntVar(&cfg.Users, "users", 10, "`N` closed-loop users; with --rate, the cap on visitors outstanding (10000 unless given)")
	fs.StringVar(&stages, "stages", "", "closed-loop users over time, ramped linearly: `D:N,...`, e.g. 30s:50,1m:200,30s:0 (replaces --users and --duration)")
	fs.Var(&cfg.Patience, "patience", "how long a user waits: `D`, uniform:A-B, exp:MEAN or inf")
	fs.Var(&cfg.Think, "think", "pause after a response, an error or leaving: `D`, uniform:A-B or exp:MEAN")
	fs.Float64Var(&cfg.ReloadProb, "reload-prob", 1, "probability `P` that a user who gives up reloads at once rather than leaving")
	fs.DurationVar(&cfg.Duration, "duration", 10*time.Second, "length of the measured run; 0 runs until interrupted")
	fs.DurationVar(&cfg.Warmup, "warmup", 0, "run the load this long before measuring; nothing started in it is counted")
	fs.Float64Var(&cfg.Rate, "rate", 0, "open loop: `R` visitors arriving per second (Poisson) instead of closed-loop users")
	fs.StringVar(&abort, "abort", abort, "how a user who gives up closes its connection: fin or rst")
	fs.DurationVar(&cfg.Timeout, "timeout", 0, "request timeout: a request not answered in full in this long is an error (kind timeout); 0 for none")
	fs.DurationVar(&cfg.ConnectTimeout, "connect-timeout", 5*time.Second, "give up connecting after this long (patience bounds the connect too)")
	fs.Uint64Var(&cfg.Seed, "seed", 0, "seed `N` of the users' random draws (patience, think, reload, arrivals); 0 picks one, which the result reports")
	fs.Var(&thresholds, "threshold", "fail the run (exit 3) unless `EXPR` holds, e.g. goodput>=0.9, p99<500ms, wasted<=0.05; repeatable")
	fs.StringVar(&cfg.MetricsURL, "metrics", "", "Prometheus `URL` of the server to scrape for hangup_work_after_gone_seconds, demo_work_seconds_total and hangup_requests_in_flight")
	fs.DurationVar(&cfg.Settle, "settle", time.Second, "with --metrics, wait this long after the run before the final scrape, so that abandoned work still running is counted")
	fs.BoolVar(&asJSON, "json", false, "print the result as JSON on stdout")
	fs.StringVar(&plotFile, "plot", "", "write goodput, in-flight work and p99 over time to `FILE.svg`")
	fs.StringVar(&csvFile, "csv", "", "write one CSV line per request measured to `FILE`")
	fs.StringVar(&hdrFile, "hdr", "", "write goodput latencies as an HdrHistogram interval log (one interval a second) to `FILE`")

	if err := parseFlags(fs, args, stormUsage, nil, stdout); err != nil {
		return err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	switch {
	case fs.NArg() > 1:
		return fmt.Errorf("unexpected argument %q; give one URL: %w", fs.Arg(1), errUsage)
	case fs.NArg() == 1 && cfg.URL != "":
		return fmt.Errorf("the URL is given twice, as %q and --url %q; give one: %w", fs.Arg(0), cfg.URL, errUsage)
	case fs.NArg() == 1:
		cfg.URL = fs.Arg(0)
	}
	if err := stormTargets(&cfg, targets, method, headers, body, bodyFile, set); err != nil {
		return err
	}
	if err := stormTLS(&cfg, insecure, caFile); err != nil {
		return err
	}
	a, err := storm.ParseAbort(abort)
	if err != nil {
		return fmt.Errorf("--abort: %v: %w", err, errUsage)
	}
	cfg.Abort = a
	if stages != "" {
		if set["users"] || set["duration"] {
			return fmt.Errorf("--stages sets the users and the duration; drop --users and --duration: %w", errUsage)
		}
		if cfg.Stages, err = storm.ParseStages(stages); err != nil {
			return fmt.Errorf("--stages: %v: %w", err, errUsage)
		}
	}
	for _, expr := range thresholds {
		t, err := storm.ParseThreshold(expr)
		if err != nil {
			return fmt.Errorf("--threshold: %v: %w", err, errUsage)
		}
		cfg.Thresholds = append(cfg.Thresholds, t)
	}
	if cfg.Rate > 0 && !set["users"] {
		cfg.Users = 10000
	}
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("%v: %w", err, errUsage)
	}
	// Create the output files before the run, so that a bad path fails
	// at once, not after it.
	var files []*os.File
	defer func() {
		for _, f := range files {
			f.Close()
		}
	}()
	create := func(name, what string) (*os.File, error) {
		f, err := os.Create(name)
		if err != nil {
			return nil, fmt.Errorf("cannot write the %s: %v", what, err)
		}
		files = append(files, f)
		return f, nil
	}
	if plotFile != "" {
		f, err := os.Create(plotFile)
		if err != nil {
			return fmt.Errorf("cannot write the plot: %v", err)
		}
		f.Close()
	}
	if csvFile != "" {
		f, err := create(csvFile, "CSV")
		if err != nil {
			return err
		}
		cfg.CSV = f
	}
	if hdrFile != "" {
		f, err := create(hdrFile, "HDR histogram log")
		if err != nil {
			return err
		}
		cfg.HDR = f
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
	for _, f := range files {
		if err := f.Close(); err != nil {
			return fmt.Errorf("cannot write %s: %v", f.Name(), err)
		}
	}
	files = nil
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
		if err := enc.Encode(res); err != nil {
			return err
		}
	} else {
		stormPrintTable(stdout, res)
	}
	if failed := res.Failed(); len(failed) > 0 {
		e := &exitError{code: 3}
		for _, t := range failed {
			e.lines = append(e.lines, fmt.Sprintf("threshold %s failed: %s", t.Expr, t.Why))
		}
		return e
	}
	return nil
}

// stormTargets sets cfg's targets from --targets or the URL with -m, -H, -d
// and -D.
func stormTargets(cfg *storm.Config, file, method string, headers []string, body, bodyFile string, set map[string]bool) error {
	h := http.Header{}
	for _, kv := range headers {
		k, v, ok := strings.Cut(kv, ":")
		if !ok || strings.TrimSpace(k) == "" || strings.ContainsAny(strings.TrimSpace(k), " \t") {
			return fmt.Errorf("-H %q: want \"Name: value\": %w", kv, errUsage)
		}
		h.Add(strings.TrimSpace(k), strings.TrimSpace(v))
	}
	if set["d"] && set["D"] {
		return fmt.Errorf("-d and -D both give the body; give one: %w", errUsage)
	}
	if file != "" {
		if cfg.URL != "" || set["m"] || set["d"] || set["D"] {
			return fmt.Errorf("--targets gives the requests; drop the URL, -m, -d and -D (-H adds to every target): %w", errUsage)
		}
		f, err := os.Open(file)
		if err != nil {
			return fmt.Errorf("--targets: %v: %w", err, errUsage)
		}
		defer f.Close()
		ts, err := storm.ParseTargets(f, file)
		if err != nil {
			return fmt.Errorf("--targets: %v: %w", err, errUsage)
		}
		for i := range ts {
			for k, vs := range h {
				if ts[i].Header == nil {
					ts[i].Header = http.Header{}
				}
				ts[i].Header[k] = append(ts[i].Header[k], vs...)
			}
		}
		cfg.Targets = ts
		return nil
	}
	if cfg.URL == "" {
		return fmt.Errorf("a URL is required, e.g. hangup storm http://localhost:8888/ (or --targets FILE): %w", errUsage)
	}
	t := storm.Target{Method: method, URL: cfg.URL, Header: h}
	switch {
	case set["d"]:
		t.Body = []byte(body)
	case set["D"]:
		b, err := os.ReadFile(bodyFile)
		if err != nil {
			return fmt.Errorf("-D: %v: %w", err, errUsage)
		}
		t.Body = b
	}
	cfg.Targets = []storm.Target{t}
	return nil
}

// stormTLS sets cfg.TLS from --insecure and --cacert.
func stormTLS(cfg *storm.Config, insecure bool, caFile string) error {
	if !insecure && caFile == "" {
		return nil
	}
	cfg.TLS = &tls.Config{InsecureSkipVerify: insecure}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return fmt.Errorf("--cacert: %v: %w", err, errUsage)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return fmt.Errorf("--cacert %s holds no PEM certificate; give the CA's certificate in PEM form: %w", caFile, errUsage)
		}
		cfg.TLS.RootCAs = pool
	}
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
	line := fmt.Sprintf("%4.0fs  sent %5d/s  goodput %5d/s  abandoned %5d/s  errors %4d/s%s  p99 %8s  open %5d",
		s.T+1, s.Sent, s.Goodput, s.Abandoned, s.Errors, stormTopKinds(s.ErrorsByKind, 2), stormMsOrDash(s.P99Ms), s.Open)
	if st := stormClasses(s.Status); st != "" {
		line += "  " + st
	}
	if s.Inflight != nil {
		line += fmt.Sprintf("  server in-flight %.0f", *s.Inflight)
	}
	return line
}

// stormTopKinds is " (timeout 3, reset 1)": the n most frequent error kinds,
// or "" without errors.
func stormTopKinds(e storm.ErrorCounts, n int) string {
	top := e.Top()
	if len(top) == 0 {
		return ""
	}
	var parts []string
	for _, k := range top[:min(n, len(top))] {
		parts = append(parts, fmt.Sprintf("%s %d", k.Kind, k.Count))
	}
	return " (" + strings.Join(parts, ", ") + ")"
}

// stormClasses is "2xx 950 4xx 12": the status classes that occurred.
func stormClasses(c storm.StatusClasses) string {
	var parts []string
	for _, x := range []struct {
		name string
		n    int64
	}{{"1xx", c.S1xx}, {"2xx", c.S2xx}, {"3xx", c.S3xx}, {"4xx", c.S4xx}, {"5xx", c.S5xx}} {
		if x.n > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", x.name, x.n))
		}
	}
	return strings.Join(parts, " ")
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
	if c.Stages != "" {
		who = fmt.Sprintf("users in stages %s (at most %d)", c.Stages, c.Users)
	}
	fmt.Fprintf(w, "hangup storm: %s, patience %s, think %s, reload %.0f%%, abort %s\n",
		who, c.Patience, c.Think, 100*c.ReloadProb, c.Abort)
	what := c.Method + " " + c.URL
	if c.Targets > 1 {
		what += fmt.Sprintf(" and %d more target", c.Targets-1)
		if c.Targets > 2 {
			what += "s"
		}
	}
	if c.HTTP2 {
		what += " over HTTP/2"
	}
	fmt.Fprintf(w, "%s for %.1fs\n\n", what, t.ElapsedS)

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
	if t.Errors > 0 {
		fmt.Fprintf(w, "errors:   %s\n", strings.Trim(stormTopKinds(t.ErrorsByKind, 6), " ()"))
	} else {
		fmt.Fprintf(w, "errors:    none\n")
	}
	if st := stormClasses(t.Status); st != "" {
		fmt.Fprintf(w, "status:    %s  (%s)\n", st, stormTopCodes(t.StatusCodes, 5))
	}
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
		if all > 0 {
			fmt.Fprintf(w, "server work: useful %.1fs%s, cancelled %.1fs%s, wasted %.1fs%s\n",
				wk.Useful, share(wk.Useful), wk.Cancelled, share(wk.Cancelled), wk.Wasted, share(wk.Wasted))
		}
		if wk.AfterGone > 0 || wk.Handler > 0 {
			line := fmt.Sprintf("server work after the client left: %.2fs", wk.AfterGone)
			if wk.Handler > 0 {
				line += fmt.Sprintf(" of %.1fs of handler time (%.1f%%)", wk.Handler, 100*wk.AfterGone/wk.Handler)
			}
			fmt.Fprintln(w, line)
		}
	}
	for _, th := range res.Thresholds {
		verdict := "ok"
		if !th.OK {
			verdict = "FAILED, " + th.Why
		}
		fmt.Fprintf(w, "threshold: %s %s\n", th.Expr, verdict)
	}
	if len(res.Series) > 0 {
		fmt.Fprintf(w, "\n%s\n", stormSparkline(res))
	}
}

// stormTopCodes is "200 ×950, 404 ×12": the n most frequent status codes.
func stormTopCodes(codes map[string]int64, n int) string {
	type kv struct {
		code string
		n    int64
	}
	var all []kv
	for c, k := range codes {
		all = append(all, kv{c, k})
	}
	slices.SortFunc(all, func(a, b kv) int {
		if a.n != b.n {
			return cmp.Compare(b.n, a.n)
		}
		return cmp.Compare(a.code, b.code)
	})
	var parts []string
	for _, x := range all[:min(n, len(all))] {
		parts = append(parts, fmt.Sprintf("%s ×%d", x.code, x.n))
	}
	if len(all) > n {
		parts = append(parts, fmt.Sprintf("%d more codes", len(all)-n))
	}
	return strings.Join(parts, ", ")
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
