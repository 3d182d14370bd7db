// Package demo is hangup's demo server, the engine of "hangup demo": a page
// whose tests abandon requests in every way a browser can (close the tab,
// abort a fetch, abort an upload), real work behind them that stops the
// moment the client leaves (a query on an embedded SQLite database, a
// PostgreSQL query, a call to an upstream service, a CPU loop), a live log of
// it all on the page and in the terminal, and Prometheus metrics.
//
// Routes:
//
//	GET  /                    the page (embedded, no external assets)
//	GET  /events              the live log, as Server-Sent Events
//	GET  /slow?seconds=N&work=sqlite|postgres|upstream|cpu
//	POST /upload              401 at once without Authorization; else a slow
//	                          check with the body unread, then the body, read
//	                          at UploadRate
//	GET  /metrics             Prometheus metrics (hangup's and the demo's)
//
// The demo's own metrics are a public interface, scraped by hangup storm:
//
//	demo_work_seconds_total{work,outcome}  counter  seconds of work, by kind and outcome
//	demo_work_total{work,outcome}          counter  pieces of work, by kind and outcome
//	demo_work_in_flight                    gauge    pieces of work running
//	demo_work_in_flight_client_gone        gauge    of which for a client that has left
//	demo_work_waiting                      gauge    requests waiting for a free worker
//	demo_work_waiting_client_gone          gauge    of which for a client that has left
//	demo_upload_bytes_total                counter  upload body bytes read
//
// where outcome is completed, cancelled, wasted (ran to its end for a client
// that had left: only with Config.IgnoreDisconnect) or failed.
package demo

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hangup-dev/hangup"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Server is the demo: an *http.Server wired by hangup.Install, its work
// kinds, its live log and its metrics.
type Server struct {
	cfg     Config
	log     *slog.Logger
	srv     *http.Server
	guard   *hangup.Guard
	hub     *Hub
	board   *board // the work under way and the totals of the work done, for Stats
	metrics *metrics

	sqlite   *sqliteWork
	postgres *postgresWork // nil without Config.PostgresURL
	upstream *upstreamWork
	works    map[string]worker
	admit    *hangup.Admission // one slot per worker

	base       context.Context // every connection's context; cancelled past the shutdown grace
	cancelBase context.CancelCauseFunc
	tempDir    string // removed by Close

	nextID   atomic.Uint64
	handlers sync.WaitGroup // demo handlers running

	mu     sync.Mutex
	active map[string]*reqState // by remote address: HTTP/1 runs one request per connection at a time
	closed bool
}

// reqState is the demo's view of one request to /slow or /upload.
type reqState struct {
	id     uint64
	method string
	uri    string
	log    *slog.Logger
	work   string

	// Set by the handler before it returns, for the end event.
	outcome string
	status  int
	err     error
	result  string
}

