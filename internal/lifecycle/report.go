package lifecycle

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/hangup-dev/hangup/internal/logfields"
)

// Report is hangup.Report's value; see there for the fields.
type Report struct {
	Departure
	Method           string
	Path             string
	Route            string
	Proto            string
	RemoteAddr       string
	Start            time.Time
	Elapsed          time.Duration
	StoppedAfter     time.Duration
	BytesIn          int64
	BytesOut         int64
	Status           int // 0 if none was written
	MustFinish       bool
	ResponseComplete bool
	Context          context.Context // the request's context, as the shell made it

	// What the access log alone says (not in hangup.Report), filled in by
	// Books.AccessFields.
	UserAgent string
	Referer   string
	RequestID string
	TraceID   string
}

// AccessFields fills in rep what the access log takes from the request's
// headers, which get returns by canonical name (its first value, "" if
// none, and whether it was the only one): User-Agent, Referer, X-Request-Id
// when it is a sane id given once (logfields.SaneRequestID; the proxy takes
// the same ones), and the trace id: what b.TraceID says for
// rep.Context (which the shell has set),
// or without a TraceID hook the trace id of a sampled traceparent header
// given once (logfields.TraceID; W3C allows one). It does nothing when b has no access log.
func (b *Books) AccessFields(rep *Report, get func(name string) (v string, only bool)) {
	if b.AccessLog == nil {
		return
	}
	rep.UserAgent, _ = get("User-Agent")
	rep.Referer, _ = get("Referer")
	if id, only := get("X-Request-Id"); only && logfields.SaneRequestID(id) {
		rep.RequestID = id
	}
	if b.TraceID != nil {
		rep.TraceID = b.TraceID(rep.Context)
	} else if tp, only := get("Traceparent"); only {
		rep.TraceID = logfields.TraceID(tp)
	}
}

// statusClientClosed is hangup.StatusClientClosedRequest, nginx's 499.
const statusClientClosed = 499

// log writes rep's access-log line to l: method, path, proto, remote,
// status, bytes_in, bytes_out, duration, and when known route, user_agent,
// referer, request_id and trace_id; for a client
// that went away before its response was complete the status is 499, and
// for any that went away handler_status, gone_phase, gone_reason and
// stopped_after follow.
func (rep *Report) log(l *slog.Logger) {
	status := rep.Status
	if status == 0 {
		status = http.StatusOK
	}
	if rep.Gone() && !rep.ResponseComplete {
		status = statusClientClosed
	}
	attrs := make([]slog.Attr, 0, 17)
	attrs = append(attrs,
		slog.String("method", rep.Method),
		slog.String("path", rep.Path),
		slog.String("proto", rep.Proto),
		slog.String("remote", rep.RemoteAddr),
		slog.Int("status", status),
		slog.Int64("bytes_in", rep.BytesIn),
		slog.Int64("bytes_out", rep.BytesOut),
		slog.Duration("duration", rep.Elapsed),
	)
	if rep.Route != "" {
		attrs = append(attrs, slog.String("route", rep.Route))
	}
	for _, f := range [...]struct{ key, v string }{
		{"user_agent", rep.UserAgent},
		{"referer", rep.Referer},
		{"request_id", rep.RequestID},
		{"trace_id", rep.TraceID},
	} {
		if f.v != "" {
			attrs = append(attrs, slog.String(f.key, f.v))
		}
	}
	if rep.Gone() {
		attrs = append(attrs,
			slog.Int("handler_status", rep.Status),
			slog.String("gone_phase", rep.Phase.String()),
			slog.String("gone_reason", rep.Reason.String()),
			slog.Duration("stopped_after", rep.StoppedAfter),
		)
	}
	l.LogAttrs(context.Background(), slog.LevelInfo, "request", attrs...)
}

// Complete reports whether a response with the given status (0: none
// written) was written whole: a status without a body (204, 304, or any
// answer to HEAD), or as many body bytes (written) as the Content-Length
// the handler declared (declared < 0: none, and a body of unknown length is
// never known to be complete). A client that leaves after that did not
// abandon anything: it read its answer and closed, while the handler
// drained an upload, say.
func Complete(status int, head bool, declared, written int64) bool {
	switch {
	case status == 0:
		return false
	case status == http.StatusNoContent, status == http.StatusNotModified, head:
		return true
	}
	return declared >= 0 && written >= declared
}
