package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/hangup-dev/hangup/cmd/internal/bytesize"
	"github.com/hangup-dev/hangup/cmd/internal/gcfloor"
	"github.com/hangup-dev/hangup/cmd/proxy"
)

func init() {
	register("proxy", "a reverse proxy that stops upstream work for clients that left", runProxy)
}

const proxyUsage = `usage: hangup proxy --upstream URL [--upstream URL...] [flags]

A reverse proxy in front of any HTTP server. The moment a client goes away
(FIN or RST, even while its request body is still unread), the request sent
upstream for it is aborted and the access log says 499. Optionally it limits
the requests in flight upstream (queued clients that leave never reach it),
shares one upstream request between identical concurrent GETs (--coalesce),
and drains uploads after an early answer (401, 413) so that the answer
reaches the client whole. Several upstreams share the requests (--lb); one
that keeps refusing connections is ejected for a while (--max-fails,
--fail-timeout), and a request that never reached an upstream goes to
another.

Example:

  hangup proxy --listen :8080 --upstream http://127.0.0.1:9000 --admin 127.0.0.1:9090 \
      --max-inflight 64 --queue 256 --queue-timeout 10s

  hangup proxy --upstream http://10.0.0.1:9000 --upstream http://10.0.0.2:9000 \
      --upstream unix:/run/app.sock --lb least_inflight --retry-idempotent

  hangup proxy --upstream https://10.0.0.1:9443 --upstream https://10.0.0.2:9443 \
      --upstream-ca /etc/hangup/ca.pem --upstream-server-name app.internal \
      --upstream-cert /etc/hangup/proxy.pem --upstream-key /etc/hangup/proxy.key

  hangup proxy --h2c --upstream h2c://10.0.0.1:50051 --upstream h2c://10.0.0.2:50051

  hangup proxy --config /etc/hangup/proxy.yaml --check-config
  hangup proxy --config /etc/hangup/proxy.yaml     # SIGHUP: reread it, swap the pool

Every flag can also be set by an environment variable, HANGUP_ and the flag's
name in capitals with _ for - (HANGUP_UPSTREAM, HANGUP_MAX_INFLIGHT, ...), and
by a key of the --config file (YAML or JSON), the flag's name with _ for -
(max_inflight: 64), which also holds each upstream's own settings; a flag on
the command line wins over the environment, which wins over the file. Durations are like 500ms, 10s, 2m; sizes like
16MB (10^6 bytes), 16MiB (2^20), 1GB, 512KiB or plain bytes.

Flags:
`

// defaultGCFloor is --gc-floor's default: at most this much more memory than
// Go's default heap goal would take.
const defaultGCFloor = 64 << 20

// proxyEnv is os.LookupEnv; tests replace it.
var proxyEnv = os.LookupEnv

// proxyFlags are the settings of "hangup proxy", from its flags, its
// environment and its --config file (proxyconfig.go).
type proxyFlags struct {
	listen, admin string
	logFormat     string
	gcFloor       int64
	config        string // --config: the file, reread at SIGHUP
	checkConfig   bool
	cfg           proxy.Config // without Logger and AccessLog
	// restart holds the settings that only a restart applies, by flag
	// name, as given: a reload that changes one is refused.
	restart map[string]string
}

// proxyInput is what the flags, the environment and the file fill in, from
// which build makes proxyFlags.
type proxyInput struct {
	fs                      *flag.FlagSet
	f                       *proxyFlags
	upstream                upstreamFlag
	trusted                 prefixFlag
	vary, certFile, keyFile string
	maxFails                int
	up                      upstreamTLSFlags
	// from says where each flag was set: "flag" (the command line), "env",
	// or the file's FILE:LINE; a flag not in it has its default.
	from map[string]string
	// fileUpstreams are the file's upstream list, used unless a flag or
	// the environment gives upstreams.
	fileUpstreams []upstreamSpec
	fileFailed    bool // the file could not be read
}

