package storm

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/csv"
	"io"
	"log"
	"maps"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// seen is what a counting server saw: requests by a key the case chooses,
// and the most handled at once.
type seen struct {
	mu       sync.Mutex
	idleNow  *sync.Cond // on mu: inflight fell to 0
	by       map[string]int
	inflight int
	peak     int
	gone     int // requests whose client left before the answer
}

func (s *seen) count(key string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.by[key]
}

// final waits until no handler runs and returns a copy of the counts. Call
// it after the server's Close, which for HTTP/2 can return before the
// handlers of a closed connection have.
func (s *seen) final() *seen {
	s.mu.Lock()
	defer s.mu.Unlock()
	for s.inflight > 0 {
		s.idleNow.Wait()
	}
	c := &seen{by: maps.Clone(s.by), peak: s.peak, gone: s.gone}
	c.idleNow = sync.NewCond(&c.mu)
	return c
}

// countingServer answers /status/NNN with status NNN after ?ms=N
// milliseconds (default 5), or stops when the client leaves; it counts
// every request under key(r).
type serverKind int

const (
	plainHTTP serverKind = iota
	tlsHTTP1
	tlsH2
	h2c
)

func countingServer(t *testing.T, kind serverKind, key func(*http.Request) string) (*httptest.Server, *seen) {
	t.Helper()
	s := &seen{by: map[string]int{}}
	s.idleNow = sync.NewCond(&s.mu)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		k := key(r)
		s.mu.Lock()
		s.by[k]++
		s.inflight++
		s.peak = max(s.peak, s.inflight)
		s.mu.Unlock()
		defer func() {
			s.mu.Lock()
			if s.inflight--; s.inflight == 0 {
				s.idleNow.Broadcast()
			}
			s.mu.Unlock()
		}()
		status := http.StatusOK
		if code, ok := strings.CutPrefix(r.URL.Path, "/status/"); ok {
			status, _ = strconv.Atoi(code)
		}
		wait := 5 * time.Millisecond
		if ms, err := strconv.Atoi(r.URL.Query().Get("ms")); err == nil {
			wait = time.Duration(ms) * time.Millisecond
		}
		select {
		case <-time.After(wait):
			w.WriteHeader(status)
			w.Write([]byte("answer\n"))
		case <-r.Context().Done():
			s.mu.Lock()
			s.gone++
			s.mu.Unlock()
		}
	})
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshakes of "https unverified"
	switch kind {
	case plainHTTP:
		srv.Start()
	case tlsHTTP1:
		srv.StartTLS()
	case tlsH2:
		srv.EnableHTTP2 = true
		srv.StartTLS()
	case h2c:
		p := new(http.Protocols)
		p.SetHTTP1(true)
		p.SetUnencryptedHTTP2(true)
		srv.Config.Protocols = p
		srv.Start()
	}
	t.Cleanup(srv.Close)
	return srv, s
}

// tlsRun is the length of the runs over TLS: long enough for handshakes
// on a busy machine under the race detector to end inside them.
const tlsRun = 3 * time.Second

func roots(srv *httptest.Server) *tls.Config {
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	return &tls.Config{RootCAs: pool}
}

