package proxy

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hangup-dev/hangup"
	"github.com/hangup-dev/hangup/internal/logfields"
)

// record is what the access log line of one client request says. The
// handler's goroutine owns most of it; the fields under mu are also written
// by the upstream request, which for a coalesced request runs on the
// flight's goroutine.
type record struct {
	start     time.Time
	requestID string // the client's X-Request-Id, or one made for it (requestid.go)
	http1     bool   // the client speaks HTTP/1.x
	queued    bool
	queueWait time.Duration
	coalesced bool
	body      *trackedBody // the client's request body, if any
	header    http.Header  // the client's response header (forward's w.Header())
	// upstreamWait is the request's wait for its answer on the connection
	// it went upstream on, if the proxy's Transport dialed it
	// (upstreamconn.go).
	upstreamWait atomic.Pointer[answerWait]
	// up is the backend the request was given (pool.go), the one that
	// served it once a retry moved it.
	up      atomic.Pointer[backend]
	probe   bool // the request is up's probe (health.go)
	retried bool // an idempotent retry was spent on it (retry.go)

	status   int   // status written to the client; 0 if none
	bytesOut int64 // response body bytes written to the client
	complete bool  // the response was written to its end
	aborted  bool  // the handler panicked (http.ErrAbortHandler: response cut short)
	silent   bool  // the client left before anything was written, and got nothing
	// closeAfter: the request's framing is ambiguous, and its answer,
	// whatever it is, closes the connection (clientbody.go).
	closeAfter bool

	lingerBytes int64
	lingerTime  time.Duration

	mu             sync.Mutex
	upstreamStatus int    // guarded by mu
	outcome        string // how the upstream request ended, once it did; guarded by mu
	err            error  // the first error that decided the answer; guarded by mu
	upstream       upstreamTimes
}