// New prepares the demo: it opens (creating it on first run) the SQLite
// database and calibrates its work, connects to PostgreSQL if asked, and
// starts the upstream service. Serve it with Serve; release it with Close.
func New(ctx context.Context, cfg Config) (_ *Server, err error) {
	cfg = cfg.withDefaults()
	s := &Server{
		cfg:    cfg,
		log:    cfg.Logger,
		hub:    NewHub(),
		board:  newBoard(),
		admit:  hangup.NewAdmission(cfg.Workers, cfg.Queue, cfg.QueueTimeout),
		active: make(map[string]*reqState),
		works:  map[string]worker{WorkCPU: cpuWork{}},
	}
	s.base, s.cancelBase = context.WithCancelCause(context.Background())
	defer func() {
		if err != nil {
			s.Close()
		}
	}()

	// PostgreSQL first: a bad URL or an unreachable server is told before
	// the SQLite calibration's second.
	if cfg.PostgresURL != "" {
		if s.postgres, err = openPostgres(ctx, cfg.PostgresURL, cfg.PostgresPool); err != nil {
			return nil, err
		}
		s.works[WorkPostgres] = s.postgres
	}
	dir := cfg.DataDir
	if dir == "" {
		if dir, err = os.MkdirTemp("", "hangup-demo-"); err != nil {
			return nil, err
		}
		s.tempDir = dir
	} else if err = os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	if s.sqlite, err = openSQLite(ctx, dir, cfg.Workers+4, cfg.SQLiteRate); err != nil {
		return nil, err
	}
	s.works[WorkSQLite] = s.sqlite
	if s.upstream, err = startUpstream(s.log, s.upstreamCancelled); err != nil {
		return nil, err
	}
	s.works[WorkUpstream] = s.upstream

	mux := http.NewServeMux()
	mux.Handle("GET /", pageHandler())
	mux.HandleFunc("GET /events", s.serveEvents)
	mux.HandleFunc("GET /slow", s.tracked(s.handleSlow))
	mux.HandleFunc("POST /upload", s.tracked(s.handleUpload))
	s.srv = &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		BaseContext:       func(net.Listener) context.Context { return s.base },
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	s.srv.RegisterOnShutdown(s.hub.Close)
	opts := []hangup.Option{hangup.OnAbandon(s.abandoned)}
	if cfg.AccessLog {
		opts = append(opts, hangup.WithAccessLog(s.log))
	}
	s.guard = hangup.Install(s.srv, opts...)
	s.metrics = newMetrics(s.guard, s.board, s.Works())
	// The registry needs the Guard, so /metrics is registered last.
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.metrics.reg, promhttp.HandlerOpts{}))
	return s, nil
}

// Guard is the hangup.Guard installed on the demo's server.
func (s *Server) Guard() *hangup.Guard { return s.guard }

// Events is the hub of the demo's live log.
func (s *Server) Events() *Hub { return s.hub }

// Works lists the work kinds available, sorted.
func (s *Server) Works() []string {
	ks := make([]string, 0, len(s.works))
	for k := range s.works {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// SQLiteRate is how many rows per second the SQLite counting query runs at,
// as calibrated (or given by Config.SQLiteRate).
func (s *Server) SQLiteRate() float64 { return s.sqlite.rate }

// DataDir is the directory of the SQLite database.
func (s *Server) DataDir() string {
	if s.tempDir != "" {
		return s.tempDir
	}
	return s.cfg.DataDir
}

// Serve serves the demo on ln until ctx is done, then shuts down
// gracefully: event streams end, running requests get Config.ShutdownGrace
// to finish, then their work is cancelled. It returns nil after a shutdown.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	errc := make(chan error, 1)
	go func() { errc <- s.srv.Serve(ln) }()
	select {
	case err := <-errc:
		s.handlers.Wait()
		return err
	case <-ctx.Done():
	}
	s.log.Info("shutting down", "grace", s.cfg.ShutdownGrace)
	shut, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownGrace)
	defer cancel()
	if err := s.guard.Shutdown(shut); err != nil {
		s.log.Info("shutdown: grace period over, cancelling the work still running")
		s.cancelBase(errShutdown)
		// Let the handlers answer 503 before the connections close.
		last, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if s.srv.Shutdown(last) != nil {
			s.srv.Close()
		}
	}
	<-errc
	s.handlers.Wait()
	return nil
}

// Close releases what New acquired: databases, upstream service and the
// temporary data directory. Call it after Serve returned.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	s.cancelBase(errShutdown)
	s.hub.Close()
	var errs []error
	if s.upstream != nil {
		errs = append(errs, s.upstream.close())
	}
	if s.postgres != nil {
		s.postgres.close()
	}
	if s.sqlite != nil {
		errs = append(errs, s.sqlite.close())
	}
	if s.tempDir != "" {
		errs = append(errs, os.RemoveAll(s.tempDir))
	}
	return errors.Join(errs...)
}

func (s *Server) info() Info {
	return Info{
		Seconds:          s.cfg.Seconds,
		Works:            s.Works(),
		Workers:          s.cfg.Workers,
		IgnoreDisconnect: s.cfg.IgnoreDisconnect,
		MaxUpload:        s.cfg.MaxUpload,
		UploadRate:       s.cfg.UploadRate,
		AfterGoneBounds:  afterGoneBounds,
	}
}

