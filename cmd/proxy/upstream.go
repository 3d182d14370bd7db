package proxy

import (
	"context"
	"io"
	"net/http"
	"sync"
	"time"
)

// upstreamTransport sends requests to the backend of the pool that each
// was given (pool.go), and to another when a failed attempt may be retried
// (retry.go). It adds what http.Transport leaves to its caller:
//
//   - the upstream timeout: a request whose response headers do not arrive
//     within the timeout is cancelled with cause ErrUpstreamTimeout, which the
//     Transport hands back as its error (it returns context.Cause of the
//     request's context), so the status mapping sees it with errors.Is;
//   - the outcome of every upstream request, counted once, when its response
//     body ends (completed), breaks (error, timeout) or is given up on because
//     the client left (cancelled).
//
// The request's context is the client's (or, for a coalesced request, the
// flight's), so a client that hangup reports gone cancels the upstream request
// by the Transport's own means: an HTTP/1 upstream connection is closed, an
// HTTP/2 stream is reset.
type upstreamTransport struct {
	ups     *pools
	timeout time.Duration
	m       *metrics
}

// RoundTrip sends req to the backend the pool gave its request (take), and
// to others if it must be retried (retry.go).
func (t *upstreamTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	rec := recordFrom(req.Context())
	b := t.ups.cur.Load().backendOf(rec)
	var (
		tried []*backend
		body  *attemptBody
	)
	for {
		out := b.aim(req)
		if req.Body != nil && req.Body != http.NoBody {
			// Another backend may get the request: each attempt its own
			// body (retry.go). Even in a pool of one: a reload may swap in
			// a larger pool (or one without b) between this attempt and
			// its retry, and a body the Transport closed cannot be sent
			// again (TestReviewReloadStress: "invalid Read on closed Body"
			// 1 run in 10 when this was decided by the pool of the moment).
			if out == req {
				out = new(http.Request)
				*out = *req
			}
			body = &attemptBody{rc: req.Body}
			out.Body = body
		}
		res, err, raw := t.attempt(out, rec, b)
		next := t.ups.cur.Load().after(req, rec, b, err, raw, &tried, false)
		if next == nil {
			if body != nil {
				body.keep()
			}
			return res, err
		}
		if body != nil {
			body.abandon()
		}
		b = next
	}
}

// attempt sends req to b once; raw is the transport's error, err what it
// means (failureCause).
func (t *upstreamTransport) attempt(req *http.Request, rec *record, b *backend) (res *http.Response, err, raw error) {
	if b.h1 != nil && b.h1.serves(req) {
		// h1Transport keeps the timeout with a deadline on its connection,
		// and gives the context's cause as its error.
		res, raw = b.h1.roundTrip(req, t.deadline(time.Time{}), nil)
		res, err = t.account(req.Context(), rec, b, nil, res, raw)
		return res, err, raw
	}
	ctx, cancel := context.WithCancelCause(req.Context())
	var timer *time.Timer
	if t.timeout > 0 {
		timer = time.AfterFunc(t.timeout, func() { cancel(ErrUpstreamTimeout) })
	}
	res, raw = b.rt.RoundTrip(req.WithContext(ctx))
	if timer != nil && !timer.Stop() && raw == nil {
		// The headers came in as the timer fired: the context is cancelled
		// under the body, so the response is lost anyway. Say why.
		res.Body.Close()
		res, raw = nil, ErrUpstreamTimeout
	}
	res, err = t.account(ctx, recordFrom(ctx), b, cancel, res, raw)
	return res, err, raw
}

// deadline is when the answer's head is due for a request that started at
// start (zero: now); zero without a timeout.
func (t *upstreamTransport) deadline(start time.Time) time.Time {
	if t.timeout <= 0 {
		return time.Time{}
	}
	if start.IsZero() {
		start = time.Now()
	}
	return start.Add(t.timeout)
}

// account counts the outcome of a round trip to b whose context is ctx, in
// rec too if not nil, or wraps the body to count it when the body ends. cancel,
// if not nil, ends ctx once the request is done with.
func (t *upstreamTransport) account(ctx context.Context, rec *record, b *backend, cancel context.CancelCauseFunc, res *http.Response, err error) (*http.Response, error) {
	if cancel == nil {
		cancel = func(error) {}
	}
	if err != nil {
		err = failureCause(ctx, rec, err)
		cancel(context.Canceled)
		t.m.upstreamEnded(b, rec, outcomeFor(err))
		return nil, err
	}
	t.m.headIn(rec, res.StatusCode)
	if res.StatusCode == http.StatusSwitchingProtocols {
		// The body is the upgraded connection, an io.ReadWriteCloser that
		// ReverseProxy takes over: it must stay one.
		t.m.upstreamEnded(b, rec, outcomeCompleted)
		if rwc, ok := res.Body.(io.ReadWriteCloser); ok {
			res.Body = upgradedBody{rwc, cancel}
			return res, nil
		}
		cancel(context.Canceled)
		return res, nil
	}
	res.Body = &upstreamBody{rc: res.Body, ctx: ctx, cancel: cancel, m: t.m, b: b, rec: rec}
	return res, nil
}

func (t *upstreamTransport) CloseIdleConnections() { t.ups.CloseIdleConnections() }

// upstreamBody counts how the upstream response ended.
type upstreamBody struct {
	rc     io.ReadCloser
	ctx    context.Context
	cancel context.CancelCauseFunc
	m      *metrics
	b      *backend
	rec    *record // nil if the request has none
	once   sync.Once
}

func (b *upstreamBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	switch {
	case err == io.EOF:
		b.done(outcomeCompleted)
	case err != nil:
		// The Transport closes the connection under the answer when the
		// client's body fails: say why (clientgone.go).
		err = failureCause(b.ctx, b.rec, err)
		b.done(outcomeFor(err))
	}
	return n, err
}

func (b *upstreamBody) Close() error {
	err := b.rc.Close()
	// Closed before its end without a read error: the proxy gave up on it,
	// because the client's side failed.
	b.done(outcomeCancelled)
	b.cancel(context.Canceled)
	return err
}

func (b *upstreamBody) done(outcome string) {
	b.once.Do(func() { b.m.upstreamEnded(b.b, b.rec, outcome) })
}

// upgradedBody is the connection of a 101 Switching Protocols response; its
// context ends when ReverseProxy closes it.
type upgradedBody struct {
	io.ReadWriteCloser
	cancel context.CancelCauseFunc
}

func (b upgradedBody) Close() error {
	err := b.ReadWriteCloser.Close()
	b.cancel(context.Canceled)
	return err
}
