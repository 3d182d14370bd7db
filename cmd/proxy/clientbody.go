package proxy

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/hangup-dev/hangup"
)

// The client's request body as the upstream request reads it (issue 16,
// cases 2, 3, 5 and 10).
//
//   - Framing. net/http's server reads a body by Transfer-Encoding when a
//     request has both it and Content-Length, and deletes the Content-Length
//     (RFC 9112 §6.3), but keeps the connection open, where RFC 9112 §6.1
//     says it MUST be closed after the answer: what a front end took for the
//     rest of that body would be read here as the next request. The handler
//     cannot tell "chunked and Content-Length" from "chunked" (the header is
//     gone), so every HTTP/1.1 request with a chunked body gets its answer
//     with "Connection: close" (closeAfter). Browsers never send chunked
//     request bodies and most clients send a length, so what this costs is
//     one connection per chunked upload. The rejected alternative: see the
//     header bytes in a net.Conn wrapper, which costs every read of every
//     connection. The same goes for an HTTP/1.0 request with a body: net/http
//     ignores (and deletes) Transfer-Encoding in HTTP/1.0 (golang/go#12785),
//     and RFC 9112 §6.1 says such a message's framing is faulty and the
//     connection closed after it.
//   - Malformed bodies. A body that net/http cannot decode (a bad chunk size,
//     a chunk line too long, a bad trailer) is the client's fault: the read
//     error becomes ErrClientBody, answered 400, and the upstream request is
//     aborted (the Transport closes its connection) before its body ends, so
//     the upstream never sees a complete request.
//   - Stalls. Config.ClientBodyTimeout bounds the time each read of the body
//     may wait, as nginx's client_body_timeout: a read deadline on the
//     client's connection (http.ResponseController), set before each read and
//     cleared once the body ended or the upstream request is done with it
//     (the linger sets deadlines of its own later). Past it, the error is
//     ErrClientBodyTimeout, answered 408. net/http's ReadTimeout is no help:
//     it bounds the whole request, headers and body, however fast the body
//     comes.
//   - Trailers. ReverseProxy copies the request, trailer keys and all,
//     before the body is read, so the upstream request's trailers stay empty
//     (their values arrive in the client's request at the body's end). The
//     client's declared trailers are copied over when the body ends, except
//     the fields that must not be trailers (RFC 9110 §6.5.1: framing,
//     routing, hop-by-hop).

var (
	// ErrClientBody is the error of an upstream request whose body, the
	// client's, is malformed (a chunked body net/http could not decode).
	// The errors it is returned in wrap it and say what was wrong. It maps
	// to 400, and the client's connection is closed after the answer.
	ErrClientBody = errors.New("proxy: malformed request body from the client")

	// ErrClientBodyTimeout is the error of an upstream request whose body
	// the client stopped sending: a read of it waited Config.ClientBodyTimeout
	// without a byte. It maps to 408, and the client's connection is closed
	// after the answer. It is not a net.Error: a stalled client is not an
	// upstream timeout (504).
	ErrClientBodyTimeout = errors.New("proxy: the client sent no request body bytes for too long")
)

// clientBodyError is ErrClientBody or ErrClientBodyTimeout with what caused
// it. Only the sentinel is in its chain: the cause of a timeout is a
// net.Error, which would read as the upstream's timeout.
type clientBodyError struct {
	sentinel error
	cause    error
}

func (e *clientBodyError) Error() string { return e.sentinel.Error() + ": " + e.cause.Error() }
func (e *clientBodyError) Unwrap() error { return e.sentinel }

// closeAfter reports whether the answer to r, an HTTP/1 request, must
// close its connection because r's framing is ambiguous (see above).
func closeAfter(r *http.Request) bool {
	if r.ProtoMajor != 1 {
		return false
	}
	return len(r.TransferEncoding) > 0 || (r.ProtoMinor == 0 && r.ContentLength != 0)
}

// clientBody is the client's request body as the upstream request reads
// it, under trackedBody. The linger reads it too, once finish has made it
// let go of the deadlines.
type clientBody struct {
	rc      io.ReadCloser
	in      *http.Request // the client's request: its Trailer fills at the body's end
	timeout time.Duration

	mu       sync.Mutex
	ctl      *http.ResponseController // nil: no read timeout; guarded by mu
	done     bool                     // the deadlines are no longer ours; guarded by mu
	err      error                    // the first clientBodyError; guarded by mu
	trailers http.Header              // the upstream request's Trailer, or nil; guarded by mu
}

// newClientBody wraps r's body, which rc reads, for the upstream request.
func (p *Proxy) newClientBody(w http.ResponseWriter, r *http.Request, rc io.ReadCloser) *clientBody {
	b := &clientBody{rc: rc, in: r}
	if t := p.cfg.ClientBodyTimeout; t > 0 {
		b.ctl, b.timeout = http.NewResponseController(w), t
	}
	return b
}

