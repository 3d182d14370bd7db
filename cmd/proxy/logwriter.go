package proxy

import (
	"io"
	"sync"
	"time"
)

// Defaults of NewLogWriter, as nginx's "access_log ... buffer=32k flush=…".
const (
	DefaultLogBuffer = 32 << 10
	DefaultLogFlush  = 100 * time.Millisecond
)

// A LogWriter buffers what is written to it (log lines, from a slog
// handler that writes each record with one Write) and writes it to the
// writer underneath when the buffer is full, at most an interval after the
// first byte that waits, and on Flush and Close. Without it an access log
// costs one write(2) per request; with it, one per 32 KiB under load. A line
// is never split across two writes unless it is larger than the buffer, and
// lines keep their order. An idle LogWriter has no timer running.
//
// The price is that a line reaches its file up to the interval late, and
// that the lines still buffered are lost if the process dies without Close
// (a crash, SIGKILL); nginx's buffered access log has the same terms.
type LogWriter struct {
	mu       sync.Mutex
	w        io.Writer
	buf      []byte
	interval time.Duration
	timer    *time.Timer // armed while buf holds bytes
	armed    bool
	closed   bool
}

// NewLogWriter returns a LogWriter in front of w that holds up to size
// bytes for up to interval. A size or interval of zero or less means the
// default (DefaultLogBuffer, DefaultLogFlush).
func NewLogWriter(w io.Writer, size int, interval time.Duration) *LogWriter {
	if size <= 0 {
		size = DefaultLogBuffer
	}
	if interval <= 0 {
		interval = DefaultLogFlush
	}
	l := &LogWriter{w: w, buf: make([]byte, 0, size), interval: interval}
	l.timer = time.AfterFunc(time.Hour, func() { l.Flush() })
	l.timer.Stop()
	return l
}

// Write buffers p. The error, if any, is that of writing out what was
// buffered before.
func (l *LogWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return l.w.Write(p)
	}
	if len(l.buf)+len(p) > cap(l.buf) {
		if err := l.flushLocked(); err != nil {
			return 0, err
		}
		if len(p) >= cap(l.buf) {
			return l.w.Write(p)
		}
	}
	l.buf = append(l.buf, p...)
	if !l.armed {
		l.armed = true
		l.timer.Reset(l.interval)
	}
	return len(p), nil
}

// Flush writes out what is buffered.
func (l *LogWriter) Flush() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.flushLocked()
}

func (l *LogWriter) flushLocked() error {
	if l.armed {
		l.armed = false
		l.timer.Stop()
	}
	if len(l.buf) == 0 {
		return nil
	}
	_, err := l.w.Write(l.buf)
	l.buf = l.buf[:0]
	return err
}

// Close writes out what is buffered and stops buffering: later writes go
// straight to the writer underneath. It does not close that writer.
func (l *LogWriter) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	err := l.flushLocked()
	l.closed = true
	return err
}
