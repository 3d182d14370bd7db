package hangup

import (
	"net/http"
	"strconv"

	"github.com/hangup-dev/hangup/internal/lifecycle"
)

// The net/http side of the request lifecycle (internal/lifecycle), which
// this package shares with fasthttphangup: what net/http decides about a
// request, and the conversions between the lifecycle's values and this
// package's types.

func init() {
	lifecycle.Core.GoneError = func(d lifecycle.Departure) error { return &GoneError{departureOf(d)} }
	lifecycle.Core.DetachTimeout = ErrDetachTimeout
	lifecycle.Core.DetachLimit = ErrDetachLimit
	lifecycle.Core.PublicReport = func(rep lifecycle.Report) any { return reportOf(rep) }
	lifecycle.Core.PublicStats = func(b *lifecycle.Books) any { return statsOf(b) }
}

// The lifecycle counts phases and names reasons in this package's numbers:
// these fail to compile if the two lists ever differ in length.
var (
	_ [numPhases]struct{}         = [lifecycle.NumPhases]struct{}{}
	_ [ReasonNetHTTP + 1]struct{} = [lifecycle.NumReasons]struct{}{}
)

func departureOf(d lifecycle.Departure) Departure {
	return Departure{At: d.At, Phase: Phase(d.Phase), Reason: Reason(d.Reason)}
}

func reportOf(r lifecycle.Report) Report {
	return Report{
		Departure:        departureOf(r.Departure),
		Method:           r.Method,
		Path:             r.Path,
		Route:            r.Route,
		Proto:            r.Proto,
		RemoteAddr:       r.RemoteAddr,
		Start:            r.Start,
		Elapsed:          r.Elapsed,
		StoppedAfter:     r.StoppedAfter,
		BytesIn:          r.BytesIn,
		BytesOut:         r.BytesOut,
		Status:           r.Status,
		MustFinish:       r.MustFinish,
		ResponseComplete: r.ResponseComplete,
		Context:          r.Context,
	}
}

// hookOf returns f as a lifecycle hook (OnAbandon, OnDone), nil for nil.
func hookOf(f func(Report)) func(lifecycle.Report) {
	if f == nil {
		return nil
	}
	return func(r lifecycle.Report) { f(reportOf(r)) }
}

// Woken is the lifecycle's Shell method: CloseNotify hears of the
// departure the moment Gone does.
func (st *request) Woken() { st.notifyClose() }

// Phase is the lifecycle's Shell method: what the handler is doing.
func (st *request) Phase() lifecycle.Phase {
	p := st.progress.Load()
	switch {
	case p&wroteResponse != 0:
		return lifecycle.PhaseWritingResponse
	case p&bodyStarted != 0 && p&bodyEOF == 0:
		return lifecycle.PhaseReadingBody
	default:
		return lifecycle.PhaseHandler
	}
}

// Answered is the lifecycle's Shell method. net/http sends nothing before a
// status is written (WriteHeader, or the implicit 200 of a first Write or
// Flush): headers the handler only set are no answer, and without a status
// net/http would invent an empty 200, which serve refuses to send.
func (st *request) Answered() bool { return st.status.Load() != 0 }

// Complete is the lifecycle's Shell method: the Content-Length judged is the
// one the handler set itself; it runs after the handler returned.
func (st *request) Complete() bool {
	declared := int64(-1)
	if cl := st.w.Header().Get("Content-Length"); cl != "" {
		if n, err := strconv.ParseInt(cl, 10, 64); err == nil {
			declared = n
		}
	}
	return lifecycle.Complete(int(st.status.Load()), st.req.Method == http.MethodHead, declared, st.bytesOut.Load())
}