// TestOptions runs each option against a server that counts what it
// receives, and checks the storm's figures against the server's.
func TestOptions(t *testing.T) {
	byPath := func(r *http.Request) string { return r.URL.Path }
	for _, tc := range []struct {
		name   string
		kind   serverKind
		key    func(*http.Request) string
		config func(cfg *Config, url string, srv *httptest.Server)
		check  func(t *testing.T, res *Result, s *seen)
	}{{
		name: "method, header and body",
		key: func(r *http.Request) string {
			b, _ := io.ReadAll(r.Body)
			return r.Method + " " + r.Header.Get("X-Test") + " " + string(b) + " " + r.Header.Get("User-Agent")
		},
		config: func(cfg *Config, url string, _ *httptest.Server) {
			cfg.Targets = []Target{{Method: "POST", URL: url + "/echo", Header: http.Header{"X-Test": {"yes"}, "User-Agent": {"mine"}}, Body: []byte("hello")}}
		},
		check: func(t *testing.T, res *Result, s *seen) {
			got := s.count("POST yes hello mine")
			if tt := res.Totals; got == 0 || int64(got) < tt.Goodput || int64(got) > tt.Sent {
				t.Errorf("server saw %d POSTs with the header and body (all: %v), storm sent %d, goodput %d", got, s.by, tt.Sent, tt.Goodput)
			}
			if res.Config.Method != "POST" {
				t.Errorf("config.method %q", res.Config.Method)
			}
		},
	}, {
		name: "targets in turn",
		key:  byPath,
		config: func(cfg *Config, url string, _ *httptest.Server) {
			cfg.Targets = []Target{{URL: url + "/a"}, {URL: url + "/b"}, {Method: "HEAD", URL: url + "/c"}}
		},
		check: func(t *testing.T, res *Result, s *seen) {
			a, b, c := s.count("/a"), s.count("/b"), s.count("/c")
			// Round robin over all users: the counts differ by at most
			// the requests in flight at the end.
			if min(a, b, c) == 0 || max(a, b, c)-min(a, b, c) > 2*res.Config.Users {
				t.Errorf("server saw /a %d /b %d /c %d, want about equal", a, b, c)
			}
			if res.Totals.Errors != 0 || res.Config.Targets != 3 {
				t.Errorf("errors %+v, targets %d; a HEAD's response has no body", res.Totals.ErrorsByKind, res.Config.Targets)
			}
		},
	}, {
		name: "status mix",
		key:  byPath,
		config: func(cfg *Config, url string, _ *httptest.Server) {
			cfg.Targets = []Target{{URL: url + "/status/200"}, {URL: url + "/status/404"}, {URL: url + "/status/503"}, {URL: url + "/status/302"}}
		},
		check: func(t *testing.T, res *Result, s *seen) {
			tt := res.Totals
			for _, c := range []struct {
				code   string
				client int64
			}{{"200", tt.Status.S2xx}, {"404", tt.ErrorsByKind.Status4xx}, {"503", tt.ErrorsByKind.Status5xx}, {"302", tt.Status.S3xx}} {
				server := int64(s.count("/status/" + c.code))
				// The server counts a request when it starts; those
				// still running at the end are unfinished for storm.
				if c.client == 0 || c.client > server || c.client < server-tt.Unfinished || tt.StatusCodes[c.code] != c.client {
					t.Errorf("status %s: storm counted %d (codes %v), the server answered %d, unfinished %d", c.code, c.client, tt.StatusCodes, server, tt.Unfinished)
				}
			}
			if tt.Goodput != tt.Status.S2xx+tt.Status.S3xx {
				t.Errorf("goodput %d, want the 2xx and 3xx: %+v", tt.Goodput, tt.Status)
			}
		},
	}, {
		name: "request timeout",
		key:  byPath,
		config: func(cfg *Config, url string, _ *httptest.Server) {
			cfg.URL = url + "/slow?ms=2000"
			cfg.Timeout = 100 * time.Millisecond
		},
		check: func(t *testing.T, res *Result, s *seen) {
			tt := res.Totals
			if tt.Errors == 0 || tt.ErrorsByKind.Timeout != tt.Errors || tt.Abandoned != 0 || tt.Goodput != 0 {
				t.Errorf("errors %+v, abandoned %d, goodput %d; want only timeouts", tt.ErrorsByKind, tt.Abandoned, tt.Goodput)
			}
			if n := s.count("/slow"); n == 0 || n > int(tt.Sent) || int64(s.gone) != int64(n) {
				t.Errorf("server saw %d requests, %d of them left, for %d sent", n, s.gone, tt.Sent)
			}
		},
	}, {
		name: "patience inf",
		key:  byPath,
		config: func(cfg *Config, url string, _ *httptest.Server) {
			cfg.URL = url + "/p?ms=300"
			cfg.Patience = Fixed(Forever)
		},
		check: func(t *testing.T, res *Result, s *seen) {
			tt := res.Totals
			// Only the end of the run cuts requests short.
			if tt.Abandoned != 0 || tt.Goodput == 0 || int64(s.gone) > tt.Unfinished || res.Config.Patience != "inf" {
				t.Errorf("abandoned %d goodput %d, server saw %d clients leave (unfinished %d), patience %q; want none abandoned", tt.Abandoned, tt.Goodput, s.gone, tt.Unfinished, res.Config.Patience)
			}
		},
	}, {
		name: "warmup not measured",
		key:  func(*http.Request) string { return "all" },
		config: func(cfg *Config, url string, _ *httptest.Server) {
			cfg.URL = url + "/w?ms=20"
			cfg.Warmup = time.Second
		},
		check: func(t *testing.T, res *Result, s *seen) {
			// Every user made at least one request in the warmup.
			all, sent := s.count("all"), res.Totals.Sent
			if sent == 0 || int64(all) < sent+int64(res.Config.Users) || res.Config.WarmupS != 1 || len(res.Series) != 1 {
				t.Errorf("server saw %d requests, storm measured %d in %d seconds; want the warmup's not counted", all, sent, len(res.Series))
			}
		},
	}, {
		name: "stages",
		key:  byPath,
		config: func(cfg *Config, url string, _ *httptest.Server) {
			cfg.URL = url + "/s?ms=50"
			cfg.Stages = Stages{{300 * time.Millisecond, 4}, {900 * time.Millisecond, 4}, {300 * time.Millisecond, 0}}
			cfg.Users, cfg.Duration = 0, 0
		},
		check: func(t *testing.T, res *Result, s *seen) {
			s.mu.Lock()
			peak := s.peak
			s.mu.Unlock()
			if peak > 4 || peak < 2 || len(res.Series) != 2 || res.Config.Stages != "300ms:4,900ms:4,300ms:0" {
				t.Errorf("server's peak concurrency %d, %d seconds, stages %q; want at most 4 (and more than 1), 2 seconds", peak, len(res.Series), res.Config.Stages)
			}
		},
	}, {
		name: "https with a CA",
		kind: tlsHTTP1,
		key:  func(r *http.Request) string { return r.Proto },
		config: func(cfg *Config, url string, srv *httptest.Server) {
			cfg.Duration = tlsRun
			cfg.URL = url
			cfg.TLS = roots(srv)
		},
		check: func(t *testing.T, res *Result, s *seen) {
			if res.Totals.Goodput == 0 || res.Totals.Errors != 0 || s.count("HTTP/1.1") == 0 {
				t.Errorf("goodput %d errors %+v, server saw %v", res.Totals.Goodput, res.Totals.ErrorsByKind, s.by)
			}
		},
	}, {
		name: "https unverified",
		kind: tlsHTTP1,
		key:  func(r *http.Request) string { return r.Proto },
		config: func(cfg *Config, url string, _ *httptest.Server) {
			cfg.Duration = tlsRun
			cfg.URL = url
			// Load the system roots now: parsing them takes seconds
			// under the race detector, longer than a short run.
			x509.SystemCertPool()
		},
		check: func(t *testing.T, res *Result, s *seen) {
			tt := res.Totals
			if tt.Goodput != 0 || tt.Errors == 0 || tt.ErrorsByKind.Connect != tt.Errors || len(s.by) != 0 {
				t.Errorf("without the CA: goodput %d errors %+v, server saw %v; want only connect errors", tt.Goodput, tt.ErrorsByKind, s.by)
			}
		},
	}, {
		name: "https insecure",
		kind: tlsHTTP1,
		key:  func(r *http.Request) string { return r.Proto },
		config: func(cfg *Config, url string, _ *httptest.Server) {
			cfg.Duration = tlsRun
			cfg.URL = url
			cfg.TLS = &tls.Config{InsecureSkipVerify: true}
		},
		check: func(t *testing.T, res *Result, s *seen) {
			if res.Totals.Goodput == 0 || res.Totals.Errors != 0 {
				t.Errorf("goodput %d errors %+v", res.Totals.Goodput, res.Totals.ErrorsByKind)
			}
		},
	}, {
		name: "http2 over TLS",
		kind: tlsH2,
		key:  func(r *http.Request) string { return r.Proto + " " + r.Method },
		config: func(cfg *Config, url string, srv *httptest.Server) {
			cfg.Duration = tlsRun
			cfg.Targets = []Target{{Method: "PUT", URL: url + "/h2", Body: []byte("x")}}
			cfg.TLS = roots(srv)
			cfg.HTTP2 = true
		},
		check: func(t *testing.T, res *Result, s *seen) {
			got := s.count("HTTP/2.0 PUT")
			if got == 0 || int64(got) < res.Totals.Goodput || len(s.by) != 1 || res.Totals.Errors != 0 {
				t.Errorf("server saw %v, goodput %d errors %+v; want only HTTP/2", s.by, res.Totals.Goodput, res.Totals.ErrorsByKind)
			}
		},
	}, {
		name: "h2c",
		kind: h2c,
		key:  func(r *http.Request) string { return r.Proto },
		config: func(cfg *Config, url string, _ *httptest.Server) {
			cfg.URL = url
			cfg.HTTP2 = true
		},
		check: func(t *testing.T, res *Result, s *seen) {
			if s.count("HTTP/2.0") == 0 || len(s.by) != 1 || res.Totals.Errors != 0 {
				t.Errorf("server saw %v, errors %+v; want only HTTP/2", s.by, res.Totals.ErrorsByKind)
			}
		},
	}, {
		name: "http2 abandoned",
		kind: tlsH2,
		key:  byPath,
		config: func(cfg *Config, url string, srv *httptest.Server) {
			cfg.Duration = tlsRun
			cfg.URL = url + "/slow?ms=60000"
			cfg.TLS = roots(srv)
			cfg.HTTP2 = true
			cfg.Patience = Fixed(300 * time.Millisecond)
		},
		check: func(t *testing.T, res *Result, s *seen) {
			// Nothing is answered: every request the server saw ended
			// with its client gone, abandoned or cut by the end.
			tt := res.Totals
			s.mu.Lock()
			gone, all := s.gone, s.by["/slow"]
			s.mu.Unlock()
			if tt.Abandoned == 0 || tt.Errors != 0 || gone != all || int64(all) > tt.Sent {
				t.Errorf("abandoned %d errors %+v of %d sent; the server saw %d requests, %d clients leave", tt.Abandoned, tt.ErrorsByKind, tt.Sent, all, gone)
			}
		},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv, s := countingServer(t, tc.kind, tc.key)
			cfg := Config{Users: 3, Patience: Fixed(5 * time.Second), Duration: time.Second}
			tc.config(&cfg, srv.URL, srv)
			res := run(t, cfg)
			// Close waits for the handlers of the last requests, which
			// may still be on their way, so that the counts are final.
			srv.Close()
			tc.check(t, res, s.final())
		})
	}
}

