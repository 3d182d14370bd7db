package otelhangup_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"

	"github.com/hangup-dev/hangup"
	"github.com/hangup-dev/hangup/otelhangup"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

// The one line: otelhangup.SpanProcessor around the processor that
// exports (here the SDK's recorder; in a service,
// sdktrace.NewBatchSpanProcessor(exporter)). A client leaves while the
// handler waits in a child span; the server span says 499 and has the
// departure event, and neither span is an error.
func ExampleSpanProcessor() {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(otelhangup.SpanProcessor(rec)))
	defer tp.Shutdown(context.Background())

	entered := make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, span := tp.Tracer("example").Start(r.Context(), "slow query")
		defer span.End()
		close(entered)
		<-ctx.Done() // the query, cancelled when the client leaves
		span.SetStatus(codes.Error, context.Cause(ctx).Error())
	})
	srv := httptest.NewUnstartedServer(otelhttp.NewHandler(h, "server", otelhttp.WithTracerProvider(tp)))
	hangup.Install(srv.Config)
	srv.Start()

	c, _ := net.Dial("tcp", srv.Listener.Addr().String())
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: example\r\n\r\n")
	<-entered
	c.Close()
	srv.Close() // waits for the handler, and so for its spans

	for _, s := range rec.Ended() {
		fmt.Printf("%s: status %s", s.Name(), s.Status().Code)
		for _, kv := range s.Attributes() {
			if kv.Key == "http.response.status_code" || kv.Key == "hangup.client_gone" {
				fmt.Printf(", %s=%s", kv.Key, kv.Value.Emit())
			}
		}
		for _, ev := range s.Events() {
			fmt.Printf(", event %s", ev.Name)
		}
		fmt.Println()
	}
	// Output:
	// slow query: status Unset, hangup.client_gone=true
	// GET: status Unset, http.response.status_code=499, event hangup.client_gone
}