// publish sends e, about the request rs, to the page.
func (s *Server) publish(rs *reqState, e Event) {
	e.ID = rs.id
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	s.hub.Publish(e)
}

// tracked wraps a demo handler: it numbers the request, logs and publishes
// its start and, unless the client went away (then the OnAbandon hook does,
// with hangup's report), its end.
func (s *Server) tracked(h func(http.ResponseWriter, *http.Request, *reqState)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s.handlers.Add(1)
		defer s.handlers.Done()
		rs := &reqState{
			id:     s.nextID.Add(1),
			method: r.Method,
			uri:    r.URL.RequestURI(),
		}
		rs.log = s.log.With("id", rs.id)
		s.mu.Lock()
		s.active[r.RemoteAddr] = rs
		s.mu.Unlock()
		rs.log.Info("received", "client", r.RemoteAddr, "method", r.Method, "url", rs.uri)
		s.publish(rs, Event{Kind: "start", Method: r.Method, Path: rs.uri, Client: r.RemoteAddr})
		start := time.Now()

		h(w, r, rs)

		if _, gone := hangup.Departed(r.Context()); gone {
			return // abandoned will tell, with hangup's report
		}
		s.mu.Lock()
		if s.active[r.RemoteAddr] == rs {
			delete(s.active, r.RemoteAddr)
		}
		s.mu.Unlock()
		s.publish(rs, rs.endEvent(time.Since(start)))
	}
}

func (rs *reqState) endEvent(elapsed time.Duration) Event {
	e := Event{
		Kind:      "end",
		Work:      rs.work,
		Outcome:   rs.outcome,
		Status:    rs.status,
		Detail:    rs.result,
		ElapsedMs: ms(elapsed),
	}
	if rs.err != nil {
		e.Err = rs.err.Error()
	}
	return e
}

// abandoned is the OnAbandon hook: hangup calls it after the handler of a
// request whose client went away returned, with the time the handler kept
// running after the disconnect.
func (s *Server) abandoned(rep hangup.Report) {
	defer func() {
		if s.cfg.OnAbandon != nil {
			s.cfg.OnAbandon(rep)
		}
	}()
	s.mu.Lock()
	rs := s.active[rep.RemoteAddr]
	if rs != nil {
		delete(s.active, rep.RemoteAddr)
	}
	s.mu.Unlock()
	if rs == nil {
		if rep.Phase != hangup.PhaseBeforeHandler || (rep.Path != "/slow" && rep.Path != "/upload") {
			return // the page itself, an event stream, /metrics: nothing to tell
		}
		rs = &reqState{id: s.nextID.Add(1), method: rep.Method, uri: rep.Path, outcome: OutcomeCancelled}
		rs.log = s.log.With("id", rs.id)
		s.publish(rs, Event{Kind: "start", Method: rep.Method, Path: rep.Path, Client: rep.RemoteAddr, Time: rep.Start})
	}
	s.board.abandon(rep.StoppedAfter)
	if rs.outcome == "" {
		rs.outcome = OutcomeCancelled
	}
	rs.log.Info("client gone: request abandoned",
		"at", rep.At.Format("15:04:05.000"), "phase", rep.Phase, "reason", rep.Reason,
		"outcome", rs.outcome, "stopped_after", rep.StoppedAfter.Round(10*time.Microsecond),
		"elapsed", rep.Elapsed.Round(time.Millisecond))
	e := rs.endEvent(rep.Elapsed)
	e.Gone = true
	e.Phase = rep.Phase.String()
	e.Reason = rep.Reason.String()
	e.StoppedAfterMs = ms(rep.StoppedAfter)
	e.BytesIn = rep.BytesIn
	s.publish(rs, e)
}

// upstreamCancelled is told by the upstream service that a call of request
// id was cancelled on its side.
func (s *Server) upstreamCancelled(id uint64, ran time.Duration, d hangup.Departure) {
	s.hub.Publish(Event{Kind: "note", ID: id, Work: WorkUpstream,
		Detail: fmt.Sprintf("the upstream saw its request cancelled after %.1f s (%s)", ran.Seconds(), d.Reason)})
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
