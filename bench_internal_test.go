package hangup

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
)

// BenchmarkServe measures what hangup adds to one request on a watched
// HTTP/1 connection (the path Install takes on Linux), against calling the
// handler directly. The handler reads its context, as real ones do.
func BenchmarkServe(b *testing.B) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Context().Err() != nil {
			panic("cancelled")
		}
		w.WriteHeader(http.StatusNoContent)
	})
	w := discardWriter{h: http.Header{}}
	req := httptest.NewRequest("GET", "/", nil)
	reqCtx, cancel := context.WithCancel(context.Background())
	defer cancel()

	b.Run("net-http", func(b *testing.B) {
		r := req.WithContext(reqCtx)
		b.ReportAllocs()
		for b.Loop() {
			h.ServeHTTP(w, r)
		}
	})
	// hangup+OnDone: with a per-request hook, as promhangup.Histograms
	// installs (its cost: the start time, the report, the call).
	var reports int
	for _, bc := range []struct {
		name string
		opts []Option
	}{
		{"hangup", nil},
		{"hangup+OnDone", []Option{OnDone(func(Report) { reports++ })}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			g := New(bc.opts...)
			c := &conn{cfg: &g.cfg, watched: true}
			c.base = context.WithValue(context.Background(), connKey{}, c)
			r := req.WithContext(context.WithValue(reqCtx, connKey{}, c))
			wrapped := g.Handler(h)
			b.ReportAllocs()
			for b.Loop() {
				wrapped.ServeHTTP(w, r)
			}
		})
	}
	// With the access log on, to a text handler that discards the line: a
	// request without the headers the line takes fields from, and a
	// browser's (user agent, referer, a request id, a trace), whose fields
	// cost what the difference says.
	for _, tc := range []struct {
		name   string
		header http.Header
	}{
		{"hangup-accesslog-bare", http.Header{}},
		{"hangup-accesslog", http.Header{
			"User-Agent":   {"Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"},
			"Referer":      {"https://example.com/list?page=2"},
			"X-Request-Id": {"7fb3693f-4061-4070-95d4-3889aa8a22a5"},
			"Traceparent":  {"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"},
		}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			g := New(WithAccessLog(slog.New(slog.NewTextHandler(io.Discard, nil))))
			c := &conn{cfg: &g.cfg, watched: true}
			c.base = context.WithValue(context.Background(), connKey{}, c)
			r := req.WithContext(context.WithValue(reqCtx, connKey{}, c))
			r.Header = tc.header
			wrapped := g.Handler(h)
			b.ReportAllocs()
			for b.Loop() {
				wrapped.ServeHTTP(w, r)
			}
		})
	}
}

type discardWriter struct{ h http.Header }

func (d discardWriter) Header() http.Header         { return d.h }
func (d discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (d discardWriter) WriteHeader(int)             {}
