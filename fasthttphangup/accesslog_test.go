package fasthttphangup_test

import (
	"context"
	"testing"

	"github.com/hangup-dev/hangup/fasthttphangup"
	"github.com/hangup-dev/hangup/internal/adaptertest"
	"github.com/valyala/fasthttp"
)

// TestAccessLogFields: fasthttphangup's access line has the core's header
// fields, read from fasthttp's request: user agent, referer, a sane request
// id, and the trace id of a sampled traceparent, or WithTraceID's.
func TestAccessLogFields(t *testing.T) {
	const (
		traceID = "0af7651916cd43dd8448eb211c80319c"
		headers = "User-Agent: curl/8.5\r\nReferer: https://example.com/\r\nX-Request-Id: req-1\r\n" +
			"Traceparent: 00-" + traceID + "-b7ad6b7169203331-01\r\n"
	)
	for _, tc := range []struct {
		name    string
		opts    []fasthttphangup.Option
		headers string
		want    map[string]any
	}{
		{"headers", nil, headers, map[string]any{"user_agent": "curl/8.5", "referer": "https://example.com/", "request_id": "req-1", "trace_id": traceID}},
		{"hook", []fasthttphangup.Option{fasthttphangup.WithTraceID(func(ctx context.Context) string {
			if fasthttphangup.SetRoute(ctx, "/r") { // a context of the Guard's
				return "hooked"
			}
			return "not the request's context"
		})}, headers, map[string]any{"trace_id": "hooked"}},
		{"insane request id", nil, "X-Request-Id: a\"b\r\n", map[string]any{"request_id": nil, "user_agent": nil}},
		{"two request ids", nil, "X-Request-Id: a\r\nX-Request-Id: b\r\n", map[string]any{"request_id": nil}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			logs := adaptertest.NewLogs()
			s := quietServer(func(fctx *fasthttp.RequestCtx) { fctx.SetBodyString("ok") })
			fasthttphangup.Install(s, append(tc.opts, fasthttphangup.WithAccessLog(logs.Logger()))...)
			c := adaptertest.Dial(t, serve(t, s))
			c.Send("GET / HTTP/1.1\r\nHost: x\r\n" + tc.headers + "\r\n")
			c.ReadResponse().Body.Close()
			adaptertest.WantAttrs(t, logs.Next(t), tc.want)
		})
	}
}