// newProxyInput defines the proxy's flags.
func newProxyInput() *proxyInput {
	fs := flag.NewFlagSet("proxy", flag.ContinueOnError)
	in := &proxyInput{fs: fs, f: &proxyFlags{logFormat: "text"}, from: make(map[string]string)}
	f, cfg, up := in.f, &in.f.cfg, &in.up
	fs.StringVar(&f.config, "config", "", "YAML (or JSON) `file` of settings: every flag's name with _ for - as a key, and per-upstream settings (see cmd/proxy/README.md); the environment and flags override it; reread at SIGHUP")
	fs.BoolVar(&f.checkConfig, "check-config", false, "check the settings (flags, environment, --config) as start-up would, print \"config ok\" or every error, and exit (0 or 2) without starting")
	fs.StringVar(&f.listen, "listen", ":8080", "`address` to serve clients on")
	fs.Var(&in.upstream, "upstream", "`URL` of a server to forward to (required; repeatable, or comma-separated, for a pool): http://127.0.0.1:9000, https://host:port, h2c://host:port (HTTP/2 without TLS, e.g. gRPC) or unix:/run/app.sock")
	fs.StringVar(&cfg.Balance, "lb", proxy.BalanceLeastInflight, "how a request picks an upstream of the pool: least_inflight (fewer requests in flight of two at random), round_robin, or first (the first healthy in the order given)")
	fs.IntVar(&in.maxFails, "max-fails", proxy.DefaultMaxFails, "eject an upstream after `N` failed connects or timeouts in a row; 0: never")
	fs.DurationVar(&cfg.FailTimeout, "fail-timeout", proxy.DefaultFailTimeout, "an ejected upstream gets a request again after this long, then twice as long after each failed probe (up to 5m)")
	fs.StringVar(&cfg.HealthPath, "health-path", "", "ask each upstream GET `path` (e.g. /healthz) every --health-interval: an answer other than 2xx or 3xx, or none within --health-timeout, --max-fails times in a row (at least once) ejects it until a check passes; empty: no health checks")
	fs.DurationVar(&cfg.HealthInterval, "health-interval", proxy.DefaultHealthInterval, "time between two health checks of an upstream")
	fs.DurationVar(&cfg.HealthTimeout, "health-timeout", proxy.DefaultHealthTimeout, "a health check with no answer this long fails")
	fs.BoolVar(&cfg.RetryIdempotent, "retry-idempotent", false, "send an idempotent request (GET, HEAD, PUT, DELETE...) whose upstream failed before answering to another upstream, once (at most 20% more requests); requests that never reached an upstream are always retried")
	fs.StringVar(&f.admin, "admin", "", "`address` for /metrics and /healthz, e.g. 127.0.0.1:9090; empty: none")
	fs.DurationVar(&cfg.FlushInterval, "flush-interval", 0, "flush an answer of known length to the client this often while it streams; -1: after every write; 0: when net/http's buffer fills (answers of unknown length and text/event-stream are always flushed at once)")
	fs.BoolVar(&cfg.PreserveHost, "preserve-host", false, "send the client's Host header upstream, not the upstream's host (X-Forwarded-Host has the client's either way)")
	fs.Var(&in.trusted, "trusted-proxy", "`CIDR` or address of a proxy in front of this one (repeatable, or comma-separated): its X-Forwarded-For is kept and appended to, its X-Forwarded-Host and -Proto kept; from any other peer they are replaced")
	fs.DurationVar(&cfg.UpstreamTimeout, "upstream-timeout", 60*time.Second, "wait at most this long for the upstream's response headers, then answer 504; 0: no limit")
	fs.IntVar(&cfg.MaxInflight, "max-inflight", 0, "at most `N` requests at each upstream at once; 0: no limit")
	fs.IntVar(&cfg.Queue, "queue", 100, "with --max-inflight, up to `N` more wait in line for any upstream (first come, first served); beyond, 503")
	fs.DurationVar(&cfg.QueueTimeout, "queue-timeout", 30*time.Second, "answer 503 to a request that waited this long in line; 0: as long as its client waits")
	fs.DurationVar(&cfg.RetryAfter, "retry-after", time.Second, "Retry-After sent with a 503")
	fs.BoolVar(&cfg.Coalesce, "coalesce", false, "let identical concurrent GET and HEAD requests share one upstream request")
	fs.StringVar(&in.vary, "coalesce-vary", "", "comma-separated `headers` that must also be equal for requests to share (Authorization, Cookie, Range, conditionals and Accept-Encoding always are)")
	cfg.CoalesceBuffer = proxy.DefaultCoalesceBuffer
	bytesize.Var(fs, &cfg.CoalesceBuffer, "coalesce-buffer", "`size` of a shared response kept for its clients; past it, no new client joins")
	fs.DurationVar(&cfg.CoalesceLagTimeout, "coalesce-lag-timeout", proxy.DefaultCoalesceLagTimeout, "cut off a client of a shared response that holds the others up this long")
	fs.DurationVar(&cfg.LingerTime, "linger-time", proxy.DefaultLingerTime, "after an early answer, drain the client's upload at most this long in all (nginx lingering_time); negative: don't")
	fs.DurationVar(&cfg.LingerTimeout, "linger-timeout", proxy.DefaultLingerTimeout, "stop draining when the client sends nothing for this long (nginx lingering_timeout)")
	cfg.LingerBytes = proxy.DefaultLingerBytes
	bytesize.Var(fs, &cfg.LingerBytes, "linger-bytes", "stop draining after this `size`")
	cfg.EarlyAnswerBuffer = proxy.DefaultEarlyAnswerBuffer
	bytesize.VarOff(fs, &cfg.EarlyAnswerBuffer, "early-answer-buffer", "read up to this `size` of an early refusal from the upstream at once; off: don't")
	fs.DurationVar(&cfg.ClientBodyTimeout, "client-body-timeout", proxy.DefaultClientBodyTimeout, "answer 408 to a client whose upload sends nothing for this long between two reads (nginx client_body_timeout); negative: no limit")
	bytesize.Var(fs, &cfg.MaxBodySize, "max-body-size", "largest request body accepted, a `size`; beyond, 413 (before the upstream is asked when Content-Length says so); 0: no limit")
	fs.DurationVar(&cfg.ReadHeaderTimeout, "read-header-timeout", proxy.DefaultReadHeaderTimeout, "time allowed to read a request's headers (slowloris)")
	cfg.MaxHeaderBytes = proxy.DefaultMaxHeaderBytes
	bytesize.Var(fs, &cfg.MaxHeaderBytes, "max-header-bytes", "largest request headers accepted, a `size`; beyond, 431")
	fs.DurationVar(&cfg.IdleTimeout, "idle-timeout", proxy.DefaultIdleTimeout, "close keep-alive connections idle this long")
	fs.DurationVar(&cfg.ShutdownTimeout, "shutdown-timeout", proxy.DefaultShutdownTimeout, "on SIGINT or SIGTERM, wait this long for requests in flight, then cut them")
	fs.StringVar(&in.certFile, "tls-cert", "", "PEM certificate `file`: serve HTTPS (and HTTP/2); needs --tls-key")
	fs.StringVar(&in.keyFile, "tls-key", "", "PEM private key `file` for --tls-cert")
	fs.BoolVar(&cfg.H2C, "h2c", false, "also accept HTTP/2 without TLS (prior knowledge)")
	fs.StringVar(&up.ca, "upstream-ca", "", "PEM `file` of the CA certificates that sign the https upstreams' certificates (a private CA); default: the system's")
	fs.StringVar(&up.serverName, "upstream-server-name", "", "`name` to ask https upstreams for (SNI) and to verify their certificates against; default: each upstream URL's host")
	fs.StringVar(&up.cert, "upstream-cert", "", "PEM client certificate `file` to show https upstreams that ask for one (mutual TLS); needs --upstream-key")
	fs.StringVar(&up.key, "upstream-key", "", "PEM private key `file` for --upstream-cert")
	fs.BoolVar(&up.insecure, "upstream-insecure-skip-verify", false, "do not verify the https upstreams' certificates (logs a warning at start); give --upstream-ca instead")
	fs.StringVar(&f.logFormat, "log-format", f.logFormat, "access log format on stdout: text or json")
	f.gcFloor = defaultGCFloor
	bytesize.Var(fs, &f.gcFloor, "gc-floor", "keep Go's garbage collector from running before the heap reaches this `size` (GOGC still rules above); 0: Go's default")
	return in
}

