package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/hangup-dev/hangup/cmd/demo"
	"github.com/hangup-dev/hangup/cmd/internal/bytesize"
)

func init() {
	register("demo", "the cancellation demo: a slow page whose work stops when the browser gives up", runDemo)
}

// demoFlags are the flags of "hangup demo".
type demoFlags struct {
	listen      string
	cfg         demo.Config
	logFormat   string
	dbPoolGiven bool
}

// demoRenamed are the demo's old flag names, now those the other commands
// use for the same thing.
var demoRenamed = map[string]string{"addr": "listen", "workers": "max-inflight", "max-upload": "max-body-size"}

const demoUsage = `usage: hangup demo [flags]

The seed's cancellation demo, made real: open http://localhost:8888, abandon
requests (close a tab, abort a fetch, abort an upload, mash reload) and
watch the work behind them stop, on the page and in this terminal.

  GET  /slow?seconds=N&work=sqlite|postgres|upstream|cpu
  POST /upload            401 at once without an Authorization header
  GET  /metrics           hangup_* and demo_work_seconds_total{work,outcome}

Durations are like 500ms, 10s, 2m; sizes like 16MB (10^6 bytes), 16MiB
(2^20), 1GB, 512KiB or plain bytes.

Flags:
`

// parseDemoFlags parses the demo's flags; -h prints the usage on stdout.
func parseDemoFlags(args []string, stdout io.Writer) (*demoFlags, error) {
	f := &demoFlags{cfg: demo.Config{MaxUpload: 1 << 30, UploadRate: 16 << 20}}
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.StringVar(&f.listen, "listen", ":8888", "`address` to serve on")
	fs.Float64Var(&f.cfg.Seconds, "seconds", 10, "how long /slow works when the request does not say (0 < s ≤ 600)")
	fs.StringVar(&f.cfg.DataDir, "data", "", "`directory` of the embedded SQLite database (default: a temporary directory, removed on exit)")
	fs.StringVar(&f.cfg.PostgresURL, "db", "", "PostgreSQL `URL` (postgres://user:pass@host/db): enables work=postgres; checked at start-up (connect timeout 5s unless the URL sets connect_timeout)")
	fs.IntVar(&f.cfg.PostgresPool, "db-pool", 4, "PostgreSQL connections the demo may hold at once")
	fs.IntVar(&f.cfg.Workers, "max-inflight", 4, "at most `N` requests work at once, of any kind; the others wait in line")
	fs.IntVar(&f.cfg.Queue, "queue", 1024, "up to `N` requests wait in line for a turn; beyond, 503")
	fs.DurationVar(&f.cfg.QueueTimeout, "queue-timeout", 0, "answer 503 with Retry-After to a request that waited this long in line; 0: as long as its client waits")
	fs.StringVar(&f.logFormat, "log-format", "text", "terminal log format: text or json")
	fs.BoolVar(&f.cfg.IgnoreDisconnect, "ignore-disconnect", false, "run the work on context.WithoutCancel(r.Context()): it goes on for clients that left, as without hangup")
	bytesize.Var(fs, &f.cfg.MaxUpload, "max-body-size", "largest upload body accepted, a `size`; larger is answered 413")
	bytesize.Var(fs, &f.cfg.UploadRate, "upload-rate", "how fast /upload reads bodies, a `size` per second")
	fs.DurationVar(&f.cfg.UploadCheck, "upload-check", 2*time.Second, "how long /upload checks credentials, body unread, before reading it")
	fs.BoolVar(&f.cfg.AccessLog, "access-log", false, "also log one line per request, with status 499 for clients that left")
	if err := parseFlags(fs, args, demoUsage, demoRenamed, stdout); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q (see hangup demo -h): %w", fs.Arg(0), errUsage)
	}
	fs.Visit(func(fl *flag.Flag) { f.dbPoolGiven = f.dbPoolGiven || fl.Name == "db-pool" })
	switch {
	case !(f.cfg.Seconds > 0 && f.cfg.Seconds <= 600):
		return nil, fmt.Errorf("--seconds %g out of range: want 0 < seconds ≤ 600: %w", f.cfg.Seconds, errUsage)
	case f.cfg.Queue < 0 || f.cfg.QueueTimeout < 0:
		return nil, fmt.Errorf("--queue and --queue-timeout must not be negative: %w", errUsage)
	case f.cfg.Workers < 1:
		return nil, fmt.Errorf("--max-inflight %d: want at least 1: %w", f.cfg.Workers, errUsage)
	case f.cfg.PostgresPool < 1:
		return nil, fmt.Errorf("--db-pool %d: want at least 1: %w", f.cfg.PostgresPool, errUsage)
	case f.dbPoolGiven && f.cfg.PostgresURL == "":
		return nil, fmt.Errorf("--db-pool needs --db: %w", errUsage)
	case f.cfg.PostgresURL != "" && demo.CheckPostgresURL(f.cfg.PostgresURL) != nil:
		return nil, fmt.Errorf("--db: %v: %w", demo.CheckPostgresURL(f.cfg.PostgresURL), errUsage)
	case f.logFormat != "text" && f.logFormat != "json":
		return nil, fmt.Errorf("--log-format %q: want text or json: %w", f.logFormat, errUsage)
	case f.cfg.UploadCheck <= 0:
		return nil, fmt.Errorf("--upload-check %v: want a positive duration: %w", f.cfg.UploadCheck, errUsage)
	case f.cfg.MaxUpload <= 0:
		return nil, fmt.Errorf("--max-body-size 0: the demo needs a limit, e.g. --max-body-size 1GiB: %w", errUsage)
	case f.cfg.UploadRate <= 0:
		return nil, fmt.Errorf("--upload-rate 0: want a rate, e.g. --upload-rate 16MiB: %w", errUsage)
	}
	return f, nil
}