// TestExports: the CSV has a line per request measured and the HDR log the
// goodput's latencies, as the totals count them.
func TestExports(t *testing.T) {
	t.Parallel()
	srv, _ := countingServer(t, plainHTTP, func(r *http.Request) string { return r.URL.Path })
	var csvOut, hdrOut bytes.Buffer
	res := run(t, Config{
		Targets: []Target{{URL: srv.URL + "/status/200"}, {URL: srv.URL + "/status/404"}},
		Users:   2, Patience: Fixed(time.Second), Duration: 2 * time.Second, CSV: &csvOut, HDR: &hdrOut,
	})
	rows, err := csv.NewReader(&csvOut).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(rows[0], ",") != strings.Join(csvHeader, ",") {
		t.Errorf("CSV header %q", rows[0])
	}
	outcomes := map[string]int64{}
	for _, r := range rows[1:] {
		outcomes[r[4]]++
	}
	tt := res.Totals
	if int64(len(rows)-1) != tt.Sent || outcomes["goodput"] != tt.Goodput || outcomes["status_4xx"] != tt.ErrorsByKind.Status4xx {
		t.Errorf("CSV: %d requests %v; totals sent %d goodput %d 4xx %d", len(rows)-1, outcomes, tt.Sent, tt.Goodput, tt.ErrorsByKind.Status4xx)
	}
	r := hdrhistogram.NewHistogramLogReader(&hdrOut)
	var n, intervals int64
	for {
		h, err := r.NextIntervalHistogram()
		if err != nil {
			t.Fatal(err)
		}
		if h == nil {
			break
		}
		intervals++
		n += h.TotalCount()
	}
	if n != tt.Goodput || intervals != int64(len(res.Series)) {
		t.Errorf("HDR log: %d values in %d intervals, want goodput %d in %d", n, intervals, tt.Goodput, len(res.Series))
	}
}

