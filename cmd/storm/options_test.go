package storm

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/csv"
	"io"
	"log"
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
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		k := key(r)
		s.mu.Lock()
		s.by[k]++
		s.inflight++
		s.peak = max(s.peak, s.inflight)
		s.mu.Unlock()
		defer func() { s.mu.Lock(); s.inflight--; s.mu.Unlock() }()
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
			if s.count("/slow") < int(tt.Errors) {
				t.Errorf("server saw %d requests for %d timeouts", s.count("/slow"), tt.Errors)
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
			// 1s of warmup, 1s measured: the server saw about twice
			// what storm counts.
			all, sent := s.count("all"), res.Totals.Sent
			if sent == 0 || float64(all) < 1.5*float64(sent) || res.Config.WarmupS != 1 {
				t.Errorf("server saw %d requests, storm measured %d; want the warmup's not counted", all, sent)
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
			if peak > 4 || peak < 3 || len(res.Series) != 2 || res.Config.Stages != "300ms:4,900ms:4,300ms:0" {
				t.Errorf("server's peak concurrency %d, %d seconds, stages %q; want 3 or 4, 2 seconds", peak, len(res.Series), res.Config.Stages)
			}
		},
	}, {
		name: "https with a CA",
		kind: tlsHTTP1,
		key:  func(r *http.Request) string { return r.Proto },
		config: func(cfg *Config, url string, srv *httptest.Server) {
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
			cfg.URL = url
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
			cfg.URL = url + "/slow?ms=5000"
			cfg.TLS = roots(srv)
			cfg.HTTP2 = true
			cfg.Patience = Fixed(100 * time.Millisecond)
		},
		check: func(t *testing.T, res *Result, s *seen) {
			tt := res.Totals
			s.mu.Lock()
			gone := s.gone
			s.mu.Unlock()
			if tt.Abandoned == 0 || tt.Errors != 0 || gone == 0 {
				t.Errorf("abandoned %d errors %+v, server saw %d clients leave", tt.Abandoned, tt.ErrorsByKind, gone)
			}
		},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv, s := countingServer(t, tc.kind, tc.key)
			cfg := Config{Users: 3, Patience: Fixed(5 * time.Second), Duration: time.Second}
			tc.config(&cfg, srv.URL, srv)
			res := run(t, cfg)
			// Let the server's handlers for the last requests see their
			// clients leave before the counts are read.
			srv.Config.SetKeepAlivesEnabled(false)
			waitIdle(s)
			tc.check(t, res, s)
		})
	}
}

// waitIdle waits until the server has no request in flight.
func waitIdle(s *seen) {
	for range 500 {
		s.mu.Lock()
		n := s.inflight
		s.mu.Unlock()
		if n == 0 {
			return
		}
		time.Sleep(10 * time.Millisecond)
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
// server; the seed drawn when none is given is reported.
func TestSeed(t *testing.T) {
	t.Parallel()
	count := func(seed uint64) (int, uint64) {
		srv, s := countingServer(t, plainHTTP, func(*http.Request) string { return "all" })
		res := run(t, Config{URL: srv.URL, Rate: 40, Users: 100, Patience: Fixed(time.Second), Duration: time.Second, Seed: seed})
		waitIdle(s)
		return s.count("all"), res.Config.Seed
	}
	a, _ := count(42)
	b, _ := count(42)
	// Only an arrival at the very end can fall either side of it.
	if a-b > 1 || b-a > 1 {
		t.Errorf("seed 42: the server saw %d then %d arrivals, want the same", a, b)
	}
	if _, seed := count(0); seed == 0 {
		t.Error("no seed given: the result reports seed 0, not the one drawn")
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
	// Every abandoned request left 20ms of work after its client had gone.
	if want := 0.020 * float64(res.Totals.Abandoned); w.AfterGone < want*0.5 || w.AfterGone > want*3 || w.Handler <= w.AfterGone {
		t.Errorf("after gone %.3fs, handler %.3fs, for %d abandoned requests; want about %.3fs", w.AfterGone, w.Handler, res.Totals.Abandoned, want)
	}
	if th := res.Thresholds[0]; th.Value == nil || !th.OK {
		t.Errorf("threshold %+v: wasted is after gone over handler time, well under half", th)
	}
}

// TestRunContext: a run interrupted in its warmup returns an empty result.
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
