package lifecycle_test

import (
	"bytes"
	"log/slog"
	"testing"
	"time"

	"github.com/hangup-dev/hangup/internal/adaptertest"
	"github.com/hangup-dev/hangup/internal/lifecycle"
)

// TestAccessLineHostileValues: a client's header value, whatever bytes it
// holds, stays inside its field, on both of slog's formats: one line, no
// field of its own making, the value read back as it was sent, and an
// insane request id left out.
func TestAccessLineHostileValues(t *testing.T) {
	for _, tc := range adaptertest.HostileValues {
		for _, isJSON := range []bool{false, true} {
			t.Run(tc.Name+map[bool]string{false: "/text", true: "/json"}[isJSON], func(t *testing.T) {
				var buf bytes.Buffer
				var h slog.Handler = slog.NewTextHandler(&buf, nil)
				if isJSON {
					h = slog.NewJSONHandler(&buf, nil)
				}
				b := &lifecycle.Books{AccessLog: slog.New(h)}
				s := newShell(b)
				rep := lifecycle.Report{Method: "GET", Path: "/", Start: time.Now()}
				headers := map[string]string{"User-Agent": tc.Value, "Referer": tc.Value, "X-Request-Id": tc.Value}
				b.AccessFields(&rep, func(k string) (string, bool) { v, ok := headers[k]; return v, ok })
				s.lc.Finish(nil)
				s.lc.Report(rep, time.Now())

				fields := adaptertest.WantContained(t, isJSON, buf.String(), tc.Value, "user_agent", "referer")
				if _, ok := fields["request_id"]; ok {
					t.Errorf("request_id %q logged, want it left out", fields["request_id"])
				}
			})
		}
	}
}

// TestAccessLineRepeatedIDs: a request id or a traceparent given more than
// once is no id (the proxy takes the same view: its request id must be
// alone, and W3C allows one traceparent); a user agent is the first one.
func TestAccessLineRepeatedIDs(t *testing.T) {
	var buf bytes.Buffer
	b := &lifecycle.Books{AccessLog: slog.New(slog.NewJSONHandler(&buf, nil))}
	s := newShell(b)
	rep := lifecycle.Report{Method: "GET", Path: "/", Start: time.Now()}
	b.AccessFields(&rep, func(k string) (string, bool) {
		switch k {
		case "X-Request-Id":
			return "req-1", false
		case "Traceparent":
			return "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", false
		case "User-Agent":
			return "curl/8", false
		}
		return "", false
	})
	s.lc.Finish(nil)
	s.lc.Report(rep, time.Now())
	line := buf.String()
	for _, field := range []string{`"request_id"`, `"trace_id"`} {
		if bytes.Contains([]byte(line), []byte(field)) {
			t.Errorf("logged %s from a header given twice: %s", field, line)
		}
	}
	if !bytes.Contains([]byte(line), []byte(`"user_agent":"curl/8"`)) {
		t.Errorf("user agent missing: %s", line)
	}
}