// runDemo is the seed's demo server, made real: see package demo.
func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f, err := parseDemoFlags(args, stdout)
	if err != nil {
		return err
	}
	var h slog.Handler = slog.NewTextHandler(stdout, nil)
	if f.logFormat == "json" {
		h = slog.NewJSONHandler(stdout, nil)
	}
	log := slog.New(h)
	f.cfg.Logger = log
	defer ignoreHangup(log)()

	ln, err := net.Listen("tcp", f.listen)
	if err != nil {
		return err
	}
	defer ln.Close()
	s, err := demo.New(ctx, f.cfg)
	if err != nil {
		if ctx.Err() != nil {
			return nil // interrupted while starting
		}
		return errors.New(oneLine(err.Error()))
	}
	defer s.Close()
	url := "http://" + browsable(ln.Addr())
	log.Info("hangup demo listening", "url", url, "works", strings.Join(s.Works(), ","),
		"workers", f.cfg.Workers, "ignore_disconnect", f.cfg.IgnoreDisconnect, "data", s.DataDir(),
		"sqlite_rows_per_s", int64(s.SQLiteRate()))
	if f.logFormat == "text" {
		fmt.Fprintf(stdout, `
  Open %s and:
    1. open the slow page in a new tab, then close the tab before it finishes;
    2. start a fetch, then abort it;
    3. start an upload, then abort it, or upload without credentials (401 at once);
    4. mash reload: requests in a row, each abandoned after a short patience,
       and watch the charts of the work done for nobody (start the demo again
       with --ignore-disconnect to see it pile up).
  Each request's work stops the instant its client leaves: watch this log.

`, url)
	}
	return s.Serve(ctx, ln)
}

// browsable turns a listening address into one a browser can open.
func browsable(a net.Addr) string {
	host, port, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "localhost"
	}
	return net.JoinHostPort(host, port)
}

// oneLine puts a multi-line error message on one line: pgx tells each
// address it tried (and each TLS mode) on a line of its own, often the same.
func oneLine(msg string) string {
	var parts []string
	seen := map[string]bool{}
	for l := range strings.Lines(msg) {
		l = strings.TrimSpace(l)
		if l != "" && !seen[l] {
			seen[l] = true
			parts = append(parts, l)
		}
	}
	if len(parts) == 0 {
		return msg
	}
	out := parts[0]
	for i, p := range parts[1:] {
		if i > 0 || !strings.HasSuffix(out, ":") {
			out += ";"
		}
		out += " " + p
	}
	return out
}