// TestSeed: the same seed draws the same open-loop arrivals, counted at the
// server (seed 7 draws 23 arrivals in 1s at 25/s; a machine too busy to
// keep up can only push the last ones past the end, so each run is checked
// against that number, not against the other); the seed drawn when none is
// given is reported.
func TestSeed(t *testing.T) {
	t.Parallel()
	for _, seed := range []uint64{7, 7, 0} {
		srv, s := countingServer(t, plainHTTP, func(*http.Request) string { return "all" })
		res := run(t, Config{URL: srv.URL, Rate: 25, Users: 100, Patience: Fixed(time.Minute), Duration: time.Second, Seed: seed})
		srv.Close()
		s = s.final()
		if seed == 0 {
			if res.Config.Seed == 0 {
				t.Error("no seed given: the result reports seed 0, not the one drawn")
			}
			continue
		}
		tt := res.Totals
		if n := int64(s.count("all")); tt.Sent > 23 || tt.Sent < 23/2 || res.Config.Seed != 7 || n > tt.Sent || n < tt.Sent-tt.Unfinished {
			t.Errorf("seed 7: storm sent %d (%d unfinished), the server saw %d; want the 23 arrivals the seed draws", tt.Sent, tt.Unfinished, n)
		}
	}
}

// TestMetricsAfterGone: a server that exports promhangup's histograms, and
// not the demo's counter, still has its work after gone measured.
func TestMetricsAfterGone(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var afterGone, handler float64
	var gone int
	mux := http.NewServeMux()
	mux.HandleFunc("/work", func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		select {
		case <-time.After(300 * time.Millisecond):
			w.Write([]byte("done\n"))
		case <-r.Context().Done():
			left := time.Now()
			time.Sleep(20 * time.Millisecond) // the work it takes to stop
			mu.Lock()
			afterGone += time.Since(left).Seconds()
			gone++
			mu.Unlock()
		}
		mu.Lock()
		handler += time.Since(start).Seconds()
		mu.Unlock()
	})
	mux.HandleFunc("/metrics", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		io.WriteString(w, "# TYPE hangup_work_after_gone_seconds histogram\n")
		io.WriteString(w, `hangup_work_after_gone_seconds_bucket{route="/work",le="0.1"} `+strconv.Itoa(gone)+"\n")
		io.WriteString(w, `hangup_work_after_gone_seconds_bucket{route="/work",le="+Inf"} `+strconv.Itoa(gone)+"\n")
		io.WriteString(w, `hangup_work_after_gone_seconds_sum{route="/work"} `+strconv.FormatFloat(afterGone, 'g', -1, 64)+"\n")
		io.WriteString(w, `hangup_work_after_gone_seconds_count{route="/work"} `+strconv.Itoa(gone)+"\n")
		io.WriteString(w, "# TYPE hangup_request_duration_seconds histogram\n")
		io.WriteString(w, `hangup_request_duration_seconds_sum{outcome="gone"} `+strconv.FormatFloat(handler, 'g', -1, 64)+"\n")
	})
	srv := startServer(t, mux, nil)
	wasted, _ := ParseThreshold("wasted<=0.5")
	res := run(t, Config{URL: srv.URL + "/work", MetricsURL: srv.URL + "/metrics", Users: 3, Patience: Fixed(50 * time.Millisecond),
		ReloadProb: 1, Duration: time.Second, Settle: 200 * time.Millisecond, Thresholds: []Threshold{wasted}})
	w := res.Totals.Work
	if w == nil || len(res.Warnings) != 0 {
		t.Fatalf("work %v, warnings %q", w, res.Warnings)
	}
	// Each request the server saw leave was worked on 20ms after; the
	// final scrape came after most of that, never after more.
	srv.Close()
	mu.Lock()
	total, n := afterGone, gone
	mu.Unlock()
	if w.AfterGone < 0.020*float64(min(n, 1)) || w.AfterGone > total+1e-9 || w.Handler <= w.AfterGone {
		t.Errorf("after gone %.3fs, handler %.3fs; the server counted %.3fs after gone for %d requests", w.AfterGone, w.Handler, total, n)
	}
	if th := res.Thresholds[0]; th.Value == nil || *th.Value != w.AfterGone/w.Handler || !th.OK {
		t.Errorf("threshold %+v: wasted is after gone over handler time, %.3f", th, w.AfterGone/w.Handler)
	}
}

// TestWarmupInterrupted: a run interrupted in its warmup returns an empty result.
func TestWarmupInterrupted(t *testing.T) {
	t.Parallel()
	srv, _ := countingServer(t, plainHTTP, func(*http.Request) string { return "" })
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	res, err := Run(ctx, Config{URL: srv.URL, Users: 2, Patience: Fixed(time.Second), Warmup: time.Hour, Duration: time.Second})
	if err != nil || res.Totals.Sent != 0 {
		t.Fatalf("err %v, sent %d; want an empty result", err, res.Totals.Sent)
	}
}
