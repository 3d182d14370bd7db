package otelhangup_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/hangup-dev/hangup"
	"github.com/hangup-dev/hangup/otelhangup"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// BenchmarkSpan measures what SpanProcessor adds to a span that starts and
// ends in a request hangup guards (whose client stays), against the same
// processor unwrapped: the spans are started in a real handler under
// hangup.Install.
func BenchmarkSpan(b *testing.B) {
	for _, bc := range []struct {
		name string
		wrap func(sdktrace.SpanProcessor) sdktrace.SpanProcessor
	}{
		{"sdk", func(p sdktrace.SpanProcessor) sdktrace.SpanProcessor { return p }},
		{"otelhangup", otelhangup.SpanProcessor},
	} {
		b.Run(bc.name, func(b *testing.B) {
			tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(bc.wrap(discard{})))
			defer tp.Shutdown(context.Background())
			tracer := tp.Tracer("bench")
			srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				ctx := r.Context()
				b.ReportAllocs()
				for b.Loop() {
					_, span := tracer.Start(ctx, "work")
					span.End()
				}
			}))
			hangup.Install(srv.Config)
			srv.Start()
			defer srv.Close()
			resp, err := http.Get(srv.URL)
			if err != nil {
				b.Fatal(err)
			}
			resp.Body.Close()
			http.DefaultClient.CloseIdleConnections()
		})
	}
}

type discard struct{}

func (discard) OnStart(context.Context, sdktrace.ReadWriteSpan) {}
func (discard) OnEnd(sdktrace.ReadOnlySpan)                     {}
func (discard) Shutdown(context.Context) error                  { return nil }
func (discard) ForceFlush(context.Context) error                { return nil }
