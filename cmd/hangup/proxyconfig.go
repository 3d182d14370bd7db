package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/hangup-dev/hangup/cmd/internal/configfile"
	"github.com/hangup-dev/hangup/cmd/proxy"
	"go.yaml.in/yaml/v3"
)

// The proxy's settings come from three places, each overriding the one
// before: the --config file, the environment (HANGUP_* for each flag), the
// command line. A flag given on the command line is not looked for in the
// environment, nor a flag set by either in the file; a list (--upstream,
// --trusted-proxy) is taken whole from the first place that gives it. Then
// build checks everything start-up needs (URLs, TLS files readable and PEM,
// sizes, durations, addresses) and keeps every error, so that
// --check-config can list them all; each names the flag (--max-inflight) or
// the file's key and line (max_inflight (hangup.yaml:4)).
//
// SIGHUP reads all three again, the file anew, and hands the result to
// proxy.Reload, which swaps the pool. Only the pool's settings (reloadable)
// change at a reload; a reload that changes another (the listen address,
// the queue's size, the log format...) is refused whole, with the settings
// it would have needed a restart for, rather than half applied.

// reloadable are the flags a reload applies: the pool's.
var reloadable = []string{
	"upstream", "lb", "max-fails", "fail-timeout", "retry-idempotent", "max-inflight",
	"upstream-ca", "upstream-server-name", "upstream-cert", "upstream-key", "upstream-insecure-skip-verify",
	"health-path", "health-interval", "health-timeout",
}

// loadProxyFlags reads the proxy's settings and checks them. A command line
// that does not parse (or -h) ends it at once, with no proxyFlags; past
// that it returns every error, each marked errUsage, and proxyFlags that
// are whole only without errors.
func loadProxyFlags(args []string, stdout io.Writer) (*proxyFlags, []error) {
	in := newProxyInput()
	if err := parseFlags(in.fs, args, proxyUsage, nil, stdout); err != nil {
		return nil, []error{err}
	}
	if in.fs.NArg() > 0 {
		return nil, []error{fmt.Errorf("unexpected argument %q; the upstream goes in --upstream: %w", in.fs.Arg(0), errUsage)}
	}
	in.fs.Visit(func(fl *flag.Flag) { in.from[fl.Name] = "flag" })
	errs := in.fromEnv()
	if in.f.config != "" {
		errs = append(errs, in.fromFile()...)
	}
	errs = append(errs, in.build()...)
	return in.f, errs
}

// fromEnv sets every flag not given on the command line that has a HANGUP_*
// variable in the environment.
func (in *proxyInput) fromEnv() []error {
	var errs []error
	in.fs.VisitAll(func(fl *flag.Flag) {
		name := proxyEnvName(fl.Name)
		v, ok := proxyEnv(name)
		if !ok || in.from[fl.Name] != "" {
			return
		}
		if err := in.fs.Set(fl.Name, v); err != nil {
			errs = append(errs, fmt.Errorf("%s=%q: %v: %w", name, v, err, errUsage))
			return
		}
		in.from[fl.Name] = "env"
	})
	return errs
}

