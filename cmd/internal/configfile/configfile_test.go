package configfile

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
	"go.yaml.in/yaml/v3"
)

// settings is a FlagSet of every kind of flag, and what was set.
type settings struct {
	fs     *flag.FlagSet
	listen string
	n      int
	d      time.Duration
	on     bool
	list   listFlag
}

type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(s string) error { *l = append(*l, s); return nil }

func newSettings() *settings {
	s := &settings{fs: flag.NewFlagSet("test", flag.ContinueOnError)}
	s.fs.StringVar(&s.listen, "listen", ":8080", "")
	s.fs.IntVar(&s.n, "max-inflight", 0, "")
	s.fs.DurationVar(&s.d, "queue-timeout", 0, "")
	s.fs.BoolVar(&s.on, "coalesce", false, "")
	s.fs.Var(&s.list, "trusted-proxy", "")
	s.fs.String("config", "", "")
	return s
}

// TestApply: a file's keys set the flags of their names, with _ for -; a
// flag given otherwise is left alone; and every mistake is an error that
// names the file, the line and the key.
func TestApply(t *testing.T) {
	for _, tc := range []struct {
		name   string
		file   string
		given  string // a flag given on the command line
		want   string // the settings after, as listen n d on list
		errors []string
	}{
		{name: "every kind", file: "listen: 127.0.0.1:9000\nmax_inflight: 64\nqueue_timeout: 10s\ncoalesce: true\ntrusted_proxy: [10.0.0.0/8, 192.168.0.1]\n",
			want: "127.0.0.1:9000 64 10s true 10.0.0.0/8,192.168.0.1"},
		{name: "JSON", file: `{"listen": ":9000", "max_inflight": 8, "trusted_proxy": "10.0.0.1"}`, want: ":9000 8 0s false 10.0.0.1"},
		{name: "empty", file: "", want: ":8080 0 0s false "},
		{name: "comments only", file: "# nothing yet\n", want: ":8080 0 0s false "},
		{name: "a flag given wins", file: "listen: :9000\nmax_inflight: 3\n", given: "listen", want: ":8080 3 0s false "},
		{name: "unknown key", file: "listen: :9000\nmax_inflite: 3\n",
			errors: []string{`f.yaml:2: unknown key "max_inflite": the keys are the flags' names with _ for -`}},
		{name: "a dash", file: "max-inflight: 3\n", errors: []string{`f.yaml:1: unknown key "max-inflight": write max_inflight`}},
		{name: "the file's own flag", file: "config: other.yaml\n", errors: []string{`f.yaml:1: unknown key "config"`}},
		{name: "a bad value", file: "\nqueue_timeout: 10\n", errors: []string{`f.yaml:2: queue_timeout: invalid value "10": parse error: want a duration such as 500ms, 10s or 2m`}},
		{name: "no value", file: "listen:\n", errors: []string{"f.yaml:1: listen has no value"}},
		{name: "a list for one value", file: "listen: [a, b]\n", errors: []string{"f.yaml:1: listen: want one value, got a list"}},
		{name: "twice", file: "listen: a\nlisten: b\n", errors: []string{`f.yaml:2: key "listen" given twice`}},
		{name: "every error", file: "a: 1\nb: 2\nmax_inflight: x\n", errors: []string{`f.yaml:1: unknown key "a"`, `f.yaml:2: unknown key "b"`, `f.yaml:3: max_inflight: invalid value "x": parse error: want a whole number`}},
		{name: "syntax", file: "listen: :9000\n  max_inflight: 3\n", errors: []string{"f.yaml:2: mapping values are not allowed in this context: fix the YAML (or JSON) syntax"}},
		{name: "not a mapping", file: "- listen\n", errors: []string{"f.yaml:1: want a mapping of keys to values (key: value), got a list"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "f.yaml")
			os.WriteFile(path, []byte(tc.file), 0o600)
			s := newSettings()
			f, err := Read(path)
			var errs []error
			if err != nil {
				errs = []error{err}
			} else {
				_, errs = f.Apply(s.fs, Options{
					Given: func(name string) bool { return name == tc.given },
					Lists: []string{"trusted-proxy"},
					Skip:  []string{"config"},
				})
			}
			if len(errs) != len(tc.errors) {
				t.Fatalf("errors %q, want %d: %q", errs, len(tc.errors), tc.errors)
			}
			for i, err := range errs {
				if want := strings.ReplaceAll(tc.errors[i], "f.yaml", path); !strings.HasPrefix(err.Error(), want) {
					t.Errorf("error %q, want %q", err, want)
				}
			}
			if tc.errors != nil {
				return
			}
			got := fmt.Sprintf("%s %d %s %v %s", s.listen, s.n, s.d, s.on, s.list.String())
			if got != tc.want {
				t.Errorf("settings %q, want %q", got, tc.want)
			}
		})
	}
}

// TestReadUnreadable: a file that cannot be read says what to give.
func TestReadUnreadable(t *testing.T) {
	_, err := Read(filepath.Join(t.TempDir(), "missing.yaml"))
	if err == nil || !strings.Contains(err.Error(), "no such file or directory: give a readable YAML or JSON file") {
		t.Errorf("err = %v", err)
	}
}

// TestStrict: a table of the caller's is decoded with its known keys only;
// each unknown key and each bad value is an error at its line.
func TestStrict(t *testing.T) {
	type table struct {
		URL string `yaml:"url"`
		Max int    `yaml:"max_inflight"`
	}
	for _, tc := range []struct {
		name, file string
		want       table
		errors     []string
	}{
		{"ok", "url: http://a\nmax_inflight: 4\n", table{"http://a", 4}, nil},
		{"unknown key", "url: http://a\nserver: x\n", table{URL: "http://a"}, []string{`f.yaml:2: unknown key "server" in upstream[1]: the keys are url, max_inflight`}},
		{"bad value", "url: http://a\nmax_inflight: many\n", table{URL: "http://a"}, []string{"f.yaml:2: upstream[1]: cannot unmarshal !!str `many` into int"}},
		{"not a table", "[1]\n", table{}, []string{"f.yaml:1: upstream[1]: want a mapping of keys to values, got a list"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &File{name: "f.yaml"}
			var doc yaml.Node
			if err := yaml.Unmarshal([]byte(tc.file), &doc); err != nil {
				t.Fatal(err)
			}
			var got table
			errs := f.Strict(doc.Content[0], "upstream[1]", &got, []string{"url", "max_inflight"})
			if len(errs) != len(tc.errors) {
				t.Fatalf("errors %q, want %q", errs, tc.errors)
			}
			for i, err := range errs {
				if err.Error() != tc.errors[i] {
					t.Errorf("error %q, want %q", err, tc.errors[i])
				}
			}
			if got != tc.want {
				t.Errorf("decoded %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
