package hangup

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"time"
)

//go:generate go run ./internal/writergen

// The ResponseWriter wrappers follow the response phase and count bytes.
// They hide none of the optional interfaces of the writer they wrap, and add
// none it lacks (felixge/httpsnoop's rule): middleware picks its own
// behaviour by asserting them (Gin's CloseNotify and Pusher, chi's
// NewWrapResponseWriter), so one interface too few breaks it (Gin's c.Stream
// answered 500) and one too many lies to it. There is one type for each
// combination of http.Flusher, http.Hijacker, http.Pusher,
// http.CloseNotifier, io.ReaderFrom and io.StringWriter, generated into
// writer_types.go; every one has Unwrap, so http.ResponseController reaches
// the original for what is not listed (deadlines, full duplex). Each is a
// struct holding one pointer, so storing it in an interface allocates
// nothing. TestWriterInterfaces checks the sets on real HTTP/1, HTTP/2 and
// h2c servers.
type rw struct{ st *request }

// The bits of the optional mask, in writergen's order.
const (
	optFlusher uint8 = 1 << iota
	optHijacker
	optPusher
	optCloseNotifier
	optReaderFrom
	optStringWriter
)

func (st *request) writer() http.ResponseWriter {
	var m uint8
	w := st.w
	if _, ok := w.(http.Flusher); ok {
		m |= optFlusher
	}
	if _, ok := w.(http.Hijacker); ok {
		m |= optHijacker
	}
	if _, ok := w.(http.Pusher); ok {
		m |= optPusher
	}
	if _, ok := w.(http.CloseNotifier); ok {
		m |= optCloseNotifier
	}
	if _, ok := w.(io.ReaderFrom); ok {
		m |= optReaderFrom
	}
	if _, ok := w.(io.StringWriter); ok {
		m |= optStringWriter
	}
	return wrap(st, m)
}

func (w rw) Header() http.Header { return w.st.w.Header() }

func (w rw) WriteHeader(code int) {
	st := w.st
	if code >= 200 && st.status.Load() == 0 {
		st.status.Store(int32(code))
		st.progress.Or(wroteResponse)
	}
	st.w.WriteHeader(code)
}

func (w rw) Write(p []byte) (int, error) {
	st := w.st
	st.markWritten()
	n, err := st.w.Write(p)
	st.bytesOut.Add(int64(n))
	return n, err
}

// Unwrap returns the ResponseWriter hangup wrapped, for http.ResponseController.
func (w rw) Unwrap() http.ResponseWriter { return w.st.w }

// The helpers below implement the optional interfaces; each is called only
// by a type whose original has the interface.

// writeString keeps io.WriteString from copying the string.
func (w rw) writeString(s string) (int, error) {
	st := w.st
	st.markWritten()
	n, err := st.w.(io.StringWriter).WriteString(s)
	st.bytesOut.Add(int64(n))
	return n, err
}

// readFrom keeps net/http's sendfile path for io.Copy.
func (w rw) readFrom(src io.Reader) (int64, error) {
	st := w.st
	st.markWritten()
	n, err := st.w.(io.ReaderFrom).ReadFrom(src)
	st.bytesOut.Add(n)
	return n, err
}

func (w rw) flush() {
	w.st.markWritten() // a flush sends the headers: an implicit 200
	w.st.w.(http.Flusher).Flush()
}

// flushError is what http.ResponseController.Flush calls, ahead of Flush: a
// wrapper with only Flush would swallow the original's error.
func (w rw) flushError() error {
	w.st.markWritten()
	if fe, ok := w.st.w.(interface{ FlushError() error }); ok {
		return fe.FlushError()
	}
	w.st.w.(http.Flusher).Flush()
	return nil
}

// SetWriteDeadline is what http.ResponseController.SetWriteDeadline calls:
// the deadline is passed on, and noted, so that the HTTP/2 stream reset it
// causes when it passes is known for the server's doing (ended.go), not the
// client's. Every writer net/http makes has the method.
func (w rw) SetWriteDeadline(t time.Time) error {
	w.st.writeDeadline.Store(t.UnixNano())
	if t.IsZero() {
		w.st.writeDeadline.Store(0)
	}
	return http.NewResponseController(w.st.w).SetWriteDeadline(t)
}

func (w rw) hijack() (net.Conn, *bufio.ReadWriter, error) {
	return w.st.w.(http.Hijacker).Hijack()
}

func (w rw) push(target string, opts *http.PushOptions) error {
	return w.st.w.(http.Pusher).Push(target, opts)
}

// closeNotify is CloseNotify, made from hangup's own news and not passed on
// to the original's: net/http's channel fires only once its background read
// sees the close, so never while a request body is unread (golang/go#23262)
// nor behind a pipelined request (#37145), and it fires on a half-close that
// HalfCloseWaits says is no departure (#18527). The channel, the same on
// every call, receives true once: when the client leaves (the moment Gone
// closes; the request's context is cancelled with cause ErrClientGone unless
// the request must finish), or when the server closes the connection under
// the request (cause http.ErrServerClosed), so that a loop that waits only
// on it, such as Gin's c.Stream, still ends. It stays silent on a deadline
// and after the handler returns.
func (w rw) closeNotify() <-chan bool { return w.st.closeNotify() }

// markWritten records an implicit 200 on the first write.
func (st *request) markWritten() {
	if st.status.Load() == 0 {
		st.status.Store(http.StatusOK)
		st.progress.Or(wroteResponse)
	}
}
