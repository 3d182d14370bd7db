package proxy

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"testing"
	"time"
)

// FuzzAccessLine: a line written by lineSink is byte for byte what slog's
// handler of the same format writes for the same record.
func FuzzAccessLine(f *testing.F) {
	f.Add("GET", "/a b?c=d", int64(200), int64(1500), true, int64(1700000000123456789))
	f.Add("", "x=y", int64(-1), int64(0), false, int64(0))
	f.Add("é\u2028\x00\x7f\"\\", "\xff\xfe<&>", int64(499), int64(-3), false, int64(1))
	f.Add("\t\n\r", "\u00a0 nbsp", int64(1<<40), int64(1<<62), true, int64(-62135596800000000))
	f.Fuzz(func(t *testing.T, s1, s2 string, n int64, d int64, b bool, unixNano int64) {
		at := time.Unix(0, unixNano).UTC()
		if y := at.Year(); y < 0 || y >= 10000 {
			return // slog writes an error there; a clock never does
		}
		if unixNano%2 != 0 {
			at = at.In(time.FixedZone("", -(3*3600 + 1800)))
		}
		for _, js := range []bool{false, true} {
			var want bytes.Buffer
			var h slog.Handler = slog.NewTextHandler(&want, nil)
			if js {
				h = slog.NewJSONHandler(&want, nil)
			}
			rec := slog.NewRecord(at, slog.LevelInfo, "request", 0)
			a := &attrSink{}
			s := &lineSink{json: js}
			s.begin(at, "request")
			for _, sink := range []fieldSink{a, s} {
				sink.str("method", s1)
				sink.str(s2, s2)
				sink.int("status", n)
				sink.dur("duration", time.Duration(d))
				sink.bool("queued", b)
			}
			rec.AddAttrs(a.attrs...)
			if err := h.Handle(context.Background(), rec); err != nil {
				t.Fatal(err)
			}
			if got := string(s.end()); got != want.String() {
				t.Fatalf("json=%v:\n got %q\nwant %q", js, got, want.String())
			}
			if js && !json.Valid([]byte(want.String())) {
				t.Fatalf("slog wrote invalid JSON %q", want.String())
			}
		}
	})
}

// TestAccessLogThroughLogger: without AccessLog, the access lines go to
// the Logger, with the same fields.
func TestAccessLogThroughLogger(t *testing.T) {
	u := newUpstream(t, func(w http.ResponseWriter, r *http.Request, h *hit) { io.WriteString(w, "ok") })
	h := startProxy(t, Config{Upstream: u.url, AccessLog: io.Discard}) // the harness's cue: Logger only
	res, err := client(t).Get("http://" + h.addr + "/via-logger?x=1")
	if err != nil {
		t.Fatal(err)
	}
	readAll(t, res)
	line := h.logs.waitFor(t, "the access line", func(l map[string]any) bool { return l["msg"] == "request" })
	want := map[string]any{"method": "GET", "uri": "/via-logger?x=1", "status": 200.0, "upstream_status": 200.0, "bytes_out": 2.0, "queued": false}
	for k, v := range want {
		if line[k] != v {
			t.Errorf("%s = %v, want %v (line %v)", k, line[k], v, line)
		}
	}
}