func proxyEnvName(flagName string) string {
	return "HANGUP_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// fromFile sets every flag that neither the command line nor the
// environment set from the --config file, and reads its upstream list.
func (in *proxyInput) fromFile() []error {
	file, err := configfile.Read(in.f.config)
	if err != nil {
		in.fileFailed = true
		return []error{fmt.Errorf("%s: %v: %w", in.key("config"), err, errUsage)}
	}
	set, errs := file.Apply(in.fs, configfile.Options{
		Given: func(name string) bool { return in.from[name] != "" },
		Lists: []string{"trusted-proxy"},
		Skip:  []string{"config", "check-config"},
		Own:   map[string]func(*yaml.Node) []error{"upstream": func(n *yaml.Node) []error { return in.readUpstreams(file, n) }},
	})
	for name, at := range set {
		in.from[name] = at
	}
	for i, err := range errs {
		errs[i] = fmt.Errorf("%w: %w", err, errUsage)
	}
	return errs
}

// upstreamSpec is one upstream as given: its URL, and from the file, its
// own settings.
type upstreamSpec struct {
	url         string
	name        string           // in errors: --upstream, or upstream[2] (FILE:LINE)
	tls         upstreamTLSFlags // its own, from the file: merged over the --upstream-* flags
	maxInflight int
	// own names, for errors, the fields the file sets, by their flag's
	// name without upstream- (ca, server-name, max-inflight...):
	// upstream[2].ca (FILE:LINE)
	own map[string]string
}

// upstreamEntry is an upstream of the file given as a table.
type upstreamEntry struct {
	URL                string `yaml:"url"`
	CA                 string `yaml:"ca"`
	ServerName         string `yaml:"server_name"`
	Cert               string `yaml:"cert"`
	Key                string `yaml:"key"`
	InsecureSkipVerify bool   `yaml:"insecure_skip_verify"`
	MaxInflight        int    `yaml:"max_inflight"`
}

var upstreamKeys = []string{"url", "ca", "server_name", "cert", "key", "insecure_skip_verify", "max_inflight"}

// readUpstreams reads the file's upstream key: a URL, or a list of URLs
// and of tables (url and the upstream's own settings).
func (in *proxyInput) readUpstreams(file *configfile.File, n *yaml.Node) []error {
	items := []*yaml.Node{n}
	if n.Kind == yaml.SequenceNode {
		items = n.Content
	}
	var errs []error
	for i, item := range items {
		name := fmt.Sprintf("upstream[%d] (%s)", i+1, file.Where(item))
		switch item.Kind {
		case yaml.ScalarNode:
			in.fileUpstreams = append(in.fileUpstreams, upstreamSpec{url: item.Value, name: name})
			continue
		case yaml.MappingNode:
		default:
			errs = append(errs, fmt.Errorf("%s: want a URL, or a table with url and the upstream's settings: %w", name, errUsage))
			continue
		}
		var e upstreamEntry
		for _, err := range file.Strict(item, fmt.Sprintf("upstream[%d]", i+1), &e, upstreamKeys) {
			errs = append(errs, fmt.Errorf("%w: %w", err, errUsage))
		}
		s := upstreamSpec{url: e.URL, name: name, own: make(map[string]string), maxInflight: e.MaxInflight,
			tls: upstreamTLSFlags{ca: e.CA, serverName: e.ServerName, cert: e.Cert, key: e.Key, insecure: e.InsecureSkipVerify}}
		for j := 0; j+1 < len(item.Content); j += 2 {
			k := item.Content[j]
			s.own[strings.ReplaceAll(k.Value, "_", "-")] = fmt.Sprintf("upstream[%d].%s (%s)", i+1, k.Value, file.Where(k))
		}
		if e.URL == "" {
			errs = append(errs, fmt.Errorf("%s: no url: give the upstream's URL as url: %w", name, errUsage))
			continue
		}
		in.fileUpstreams = append(in.fileUpstreams, s)
	}
	if in.from["upstream"] == "" {
		in.from["upstream"] = file.Where(n)
	}
	return errs
}

// key is how errors name the flag name: --name, or for a setting from the
// file, its key and place.
func (in *proxyInput) key(name string) string {
	switch at := in.from[name]; at {
	case "", "flag", "env":
		return "--" + name
	default:
		return strings.ReplaceAll(name, "-", "_") + " (" + at + ")"
	}
}

// specs are the upstreams given: the flag's or the environment's, else the
// file's.
func (in *proxyInput) specs() []upstreamSpec {
	if len(in.upstream.given) == 0 {
		return in.fileUpstreams
	}
	specs := make([]upstreamSpec, len(in.upstream.given))
	for i, u := range in.upstream.given {
		specs[i] = upstreamSpec{url: u, name: "--upstream"}
	}
	return specs
}

// build makes the proxy's Config of what was given, and returns every
// error, in the order of the flags.
func (in *proxyInput) build() []error {
	var errs []error
	add := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	f, cfg := in.f, &in.f.cfg
	specs := in.specs()
	if len(specs) == 0 && !in.fileFailed { // (the file may have had them)
		add(fmt.Errorf("no upstream: give --upstream http://host:port (or HANGUP_UPSTREAM, or upstream in the --config file): %w", errUsage))
	}
	seen := make(map[string]bool)
	for _, s := range specs {
		u, err := proxyUpstream(s.name, s.url)
		if err != nil {
			add(err)
			continue
		}
		if seen[u.String()] {
			add(fmt.Errorf("%s %s given twice: give each upstream once: %w", s.name, s.url, errUsage))
			continue
		}
		seen[u.String()] = true
		cfg.Upstreams = append(cfg.Upstreams, u)
		add(in.upstreamOptions(s, u))
	}
	switch cfg.Balance {
	case proxy.BalanceLeastInflight, proxy.BalanceRoundRobin, proxy.BalanceFirst:
	default:
		add(fmt.Errorf("%s %q: want least_inflight, round_robin or first: %w", in.key("lb"), cfg.Balance, errUsage))
	}
	cfg.MaxFails = in.maxFails
	if cfg.MaxFails == 0 {
		cfg.MaxFails = -1 // never: the flag's 0 is nginx's max_fails=0
	}
	if p := cfg.HealthPath; p != "" && !strings.HasPrefix(p, "/") {
		add(fmt.Errorf("%s %q: want a path from the upstream's root, e.g. /healthz: %w", in.key("health-path"), p, errUsage))
	}
	cfg.TrustedProxies = in.trusted.list
	errs = append(errs, in.checkNumbers()...)
	for _, h := range strings.Split(in.vary, ",") {
		if h = strings.TrimSpace(h); h != "" {
			cfg.CoalesceVary = append(cfg.CoalesceVary, h)
		}
	}
	switch {
	case (in.certFile == "") != (in.keyFile == ""):
		add(fmt.Errorf("%s and %s go together: %w", in.key("tls-cert"), in.key("tls-key"), errUsage))
	case in.certFile != "":
		cert, err := tls.LoadX509KeyPair(in.certFile, in.keyFile)
		if err != nil {
			add(fmt.Errorf("%s %s / %s %s: %v: %w", in.key("tls-cert"), in.certFile, in.key("tls-key"), in.keyFile, err, errUsage))
		} else {
			cfg.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		}
	}
	if !in.up.empty() && !slices.ContainsFunc(cfg.Upstreams, func(u *url.URL) bool { return u.Scheme == "https" }) {
		add(fmt.Errorf("--upstream-ca, --upstream-server-name, --upstream-cert, --upstream-key and --upstream-insecure-skip-verify are for https:// upstreams, and none is given: %w", errUsage))
	} else {
		conf, err := in.up.config(func(field string) string { return in.key("upstream-" + field) })
		add(err)
		cfg.UpstreamTLS = conf
	}
	if f.logFormat != "text" && f.logFormat != "json" {
		add(fmt.Errorf("%s %q: want text or json: %w", in.key("log-format"), f.logFormat, errUsage))
	}
	for _, a := range []string{"listen", "admin"} {
		v := in.fs.Lookup(a).Value.String()
		if _, _, err := net.SplitHostPort(v); v != "" && err != nil {
			add(fmt.Errorf("%s %q: want host:port, e.g. :8080 or 127.0.0.1:9090: %w", in.key(a), v, errUsage))
		}
	}
	f.restart = make(map[string]string)
	in.fs.VisitAll(func(fl *flag.Flag) {
		if !slices.Contains(reloadable, fl.Name) {
			f.restart[fl.Name] = fl.Value.String()
		}
	})
	return errs
}

// upstreamOptions sets the proxy's options for the upstream u of spec s:
// its own TLS (its fields over the --upstream-* flags) and max_inflight.
func (in *proxyInput) upstreamOptions(s upstreamSpec, u *url.URL) error {
	cfg := &in.f.cfg
	var o proxy.UpstreamOptions
	switch {
	case s.maxInflight < 0:
		return fmt.Errorf("%s: must not be negative: %w", s.own["max-inflight"], errUsage)
	case s.maxInflight > 0 && cfg.MaxInflight == 0:
		return fmt.Errorf("%s needs max_inflight, the other upstreams' (the line holds every upstream's slots): give it too: %w", s.own["max-inflight"], errUsage)
	}
	o.MaxInflight = s.maxInflight
	if !s.tls.empty() {
		if u.Scheme != "https" {
			return fmt.Errorf("%s: ca, server_name, cert, key and insecure_skip_verify are for an https:// upstream: %w", s.name, errUsage)
		}
		merged := in.up.over(s.tls)
		conf, err := merged.config(func(field string) string {
			if n, ok := s.own[field]; ok {
				return n
			}
			return in.key("upstream-" + field)
		})
		if err != nil {
			return err
		}
		o.TLS = conf
	}
	if o != (proxy.UpstreamOptions{}) {
		if cfg.UpstreamOptions == nil {
			cfg.UpstreamOptions = make(map[string]proxy.UpstreamOptions)
		}
		cfg.UpstreamOptions[proxy.UpstreamName(u)] = o
	}
	return nil
}

// proxyUpstream parses one upstream URL, given as name, with a message that
// says what to write.
func proxyUpstream(name, s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err == nil && u.Scheme == "unix" {
		if !strings.HasPrefix(u.Path, "/") || u.Host != "" {
			return nil, fmt.Errorf("%s %q: want unix: and the socket's absolute path, e.g. unix:/run/app.sock: %w", name, s, errUsage)
		}
		return u, nil
	}
	if err != nil || (u.Scheme != "http" && u.Scheme != "https" && u.Scheme != "h2c") || u.Host == "" {
		return nil, fmt.Errorf("%s %q: want an http:// or https:// URL with a host, e.g. http://127.0.0.1:9000, h2c://host:port (HTTP/2 without TLS), or unix:/path/to.sock: %w", name, s, errUsage)
	}
	return u, nil
}

// checkNumbers rejects negative counts, sizes and durations, naming the
// flag (and its variable) or the file's key rather than the Config field.
// The linger and early-answer settings and the client body timeout take a
// negative value to mean "off", the flush interval to mean "after every
// write".
func (in *proxyInput) checkNumbers() []error {
	var errs []error
	in.fs.VisitAll(func(fl *flag.Flag) {
		switch fl.Name {
		case "linger-time", "early-answer-buffer", "client-body-timeout", "flush-interval":
			return
		}
		g, ok := fl.Value.(flag.Getter)
		if !ok {
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
		switch at := in.from[fl.Name]; {
		case !negative:
		case at == "flag" || at == "env":
			errs = append(errs, fmt.Errorf("--%s %s: must not be negative (flag or %s): %w", fl.Name, fl.Value, proxyEnvName(fl.Name), errUsage))
		default:
			errs = append(errs, fmt.Errorf("%s: %s must not be negative: %w", in.key(fl.Name), fl.Value, errUsage))
		}
	})
	return errs
}

// upstreamTLSFlags are the --upstream-* TLS flags, for https:// upstreams,
// or an upstream's own from the file.
type upstreamTLSFlags struct {
	ca, serverName, cert, key string
	insecure                  bool
}

func (f *upstreamTLSFlags) empty() bool { return *f == upstreamTLSFlags{} }

// over is f with o's fields that are set in their place.
func (f upstreamTLSFlags) over(o upstreamTLSFlags) upstreamTLSFlags {
	for _, p := range []struct{ dst, src *string }{{&f.ca, &o.ca}, {&f.serverName, &o.serverName}, {&f.cert, &o.cert}, {&f.key, &o.key}} {
		if *p.src != "" {
			*p.dst = *p.src
		}
	}
	f.insecure = f.insecure || o.insecure
	return f
}

// config is the TLS configuration f gives, nil if f is empty; an error
// names the setting as name says (for its field: ca, server-name, cert,
// key, insecure-skip-verify) and says what to give instead.
func (f *upstreamTLSFlags) config(name func(field string) string) (*tls.Config, error) {
	if f.empty() {
		return nil, nil
	}
	if f.insecure && (f.ca != "" || f.serverName != "") {
		return nil, fmt.Errorf("%s verifies nothing, so %s and %s would change nothing: give one or the other: %w", name("insecure-skip-verify"), name("ca"), name("server-name"), errUsage)
	}
	conf := &tls.Config{ServerName: f.serverName, InsecureSkipVerify: f.insecure, MinVersion: tls.VersionTLS12}
	if f.ca != "" {
		pem, err := os.ReadFile(f.ca)
		if err != nil {
			return nil, fmt.Errorf("%s: %v: give a readable PEM file of the CA certificates: %w", name("ca"), err, errUsage)
		}
		conf.RootCAs = x509.NewCertPool()
		if !conf.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%s %s: no PEM certificate in it: give the CA's certificates as -----BEGIN CERTIFICATE----- blocks: %w", name("ca"), f.ca, errUsage)
		}
	}
	if (f.cert == "") != (f.key == "") {
		return nil, fmt.Errorf("%s and %s go together: give both, or neither: %w", name("cert"), name("key"), errUsage)
	}
	if f.cert != "" {
		cert, err := tls.LoadX509KeyPair(f.cert, f.key)
		if err != nil {
			return nil, fmt.Errorf("%s %s / %s %s: %v: give a PEM certificate and its private key: %w", name("cert"), f.cert, name("key"), f.key, err, errUsage)
		}
		conf.Certificates = []tls.Certificate{cert}
	}
	return conf, nil
}

// checkProxyConfig is --check-config: with no error in errs, it has
// proxy.New check the configuration too (and start nothing), and prints
// "config ok"; else every error, one line each on stderr, and fails.
func checkProxyConfig(f *proxyFlags, errs []error, stdout, stderr io.Writer) error {
	if len(errs) == 0 {
		if _, err := proxy.New(f.cfg); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) == 0 {
		fmt.Fprintln(stdout, "config ok")
		return nil
	}
	for _, err := range errs {
		fmt.Fprintf(stderr, "hangup proxy: %s\n", usageText(err))
	}
	plural := "s"
	if len(errs) == 1 {
		plural = ""
	}
	return fmt.Errorf("--check-config: %d error%s in the configuration: fix them and check again: %w", len(errs), plural, errUsage)
}

// reloadProxyConfig is the proxy's configuration at a SIGHUP: args, the
// environment and the --config file read again. It fails when they do not
// check, or when a setting that only a restart applies changed since
// start (running: the proxy's flags then).
func reloadProxyConfig(args []string, running *proxyFlags) (proxy.Config, error) {
	f, errs := loadProxyFlags(args, io.Discard)
	if len(errs) > 0 {
		msgs := make([]string, len(errs))
		for i, err := range errs {
			msgs[i] = usageText(err)
		}
		return proxy.Config{}, errors.New(strings.Join(msgs, "; "))
	}
	var changed []string
	for name, was := range running.restart {
		if now := f.restart[name]; now != was {
			c := fmt.Sprintf("%s %q→%q", strings.ReplaceAll(name, "-", "_"), was, now)
			if name == "listen" || name == "admin" {
				c += " (its socket is opened at start)"
			}
			changed = append(changed, c)
		}
	}
	if len(changed) > 0 {
		sort.Strings(changed)
		return proxy.Config{}, fmt.Errorf("%s: only a restart applies this; restart hangup proxy to change it", strings.Join(changed, ", "))
	}
	return f.cfg, nil
}
