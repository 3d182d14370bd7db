package hangup

import (
	"log/slog"
	"time"
)

// An Option configures a Guard.
type Option func(*config)

type config struct {
	halfCloseWaits bool
	keepAlive      keepAlive
	userTimeout    time.Duration
	onAbandon      func(Report)
	accessLog      *slog.Logger
	detachLimit    int
}

type keepAlive struct {
	idle, interval time.Duration
	count          int
}

// DefaultDetachLimit is how many MustFinish requests may keep running after
// their clients left, at once, unless WithDetachLimit says otherwise.
const DefaultDetachLimit = 256

func newConfig(opts []Option) config {
	c := config{detachLimit: DefaultDetachLimit}
	for _, o := range opts {
		o(&c)
	}
	return c
}

// HalfCloseWaits treats a client that shuts down its writing side (TCP
// half-close, shutdown(SHUT_WR)) as still waiting for its answer. By default
// a half-close counts as gone, as in net/http and nginx, because at the TCP
// level a half-close and a full close look the same until the server writes.
// With this option, a client that did close fully is detected when the
// response is written and the client's kernel answers with RST.
//
// Under the default, a half-closed client still gets whatever answer the
// handler writes: the request whose bytes came before the FIN runs (with its
// context already cancelled, cause ErrClientGone, if the FIN came first), so
// a handler that checks its context does no work and one that answers anyway
// is heard. A handler that writes nothing gets no response at all (not
// net/http's empty 200): the connection is closed. Only the request at hand
// when the FIN is seen (running, or the next to start) is served; requests
// pipelined behind it are not (PhaseBeforeHandler).
//
// It applies to watched connections (see Install); where hangup falls back to
// net/http's own detection, net/http still cancels on half-close.
func HalfCloseWaits() Option {
	return func(c *config) { c.halfCloseWaits = true }
}

// WithKeepAlive enables TCP keepalive on every accepted TCP connection, so
// that a peer that vanished without FIN or RST (cable pulled, NAT entry
// dropped, machine powered off) is found after idle + count*interval and its
// requests are cancelled with ReasonTimeout.
func WithKeepAlive(idle, interval time.Duration, count int) Option {
	return func(c *config) { c.keepAlive = keepAlive{idle, interval, count} }
}

// WithUserTimeout sets TCP_USER_TIMEOUT (Linux) on every accepted TCP
// connection: when data the server wrote stays unacknowledged for d, the
// kernel drops the connection and its requests are cancelled with
// ReasonTimeout. It catches a vanished peer while the response is being
// written, which keepalive does not.
func WithUserTimeout(d time.Duration) Option {
	return func(c *config) { c.userTimeout = d }
}

// OnAbandon sets a hook called once for every request whose client went away
// before its handler returned, after the handler returned. It runs on the
// request's goroutine and should be quick.
func OnAbandon(f func(Report)) Option {
	return func(c *config) { c.onAbandon = f }
}

// WithAccessLog logs one line per request to l, with status 499 (nginx's
// "client closed request") for requests whose client went away before the
// handler returned.
func WithAccessLog(l *slog.Logger) Option {
	return func(c *config) { c.accessLog = l }
}

// WithDetachLimit caps how many MustFinish requests may keep running after
// their clients left, at once. Beyond the cap, such a request is cancelled
// like any other, with a cause that matches ErrDetachLimit. n <= 0 means that
// no request is allowed to continue.
func WithDetachLimit(n int) Option {
	return func(c *config) { c.detachLimit = n }
}
