package proxy

import (
	"errors"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
)

// Retries (issue 12). A request whose attempt failed goes to another
// backend, never to one it was already sent to, when:
//
//   - it never reached the upstream: the connection could not be made
//     (dialError: refused, timed out, or a TLS handshake that failed), or was taken but not a byte of the request was written on
//     it (upstreamConn.wrote: a pooled connection found dead), whatever its
//     method; or
//   - with Config.RetryIdempotent, it is idempotent (RFC 9110 §9.2.2: GET,
//     HEAD, OPTIONS, TRACE, PUT, DELETE) and its attempt failed with 502
//     before an answer's head came in (not a timeout: its time is spent), at
//     most once per request, and only while such retries stay within 20% of
//     the requests sent (the retry budget, Envoy's and Finagle's: retries
//     cannot multiply the load on upstreams that are already failing);
//
// and, in both cases, its client is still there and nothing of its body was
// read yet. A request that never reached its upstream goes to another
// healthy one even when that one is full (overflow): between an upstream's
// death and its ejection the line still hands out the dead one's slots,
// and the requests it gives them to would otherwise get a 502 that no
// upstream earned (the kill storm of bench/FLEET.md found six in a run);
// the healthy one's own queue holds them a moment, as pick's first
// attempts in that lag. An idempotent retry does not overflow: it is extra
// load by design, and waits for nobody. The body is not buffered for a replay (the rejected
// alternative, GetBody over a copy, holds every upload in memory on the
// chance of a failure): an upstream that read part of it has seen the
// request. Before a byte is read, the same body goes to the next backend,
// each attempt behind its own attemptBody, so that a Transport that gave up
// on an attempt cannot read from it any more.
//
// Whom a dead pooled connection is for: net/http's Transport and
// h1Transport send a request again on a fresh connection to the same
// upstream when a reused one fails before any byte of the answer and the
// request may be replayed (Transport.shouldRetryRequest: no body, or GET,
// HEAD, OPTIONS, TRACE; h1Transport serves only body-less GET, HEAD and
// OPTIONS). What they give up on (a request with a body on a connection the
// upstream had closed) comes here; TestRetryDeadPooledConnection counts at
// each upstream that nothing is sent twice.

// retryPolicy is the pool's: whether idempotent requests are retried, and
// the budget.
type retryPolicy struct {
	idempotent bool
	requests   atomic.Int64 // requests given a backend
	retries    atomic.Int64 // idempotent retries made
}

// retryBudget is the share of requests that idempotent retries may add.
const retryBudget = 5 // one retry per 5 requests: 20%

