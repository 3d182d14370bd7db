package adaptertest

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"
)

// HostileValues are header values a client might send to split or forge an
// access log line: quotes and fake fields, line breaks, control bytes,
// invalid UTF-8, the separators JSON leaves alone and JavaScript does not.
// Those with control bytes cannot arrive over HTTP/1 (net/http refuses them
// in headers), but a handler, an HTTP/2 peer or another server may pass them
// on.
var HostileValues = []struct{ Name, Value string }{
	{"quotes", `evil" level=ERROR msg="forged`},
	{"newline", "a\nlevel=ERROR msg=forged path=/admin"},
	{"carriage return", "a\r\ntime=2020-01-01 level=ERROR"},
	{"control bytes", "a\x00\x01\x1b[31m\x7f"},
	{"backslash", `a\" \u0041`},
	{"non-utf-8", "a\xff\xfe b"},
	{"line separators", "a\u2028b\u2029c"},
	{"json breakout", `"},{"level":"ERROR","msg":"forged`},
}

// WantContained fails t unless line, in slog's text or JSON format, is one
// line of an Info record "request" whose fields keys read back as v (for
// JSON, which has no escape for an invalid byte, with U+FFFD for each), and
// returns its fields.
func WantContained(t testing.TB, isJSON bool, line, v string, keys ...string) map[string]string {
	t.Helper()
	fields := ParseLogLine(t, isJSON, line)
	want := v
	if isJSON {
		want = string([]rune(v))
	}
	for _, k := range keys {
		if fields[k] != want {
			t.Errorf("%s = %q, want %q; line %q", k, fields[k], want, line)
		}
	}
	if fields["level"] != "INFO" || fields["msg"] != "request" {
		t.Errorf("level %q, msg %q: forged; line %q", fields["level"], fields["msg"], line)
	}
	return fields
}

// ParseLogLine reads a line in slog's text or JSON format into its fields
// (values that are not strings as their JSON text), failing t unless line is
// exactly one line holding one record, with no key twice (a forged field).
func ParseLogLine(t testing.TB, isJSON bool, line string) map[string]string {
	t.Helper()
	if strings.Count(line, "\n") != 1 || !strings.HasSuffix(line, "\n") {
		t.Fatalf("not one line: %q", line)
	}
	fields := map[string]string{}
	add := func(k, v string) {
		if _, dup := fields[k]; dup {
			t.Fatalf("key %q twice in %q", k, line)
		}
		fields[k] = v
	}
	if isJSON {
		dec := json.NewDecoder(strings.NewReader(line))
		var m map[string]json.RawMessage
		if err := dec.Decode(&m); err != nil {
			t.Fatalf("bad JSON line %q: %v", line, err)
		}
		if dec.More() {
			t.Fatalf("more than one JSON value in %q", line)
		}
		for k, raw := range m {
			var s string
			if json.Unmarshal(raw, &s) != nil {
				s = string(raw)
			}
			add(k, s)
		}
		return fields
	}
	rest := strings.TrimSuffix(line, "\n")
	for rest != "" {
		k, after, ok := strings.Cut(rest, "=")
		if !ok || strings.ContainsAny(k, " \"") {
			t.Fatalf("bad text line at %q in %q", rest, line)
		}
		var v string
		if strings.HasPrefix(after, `"`) {
			q, err := strconv.QuotedPrefix(after)
			if err != nil {
				t.Fatalf("bad quoted value at %q in %q", after, line)
			}
			v, _ = strconv.Unquote(q)
			after = after[len(q):]
		} else {
			v, after, _ = strings.Cut(after, " ")
			after = " " + after
		}
		add(k, v)
		rest = strings.TrimPrefix(after, " ")
	}
	return fields
}
