package otelhangup

import (
	"context"
	"runtime"
	"sync"
	"weak"

	"github.com/hangup-dev/hangup/internal/lifecycle"
	"go.opentelemetry.io/otel/trace"
)

// SpanContext returns the context (trace and span IDs) of the server span of
// the request ctx belongs to, as a SpanProcessor saw it end, when the
// request's client had left by then; otherwise the zero SpanContext
// (IsValid false). It is for hangup's hooks, whose Report.Context is the
// context hangup made, under the one in which otelhttp started its span:
//
//	hangup.OnAbandon(func(r hangup.Report) {
//		sc := otelhangup.SpanContext(r.Context)
//		slog.Info("abandoned", "path", r.Path, "trace_id", sc.TraceID())
//	})
//
// A client that leaves after the server span ended, as the handler returns,
// is reported by hangup but has no span context here.
func SpanContext(ctx context.Context) trace.SpanContext {
	lr := lifecycle.From(ctx)
	if lr == nil {
		return trace.SpanContext{}
	}
	v, _ := departedSpans.Load(weak.Make(lr))
	sc, _ := v.(trace.SpanContext)
	return sc
}

// departedSpans maps the lifecycle of a request whose client left before its
// server span ended to that span's context, for as long as the request is
// reachable: the entry goes with the request (a cleanup on it), so that
// nothing has to ask for it. Only departed requests pay for an entry.
var departedSpans sync.Map // weak.Pointer[lifecycle.Request] -> trace.SpanContext

func rememberSpan(lr *lifecycle.Request, sc trace.SpanContext) {
	k := weak.Make(lr)
	if _, loaded := departedSpans.LoadOrStore(k, sc); !loaded {
		runtime.AddCleanup(lr, func(k weak.Pointer[lifecycle.Request]) { departedSpans.Delete(k) }, k)
	}
}
