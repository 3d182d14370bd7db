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
				b.AccessFields(&rep, func(k string) string { return headers[k] })
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
