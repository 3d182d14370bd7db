package storm

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// The metrics a scrape looks for. demo_work_seconds_total is exported by
// "hangup demo": seconds of handler work, by how the work ended —
// completed (the client got the result), cancelled (stopped early because
// the client left) or wasted (finished for a client that had already left).
// hangup_work_after_gone_seconds is promhangup's histogram of how long
// handlers ran on after their client left, so any server that uses
// promhangup says how much of its work ran for nobody; its _sum is those
// seconds. hangup_request_duration_seconds is promhangup's histogram of
// handler time, by outcome: its _sum is the server's busy time, against
// which work after gone is a share. hangup_requests_in_flight is the number
// of requests a hangup-guarded server is working on.
const (
	metricWork      = "demo_work_seconds_total"
	metricAfterGone = "hangup_work_after_gone_seconds"
	metricHandler   = "hangup_request_duration_seconds"
	metricInflight  = "hangup_requests_in_flight"
)

// Sample is one line of the Prometheus text exposition format.
type Sample struct {
	Name   string
	Labels map[string]string
	Value  float64
}

// ParseMetrics parses the Prometheus text exposition format (version
// 0.0.4): comments and blank lines are skipped, every other line is
// name{label="value",...} value [timestamp]. A line it cannot parse is an
// error naming the line, since a scrape that silently drops samples would
// report too little work.
func ParseMetrics(r io.Reader) ([]Sample, error) {
	var out []Sample
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 4*1024*1024)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		s, err := parseSample(line)
		if err != nil {
			return out, fmt.Errorf("metrics line %d %q: %w", n, line, err)
		}
		out = append(out, s)
	}
	return out, sc.Err()
}

func parseSample(line string) (Sample, error) {
	var s Sample
	i := strings.IndexAny(line, "{ \t")
	if i < 0 {
		return s, fmt.Errorf("no value")
	}
	s.Name = line[:i]
	rest := line[i:]
	if rest[0] == '{' {
		labels, n, err := parseLabels(rest)
		if err != nil {
			return s, err
		}
		s.Labels = labels
		rest = rest[n:]
	}
	fields := strings.Fields(rest)
	if len(fields) < 1 || len(fields) > 2 {
		return s, fmt.Errorf("want a value and an optional timestamp")
	}
	v, err := parseValue(fields[0])
	if err != nil {
		return s, err
	}
	s.Value = v
	return s, nil
}

// parseLabels parses {k="v",...} at the start of s and returns the labels
// and the number of bytes consumed.
func parseLabels(s string) (map[string]string, int, error) {
	labels := map[string]string{}
	i := 1 // past '{'
	for {
		for i < len(s) && (s[i] == ' ' || s[i] == ',') {
			i++
		}
		if i >= len(s) {
			return nil, 0, fmt.Errorf("unterminated labels")
		}
		if s[i] == '}' {
			return labels, i + 1, nil
		}
		eq := strings.IndexByte(s[i:], '=')
		if eq < 0 {
			return nil, 0, fmt.Errorf("label without '='")
		}
		name := strings.TrimSpace(s[i : i+eq])
		i += eq + 1
		if i >= len(s) || s[i] != '"' {
			return nil, 0, fmt.Errorf("label %s: value not quoted", name)
		}
		i++
		var b strings.Builder
		for {
			if i >= len(s) {
				return nil, 0, fmt.Errorf("label %s: unterminated value", name)
			}
			c := s[i]
			if c == '"' {
				i++
				break
			}
			if c == '\\' && i+1 < len(s) {
				i++
				switch s[i] {
				case 'n':
					b.WriteByte('\n')
				default: // \\ and \"
					b.WriteByte(s[i])
				}
				i++
				continue
			}
			b.WriteByte(c)
			i++
		}
		labels[name] = b.String()
	}
}

func parseValue(f string) (float64, error) {
	switch f {
	case "+Inf", "Inf":
		return math.Inf(1), nil
	case "-Inf":
		return math.Inf(-1), nil
	case "NaN":
		return math.NaN(), nil
	}
	v, err := strconv.ParseFloat(f, 64)
	if err != nil {
		return 0, fmt.Errorf("value %q is not a number", f)
	}
	return v, nil
}