// upstreamTimes are the times of a request that went upstream, all guarded
// by the record's mu: as nginx's $upstream_header_time and
// $upstream_response_time, but measured from the moment the request left
// the queue, retries included.
type upstreamTimes struct {
	start time.Time     // when it went upstream; zero if it never did
	head  time.Duration // from start to the answer's head; 0 before it came
	total time.Duration // from start to the answer's end or the failure; 0 before either
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

// upstreamBegins records that the request goes upstream now.
func (rec *record) upstreamBegins() {
	now := time.Now()
	rec.mu.Lock()
	rec.upstream = upstreamTimes{start: now}
	rec.mu.Unlock()
}

// headIn records that the answer's head came now and returns the time it
// took; ok is false for a request that did not go through upstreamBegins.
func (rec *record) headIn() (d time.Duration, ok bool) {
	now := time.Now()
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if rec.upstream.start.IsZero() {
		return 0, false
	}
	rec.upstream.head = now.Sub(rec.upstream.start)
	return rec.upstream.head, true
}

// ended records how the upstream request ended, and that it ended now; it
// returns the time it took, as headIn does.
func (rec *record) ended(outcome string) (d time.Duration, ok bool) {
	now := time.Now()
	rec.mu.Lock()
	defer rec.mu.Unlock()
	rec.outcome = outcome
	if rec.upstream.start.IsZero() {
		return 0, false
	}
	rec.upstream.total = now.Sub(rec.upstream.start)
	return rec.upstream.total, true
}

func (rec *record) upstreamTimes() upstreamTimes {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return rec.upstream
}

// setUpstreamTimes gives rec the times of the upstream request it shared
// (coalesce.go).
func (rec *record) setUpstreamTimes(t upstreamTimes) {
	rec.mu.Lock()
	rec.upstream = t
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

// gone reports whether the client of r left before its response was
// complete: logged as 499.
func (rec *record) gone(r *http.Request) bool {
	_, departed := hangup.Departed(r.Context())
	_, err := rec.snapshot()
	return rec.goneWith(err, departed)
}

func (rec *record) goneWith(err error, departed bool) bool {
	return errors.Is(err, hangup.ErrClientGone) || (departed && !rec.complete)
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

// logAccess writes the request's access log line, to Config.AccessLog if
// set, else to Config.Logger, and counts the request in the metrics.
func (p *Proxy) logAccess(r *http.Request, rec *record) {
	now := time.Now()
	v := rec.verdict(r, now)
	p.m.served(v.status, v.duration)
	switch {
	case p.accessLog != nil:
		s := linePool.Get().(*lineSink)
		s.json = p.cfg.AccessLogJSON
		s.begin(now, "request")
		p.accessFields(r, rec, v, s)
		p.accessLog.Write(s.end())
		linePool.Put(s)
	case p.log != nil:
		s := attrSink{attrs: make([]slog.Attr, 0, 28)}
		p.accessFields(r, rec, v, &s)
		p.log.LogAttrs(context.Background(), slog.LevelInfo, "request", s.attrs...)
	}
}

// verdict is what a request came to, as its access line and the metrics
// say it.
type verdict struct {
	status         int // as logged: 499 for a client that left before its response was complete
	sent           int // the status written to the client, 0 if none
	gone           bool
	upstreamStatus int
	err            error
	departure      hangup.Departure
	departed       bool
	duration       time.Duration // without the linger, which is the client's business
}

func (rec *record) verdict(r *http.Request, now time.Time) verdict {
	v := verdict{sent: rec.status, duration: now.Sub(rec.start) - rec.lingerTime}
	v.departure, v.departed = hangup.Departed(r.Context())
	v.upstreamStatus, v.err = rec.snapshot()
	if v.sent == 0 && rec.complete {
		v.sent = http.StatusOK
	}
	v.status = v.sent
	if v.gone = rec.goneWith(v.err, v.departed); v.gone {
		v.status = hangup.StatusClientClosedRequest
	}
	return v
}

// accessFields gives s the fields of the request's access log line. A
// client that left before its response was complete is logged with status
// 499, like nginx, with the status it was sent (if any) as sent_status.
// The client's own values (user agent, referer) are written as slog
// writes them, quoted and escaped (logline.go): no value can split a line
// or forge a field.
func (p *Proxy) accessFields(r *http.Request, rec *record, v verdict, s fieldSink) {
	s.str("method", r.Method)
	s.str("uri", r.RequestURI)
	s.str("host", r.Host)
	s.str("proto", r.Proto)
	s.str("remote", r.RemoteAddr)
	s.str("request_id", rec.requestID)
	if id := logfields.TraceID(r.Header.Get("Traceparent")); id != "" {
		s.str("trace_id", id)
	}
	s.int("status", int64(v.status))
	if v.gone && v.sent != 0 {
		s.int("sent_status", int64(v.sent))
	}
	s.int("upstream_status", int64(v.upstreamStatus))
	if b := rec.up.Load(); b != nil {
		s.str("upstream", b.name)
	}
	if ut := rec.upstreamTimes(); !ut.start.IsZero() {
		if ut.head > 0 {
			s.dur("upstream_header_time", ut.head)
		}
		if ut.total > 0 {
			s.dur("upstream_response_time", ut.total)
		}
	}
	s.dur("duration", v.duration)
	s.int("bytes_in", rec.body.count())
	s.int("bytes_out", rec.bytesOut)
	if ua := r.Header.Get("User-Agent"); ua != "" {
		s.str("user_agent", ua)
	}
	if ref := r.Header.Get("Referer"); ref != "" {
		s.str("referer", ref)
	}
	s.bool("queued", rec.queued)
	s.bool("coalesced", rec.coalesced)
	if rec.queued {
		s.dur("queue_wait", rec.queueWait)
	}
	if rec.lingerTime > 0 || rec.lingerBytes > 0 {
		s.int("linger_bytes", rec.lingerBytes)
		s.dur("linger", rec.lingerTime)
	}
	if v.departed {
		s.str("gone_phase", v.departure.Phase.String())
		s.str("gone_reason", v.departure.Reason.String())
		s.dur("gone_after", v.departure.At.Sub(rec.start))
	}
	if v.err != nil {
		s.str("error", v.err.Error())
	} else if rec.aborted {
		s.str("error", "response cut short")
	}
}

// count is how many body bytes were read from the client on the
// upstream's behalf.
func (b *trackedBody) count() int64 {
	if b == nil {
		return 0
	}
	return b.n.Load()
}
