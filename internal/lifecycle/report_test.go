package lifecycle_test

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hangup-dev/hangup/internal/lifecycle"
)

// TestAccessLineHostileValues: a client's header value, whatever bytes it
// holds, stays inside its field, on both of slog's formats: one line, no
// field of its own making, and the value read back as it was sent (invalid
// UTF-8 as U+FFFD in JSON). The values that cannot arrive over HTTP/1 (net/http
// refuses control bytes in headers) are here because a handler, an HTTP/2
// peer or a future parser may still pass them.
func TestAccessLineHostileValues(t *testing.T) {
	for _, tc := range []struct {
		name string
		ua   string
	}{
		{"quotes", `evil" level=ERROR msg="forged`},
		{"newline", "a\nlevel=ERROR msg=forged path=/admin"},
		{"carriage return", "a\r\ntime=2020-01-01 level=ERROR"},
		{"control bytes", "a\x00\x01\x1b[31m\x7f"},
		{"backslash", `a\" \u0041`},
		{"non-utf-8", "a\xff\xfe b"},
		{"line separators", "a\u2028b\u2029c"},
		{"json breakout", `"},{"level":"ERROR","msg":"forged`},
	} {
		for _, format := range []string{"text", "json"} {
			t.Run(tc.name+"/"+format, func(t *testing.T) {
				var buf bytes.Buffer
				var h slog.Handler = slog.NewTextHandler(&buf, nil)
				if format == "json" {
					h = slog.NewJSONHandler(&buf, nil)
				}
				b := &lifecycle.Books{AccessLog: slog.New(h)}
				s := newShell(b)
				rep := lifecycle.Report{Method: "GET", Path: "/", Start: time.Now()}
				headers := map[string]string{"User-Agent": tc.ua, "Referer": tc.ua, "X-Request-Id": tc.ua}
				b.AccessFields(&rep, func(k string) string { return headers[k] })
				s.lc.Finish(nil)
				s.lc.Report(rep, time.Now())

				line := buf.String()
				if strings.Count(line, "\n") != 1 || !strings.HasSuffix(line, "\n") {
					t.Fatalf("not one line: %q", line)
				}
				// Text quotes invalid bytes as \xff; JSON has no such escape
				// and writes U+FFFD for each.
				want := tc.ua
				if format == "json" {
					want = string([]rune(tc.ua))
				}
				fields := parseLine(t, format, line)
				if fields["user_agent"] != want || fields["referer"] != want {
					t.Errorf("user_agent %q, referer %q, want %q; line %q", fields["user_agent"], fields["referer"], want, line)
				}
				if _, ok := fields["request_id"]; ok {
					t.Errorf("request_id %q logged, want it left out; line %q", fields["request_id"], line)
				}
				if fields["level"] != "INFO" || fields["msg"] != "request" {
					t.Errorf("level %q, msg %q: forged; line %q", fields["level"], fields["msg"], line)
				}
			})
		}
	}
}

// parseLine reads a line of slog's text or JSON format into its fields,
// failing on a key seen twice (a forged field).
func parseLine(t *testing.T, format, line string) map[string]string {
	t.Helper()
	fields := map[string]string{}
	add := func(k, v string) {
		if _, dup := fields[k]; dup {
			t.Fatalf("key %q twice in %q", k, line)
		}
		fields[k] = v
	}
	if format == "json" {
		dec := json.NewDecoder(strings.NewReader(line))
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			t.Fatalf("bad JSON line %q: %v", line, err)
		}
		if dec.More() {
			t.Fatalf("more than one JSON value in %q", line)
		}
		for k, v := range m {
			s, ok := v.(string)
			if !ok {
				s = strconv.Quote(string(mustJSON(v)))
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

func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}