// Work is seconds of server work, by outcome: from demo_work_seconds_total
// summed over its "work" label, and from promhangup's histograms summed
// over their labels. A field the server does not export is 0.
type Work struct {
	// Useful is work whose result reached a client still waiting
	// (outcome="completed").
	Useful float64 `json:"useful_s"`
	// Cancelled is work stopped early because its client had left
	// (outcome="cancelled"): the time spent before the server noticed.
	Cancelled float64 `json:"cancelled_s"`
	// Wasted is work that ran to the end for a client that had already
	// left (outcome="wasted").
	Wasted float64 `json:"wasted_s"`
	// AfterGone is handler time after the client left
	// (hangup_work_after_gone_seconds_sum): with cancellation, the time
	// the server took to notice and stop.
	AfterGone float64 `json:"after_gone_s"`
	// Handler is all handler time (hangup_request_duration_seconds_sum).
	Handler float64 `json:"handler_s"`
}

func (w Work) sub(o Work) Work {
	return Work{Useful: w.Useful - o.Useful, Cancelled: w.Cancelled - o.Cancelled, Wasted: w.Wasted - o.Wasted,
		AfterGone: w.AfterGone - o.AfterGone, Handler: w.Handler - o.Handler}
}

// WastedShare returns the share of the server's work done for clients
// already gone: Wasted over Useful+Cancelled+Wasted when the server exports
// demo_work_seconds_total, else AfterGone over Handler; false when neither
// says, or the server did no work.
func (w Work) WastedShare() (float64, bool) {
	if all := w.Useful + w.Cancelled + w.Wasted; all > 0 {
		return w.Wasted / all, true
	}
	if w.Handler > 0 {
		return w.AfterGone / w.Handler, true
	}
	return 0, false
}

// Scrape is what one scrape of a metrics endpoint found.
type Scrape struct {
	Work         Work
	HasWork      bool // demo_work_seconds_total was exported
	HasAfterGone bool // hangup_work_after_gone_seconds was exported
	Inflight     float64
	HasInflight  bool // hangup_requests_in_flight was exported
}

func (s *Scrape) hasWork() bool { return s.HasWork || s.HasAfterGone }

// Extract sums the samples storm reads from a scrape.
func Extract(samples []Sample) Scrape {
	var s Scrape
	for _, x := range samples {
		switch x.Name {
		case metricWork:
			s.HasWork = true
			switch x.Labels["outcome"] {
			case "completed":
				s.Work.Useful += x.Value
			case "cancelled":
				s.Work.Cancelled += x.Value
			case "wasted":
				s.Work.Wasted += x.Value
			}
		case metricAfterGone + "_sum":
			s.HasAfterGone = true
			s.Work.AfterGone += x.Value
		case metricHandler + "_sum":
			s.Work.Handler += x.Value
		case metricInflight:
			s.HasInflight = true
			s.Inflight += x.Value
		}
	}
	return s
}

// scraper fetches a metrics URL with a client of its own, so that its
// connection is not one of the users' and is never aborted.
type scraper struct {
	url    string
	client *http.Client
}

func newScraper(url string, timeout time.Duration) *scraper {
	return &scraper{url: url, client: &http.Client{
		Timeout:   timeout,
		Transport: &http.Transport{MaxIdleConns: 1, DisableCompression: true},
	}}
}

func (s *scraper) scrape(ctx context.Context) (Scrape, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.url, nil)
	if err != nil {
		return Scrape{}, err
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return Scrape{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		io.Copy(io.Discard, resp.Body)
		return Scrape{}, fmt.Errorf("GET %s: %s", s.url, resp.Status)
	}
	samples, err := ParseMetrics(resp.Body)
	if err != nil {
		return Scrape{}, err
	}
	return Extract(samples), nil
}

func (s *scraper) close() { s.client.CloseIdleConnections() }
