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
)

// record is what the access log line of one client request says. The
// handler's goroutine owns most of it; the fields under mu are also written
// by the upstream request, which for a coalesced request runs on the
// flight's goroutine.
type record struct {
	start     time.Time
	http1     bool // the client speaks HTTP/1.x
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

func (rec *record) setOutcome(outcome string) {
	rec.mu.Lock()
	rec.outcome = outcome
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

// logAccess writes the request's access log line: to Config.AccessLog if
// set, else to Config.Logger.
func (p *Proxy) logAccess(r *http.Request, rec *record) {
	now := time.Now()
	switch {
	case p.accessLog != nil:
		s := linePool.Get().(*lineSink)
		s.json = p.cfg.AccessLogJSON
		s.begin(now, "request")
		p.accessFields(r, rec, now, s)
		p.accessLog.Write(s.end())
		linePool.Put(s)
	case p.log != nil:
		s := attrSink{attrs: make([]slog.Attr, 0, 20)}
		p.accessFields(r, rec, now, &s)
		p.log.LogAttrs(context.Background(), slog.LevelInfo, "request", s.attrs...)
	}
}

// accessFields gives s the fields of the request's access log line. A
// client that left before its response was complete is logged with status
// 499, like nginx, with the status it was sent (if any) as sent_status.
func (p *Proxy) accessFields(r *http.Request, rec *record, now time.Time, s fieldSink) {
	d, departed := hangup.Departed(r.Context())
	upstreamStatus, err := rec.snapshot()
	gone := rec.goneWith(err, departed)
	status := rec.status
	if status == 0 && rec.complete {
		status = http.StatusOK
	}
	s.str("method", r.Method)
	s.str("uri", r.RequestURI)
	s.str("host", r.Host)
	s.str("proto", r.Proto)
	s.str("remote", r.RemoteAddr)
	if gone {
		s.int("status", hangup.StatusClientClosedRequest)
		if status != 0 {
			s.int("sent_status", int64(status))
		}
	} else {
		s.int("status", int64(status))
	}
	s.int("upstream_status", int64(upstreamStatus))
	if b := rec.up.Load(); b != nil {
		s.str("upstream", b.name)
	}
	s.dur("duration", now.Sub(rec.start)-rec.lingerTime)
	s.int("bytes_in", rec.body.count())
	s.int("bytes_out", rec.bytesOut)
	s.bool("queued", rec.queued)
	s.bool("coalesced", rec.coalesced)
	if rec.queued {
		s.dur("queue_wait", rec.queueWait)
	}
	if rec.lingerTime > 0 || rec.lingerBytes > 0 {
		s.int("linger_bytes", rec.lingerBytes)
		s.dur("linger", rec.lingerTime)
	}
	if departed {
		s.str("gone_phase", d.Phase.String())
		s.str("gone_reason", d.Reason.String())
		s.dur("gone_after", d.At.Sub(rec.start))
	}
	if err != nil {
		s.str("error", err.Error())
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
