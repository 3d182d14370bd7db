package proxy

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/hangup-dev/hangup"
)

// record is what the access log line of one client request says. The
// handler's goroutine owns most of it; the fields under mu are also written
// by the upstream request, which for a coalesced request runs on the
// flight's goroutine.
type record struct {
	start     time.Time
	http1     bool // the client speaks HTTP/1.x
	queued    bool
	queueWait time.Duration
	coalesced bool
	body      *trackedBody // the client's request body, if any

	status   int   // status written to the client; 0 if none
	bytesOut int64 // response body bytes written to the client
	complete bool  // the response was written to its end
	aborted  bool  // the handler panicked (http.ErrAbortHandler: response cut short)

	lingerBytes int64
	lingerTime  time.Duration

	mu             sync.Mutex
	upstreamStatus int    // guarded by mu
	outcome        string // how the upstream request ended, once it did; guarded by mu
	err            error  // the first error that decided the answer; guarded by mu
}

type recordKey struct{}

func recordFrom(ctx context.Context) *record {
	rec, _ := ctx.Value(recordKey{}).(*record)
	return rec
}

func (rec *record) setErr(err error) {
	rec.mu.Lock()
	if rec.err == nil {
		rec.err = err
	}
	rec.mu.Unlock()
}

func (rec *record) setUpstreamStatus(code int) {
	rec.mu.Lock()
	rec.upstreamStatus = code
	rec.mu.Unlock()
}

func (rec *record) setOutcome(outcome string) {
	rec.mu.Lock()
	rec.outcome = outcome
	rec.mu.Unlock()
}

func (rec *record) upstreamOutcome() string {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return rec.outcome
}

func (rec *record) snapshot() (upstreamStatus int, err error) {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return rec.upstreamStatus, rec.err
}

// respWriter follows what is written to the client. It has Unwrap, so that
// http.ResponseController (used by ReverseProxy to flush and hijack, and by
// the linger to set read deadlines) reaches the writers underneath.
type respWriter struct {
	http.ResponseWriter
	rec *record
}

func (w *respWriter) WriteHeader(code int) {
	if code >= 200 && w.rec.status == 0 {
		w.rec.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *respWriter) Write(p []byte) (int, error) {
	if w.rec.status == 0 {
		w.rec.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(p)
	w.rec.bytesOut += int64(n)
	return n, err
}

func (w *respWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// logAccess writes the request's access log line. A client that left before
// its response was complete is logged with status 499, like nginx, with the
// status it was sent (if any) as sent_status.
func (p *Proxy) logAccess(r *http.Request, rec *record) {
	if p.log == nil {
		return
	}
	d, departed := hangup.Departed(r.Context())
	upstreamStatus, err := rec.snapshot()
	gone := errors.Is(err, hangup.ErrClientGone) || (departed && !rec.complete)
	status := rec.status
	if status == 0 && rec.complete {
		status = http.StatusOK
	}
	attrs := make([]slog.Attr, 0, 20)
	attrs = append(attrs,
		slog.String("method", r.Method),
		slog.String("uri", r.RequestURI),
		slog.String("host", r.Host),
		slog.String("proto", r.Proto),
		slog.String("remote", r.RemoteAddr),
	)
	if gone {
		attrs = append(attrs, slog.Int("status", hangup.StatusClientClosedRequest))
		if status != 0 {
			attrs = append(attrs, slog.Int("sent_status", status))
		}
	} else {
		attrs = append(attrs, slog.Int("status", status))
	}
	attrs = append(attrs,
		slog.Int("upstream_status", upstreamStatus),
		slog.Duration("duration", time.Since(rec.start)-rec.lingerTime),
		slog.Int64("bytes_in", rec.body.count()),
		slog.Int64("bytes_out", rec.bytesOut),
		slog.Bool("queued", rec.queued),
		slog.Bool("coalesced", rec.coalesced),
	)
	if rec.queued {
		attrs = append(attrs, slog.Duration("queue_wait", rec.queueWait))
	}
	if rec.lingerTime > 0 || rec.lingerBytes > 0 {
		attrs = append(attrs, slog.Int64("linger_bytes", rec.lingerBytes), slog.Duration("linger", rec.lingerTime))
	}
	if departed {
		attrs = append(attrs,
			slog.String("gone_phase", d.Phase.String()),
			slog.String("gone_reason", d.Reason.String()),
			slog.Duration("gone_after", d.At.Sub(rec.start)),
		)
	}
	if err != nil {
		attrs = append(attrs, slog.String("error", err.Error()))
	} else if rec.aborted {
		attrs = append(attrs, slog.String("error", "response cut short"))
	}
	p.log.LogAttrs(context.Background(), slog.LevelInfo, "request", attrs...)
}

// count is how many body bytes were read from the client on the
// upstream's behalf.
func (b *trackedBody) count() int64 {
	if b == nil {
		return 0
	}
	return b.n.Load()
}
