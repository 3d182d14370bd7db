package otelhangup

import (
	"context"
	"errors"

	"github.com/hangup-dev/hangup"
	"github.com/hangup-dev/hangup/internal/lifecycle"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
)

// The names this package adds to spans; a public interface, like
// promhangup's metric names.
const (
	eventClientGone = "hangup.client_gone"
	keyPhase        = attribute.Key("hangup.phase")
	keyReason       = attribute.Key("hangup.reason")
	keyElapsed      = attribute.Key("hangup.elapsed")
	keyStoppedAfter = attribute.Key("hangup.stopped_after")
	keyClientGone   = attribute.Key("hangup.client_gone")
)

// rewritten is an ended span as the exporter is to see it: the SDK's own,
// with the attributes, events and status replaced. Embedding the
// interface keeps every other method, present and future, the SDK's.
type rewritten struct {
	sdktrace.ReadOnlySpan
	attrs  []attribute.KeyValue
	events []sdktrace.Event
	status sdktrace.Status
}

func (s *rewritten) Attributes() []attribute.KeyValue { return s.attrs }
func (s *rewritten) Events() []sdktrace.Event         { return s.events }
func (s *rewritten) Status() sdktrace.Status          { return s.status }

// rewrite returns s as the package documentation says, given the context it
// started in, or s itself when there is nothing to change.
func rewrite(parent context.Context, s sdktrace.ReadOnlySpan) sdktrace.ReadOnlySpan {
	if s.SpanKind() != trace.SpanKindServer && s.Status().Code != codes.Error {
		return s // the common case, decided before any lookup
	}
	lr := lifecycle.From(parent)
	d, gone := hangup.Departed(parent)
	if lr == nil || !gone || d.At.After(s.EndTime()) {
		return s
	}
	// Ended by the departure: a cancellation's cause, not a MustFinish
	// request's context that lives on. (context.Cause makes a guarded
	// context's cancelCtx; only departed requests' spans get here.)
	cancelled := errors.Is(context.Cause(parent), hangup.ErrClientGone)
	status := s.Status()
	if status.Code == codes.Error && cancelled {
		status = sdktrace.Status{Code: codes.Unset}
	}
	if s.SpanKind() != trace.SpanKindServer {
		if status == s.Status() {
			return s
		}
		return &rewritten{ReadOnlySpan: s, attrs: append(s.Attributes()[:len(s.Attributes()):len(s.Attributes())], keyClientGone.Bool(true)), events: s.Events(), status: status}
	}
	rememberSpan(lr, s.SpanContext())
	attrs := s.Attributes()
	if !lr.Shell().Answered() {
		attrs = withStatusCode(attrs, hangup.StatusClientClosedRequest)
	}
	ev := sdktrace.Event{
		Name: eventClientGone,
		Time: d.At,
		Attributes: []attribute.KeyValue{
			keyPhase.String(d.Phase.String()),
			keyReason.String(d.Reason.String()),
			keyElapsed.Float64(max(d.At.Sub(s.StartTime()), 0).Seconds()),
			keyStoppedAfter.Float64(s.EndTime().Sub(d.At).Seconds()),
		},
	}
	events := append(s.Events()[:len(s.Events()):len(s.Events())], ev)
	return &rewritten{ReadOnlySpan: s, attrs: attrs, events: events, status: status}
}

// withStatusCode returns a copy of attrs with http.response.status_code set
// to code.
func withStatusCode(attrs []attribute.KeyValue, code int) []attribute.KeyValue {
	out := make([]attribute.KeyValue, 0, len(attrs)+1)
	for _, kv := range attrs {
		if kv.Key != semconv.HTTPResponseStatusCodeKey {
			out = append(out, kv)
		}
	}
	return append(out, semconv.HTTPResponseStatusCode(code))
}