// parseProxyFlags reads the proxy's flags, environment and --config file;
// -h prints the usage on stdout. It returns the first error
// (loadProxyFlags has them all).
func parseProxyFlags(args []string, stdout io.Writer) (*proxyFlags, error) {
	f, errs := loadProxyFlags(args, stdout)
	if len(errs) > 0 {
		return nil, errs[0]
	}
	return f, nil
}

// runProxy is "hangup proxy": it reads flags, environment and --config,
// and runs proxy.Serve until ctx is done (SIGINT or SIGTERM). SIGHUP
// rereads the --config file and reloads the pool (proxyconfig.go); without
// --config it is logged and changes nothing. With --check-config it checks
// the settings and returns.
func runProxy(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f, errs := loadProxyFlags(args, stdout)
	if f != nil && f.checkConfig {
		return checkProxyConfig(f, errs, stdout, stderr)
	}
	if len(errs) > 0 {
		return errs[0]
	}
	cfg, listen, admin := f.cfg, f.listen, f.admin
	// The proxy's live heap is a few megabytes and it allocates some ten
	// kilobytes a request: with Go's default heap goal the collector ran
	// dozens of times a second and took a fifth of its CPU (BENCH.md).
	defer gcfloor.Start(uint64(f.gcFloor)).Stop()
	// The access log is buffered like nginx's "buffer=32k flush=…": one
	// write(2) per request was a tenth of the proxy's cost. Lines reach
	// stdout at most 100 ms late; Close writes the rest at exit.
	logOut := proxy.NewLogWriter(stdout, 0, 0)
	defer logOut.Close()
	// The access lines are written by the proxy itself, in the handler's
	// format: slog's handlers took a tenth of the proxy's time for them.
	cfg.AccessLog = logOut
	cfg.Logger = slog.New(slog.NewTextHandler(logOut, nil))
	if f.logFormat == "json" {
		cfg.Logger = slog.New(slog.NewJSONHandler(logOut, nil))
		cfg.AccessLogJSON = true
	}
	p, err := proxy.New(cfg)
	if err != nil {
		return fmt.Errorf("%v: %w", err, errUsage)
	}
	if f.config == "" {
		defer onHangup(func() { cfg.Logger.Warn(proxyHangupMessage) })()
	} else {
		defer onHangup(func() { p.Reload(func() (proxy.Config, error) { return reloadProxyConfig(args, f) }) })()
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return fmt.Errorf("--listen: %w", err)
	}
	var adminLn net.Listener
	if admin != "" {
		if adminLn, err = net.Listen("tcp", admin); err != nil {
			ln.Close()
			return fmt.Errorf("--admin: %w", err)
		}
	}
	scheme := "http"
	if cfg.TLSConfig != nil {
		scheme = "https"
	}
	names := make([]string, len(cfg.Upstreams))
	for i, u := range cfg.Upstreams {
		names[i] = u.String()
	}
	attrs := []any{"listen", ln.Addr().String(), "scheme", scheme, "upstream", strings.Join(names, ",")}
	if adminLn != nil {
		attrs = append(attrs, "admin", adminLn.Addr().String())
	}
	cfg.Logger.Info("proxy listening", attrs...)
	err = p.Serve(ctx, ln, adminLn)
	cfg.Logger.Info("proxy stopped")
	return err
}

