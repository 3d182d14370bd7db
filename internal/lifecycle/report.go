package lifecycle

import (
	"context"
	"log/slog"
	"net/http"
	"time"
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
}

// statusClientClosed is hangup.StatusClientClosedRequest, nginx's 499.
const statusClientClosed = 499

// log writes rep's access-log line to l: method, path, proto, remote,
// status, bytes_in, bytes_out, duration and route (when known); for a client
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
	attrs := make([]slog.Attr, 0, 13)
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
