// Package chihangup brings hangup to chi: the request context, r.Context(),
// is cancelled with cause hangup.ErrClientGone the moment the client goes
// away, including while a POST body is still unread, which net/http alone
// never reports (golang/go#23262).
//
// A chi router is an http.Handler, so the setup is hangup's own:
//
//	r := chi.NewRouter()
//	r.Use(chihangup.Logger) // optional: chi's logger, with 499
//	r.Post("/upload", upload)
//	srv := &http.Server{Addr: ":8080", Handler: r}
//	hangup.Install(srv)
//	srv.ListenAndServe()
//
// This package adds chi-style middleware: MustFinish and a 499-aware logger.
package chihangup

import (
	"log"
	"net/http"
	"os"
	"time"

	"github.com/go-chi/chi/v5/middleware"
	"github.com/hangup-dev/hangup"
)

// MustFinish returns middleware that marks the handlers it wraps as work that
// must finish even when its client goes away, such as a payment: see
// hangup.MustFinish.
//
//	r.With(chihangup.MustFinish(30*time.Second)).Post("/pay", pay)
//
// It panics if deadline is not positive.
func MustFinish(deadline time.Duration) func(http.Handler) http.Handler {
	if deadline <= 0 {
		panic("chihangup: MustFinish needs a positive deadline")
	}
	return func(next http.Handler) http.Handler {
		return hangup.MustFinish(next, deadline)
	}
}

// Logger is chi's middleware.Logger, logging status 499 for a request whose
// client went away before its handler returned, as nginx does.
func Logger(next http.Handler) http.Handler {
	return logger(next)
}

var logger = middleware.RequestLogger(LogFormatter(nil))

// LogFormatter returns f made to log status 499 for a request whose client
// went away before its handler returned; use it with middleware.RequestLogger.
// A nil f is chi's DefaultLogFormatter writing to standard output without
// color. hangup.WithAccessLog logs 499 by itself, to a log/slog.Logger.
func LogFormatter(f middleware.LogFormatter) middleware.LogFormatter {
	if f == nil {
		f = &middleware.DefaultLogFormatter{Logger: log.New(os.Stdout, "", log.LstdFlags), NoColor: true}
	}
	return formatter{f}
}

type formatter struct{ f middleware.LogFormatter }

func (f formatter) NewLogEntry(r *http.Request) middleware.LogEntry {
	return entry{f.f.NewLogEntry(r), r}
}

type entry struct {
	middleware.LogEntry
	r *http.Request
}

func (e entry) Write(status, bytes int, header http.Header, elapsed time.Duration, extra any) {
	if _, gone := hangup.Departed(e.r.Context()); gone {
		status = hangup.StatusClientClosedRequest
	}
	e.LogEntry.Write(status, bytes, header, elapsed, extra)
}