// upstreamFlag is --upstream. The flag package lets the last of a repeated
// flag win, the norm for the other flags; here that silently dropped all but
// one of the servers the user meant to forward to (issue 16, case 8), so
// every value given is kept: the pool (issue 12). A value may also list
// several, comma-separated, as HANGUP_UPSTREAM does.
type upstreamFlag struct {
	given []string // the values given since given was last reset
}

func (f *upstreamFlag) String() string { return strings.Join(f.given, ",") }

func (f *upstreamFlag) Set(s string) error {
	for part := range strings.SplitSeq(s, ",") {
		if part = strings.TrimSpace(part); part != "" {
			f.given = append(f.given, part)
		}
	}
	return nil
}

// prefixFlag is --trusted-proxy: CIDRs or addresses, repeated or
// comma-separated, all kept. An address alone is a prefix of its full
// length.
type prefixFlag struct {
	list []netip.Prefix
}

func (f *prefixFlag) String() string {
	s := make([]string, len(f.list))
	for i, p := range f.list {
		s[i] = p.String()
	}
	return strings.Join(s, ",")
}

func (f *prefixFlag) Set(v string) error {
	for part := range strings.SplitSeq(v, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		p, err := netip.ParsePrefix(part)
		if err != nil {
			a, aerr := netip.ParseAddr(part)
			if aerr != nil {
				return fmt.Errorf("%q: want a CIDR such as 10.0.0.0/8 or an address", part)
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		f.list = append(f.list, p.Masked())
	}
	return nil
}
