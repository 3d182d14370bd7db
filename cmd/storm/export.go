package storm

import (
	"bufio"
	"encoding/csv"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// csvHeader is the first line of Config.CSV. Each request measured is one
// line: start_s (seconds from the start of the measurement to the request's
// start), user (a closed-loop user's number, an open-loop visitor's),
// method, url, outcome (goodput, abandoned, unfinished or an
// error kind: connect, status_4xx, status_5xx, reset, timeout, other),
// status (empty if no response was read), latency_ms (start to end,
// whatever the outcome) and bytes (of body read).
var csvHeader = []string{"start_s", "user", "method", "url", "outcome", "status", "latency_ms", "bytes"}

// csvLog writes Config.CSV; the recorder's mutex serializes it.
type csvLog struct {
	w       *csv.Writer
	buf     *bufio.Writer
	targets []*target
	err     error
}

func newCSVLog(w io.Writer, targets []*target) *csvLog {
	buf := bufio.NewWriterSize(w, 64<<10)
	l := &csvLog{w: csv.NewWriter(buf), buf: buf, targets: targets}
	l.err = l.w.Write(csvHeader)
	return l
}

func (l *csvLog) write(start time.Time, d done) {
	if l.err != nil {
		return
	}
	t := l.targets[d.target]
	status := ""
	if d.status != 0 {
		status = strconv.Itoa(d.status)
	}
	l.err = l.w.Write([]string{
		strconv.FormatFloat(d.start.Sub(start).Seconds(), 'f', 6, 64),
		strconv.Itoa(d.user), t.method(), t.URL, d.outcome.String(), status,
		strconv.FormatFloat(float64(d.end.Sub(d.start))/1e6, 'f', 3, 64),
		strconv.FormatInt(d.bytes, 10),
	})
}

// flush writes what is buffered and returns the first error.
func (l *csvLog) flush() error {
	l.w.Flush()
	if l.err == nil {
		l.err = l.w.Error()
	}
	if err := l.buf.Flush(); l.err == nil {
		l.err = err
	}
	return l.err
}

// writeHDR writes the goodput latencies of each second as an HdrHistogram
// interval log (format 1.3, as HdrHistogram's HistogramLogWriter in Java
// writes it and its HistogramLogProcessor and HistogramLogAnalyzer read it):
// values in nanoseconds, interval max in milliseconds, one interval a
// second, empty seconds included. The interval lines are written here
// rather than by hdrhistogram-go's OutputIntervalHistogram, which puts the
// end time where the format wants the interval's length.
func writeHDR(w io.Writer, start time.Time, secs []*Histogram) error {
	lw := hdrhistogram.NewHistogramLogWriter(w)
	if err := lw.OutputLogFormatVersion(); err != nil {
		return err
	}
	if err := lw.OutputComment("hangup storm: goodput latency in ns, one interval per second"); err != nil {
		return err
	}
	if err := lw.OutputStartTime(start.UnixMilli()); err != nil {
		return err
	}
	if err := lw.OutputLegend(); err != nil {
		return err
	}
	for i, h := range secs {
		hh := hdrhistogram.New(1, int64(time.Hour), 3)
		var err error
		h.each(func(v int64, n uint64) {
			if err == nil {
				err = hh.RecordValues(min(v, int64(time.Hour)), int64(n))
			}
		})
		if err != nil {
			return err
		}
		enc, err := hh.Encode(hdrhistogram.V2CompressedEncodingCookieBase)
		if err != nil {
			return err
		}
		if _, err := fmt.Fprintf(w, "%.3f,%.3f,%.3f,%s\n", float64(i), 1.0, float64(hh.Max())/1e6, enc); err != nil {
			return err
		}
	}
	return nil
}
