// Package lifecycle is the life of one request on a watched connection,
// shared by the net/http Guard (package hangup) and fasthttphangup: the
// departure of its client and the phase it was in, Gone's channel, the
// MustFinish policy and its detach slot, the route, the counters, and the
// report and 499 line written once its handler returned; and a connection's
// requests, with the rule for the request that follows a half-close.
//
// The shells keep what their server decides: how a request's context is
// made and cancelled (Shell.Cancel), what a running handler is doing
// (Shell.Phase), and whether its response reached, or will reach, the wire
// (Report.Status and Response). net/http sends headers only once a status is
// written, so there an answer is a written status; fasthttp buffers the
// whole response and sends whatever the handler set, so there a header set
// is an answer too. The lifecycle does not guess either.
//
// Package hangup imports this one, so this one cannot name hangup's types:
// Phase and Reason carry hangup's numbers (the core checks at compile time
// that the counts agree), and the errors and the public Report come from
// Core, which hangup fills when it is initialised.
package lifecycle

import (
	"context"
	"time"
)

// Phase is hangup.Phase's value.
type Phase uint8

// The phases, in hangup's order.
const (
	PhaseNone Phase = iota
	PhaseBeforeHandler
	PhaseReadingBody
	PhaseHandler
	PhaseWritingResponse

	NumPhases
)

var phaseNames = [NumPhases]string{"none", "before_handler", "reading_body", "handler", "writing_response"}

// String returns the phase's name as used in metrics labels and logs.
func (p Phase) String() string {
	if p < NumPhases {
		return phaseNames[p]
	}
	return "unknown"
}

// Reason is hangup.Reason's value.
type Reason uint8

// The reasons, in hangup's order.
const (
	ReasonNone Reason = iota
	ReasonClosed
	ReasonReset
	ReasonTimeout
	ReasonStreamReset
	ReasonNetHTTP

	NumReasons
)

var reasonNames = [NumReasons]string{"none", "closed", "reset", "timeout", "stream_reset", "net_http"}

// String returns the reason's name as used in logs.
func (r Reason) String() string {
	if r < NumReasons {
		return reasonNames[r]
	}
	return "unknown"
}

// Departure is hangup.Departure's value.
type Departure struct {
	At     time.Time
	Phase  Phase
	Reason Reason
}

// Gone reports whether d records a departure.
func (d Departure) Gone() bool { return d.Reason != ReasonNone }

// Core is what package hangup lends this package when it is initialised:
// the causes a departure cancels a request with, and the public Report.
var Core struct {
	// GoneError returns the cause of a request whose client left: a
	// *hangup.GoneError for d.
	GoneError func(d Departure) error
	// DetachTimeout and DetachLimit are hangup.ErrDetachTimeout and
	// hangup.ErrDetachLimit.
	DetachTimeout, DetachLimit error
	// PublicReport returns rep as a hangup.Report, for the OnAbandon hooks
	// of the shells outside package hangup.
	PublicReport func(rep Report) any
	// PublicStats returns the hangup.Stats of b, without its connection
	// counts, for the shells outside package hangup.
	PublicStats func(b *Books) any
}

// Key is the context key under which a request's context answers with its
// *Request (see From).
type Key struct{}

// From returns the request ctx belongs to, or nil for a context that no
// shell made.
func From(ctx context.Context) *Request {
	r, _ := ctx.Value(Key{}).(*Request)
	return r
}
