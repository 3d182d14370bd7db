package proxy

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"time"
)

// Graceful early answers.
//
// An upstream may answer before it has read the request body: 401 to an
// unauthenticated upload, 413 to one that is too large. The answer must reach
// the client whole. But if the proxy closes the connection while the client
// is still sending, the kernel answers the unread bytes with an RST, and the
// client's TCP stack may throw away the response it had not read yet (Go's own
// Transport does worse: the failed body write closes the connection under the
// response reader). This is golang/go#3595 and RFC 9112 §9.6: a server that
// closes "continues to read from the connection until it receives a
// corresponding close by the client", or for a bounded time.
//
// net/http alone, for a body left unread, either discards up to 256 KiB to
// keep the connection, or sends FIN and sleeps 500 ms (rstAvoidanceDelay)
// without reading, then closes: with a large upload still arriving, that
// close resets the connection (see README.md for what we measured). So when
// the response to an HTTP/1 request is complete and its body is not, the proxy
// does what nginx's lingering_close does: it marks the response
// "Connection: close" (set when the upstream's headers are copied, see
// modifyResponse), flushes it, and reads and discards the rest of the body,
// until EOF, LingerBytes, LingerTime in total, or LingerTimeout without a
// byte, whichever comes first. Reading to EOF leaves nothing unread, so the
// close that follows sends FIN, not RST.

// The upstream side of the same story: an upstream that answers early is
// very likely a net/http server itself, and it too resets the connection 500
// ms after its handler returned, with the proxy's share of the upload unread.
// Whatever of its answer the proxy has not read by then is lost. Relaying the
// answer at the client's pace would lose the tail of any answer that a slow
// client takes longer than that to read. So a refusal (status 300 and up)
// that comes while the request body is still being sent is read ahead into
// memory, up to Config.EarlyAnswerBuffer, before it is relayed, as nginx's
// proxy_buffering would.

//
// Once the whole refusal is in memory, the rest of the upload is of no use to
// the upstream: it is no longer forwarded (which also lets the upstream
// connection close cleanly), and the linger drains it from the client.

// readAhead reads up to limit bytes of res's body into memory at once; the
// client is then served from memory, and from the upstream past limit. It
// reports whether the whole body is in memory.
func readAhead(res *http.Response, limit int64) (whole bool) {
	var buf bytes.Buffer
	if res.ContentLength > 0 && res.ContentLength <= limit {
		buf.Grow(int(res.ContentLength))
	}
	// An error here (the upstream broke off, the client left) comes back
	// from the body again when ReverseProxy reads past what was buffered.
	_, err := io.CopyN(&buf, res.Body, limit)
	res.Body = struct {
		io.Reader
		io.Closer
	}{io.MultiReader(&buf, res.Body), res.Body}
	return err == io.EOF
}

// trackedBody is the client's request body as the upstream request reads it.
// It records whether it was read to the end, and stops handing bytes to the
// upstream request once the proxy takes the rest over to linger: the
// Transport may go on reading a request body after RoundTrip returned.
// Its Close does nothing: the rest of the body is the linger's business.
type trackedBody struct {
	rc      io.ReadCloser
	n       atomic.Int64
	eof     atomic.Bool
	stopped atomic.Bool
	failed  atomic.Pointer[error] // the first read error other than EOF
}

func (b *trackedBody) Read(p []byte) (int, error) {
	if b.eof.Load() {
		// Once the body has ended, net/http closes it as soon as the
		// response's head is written (it makes sure nothing is left
		// unread), and a read then fails with ErrBodyReadAfterClose. The
		// Transport reads once more after the declared length to check
		// that nothing follows, and such a failure makes it close the
		// upstream connection under the answer being relayed.
		return 0, io.EOF
	}
	if b.stopped.Load() {
		return 0, errBodyTakenOver
	}
	n, err := b.rc.Read(p)
	b.n.Add(int64(n))
	switch {
	case err == io.EOF:
		b.eof.Store(true)
	case err != nil:
		b.failed.CompareAndSwap(nil, &err)
	}
	return n, err
}

// drain is what the linger reads the rest of the body from: beneath the
// body size limit, which the upstream request was held to, not the drain
// (LingerBytes bounds it).
func (b *trackedBody) drain() io.Reader {
	if lb, ok := b.rc.(*limitedBody); ok {
		return lb.rc
	}
	return b.rc
}

// readErr is the error that the client's body broke off with, if it did.
func (b *trackedBody) readErr() error {
	if b == nil {
		return nil
	}
	if e := b.failed.Load(); e != nil {
		return *e
	}
	return nil
}

func (b *trackedBody) Close() error { return nil }

// unread reports whether the body has bytes the upstream did not read.
func (b *trackedBody) unread() bool { return b != nil && !b.eof.Load() }

// linger drains what is left of the client's request body after its
// response is complete, within the configured limits (see above).
func (p *Proxy) linger(w http.ResponseWriter, r *http.Request, rec *record) {
	b := rec.body
	if !b.unread() || r.ProtoMajor != 1 || p.cfg.LingerTime < 0 {
		return
	}
	if b.count() == 0 && strings.EqualFold(r.Header.Get("Expect"), "100-continue") {
		// The client waits for "100 Continue" before it sends its body, and
		// after a final answer none will come: there is nothing on the wire
		// to drain, and waiting would only hold the connection.
		return
	}
	b.stopped.Store(true)
	rc := http.NewResponseController(w)
	if err := rc.Flush(); err != nil {
		return
	}
	start := time.Now()
	end := start.Add(p.cfg.LingerTime)
	bufp := bufs32k.Get().(*[]byte)
	defer bufs32k.Put(bufp)
	buf := *bufp
	var total int64
	for total < p.cfg.LingerBytes {
		deadline := time.Now().Add(p.cfg.LingerTimeout)
		if deadline.After(end) {
			deadline = end
		}
		if rc.SetReadDeadline(deadline) != nil {
			break // not a connection we can put a deadline on: don't risk blocking
		}
		chunk := buf
		if rest := p.cfg.LingerBytes - total; rest < int64(len(chunk)) {
			chunk = chunk[:rest]
		}
		n, err := b.drain().Read(chunk)
		total += int64(n)
		if err != nil {
			break
		}
	}
	rec.lingerBytes = total
	rec.lingerTime = time.Since(start)
}
