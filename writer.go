package hangup

import (
	"bufio"
	"io"
	"net"
	"net/http"
)

// The ResponseWriter wrappers follow the response phase and count bytes
// without hiding the optional interfaces of the writer they wrap (see
// felixge/httpsnoop): there is one type for each combination of Flusher and
// Hijacker, and every one has Unwrap, so http.ResponseController reaches the
// original. Each is a struct holding one pointer, so storing it in an
// interface allocates nothing.
type rw struct{ st *request }

type (
	rwFlush         struct{ rw }
	rwHijack        struct{ rw }
	rwFlushHijack   struct{ rw }
	flusherHijacker interface {
		http.Flusher
		http.Hijacker
	}
)

var (
	_ http.Flusher    = rwFlush{}
	_ http.Hijacker   = rwHijack{}
	_ flusherHijacker = rwFlushHijack{}
)

func (st *request) writer() http.ResponseWriter {
	_, f := st.w.(http.Flusher)
	_, h := st.w.(http.Hijacker)
	base := rw{st}
	switch {
	case f && h:
		return rwFlushHijack{base}
	case f:
		return rwFlush{base}
	case h:
		return rwHijack{base}
	}
	return base
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

// WriteString keeps io.WriteString from copying the string, as net/http's
// own ResponseWriter does.
func (w rw) WriteString(s string) (int, error) {
	st := w.st
	st.markWritten()
	var n int
	var err error
	if sw, ok := st.w.(io.StringWriter); ok {
		n, err = sw.WriteString(s)
	} else {
		n, err = st.w.Write([]byte(s))
	}
	st.bytesOut.Add(int64(n))
	return n, err
}

// ReadFrom keeps net/http's sendfile path for io.Copy.
func (w rw) ReadFrom(src io.Reader) (int64, error) {
	st := w.st
	st.markWritten()
	var n int64
	var err error
	if rf, ok := st.w.(io.ReaderFrom); ok {
		n, err = rf.ReadFrom(src)
	} else {
		n, err = io.Copy(writerOnly{st.w}, src)
	}
	st.bytesOut.Add(n)
	return n, err
}

// writerOnly hides ReadFrom so io.Copy does not loop back into it.
type writerOnly struct{ io.Writer }

// Unwrap returns the ResponseWriter hangup wrapped, for http.ResponseController.
func (w rw) Unwrap() http.ResponseWriter { return w.st.w }

func (w rwFlush) Flush()       { w.flush() }
func (w rwFlushHijack) Flush() { w.flush() }

func (w rw) flush() {
	w.st.markWritten() // a flush sends the headers: an implicit 200
	w.st.w.(http.Flusher).Flush()
}

func (w rwHijack) Hijack() (net.Conn, *bufio.ReadWriter, error) { return w.hijack() }
func (w rwFlushHijack) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return w.hijack()
}

func (w rw) hijack() (net.Conn, *bufio.ReadWriter, error) {
	return w.st.w.(http.Hijacker).Hijack()
}

// markWritten records an implicit 200 on the first write.
func (st *request) markWritten() {
	if st.status.Load() == 0 {
		st.status.Store(http.StatusOK)
		st.progress.Or(wroteResponse)
	}
}
