package proxy

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/hangup-dev/hangup"
)

var (
	// ErrUpstreamTimeout is the cause of an upstream request that got no
	// response headers within Config.UpstreamTimeout. It maps to 504.
	ErrUpstreamTimeout = errors.New("proxy: the upstream did not answer in time")

	// errWaitersGone cancels a shared (coalesced) upstream request once its
	// last waiter left. It matches hangup.ErrClientGone, so the outcome is
	// counted as cancelled and logged as 499, like a lone client's departure.
	errWaitersGone = fmt.Errorf("proxy: every client sharing the upstream request went away: %w", hangup.ErrClientGone)

	// errSlowWaiter ends the response of a coalesced waiter that fell more
	// than Config.CoalesceBuffer behind while the others waited for it.
	errSlowWaiter = errors.New("proxy: client too slow to keep up with the shared upstream response")

	// errUpstreamBroken ends the response of a coalesced waiter whose shared
	// upstream response broke off midway.
	errUpstreamBroken = errors.New("proxy: the upstream response broke off")

	// errBodyTakenOver is what the upstream request's body reader returns once
	// the response is out and the proxy reads the rest of the client's body
	// itself (see linger.go).
	errBodyTakenOver = errors.New("proxy: request body no longer forwarded: the response was already sent")
)

// statusFor maps the error that ended a proxied request to the status sent
// to the client (or, for 499, only logged), as Caddy does: client gone → 499,
// the client's body malformed or cut short → 400, stalled → 408, too large
// → 413, timeout → 504, the admission line full or waited out
// (hangup.ErrQueueFull, hangup.ErrQueueTimeout) → 503, anything else → 502.
// It decides with errors.Is, never by message.
func statusFor(err error) int {
	var ne net.Error
	switch {
	case errors.Is(err, hangup.ErrClientGone):
		return hangup.StatusClientClosedRequest
	case errors.Is(err, ErrClientBody), errors.Is(err, errBodyCut):
		return http.StatusBadRequest
	case errors.Is(err, ErrClientBodyTimeout):
		return http.StatusRequestTimeout
	case errors.Is(err, ErrBodyTooLarge):
		return http.StatusRequestEntityTooLarge
	case errors.Is(err, hangup.ErrQueueFull), errors.Is(err, hangup.ErrQueueTimeout):
		return http.StatusServiceUnavailable
	case errors.Is(err, ErrUpstreamTimeout), errors.Is(err, context.DeadlineExceeded):
		return http.StatusGatewayTimeout
	case errors.As(err, &ne) && ne.Timeout():
		return http.StatusGatewayTimeout
	default:
		return http.StatusBadGateway
	}
}

// outcomeFor classifies how an upstream request ended, for
// hangup_proxy_upstream_requests_total{outcome}.
func outcomeFor(err error) string {
	switch statusFor(err) {
	case hangup.StatusClientClosedRequest, http.StatusBadRequest, http.StatusRequestTimeout, http.StatusRequestEntityTooLarge:
		// The client's doing: the proxy gave the upstream request up.
		return outcomeCancelled
	case http.StatusGatewayTimeout:
		return outcomeTimeout
	default:
		return outcomeError
	}
}

// writeError answers a request that could not be proxied. A client that is
// gone gets nothing (there is no one to read it); the others get a short
// plain-text body that says what happened and what to do. The details (the
// upstream's address, the dial error) go to the log, not to the client.
func (p *Proxy) writeError(w http.ResponseWriter, r *http.Request, err error) {
	p.answerError(w, recordFrom(r.Context()), err)
}

// answerError is writeError for a request whose record, if any, is rec.
func (p *Proxy) answerError(w http.ResponseWriter, rec *record, err error) {
	if rec != nil {
		rec.setErr(err)
	}
	status := statusFor(err)
	if status == hangup.StatusClientClosedRequest {
		return
	}
	var msg string
	switch {
	case status == http.StatusServiceUnavailable:
		secs := retryAfterSeconds(p.cfg.RetryAfter)
		w.Header().Set("Retry-After", strconv.Itoa(secs))
		if errors.Is(err, hangup.ErrQueueFull) {
			msg = "503 Service Unavailable: the upstream is busy and too many requests are already waiting; retry in " + strconv.Itoa(secs) + " s."
		} else {
			msg = "503 Service Unavailable: the upstream stayed busy for " + p.cfg.QueueTimeout.String() + " while this request waited; retry in " + strconv.Itoa(secs) + " s."
		}
	case status == http.StatusGatewayTimeout:
		msg = "504 Gateway Timeout: the upstream server did not answer in time."
	case status == http.StatusRequestTimeout:
		msg = "408 Request Timeout: the request body stopped arriving (" + p.cfg.ClientBodyTimeout.String() + " without a byte)."
	case status == http.StatusRequestEntityTooLarge:
		msg = "413 Content Too Large: the request body is larger than this proxy accepts (" + strconv.FormatInt(p.cfg.MaxBodySize, 10) + " bytes)."
	case status == http.StatusBadRequest:
		if errors.Is(err, ErrClientBody) {
			msg = "400 Bad Request: the request body is malformed (invalid chunked encoding); it was not forwarded as a complete request."
		} else {
			msg = "400 Bad Request: the request body ended before its declared length; it was not forwarded as a complete request."
		}
	default:
		msg = "502 Bad Gateway: the proxy could not get a valid response from the upstream server (unreachable, connection refused or reset, or a malformed response)."
	}
	h := w.Header()
	if rec != nil && rec.http1 && (status < 500 || rec.closeAfter) {
		// The client's body is at fault, or its framing ambiguous: what
		// is left on the connection cannot be trusted to frame a next
		// request. (HTTP/1 only: on HTTP/2 the header would make net/http
		// shut the whole connection down, every other stream with it.)
		h.Set("Connection", "close")
	}
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	fmt.Fprintln(w, msg)
}

func retryAfterSeconds(d time.Duration) int {
	s := int(math.Ceil(d.Seconds()))
	if s < 1 {
		s = 1
	}
	return s
}
