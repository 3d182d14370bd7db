package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"os"
	"slices"
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

Every flag can also be set by an environment variable, HANGUP_ and the flag's
name in capitals with _ for - (HANGUP_UPSTREAM, HANGUP_MAX_INFLIGHT, ...); a
flag on the command line wins. Durations are like 500ms, 10s, 2m; sizes like
16MB (10^6 bytes), 16MiB (2^20), 1GB, 512KiB or plain bytes.

Flags:
`

// defaultGCFloor is --gc-floor's default: at most this much more memory than
// Go's default heap goal would take.
const defaultGCFloor = 64 << 20

// proxyEnv is os.LookupEnv; tests replace it.
var proxyEnv = os.LookupEnv

// proxyFlags are the settings of "hangup proxy", from its flags and
// environment.
type proxyFlags struct {
	listen, admin string
	logFormat     string
	gcFloor       int64
	cfg           proxy.Config // without Logger and AccessLog
}

// parseProxyFlags reads the proxy's environment, then its flags; -h prints
// the usage on stdout.
func parseProxyFlags(args []string, stdout io.Writer) (*proxyFlags, error) {
	fs := flag.NewFlagSet("proxy", flag.ContinueOnError)
	f := &proxyFlags{logFormat: "text"}
	var (
		upstream                upstreamFlag
		trusted                 prefixFlag
		vary, certFile, keyFile string
		cfg                     = &f.cfg
	)
	fs.StringVar(&f.listen, "listen", ":8080", "`address` to serve clients on")
	fs.Var(&upstream, "upstream", "`URL` of a server to forward to (required; repeatable, or comma-separated, for a pool): http://127.0.0.1:9000, https://host:port, h2c://host:port (HTTP/2 without TLS, e.g. gRPC) or unix:/run/app.sock")
	fs.StringVar(&cfg.Balance, "lb", proxy.BalanceLeastInflight, "how a request picks an upstream of the pool: least_inflight (fewer requests in flight of two at random), round_robin, or first (the first healthy in the order given)")
	maxFails := fs.Int("max-fails", proxy.DefaultMaxFails, "eject an upstream after `N` failed connects or timeouts in a row; 0: never")
	fs.DurationVar(&cfg.FailTimeout, "fail-timeout", proxy.DefaultFailTimeout, "an ejected upstream gets a request again after this long, then twice as long after each failed probe (up to 5m)")
	fs.BoolVar(&cfg.RetryIdempotent, "retry-idempotent", false, "send an idempotent request (GET, HEAD, PUT, DELETE...) whose upstream failed before answering to another upstream, once (at most 20% more requests); requests that never reached an upstream are always retried")
	fs.StringVar(&f.admin, "admin", "", "`address` for /metrics and /healthz, e.g. 127.0.0.1:9090; empty: none")
	fs.DurationVar(&cfg.FlushInterval, "flush-interval", 0, "flush an answer of known length to the client this often while it streams; -1: after every write; 0: when net/http's buffer fills (answers of unknown length and text/event-stream are always flushed at once)")
	fs.BoolVar(&cfg.PreserveHost, "preserve-host", false, "send the client's Host header upstream, not the upstream's host (X-Forwarded-Host has the client's either way)")
	fs.Var(&trusted, "trusted-proxy", "`CIDR` or address of a proxy in front of this one (repeatable, or comma-separated): its X-Forwarded-For is kept and appended to, its X-Forwarded-Host and -Proto kept; from any other peer they are replaced")
	fs.DurationVar(&cfg.UpstreamTimeout, "upstream-timeout", 60*time.Second, "wait at most this long for the upstream's response headers, then answer 504; 0: no limit")
	fs.IntVar(&cfg.MaxInflight, "max-inflight", 0, "at most `N` requests at each upstream at once; 0: no limit")
	fs.IntVar(&cfg.Queue, "queue", 100, "with --max-inflight, up to `N` more wait in line for any upstream (first come, first served); beyond, 503")
	fs.DurationVar(&cfg.QueueTimeout, "queue-timeout", 30*time.Second, "answer 503 to a request that waited this long in line; 0: as long as its client waits")
	fs.DurationVar(&cfg.RetryAfter, "retry-after", time.Second, "Retry-After sent with a 503")
	fs.BoolVar(&cfg.Coalesce, "coalesce", false, "let identical concurrent GET and HEAD requests share one upstream request")
	fs.StringVar(&vary, "coalesce-vary", "", "comma-separated `headers` that must also be equal for requests to share (Authorization, Cookie, Range, conditionals and Accept-Encoding always are)")
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
	fs.StringVar(&certFile, "tls-cert", "", "PEM certificate `file`: serve HTTPS (and HTTP/2); needs --tls-key")
	fs.StringVar(&keyFile, "tls-key", "", "PEM private key `file` for --tls-cert")
	fs.BoolVar(&cfg.H2C, "h2c", false, "also accept HTTP/2 without TLS (prior knowledge)")
	var up upstreamTLSFlags
	fs.StringVar(&up.ca, "upstream-ca", "", "PEM `file` of the CA certificates that sign the https upstreams' certificates (a private CA); default: the system's")
	fs.StringVar(&up.serverName, "upstream-server-name", "", "`name` to ask https upstreams for (SNI) and to verify their certificates against; default: each upstream URL's host")
	fs.StringVar(&up.cert, "upstream-cert", "", "PEM client certificate `file` to show https upstreams that ask for one (mutual TLS); needs --upstream-key")
	fs.StringVar(&up.key, "upstream-key", "", "PEM private key `file` for --upstream-cert")
	fs.BoolVar(&up.insecure, "upstream-insecure-skip-verify", false, "do not verify the https upstreams' certificates (logs a warning at start); give --upstream-ca instead")
	fs.StringVar(&f.logFormat, "log-format", f.logFormat, "access log format on stdout: text or json")
	f.gcFloor = defaultGCFloor
	bytesize.Var(fs, &f.gcFloor, "gc-floor", "keep Go's garbage collector from running before the heap reaches this `size` (GOGC still rules above); 0: Go's default")

	if err := proxyFromEnv(fs); err != nil {
		return nil, err
	}
	fromEnv := upstream.given
	upstream.given = nil   // HANGUP_UPSTREAM is a default: a flag replaces it
	trusted.replace = true // so is HANGUP_TRUSTED_PROXY
	if err := parseFlags(fs, args, proxyUsage, nil, stdout); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q; the upstream goes in --upstream: %w", fs.Arg(0), errUsage)
	}

	if len(upstream.given) == 0 {
		upstream.given = fromEnv
	}
	if len(upstream.given) == 0 {
		return nil, fmt.Errorf("no upstream: give --upstream http://host:port (or HANGUP_UPSTREAM): %w", errUsage)
	}
	seen := make(map[string]bool)
	for _, s := range upstream.given {
		u, err := proxyUpstream(s)
		if err != nil {
			return nil, err
		}
		if seen[u.String()] {
			return nil, fmt.Errorf("--upstream %s given twice: give each upstream once: %w", s, errUsage)
		}
		seen[u.String()] = true
		cfg.Upstreams = append(cfg.Upstreams, u)
	}
	switch cfg.Balance {
	case proxy.BalanceLeastInflight, proxy.BalanceRoundRobin, proxy.BalanceFirst:
	default:
		return nil, fmt.Errorf("--lb %q: want least_inflight, round_robin or first: %w", cfg.Balance, errUsage)
	}
	cfg.MaxFails = *maxFails
	if cfg.MaxFails == 0 {
		cfg.MaxFails = -1 // never: the flag's 0 is nginx's max_fails=0
	}
	cfg.TrustedProxies = trusted.list
	if err := proxyCheckNumbers(fs); err != nil {
		return nil, err
	}
	for _, h := range strings.Split(vary, ",") {
		if h = strings.TrimSpace(h); h != "" {
			cfg.CoalesceVary = append(cfg.CoalesceVary, h)
		}
	}
	if (certFile == "") != (keyFile == "") {
		return nil, fmt.Errorf("--tls-cert and --tls-key go together: %w", errUsage)
	}
	if certFile != "" {
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, fmt.Errorf("--tls-cert %s / --tls-key %s: %v: %w", certFile, keyFile, err, errUsage)
		}
		cfg.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	tlsConf, err := up.config(cfg.Upstreams)
	if err != nil {
		return nil, err
	}
	cfg.UpstreamTLS = tlsConf
	if f.logFormat != "text" && f.logFormat != "json" {
		return nil, fmt.Errorf("--log-format %q: want text or json: %w", f.logFormat, errUsage)
	}
	return f, nil
}

// runProxy is "hangup proxy": it reads flags and environment, and runs
// proxy.Serve until ctx is done (SIGINT or SIGTERM). SIGHUP is logged and
// changes nothing.
func runProxy(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f, err := parseProxyFlags(args, stdout)
	if err != nil {
		return err
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
	defer ignoreHangup(cfg.Logger)()

	p, err := proxy.New(cfg)
	if err != nil {
		return fmt.Errorf("%v: %w", err, errUsage)
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

// proxyFromEnv sets every flag that has a HANGUP_* variable in the
// environment, before the command line is parsed, so that flags win.
func proxyFromEnv(fs *flag.FlagSet) error {
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		name := proxyEnvName(f.Name)
		v, ok := proxyEnv(name)
		if !ok || err != nil {
			return
		}
		if e := fs.Set(f.Name, v); e != nil {
			err = fmt.Errorf("%s=%q: %v: %w", name, v, e, errUsage)
		}
	})
	return err
}

func proxyEnvName(flagName string) string {
	return "HANGUP_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
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

// proxyUpstream parses one --upstream, with a message that says what to
// write.
func proxyUpstream(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err == nil && u.Scheme == "unix" {
		if !strings.HasPrefix(u.Path, "/") || u.Host != "" {
			return nil, fmt.Errorf("--upstream %q: want unix: and the socket's absolute path, e.g. unix:/run/app.sock: %w", s, errUsage)
		}
		return u, nil
	}
	if err != nil || (u.Scheme != "http" && u.Scheme != "https" && u.Scheme != "h2c") || u.Host == "" {
		return nil, fmt.Errorf("--upstream %q: want an http:// or https:// URL with a host, e.g. http://127.0.0.1:9000, h2c://host:port (HTTP/2 without TLS), or unix:/path/to.sock: %w", s, errUsage)
	}
	return u, nil
}

// proxyCheckNumbers rejects negative counts, sizes and durations, naming the
// flag (and its variable) rather than the Config field. The linger and
// early-answer settings and the client body timeout take a negative value
// to mean "off", the flush interval to mean "after every write".
func proxyCheckNumbers(fs *flag.FlagSet) error {
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		switch f.Name {
		case "linger-time", "early-answer-buffer", "client-body-timeout", "flush-interval":
			return
		}
		g, ok := f.Value.(flag.Getter)
		if !ok || err != nil {
			return
		}
		negative := false
		switch v := g.Get().(type) {
		case int:
			negative = v < 0
		case int64:
			negative = v < 0
		case time.Duration:
			negative = v < 0
		}
		if negative {
			err = fmt.Errorf("--%s %s: must not be negative (flag or %s): %w", f.Name, f.Value, proxyEnvName(f.Name), errUsage)
		}
	})
	return err
}

// prefixFlag is --trusted-proxy: CIDRs or addresses, repeated or
// comma-separated, all kept. An address alone is a prefix of its full
// length.
type prefixFlag struct {
	list    []netip.Prefix
	replace bool // the next Set replaces list (which came from the environment)
}

func (f *prefixFlag) String() string {
	s := make([]string, len(f.list))
	for i, p := range f.list {
		s[i] = p.String()
	}
	return strings.Join(s, ",")
}

func (f *prefixFlag) Set(v string) error {
	if f.replace {
		f.list, f.replace = nil, false
	}
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

// upstreamTLSFlags are the --upstream-* TLS flags, for https:// upstreams.
type upstreamTLSFlags struct {
	ca, serverName, cert, key string
	insecure                  bool
}

// config is the TLS configuration the flags give, nil if none is given; an
// error names the flag and says what to give instead.
func (f *upstreamTLSFlags) config(ups []*url.URL) (*tls.Config, error) {
	if f.ca == "" && f.serverName == "" && f.cert == "" && f.key == "" && !f.insecure {
		return nil, nil
	}
	if !slices.ContainsFunc(ups, func(u *url.URL) bool { return u.Scheme == "https" }) {
		return nil, fmt.Errorf("--upstream-ca, --upstream-server-name, --upstream-cert, --upstream-key and --upstream-insecure-skip-verify are for https:// upstreams, and none is given: %w", errUsage)
	}
	if f.insecure && (f.ca != "" || f.serverName != "") {
		return nil, fmt.Errorf("--upstream-insecure-skip-verify verifies nothing, so --upstream-ca and --upstream-server-name would change nothing: give one or the other: %w", errUsage)
	}
	conf := &tls.Config{ServerName: f.serverName, InsecureSkipVerify: f.insecure, MinVersion: tls.VersionTLS12}
	if f.ca != "" {
		pem, err := os.ReadFile(f.ca)
		if err != nil {
			return nil, fmt.Errorf("--upstream-ca: %v: give a readable PEM file of the CA certificates: %w", err, errUsage)
		}
		conf.RootCAs = x509.NewCertPool()
		if !conf.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--upstream-ca %s: no PEM certificate in it: give the CA's certificates as -----BEGIN CERTIFICATE----- blocks: %w", f.ca, errUsage)
		}
	}
	if (f.cert == "") != (f.key == "") {
		return nil, fmt.Errorf("--upstream-cert and --upstream-key go together: give both, or neither: %w", errUsage)
	}
	if f.cert != "" {
		cert, err := tls.LoadX509KeyPair(f.cert, f.key)
		if err != nil {
			return nil, fmt.Errorf("--upstream-cert %s / --upstream-key %s: %v: give a PEM certificate and its private key: %w", f.cert, f.key, err, errUsage)
		}
		conf.Certificates = []tls.Certificate{cert}
	}
	return conf, nil
}
