// Package otelhangup shows in OpenTelemetry traces what hangup saw: beside
// otelhttp, the server span of a request whose client went away gets an
// event that says when, in which phase and how, its status code becomes
// 499 where the server wrote nothing, and neither it nor the spans of the
// work its departure cancelled (otelhttp client calls, database queries) are
// errors. It lives apart from package hangup so that the core keeps no
// dependency beyond the standard library.
//
// It is one span processor, wrapped around the one that exports:
//
//	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(
//		otelhangup.SpanProcessor(sdktrace.NewBatchSpanProcessor(exporter))))
//
// with the server wired by hangup.Install and its handler wrapped by
// otelhttp.NewHandler, as usual.
//
// # Why a wrapping span processor
//
// The spans need changing after they end: otelhttp sets the server span's
// status code (200 when the handler wrote nothing) once the handler
// returned, and a cancelled call's span is marked an error by the code that
// made the call, which does not know why its context ended. The SDK lets no
// one change an ended span, and an error status cannot be set back to unset
// through the API. A processor that stands between the SDK and the exporter
// can: it hands the exporter a rewritten copy. It also sees each span's
// parent context when the span starts, which is where hangup's departure
// and the context's cause are read when the span ends; an attribute or a
// pattern in the user's code would have to be repeated at every call site,
// and a wrapped exporter never sees a context. Only the processors wrapped
// by SpanProcessor get the rewritten spans.
//
// # What it rewrites
//
// A server span that started in a request hangup guards (its handler under
// the Guard, as Install does), whose client left before the span ended:
//
//   - an event "hangup.client_gone" at the time hangup learned of it, with
//     hangup.phase and hangup.reason (as hangup.Phase and hangup.Reason name
//     them), hangup.elapsed (seconds the request had run when the client
//     left) and hangup.stopped_after (seconds the handler ran on after);
//   - http.response.status_code 499 (nginx's "client closed request") when
//     the handler wrote no status, so that hangup sent nothing;
//   - status unset instead of error, when the request's context was
//     cancelled because the client left (the handler answered 5xx to a
//     cancelled query, say).
//
// Any other span that started in such a request, ended as an error after the
// client left, and whose context's cause is the client's departure
// (errors.Is(context.Cause(ctx), hangup.ErrClientGone)): status unset, and
// the attribute hangup.client_gone = true. A span that failed while the
// client was still there, or in MustFinish work (whose context lives on),
// keeps its error. A span that failed for a reason of its own after the
// client left, in a cancelled request, is taken as cancelled: the processor
// cannot tell the two apart. Its error events (RecordError) are kept.
//
// SpanContext gives hangup's hooks (OnAbandon, OnDone: Report.Context) the
// trace and span IDs of the server span of a request whose client left.
//
// The spans say what was known when they ended: a client that leaves after
// the server span ended, but before net/http finished the request, is in
// the access log and the Report, not in the trace.
package otelhangup

import (
	"context"
	"encoding/binary"
	"sync"

	"github.com/hangup-dev/hangup/internal/lifecycle"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// SpanProcessor returns a span processor that passes every span to next,
// rewritten as the package documentation says when its request's client went
// away. It remembers the parent context of each span that starts in a
// request hangup guards until the span ends: a span that never ends is
// never forgotten. Shutdown and ForceFlush are next's.
func SpanProcessor(next sdktrace.SpanProcessor) sdktrace.SpanProcessor {
	if next == nil {
		panic("otelhangup: SpanProcessor needs the processor to pass spans to, such as sdktrace.NewBatchSpanProcessor(exporter)")
	}
	return &processor{next: next}
}

type processor struct {
	next    sdktrace.SpanProcessor
	parents [16]parents // by the span ID's top bits, which are random
}

// parents holds the parent contexts of spans that started in guarded
// requests and have not ended. A plain map under a mutex, not a sync.Map:
// a sync.Map boxes each key, an allocation per span.
type parents struct {
	mu sync.Mutex
	m  map[spanKey]context.Context // guarded by mu
}

func (p *processor) shard(k spanKey) *parents { return &p.parents[k>>60] }

// spanKey names a span: OnEnd gets a snapshot of the span, not the value
// OnStart got. It is the span ID, which the SDK makes unique and random; as
// an integer it hashes faster than the ID's bytes (callgrind: some 200
// instructions a span).
type spanKey uint64

func keyOf(s sdktrace.ReadOnlySpan) spanKey {
	id := s.SpanContext().SpanID()
	return spanKey(binary.LittleEndian.Uint64(id[:]))
}

func (p *processor) OnStart(parent context.Context, s sdktrace.ReadWriteSpan) {
	if lifecycle.From(parent) != nil {
		k := keyOf(s)
		sh := p.shard(k)
		sh.mu.Lock()
		if sh.m == nil {
			sh.m = make(map[spanKey]context.Context)
		}
		sh.m[k] = parent
		sh.mu.Unlock()
	}
	p.next.OnStart(parent, s)
}

func (p *processor) OnEnd(s sdktrace.ReadOnlySpan) {
	k := keyOf(s)
	sh := p.shard(k)
	sh.mu.Lock()
	parent, ok := sh.m[k]
	if ok {
		delete(sh.m, k)
	}
	sh.mu.Unlock()
	if ok {
		s = rewrite(parent, s)
	}
	p.next.OnEnd(s)
}

func (p *processor) Shutdown(ctx context.Context) error   { return p.next.Shutdown(ctx) }
func (p *processor) ForceFlush(ctx context.Context) error { return p.next.ForceFlush(ctx) }
