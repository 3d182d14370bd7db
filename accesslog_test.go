package hangup_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/hangup-dev/hangup"
)

// lineWriter hands each line a slog handler writes (one Write per record)
// to the test.
type lineWriter chan string

func (w lineWriter) Write(p []byte) (int, error) {
	w <- string(p)
	return len(p), nil
}

type traceKey struct{}

// TestAccessLogFields: what a request's headers put in its access line,
// sent as raw bytes by a real client: user agent and referer as they came
// (quotes, tabs and non-UTF-8 bytes escaped, never splitting the line), a
// request id only when it is a sane one, a trace id from a sampled
// traceparent or from WithTraceID's hook, which sees the values of a
// middleware that wraps the Guard.
func TestAccessLogFields(t *testing.T) {
	const traceID = "0af7651916cd43dd8448eb211c80319c"
	tp := "00-" + traceID + "-b7ad6b7169203331-01"
	for _, tc := range []struct {
		name    string
		headers string
		hook    bool // WithTraceID reads what the outer middleware put in the context
		want    map[string]string
		absent  []string
	}{
		{
			name:    "all",
			headers: "User-Agent: curl/8.5\r\nReferer: https://example.com/a?b=c\r\nX-Request-Id: 7fb3693f-4061-4070-95d4-3889aa8a22a5\r\nTraceparent: " + tp + "\r\n",
			want:    map[string]string{"user_agent": "curl/8.5", "referer": "https://example.com/a?b=c", "request_id": "7fb3693f-4061-4070-95d4-3889aa8a22a5", "trace_id": traceID},
		},
		{
			name:    "none",
			headers: "",
			absent:  []string{"user_agent", "referer", "request_id", "trace_id"},
		},
		{
			name:    "hostile user agent",
			headers: "User-Agent: evil\" level=ERROR msg=\"forged\t\xff\xfe\r\nReferer: \"}{\"level\":\"ERROR\"\r\n",
			want:    map[string]string{"user_agent": "evil\" level=ERROR msg=\"forged\t\ufffd\ufffd", "referer": `"}{"level":"ERROR"`},
		},
		{
			name:    "request id with a space",
			headers: "X-Request-Id: a b\r\n",
			absent:  []string{"request_id"},
		},
		{
			// As the proxy: an id given twice is no id (it makes its own).
			name:    "two request ids",
			headers: "X-Request-Id: a\r\nX-Request-Id: b\r\n",
			absent:  []string{"request_id"},
		},
		{
			name:    "traceparent not sampled",
			headers: "Traceparent: 00-" + traceID + "-b7ad6b7169203331-00\r\n",
			absent:  []string{"trace_id"},
		},
		{
			name:    "hook",
			headers: "Traceparent: " + tp + "\r\n",
			hook:    true,
			want:    map[string]string{"trace_id": "from-the-hook"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lines := make(lineWriter, 4)
			opts := []hangup.Option{hangup.WithAccessLog(slog.New(slog.NewJSONHandler(lines, nil)))}
			if tc.hook {
				opts = append(opts, hangup.WithTraceID(func(ctx context.Context) string {
					s, _ := ctx.Value(traceKey{}).(string)
					return s
				}))
			}
			srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				io.WriteString(w, "ok")
			}))
			hangup.Install(srv.Config, opts...)
			guarded := srv.Config.Handler
			srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				// A tracing middleware around the Guard.
				guarded.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), traceKey{}, "from-the-hook")))
			})
			srv.Start()
			defer srv.Close()

			c := dialTCP(t, srv.Listener.Addr().String())
			write(t, c, "GET /x HTTP/1.1\r\nHost: h\r\n"+tc.headers+"\r\n")
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			line := <-lines
			var m map[string]any
			if err := json.Unmarshal([]byte(line), &m); err != nil {
				t.Fatalf("bad line %q: %v", line, err)
			}
			for k, v := range tc.want {
				if m[k] != v {
					t.Errorf("%s = %q, want %q; line %s", k, m[k], v, line)
				}
			}
			for _, k := range tc.absent {
				if v, ok := m[k]; ok {
					t.Errorf("%s = %q, want none; line %s", k, v, line)
				}
			}
			if m["level"] != "INFO" || m["msg"] != "request" || m["status"] != 200.0 {
				t.Errorf("line %s: level, msg or status forged", line)
			}
		})
	}
}