// spend takes one idempotent retry from the budget, if it has one.
func (r *retryPolicy) spend() bool {
	for {
		n := r.retries.Load()
		if (n+1)*retryBudget > r.requests.Load() {
			return false
		}
		if r.retries.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

// idempotent reports whether a request of method may be sent twice.
func idempotent(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace, http.MethodPut, http.MethodDelete:
		return true
	}
	return false
}

// after reports the verdict on one attempt of rec's request req at b, which
// failed with err (raw: as the transport gave it; nil err: it answered), and
// returns the backend to try next, with the request moved to it (rec.up,
// in-flight counts), or nil. tried collects the backends tried; direct: the
// next must take the direct path (direct.go). pl is the pool of the moment,
// which may not be b's: after a reload, a retry goes to the new pool.
func (pl *pool) after(req *http.Request, rec *record, b *backend, err, raw error, tried *[]*backend, direct bool) *backend {
	pl.report(b, rec, verdictOf(err, raw))
	if err == nil || (len(pl.backends) < 2 && pl.backends[0] == b) || rec == nil || req.Context().Err() != nil || !rec.body.untouched() {
		return nil
	}
	spend := false
	switch {
	case neverReached(raw, rec):
	case pl.retry.idempotent && !rec.retried && idempotent(req.Method) && statusFor(err) == http.StatusBadGateway:
		spend = true
	default:
		return nil
	}
	*tried = append(*tried, b)
	next := pl.pick(rec, *tried, direct)
	if next == nil && !spend {
		next = pl.overflow(*tried, direct)
	}
	if next == nil {
		return nil
	}
	if spend && !pl.retry.spend() {
		unpick(rec, next)
		return nil
	}
	rec.retried = rec.retried || spend
	b.drop()
	rec.up.Store(next)
	rec.upstreamWait.Store(nil)
	return next
}

// verdictOf is the health verdict on an attempt that failed with err (raw:
// as the transport gave it).
func verdictOf(err, raw error) int {
	var de *dialError
	switch {
	case err == nil:
		return attemptAnswered
	case errors.Is(err, ErrUpstreamTimeout):
		return attemptFailed
	case errors.As(raw, &de) && statusFor(err) == http.StatusBadGateway:
		return attemptFailed
	}
	return attemptOther
}

// neverReached reports whether an attempt that failed with raw sent nothing
// to the upstream.
func neverReached(raw error, rec *record) bool {
	var de *dialError
	if errors.As(raw, &de) {
		return true
	}
	w := rec.upstreamWait.Load()
	return w != nil && !w.c.wrote()
}

// untouched reports whether nothing of the body was read yet (nil: no body).
func (b *trackedBody) untouched() bool {
	return b == nil || (b.n.Load() == 0 && !b.eof.Load() && b.failed.Load() == nil)
}

// replayBody is the upstream request's GetBody: the body itself, as long as
// nothing of it was read, so that the Transport may send a request it could
// not write on a dead pooled connection again (upstreamconn.go); an error
// once a byte was read, which the Transport reports instead of retrying.
func (b *trackedBody) replayBody() (io.ReadCloser, error) {
	if !b.untouched() {
		return nil, errBodyNotReplayable
	}
	return b, nil
}

// errBodyNotReplayable: the client's body was partly sent, and is not kept.
var errBodyNotReplayable = errors.New("proxy: the request body was partly sent upstream and cannot be sent again")

// aim returns req, an upstream request built for another backend of the
// pool, or for b, as b's: its URL's scheme and host, and its Host header
// unless the client's is kept. The pool's backends share one path and query
// (checkUpstreams).
func (b *backend) aim(req *http.Request) *http.Request {
	if req.URL.Host == b.target.Host && req.URL.Scheme == b.target.Scheme {
		return req
	}
	out := new(http.Request)
	*out = *req
	u := *req.URL
	u.Scheme, u.Host = b.target.Scheme, b.target.Host
	out.URL = &u
	if !b.fwd.preserveHost {
		out.Host = b.fwd.upstreamHost
	}
	return out
}

// attemptBody is the request body as one attempt sees it. Once the attempt
// is abandoned for a retry, its reads fail; the Transport's Close reaches
// the body only once the attempt is known to stand (keep), so that a
// failed attempt does not close the body the next one sends.
type attemptBody struct {
	rc        io.ReadCloser
	abandoned atomic.Bool

	mu     sync.Mutex
	closed bool // the Transport closed it; guarded by mu
	kept   bool // guarded by mu
}

var errAttemptAbandoned = errors.New("proxy: request body read by an attempt given up for a retry")

func (a *attemptBody) Read(p []byte) (int, error) {
	if a.abandoned.Load() {
		return 0, errAttemptAbandoned
	}
	return a.rc.Read(p)
}

func (a *attemptBody) Close() error {
	a.mu.Lock()
	a.closed = true
	kept := a.kept
	a.mu.Unlock()
	if kept {
		return a.rc.Close()
	}
	return nil
}

// abandon ends the attempt: its reads fail from now on.
func (a *attemptBody) abandon() { a.abandoned.Store(true) }

// keep lets the Transport's Close through: the attempt stands.
func (a *attemptBody) keep() {
	a.mu.Lock()
	a.kept = true
	closed := a.closed
	a.mu.Unlock()
	if closed {
		a.rc.Close()
	}
}
