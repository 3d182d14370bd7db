package storm

import (
	"cmp"
	"maps"
	"math"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Schema is the version of the JSON a Result marshals to, in its "schema"
// field. Version 1 had no such field; 2 added the request's shape to
// config, status classes and codes, the status_4xx and timeout error kinds,
// per-second status and errors_by_kind, after_gone_s and handler_s in
// work, and thresholds.
const Schema = 2

// Result is what a run measured. Its JSON field names are stable within a
// Schema; they are documented in the package doc and in README.md.
type Result struct {
	Schema int       `json:"schema"`
	Config RunConfig `json:"config"`
	// Series has one entry per second of the run, in order.
	Series []Second `json:"series"`
	Totals Totals   `json:"totals"`
	// Thresholds are the Config's thresholds checked against Totals, in
	// order; empty if none.
	Thresholds []ThresholdResult `json:"thresholds"`
	// Warnings are things the run could not measure (a failed scrape, a
	// metrics endpoint without the work metrics); empty if none.
	Warnings []string `json:"warnings"`
}

// Failed returns the thresholds that failed.
func (r *Result) Failed() []ThresholdResult {
	var out []ThresholdResult
	for _, t := range r.Thresholds {
		if !t.OK {
			out = append(out, t)
		}
	}
	return out
}

// RunConfig echoes the configuration of a run, so that a JSON result is
// self-describing when tables are built from many of them.
type RunConfig struct {
	URL     string  `json:"url"`     // the first target's
	Method  string  `json:"method"`  // the first target's
	Targets int     `json:"targets"` // how many targets the users take in turn
	HTTP2   bool    `json:"http2"`
	Mode    string  `json:"mode"` // "closed" (Users) or "open" (Rate)
	Users   int     `json:"users"`
	Rate    float64 `json:"rate"`
	// Stages is the users' schedule in the --stages form; "" for a
	// constant number of users.
	Stages          string  `json:"stages"`
	Patience        string  `json:"patience"`
	Think           string  `json:"think"`
	ReloadProb      float64 `json:"reload_prob"`
	DurationS       float64 `json:"duration_s"`
	WarmupS         float64 `json:"warmup_s"`
	TimeoutS        float64 `json:"timeout_s"` // the request timeout; 0 for none
	ConnectTimeoutS float64 `json:"connect_timeout_s"`
	Abort           string  `json:"abort"`
	MetricsURL      string  `json:"metrics_url"`
	Seed            uint64  `json:"seed"` // the seed used, drawn at random if none was given
}

// Second is what happened during one second of the run. Counts are events
// that happened in [T, T+1); the last second may be shorter if the run was
// interrupted.
type Second struct {
	T         float64 `json:"t"` // start of the second, in seconds since the run started
	Sent      int64   `json:"sent"`
	Goodput   int64   `json:"goodput"`
	Abandoned int64   `json:"abandoned"`
	Errors    int64   `json:"errors"`
	// Status counts the responses read in full in this second by
	// status class, to users still waiting or not.
	Status       StatusClasses `json:"status"`
	ErrorsByKind ErrorCounts   `json:"errors_by_kind"`
	// P99Ms is the 99th percentile latency of the responses counted in
	// Goodput, in milliseconds; null if there were none.
	P99Ms *float64 `json:"p99_ms"`
	// Open is how many requests the generator had outstanding at the end
	// of the second: the client's view of in-flight work.
	Open int64 `json:"open"`
	// Inflight is hangup_requests_in_flight scraped at the end of the
	// second: the server's in-flight work; null without metrics or if
	// that scrape failed.
	Inflight *float64 `json:"inflight"`
	// Work is the server work accounted since the previous successful
	// scrape, normally the second itself; null without metrics or if that
	// scrape failed.
	Work *Work `json:"work"`
}

// Totals sums a whole run.
type Totals struct {
	// ElapsedS is how long users ran, in seconds; the rates divide by it.
	ElapsedS float64 `json:"elapsed_s"`
	// Sent counts requests started (connect included).
	// Sent = Goodput + Abandoned + Errors + Unfinished.
	Sent int64 `json:"sent"`
	// Goodput counts responses delivered in full (body read to EOF, status
	// 2xx or 3xx) to a user still waiting.
	Goodput int64 `json:"goodput"`
	// Abandoned counts requests whose user's patience ran out first; the
	// connection was closed (FIN or RST). Reloads + Left = Abandoned.
	Abandoned int64 `json:"abandoned"`
	Reloads   int64 `json:"reloads"` // abandonments followed at once by a new request
	Left      int64 `json:"left"`    // abandonments followed by think time (closed loop) or departure (open loop)
	Errors    int64 `json:"errors"`
	// ErrorsByKind splits Errors.
	ErrorsByKind ErrorCounts `json:"errors_by_kind"`
	// Status counts the responses read in full, by status class; its 4xx
	// and 5xx are ErrorsByKind's status_4xx and status_5xx.
	Status StatusClasses `json:"status"`
	// StatusCodes counts the same responses by status code ("200": n).
	StatusCodes map[string]int64 `json:"status_codes"`
	// Unfinished counts requests still outstanding when the run ended.
	Unfinished int64 `json:"unfinished"`
	// Dropped counts open-loop arrivals not sent because Users visitors
	// were already outstanding.
	Dropped       int64   `json:"dropped"`
	SentPerS      float64 `json:"sent_per_s"`
	GoodputPerS   float64 `json:"goodput_per_s"`
	AbandonedPerS float64 `json:"abandoned_per_s"`
	// Latency of the responses counted in Goodput, from the start of the
	// request (connect included) to the end of the body.
	Latency Latency `json:"latency_ms"`
	// Work is the server work done between the scrape before the run and
	// the one after it (taken Settle after the users stopped, so that work
	// still running for abandoned requests is counted); null without
	// metrics or if the server exports none of the work metrics.
	Work *Work `json:"work"`
}

// ErrorCounts splits errors by kind.
type ErrorCounts struct {
	Connect   int64 `json:"connect"`    // the TCP (or TLS) connection could not be made
	Status4xx int64 `json:"status_4xx"` // a response with status 4xx
	Status5xx int64 `json:"status_5xx"` // a response with status >= 500
	Reset     int64 `json:"reset"`      // the server reset the connection (ECONNRESET, EPIPE)
	Timeout   int64 `json:"timeout"`    // the request timeout (Config.Timeout) ran out
	Other     int64 `json:"other"`      // anything else: malformed or truncated responses, 1xx
}

// KindCount is one kind of error and how many there were.
type KindCount struct {
	Kind  string // the JSON name: connect, status_4xx, ...
	Count int64
}

// Top returns the kinds that occurred, most frequent first (ties in the
// JSON order); empty if there was no error.
func (e ErrorCounts) Top() []KindCount {
	all := []KindCount{{"connect", e.Connect}, {"status_4xx", e.Status4xx}, {"status_5xx", e.Status5xx}, {"reset", e.Reset}, {"timeout", e.Timeout}, {"other", e.Other}}
	out := all[:0]
	for _, k := range all {
		if k.Count > 0 {
			out = append(out, k)
		}
	}
	slices.SortStableFunc(out, func(a, b KindCount) int { return cmp.Compare(b.Count, a.Count) })
	return out
}

func (e *ErrorCounts) add(o outcome) {
	switch o {
	case outConnect:
		e.Connect++
	case outStatus4xx:
		e.Status4xx++
	case outStatus5xx:
		e.Status5xx++
	case outReset:
		e.Reset++
	case outTimeout:
		e.Timeout++
	default:
		e.Other++
	}
}

// StatusClasses counts responses by the first digit of their status.
type StatusClasses struct {
	S1xx int64 `json:"1xx"`
	S2xx int64 `json:"2xx"`
	S3xx int64 `json:"3xx"`
	S4xx int64 `json:"4xx"`
	S5xx int64 `json:"5xx"`
}

func (s *StatusClasses) add(code int) {
	switch code / 100 {
	case 1:
		s.S1xx++
	case 2:
		s.S2xx++
	case 3:
		s.S3xx++
	case 4:
		s.S4xx++
	case 5:
		s.S5xx++
	}
}

// Latency is a latency summary in milliseconds, accurate to 0.1%.
type Latency struct {
	Count int64   `json:"count"`
	P50   float64 `json:"p50"`
	P90   float64 `json:"p90"`
	P99   float64 `json:"p99"`
	Max   float64 `json:"max"`
	Mean  float64 `json:"mean"`
}

// ms converts nanoseconds to milliseconds rounded to the microsecond: finer
// digits would be noise in the JSON.
func ms(ns float64) float64 { return math.Round(ns/1e3) / 1e3 }

func latencyOf(h *Histogram) Latency {
	return Latency{
		Count: int64(h.Count()),
		P50:   ms(float64(h.Quantile(0.50))),
		P90:   ms(float64(h.Quantile(0.90))),
		P99:   ms(float64(h.Quantile(0.99))),
		Max:   ms(float64(h.Max())),
		Mean:  ms(h.Mean()),
	}
}

// outcome is how one request ended.
type outcome uint8

const (
	outGood outcome = iota
	outAbandoned
	outConnect
	outStatus4xx
	outStatus5xx
	outReset
	outTimeout
	outOther
	outUnfinished
)

// String is the outcome's name in the CSV export: goodput, abandoned,
// unfinished or an error kind's JSON name.
func (o outcome) String() string {
	return [...]string{"goodput", "abandoned", "connect", "status_4xx", "status_5xx", "reset", "timeout", "other", "unfinished"}[o]
}

// done is one request as it ended.
type done struct {
	user, target int
	start, end   time.Time
	exchange
}

// bucket holds one second's counts.
type bucket struct {
	sent, goodput, abandoned, errors int64
	status                           StatusClasses
	kinds                            ErrorCounts
	hist                             Histogram
	open                             int64
	inflight                         *float64
	work                             *Work
}

// recorder collects events from all users into per-second buckets. One
// mutex is enough: even 100k events/s is far below what it can take.
type recorder struct {
	start time.Time // the start of the measurement, after the warmup
	end   time.Time // start + Duration; zero if unbounded
	limit int       // number of seconds in the run; 0 if unbounded
	open  atomic.Int64
	csv   *csvLog // nil without Config.CSV

	mu      sync.Mutex
	buckets []*bucket
	total   Histogram
	t       Totals
	stopped bool
}

// newRecorder returns the recorder of a run measured from start for
// duration (0: until stopped).
func newRecorder(start time.Time, duration time.Duration) *recorder {
	r := &recorder{start: start, limit: int(math.Ceil(duration.Seconds()))}
	if duration > 0 {
		r.end = start.Add(duration)
	}
	r.t.StatusCodes = map[string]int64{}
	return r
}

// bucketAt returns the bucket of the second that holds at; r.mu held.
func (r *recorder) bucketAt(at time.Time) *bucket {
	i := max(int(at.Sub(r.start)/time.Second), 0)
	if r.limit > 0 && i >= r.limit {
		// An event in the moment between the last tick and the stop
		// belongs to the last second, not to a stub second of its own.
		i = r.limit - 1
	}
	return r.bucket(i)
}

// bucket returns bucket i, growing the series as needed; r.mu held.
func (r *recorder) bucket(i int) *bucket {
	for len(r.buckets) <= i {
		r.buckets = append(r.buckets, &bucket{})
	}
	return r.buckets[i]
}

// over reports whether the run is over at t: stopped, or past its end. The
// end is checked here, not only when the clock goroutine stops the run, so
// that a busy machine that runs that goroutine late does not stretch the
// run; r.mu held.
func (r *recorder) over(t time.Time) bool {
	return r.stopped || (!r.end.IsZero() && !t.Before(r.end))
}

// sent records the start of a request. It reports whether the request may
// be made (false once the run is over) and whether it is measured (false
// during the warmup: such a request is made and never counted).
func (r *recorder) sent(at time.Time) (ok, measured bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.over(at) {
		return false, false
	}
	if at.Before(r.start) {
		return true, false
	}
	r.bucketAt(at).sent++
	r.t.Sent++
	r.open.Add(1)
	return true, true
}

// done records how a measured request ended, and returns the outcome
// counted. A request that ends after the run is over counts as unfinished,
// whatever its outcome: it was cut short by the end of the run, not by its
// user or the server.
func (r *recorder) done(d done) outcome {
	r.open.Add(-1)
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.over(d.end) {
		d.outcome = outUnfinished
	}
	if r.csv != nil {
		r.csv.write(r.start, d)
	}
	if d.outcome == outUnfinished {
		r.t.Unfinished++
		return d.outcome
	}
	b := r.bucketAt(d.end)
	if d.status != 0 && (d.outcome == outGood || d.outcome == outStatus4xx || d.outcome == outStatus5xx) {
		b.status.add(d.status)
		r.t.Status.add(d.status)
		r.t.StatusCodes[strconv.Itoa(d.status)]++
	}
	switch d.outcome {
	case outGood:
		latency := d.end.Sub(d.start)
		b.goodput++
		r.t.Goodput++
		b.hist.RecordDuration(latency)
		r.total.RecordDuration(latency)
	case outAbandoned:
		b.abandoned++
		r.t.Abandoned++
	default:
		b.errors++
		r.t.Errors++
		b.kinds.add(d.outcome)
		r.t.ErrorsByKind.add(d.outcome)
	}
	return d.outcome
}

func (r *recorder) reload() { r.mu.Lock(); r.t.Reloads++; r.mu.Unlock() }
func (r *recorder) left()   { r.mu.Lock(); r.t.Left++; r.mu.Unlock() }
func (r *recorder) dropped() {
	r.mu.Lock()
	r.t.Dropped++
	r.mu.Unlock()
}

// stop marks the end of the run: from now on nothing is sent and whatever
// ends counts as unfinished.
func (r *recorder) stop() {
	r.mu.Lock()
	r.stopped = true
	r.mu.Unlock()
}

// endSecond notes what is known at the end of second i: the requests open
// and, if scraped, the server's gauge and work.
func (r *recorder) endSecond(i int, s *Scrape, prev *Scrape) {
	open := r.open.Load()
	r.mu.Lock()
	defer r.mu.Unlock()
	b := r.bucket(i)
	b.open = open
	if s != nil && s.HasInflight {
		v := s.Inflight
		b.inflight = &v
	}
	if s != nil && prev != nil && s.hasWork() {
		w := s.Work.sub(prev.Work)
		b.work = &w
	}
}

// second returns second i as it stands.
func (r *recorder) second(i int) Second {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.secondLocked(i)
}

func (r *recorder) secondLocked(i int) Second {
	b := r.bucket(i)
	s := Second{
		T:            float64(i),
		Sent:         b.sent,
		Goodput:      b.goodput,
		Abandoned:    b.abandoned,
		Errors:       b.errors,
		Status:       b.status,
		ErrorsByKind: b.kinds,
		Open:         b.open,
		Inflight:     b.inflight,
		Work:         b.work,
	}
	if b.hist.Count() > 0 {
		p := ms(float64(b.hist.Quantile(0.99)))
		s.P99Ms = &p
	}
	return s
}

// histograms returns the first n seconds' goodput latency histograms.
func (r *recorder) histograms(n int) []*Histogram {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]*Histogram, n)
	for i := range out {
		out[i] = &r.bucket(i).hist
	}
	return out
}

// result builds the series of n seconds and the totals over elapsed.
func (r *recorder) result(n int, elapsed time.Duration) ([]Second, Totals) {
	r.mu.Lock()
	defer r.mu.Unlock()
	n = max(n, len(r.buckets))
	series := make([]Second, n)
	for i := range series {
		series[i] = r.secondLocked(i)
	}
	t := r.t
	t.StatusCodes = maps.Clone(r.t.StatusCodes)
	t.ElapsedS = elapsed.Seconds()
	if t.ElapsedS > 0 {
		t.SentPerS = float64(t.Sent) / t.ElapsedS
		t.GoodputPerS = float64(t.Goodput) / t.ElapsedS
		t.AbandonedPerS = float64(t.Abandoned) / t.ElapsedS
	}
	t.Latency = latencyOf(&r.total)
	return series, t
}
