package hangup

import (
	"context"
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
	onDone         func(Report) // see OnDone (ondone.go)
	accessLog      *slog.Logger
	traceID        func(context.Context) string
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

// WithUserTimeout finds peers that vanished while the server waited for
// them (Linux, watched connections): when something the server sent stays
// unanswered for d — data in flight, a probe of the peer's closed receive
// window, or a keepalive probe — and not a single segment came from the peer
// meanwhile, its requests are cancelled with ReasonTimeout and the
// connection is cut (shut down, and dropped by the kernel). It catches a
// vanished peer while the response is being written, which keepalive does
// not.
//
// A live peer is never cut, however slowly it reads: a client whose window
// stays closed for longer than d keeps its download as long as its kernel
// answers the window probes. That is why it does not set the
// TCP_USER_TIMEOUT socket option, which current Linux kernels also apply to
// a zero window, aborting slow readers that answer every probe (seen on
// 6.18).
// Connections are checked from TCP_INFO every d/4 (at least every 10 ms), so
// a vanished peer is found between d and about 1.25 d after it last spoke,
// plus the time the kernel takes to notice that a segment went unanswered;
// an idle connection, with nothing sent, is keepalive's to watch. A check
// costs about 2 µs of CPU (measured on loopback), so 10,000 connections with
// d = 1 s cost some 8% of one core; a larger d costs proportionally less.
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
//
// Besides the request line, the status, the byte counts and the duration, a
// line says, when the request has them: user_agent and referer (the
// headers as sent, which l's handler quotes and escapes: slog's Text and
// JSON handlers never let a value split or forge a line), request_id (the
// X-Request-Id header as the request carries it when its handler returns,
// so a middleware inside the Guard that sets one is heard; logged only when
// it is 1 to 128 letters, digits or "-_.:+/=@", and left out otherwise),
// and trace_id (see WithTraceID).
func WithAccessLog(l *slog.Logger) Option {
	return func(c *config) { c.accessLog = l }
}

// WithTraceID sets how the access log finds a request's trace id: f is
// called once per logged request, after its handler returned, with the
// request's context, and returns the id to log ("" for none). Without it the
// access log takes the trace id of a W3C traceparent header whose sampled
// flag is set: the trace the caller recorded, which a server span joins,
// but not the id of a trace the server starts itself.
//
// The context f gets carries the values of the request's context as the
// Guard received it, not those that handlers inside the Guard added: a
// tracing middleware whose span f reads must wrap the Guard (with Install,
// wrap srv.Handler after Install wrapped it). For OpenTelemetry, f is
//
//	func(ctx context.Context) string {
//		if sc := trace.SpanFromContext(ctx).SpanContext(); sc.IsSampled() {
//			return sc.TraceID().String()
//		}
//		return ""
//	}
//
// f runs on the request's goroutine and should be quick; it is not called
// without an access log.
func WithTraceID(f func(ctx context.Context) string) Option {
	return func(c *config) { c.traceID = f }
}

// WithDetachLimit caps how many MustFinish requests may keep running after
// their clients left, at once. Beyond the cap, such a request is cancelled
// like any other, with a cause that matches ErrDetachLimit. n <= 0 means that
// no request is allowed to continue.
func WithDetachLimit(n int) Option {
	return func(c *config) { c.detachLimit = n }
}