func (b *clientBody) Read(p []byte) (int, error) {
	b.mu.Lock()
	if b.ctl != nil && !b.done && b.ctl.SetReadDeadline(time.Now().Add(b.timeout)) != nil {
		b.ctl = nil // not a connection with deadlines
	}
	// On HTTP/2 a read deadline is a timer on the stream, which fails the
	// body when it fires, read or no read: there it is armed only while a
	// read waits, so that a slow upstream does not time the client out
	// between reads. (On HTTP/1 a deadline matters only to a read.)
	var disarm *http.ResponseController
	if b.ctl != nil && !b.done && b.in.ProtoMajor >= 2 {
		disarm = b.ctl
	}
	b.mu.Unlock()
	n, err := b.rc.Read(p)
	if disarm != nil {
		b.mu.Lock()
		if !b.done {
			disarm.SetReadDeadline(time.Time{})
		}
		b.mu.Unlock()
	}
	if err == nil {
		return n, nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.done {
		return n, err // the linger's read
	}
	if err == io.EOF {
		b.copyTrailers()
		b.endLocked(true)
		return n, err
	}
	if e := b.classify(err); e != nil {
		if b.err == nil {
			b.err = e
		}
		err = e
	}
	b.endLocked(false)
	return n, err
}

// classify returns the clientBodyError for err, a read error of the
// client's body, or nil when err is not the body's fault: the client left
// (io.ErrUnexpectedEOF, a closed or reset connection), the body was taken
// over by the linger, or the upstream request's context ended.
func (b *clientBody) classify(err error) error {
	var ne net.Error
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded) && b.ctl != nil && !b.done:
		return &clientBodyError{ErrClientBodyTimeout, err}
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, errBodyTakenOver),
		errors.Is(err, http.ErrBodyReadAfterClose), errors.Is(err, net.ErrClosed),
		errors.Is(err, context.Canceled), errors.Is(err, hangup.ErrClientGone),
		errors.As(err, &ne):
		return nil
	}
	if b.in.Context().Err() != nil {
		// Gone: whatever the reader made of the end of the bytes.
		return nil
	}
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return nil
	}
	return &clientBodyError{ErrClientBody, err}
}

func (b *clientBody) Close() error { return b.rc.Close() }

// finish ends the upstream request's reads: what reads the body from now
// on (the linger) reads it as it is. ReverseProxy never closes the body
// (it hands the Transport a wrapper whose Close does nothing), so the proxy
// calls this once ReverseProxy returned.
func (b *clientBody) finish() {
	b.mu.Lock()
	b.endLocked(false)
	b.mu.Unlock()
}

// clientBodyOf returns the clientBody of the request rec is for, if any.
func clientBodyOf(rec *record) *clientBody {
	if rec == nil || rec.body == nil {
		return nil
	}
	rc := rec.body.rc
	if lb, ok := rc.(*limitedBody); ok {
		rc = lb.rc
	}
	b, _ := rc.(*clientBody)
	return b
}

// endClientBody is finish for the request rec is for, if it has a body.
func endClientBody(rec *record) {
	if b := clientBodyOf(rec); b != nil {
		b.finish()
	}
}

// endLocked hands the connection's read deadline back, once: cleared when
// the body ended (atEOF), left in the past after a timeout, so that nothing
// reads on (net/http's server would, to discard the rest of the body, and
// with no deadline wait for the stalled client forever), and otherwise one
// more timeout from now: what reads the rest, net/http's server or the
// linger, sets its own or is bounded by this one.
func (b *clientBody) endLocked(atEOF bool) {
	if b.done {
		return
	}
	b.done = true
	switch {
	case b.ctl == nil:
	case atEOF:
		b.ctl.SetReadDeadline(time.Time{})
	case errors.Is(b.err, ErrClientBodyTimeout):
	default:
		b.ctl.SetReadDeadline(time.Now().Add(b.timeout))
	}
}

// failure returns the first clientBodyError the body returned, if any.
func (b *clientBody) failure() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.err
}

// upstreamTrailers returns the Trailer for the upstream request: the
// client's declared trailer fields that may be forwarded, without values;
// they are filled in when the body ends. Nil if there are none.
func (b *clientBody) upstreamTrailers() http.Header {
	var h http.Header
	for k := range b.in.Trailer {
		if forbiddenTrailer(k) {
			continue
		}
		if h == nil {
			h = make(http.Header, len(b.in.Trailer))
		}
		h[k] = nil
	}
	b.mu.Lock()
	b.trailers = h
	b.mu.Unlock()
	return h
}

// copyTrailers copies the values of the client's trailers into the
// upstream request's, at the end of the body (the Transport writes them
// after it read EOF, on the same goroutine). Only declared fields are
// copied: net/http's server merges every field of the trailer section into
// Request.Trailer, declared or not.
func (b *clientBody) copyTrailers() {
	for k := range b.trailers {
		if vv := b.in.Trailer[k]; len(vv) > 0 {
			b.trailers[k] = vv
		}
	}
}

// forbiddenTrailer reports whether a field named k (canonical) must not be
// forwarded as a trailer: RFC 9110 §6.5.1's framing and routing fields, and
// the hop-by-hop ones.
func forbiddenTrailer(k string) bool {
	switch k {
	case "Content-Length", "Transfer-Encoding", "Host", "Trailer", "Content-Encoding", "Content-Type", "Content-Range":
		return true
	}
	for _, h := range hopHeaders {
		if k == h {
			return true
		}
	}
	return false
}
