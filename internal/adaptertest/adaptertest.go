// Package adaptertest is the shared test suite of hangup's framework
// adapters: echohangup, ginhangup, chihangup, fasthttphangup and
// fiberhangup.
//
// An adapter's tests describe, in a Server, how to serve one handler through
// the framework's own router, and call Run. Run drives that server with raw
// TCP clients on loopback:
//
//   - ClientLeaves: a client leaves with a FIN or an RST while its handler
//     runs, after a GET and after a POST whose body the handler never reads;
//     the handler's context must be cancelled with a *hangup.GoneError.
//   - PlainDoesNotCancel: the baseline, the same without the adapter: the
//     bare framework must not cancel the handler, or the other tests prove
//     nothing.
//   - KeepAlive: two requests on one connection raise no alarm.
//   - MustFinish: a MustFinish handler outlives its client.
//
// The framework-specific tests (access logs, routes, the frameworks' own
// loggers) are built from the same pieces: Dial and Conn, Recorder, Abandon,
// WantGone, Logs and Want499, Eventually. The benchmarks use BenchHello,
// BenchInProcess and Compare.
//
// No test asserts a duration: every wait for something that must happen is
// bounded by WaitLong, generous because CI is a loaded two-core machine, and
// only the baseline tests watch for a while (Quiet) for something that must
// not happen.
package adaptertest

import (
	"testing"
	"time"

	"github.com/hangup-dev/hangup"
)

// WaitLong bounds every wait for something that must happen.
const WaitLong = 10 * time.Second

// Quiet is how long a baseline test watches a context that must stay alive.
const Quiet = 300 * time.Millisecond

// Path is the route that the suite's requests go to.
const Path = "/work"

// The suite's requests, all to Path.
var (
	// GET is a complete GET request.
	GET = Get(Path)
	// PostCutShort promises 1000 bytes of body and sends 5: an upload cut
	// short. net/http calls the handler with the rest of the body unread.
	PostCutShort = Post(Path, 1000, "hello")
	// PostWhole sends its whole body, which fasthttp reads before it calls
	// the handler; the handler itself reads none of it.
	PostWhole = Post(Path, 5, "hello")
)

// Mode says how a Server's Start serves the suite's handler.
type Mode int

const (
	// Plain is the bare framework, without the adapter: the baseline.
	Plain Mode = iota
	// Installed is the framework with the adapter installed.
	Installed
	// MustFinish is Installed, with the handler behind the adapter's
	// MustFinish(WaitLong).
	MustFinish
)

// Guard is what the suite reads of an adapter's Guard: both *hangup.Guard
// and *fasthttphangup.Guard are one.
type Guard interface {
	Stats() hangup.Stats
}

// Server is how the suite serves through one framework.
type Server struct {
	// Name names the framework in failure messages, as in "plain Echo".
	Name string

	// Start serves, through the framework's own router, a handler for every
	// method on Path (see Recorder for what it must do) until the test ends,
	// with the adapter set up as mode says. It returns the server's address
	// and, unless mode is Plain, the adapter's Guard.
	Start func(t testing.TB, rec *Recorder, mode Mode) (addr string, g Guard)

	// NetHTTP says that the framework runs on net/http. Two things follow.
	// net/http calls a handler before it reads the request's body, so the
	// suite's POST is PostCutShort (else PostWhole). And net/http cancels a
	// request's context itself when a client without a pending body leaves,
	// so the baseline covers only the POST (golang/go#23262).
	NetHTTP bool

	// Status says that the adapter reports, in Outcome.Status, the status
	// that it logs: the suite then wants 499 from a client that left.
	Status bool
}

// post is the suite's POST request for s.
func (s Server) post() string {
	if s.NetHTTP {
		return PostCutShort
	}
	return PostWhole
}

// Run runs the whole suite on s, each part as a subtest.
func Run(t *testing.T, s Server) {
	t.Run("ClientLeaves", func(t *testing.T) { ClientLeaves(t, s) })
	t.Run("PlainDoesNotCancel", func(t *testing.T) { PlainDoesNotCancel(t, s) })
	t.Run("KeepAlive", func(t *testing.T) { KeepAlive(t, s) })
	t.Run("MustFinish", func(t *testing.T) { MustFinishOutlivesClient(t, s) })
}

// ClientLeaves checks that a handler's context is cancelled, with a
// *hangup.GoneError of the right reason, when its client leaves with a FIN
// or an RST after a GET or a POST whose body the handler does not read; and
// that the Guard counts the request as gone in PhaseHandler.
func ClientLeaves(t *testing.T, s Server) {
	for _, tc := range []struct {
		name   string
		req    string
		exit   Exit
		reason hangup.Reason
	}{
		{"GET FIN", GET, FIN, hangup.ReasonClosed},
		{"GET RST", GET, RST, hangup.ReasonReset},
		{"POST body unread FIN", s.post(), FIN, hangup.ReasonClosed},
		{"POST body unread RST", s.post(), RST, hangup.ReasonReset},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := NewRecorder(WaitLong)
			addr, g := s.Start(t, rec, Installed)
			o := Abandon(t, addr, tc.req, tc.exit, rec)
			WantGone(t, o, tc.reason)
			if s.Status && o.Status != hangup.StatusClientClosedRequest {
				t.Errorf("Status = %d, want %d", o.Status, hangup.StatusClientClosedRequest)
			}
			Eventually(t, "request finished", func() bool { return g.Stats().InFlight == 0 })
			if st := g.Stats(); st.Requests != 1 || st.GoneIn(hangup.PhaseHandler) != 1 || st.GoneTotal() != 1 {
				t.Errorf("stats %+v, want 1 request, gone in phase handler", st)
			}
		})
	}
}

// PlainDoesNotCancel is the baseline: without the adapter, nothing tells
// the handler within Quiet that its client left (only a POST on net/http:
// see Server.NetHTTP).
func PlainDoesNotCancel(t *testing.T, s Server) {
	type request struct{ name, req string }
	var cases []request
	if !s.NetHTTP {
		cases = append(cases, request{"GET", GET})
	}
	cases = append(cases, request{"POST body unread", s.post()})
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec := NewRecorder(Quiet)
			addr, _ := s.Start(t, rec, Plain)
			if o := Abandon(t, addr, tc.req, FIN, rec); o.Cancelled || o.Departed || o.Cause != nil {
				t.Fatalf("plain %s cancelled the handler (%+v); the baseline is wrong", s.Name, o)
			}
		})
	}
}

// KeepAlive serves two requests on one connection, each watched for Quiet:
// neither, nor the idle time between them, may raise an alarm. Then the
// client leaves between requests, which is no departure either.
func KeepAlive(t *testing.T, s Server) {
	rec := NewRecorder(Quiet)
	addr, g := s.Start(t, rec, Installed)
	c := Dial(t, addr)
	for i := range 2 {
		c.Send(GET)
		rec.WaitEntered(t)
		WantAlive(t, rec.Result(t))
		if res := c.ReadResponse(); res.StatusCode != 200 {
			t.Fatalf("request %d: status %d", i+1, res.StatusCode)
		}
	}
	if st := g.Stats(); st.Requests != 2 || st.GoneTotal() != 0 || st.Watched != 1 {
		t.Errorf("stats %+v, want 2 requests on 1 watched connection, none gone", st)
	}
	c.Leave(FIN)
	Eventually(t, "connection closed", func() bool { return g.Stats().Conns == 0 })
	if st := g.Stats(); st.Requests != 2 || st.GoneTotal() != 0 || st.InFlight != 0 {
		t.Errorf("stats %+v, want 2 requests, none gone", st)
	}
}

// MustFinishOutlivesClient checks a handler behind MustFinish: when its
// client leaves, Gone closes but its context stays alive, the Guard counts
// it as detached until it returns, and Departed reports the departure.
func MustFinishOutlivesClient(t *testing.T, s Server) {
	rec := NewRecorder(WaitLong)
	rec.hold = make(chan struct{})
	addr, g := s.Start(t, rec, MustFinish)
	t.Cleanup(rec.Release) // before the server's shutdown, should the test fail
	c := Dial(t, addr)
	c.Send(s.post())
	rec.WaitEntered(t)
	c.Leave(FIN)
	Eventually(t, "work detached", func() bool { return g.Stats().Detached == 1 })
	rec.Release()
	if o := rec.Result(t); !o.Gone || o.Cancelled || !o.Departed {
		t.Errorf("must-finish handler saw %+v; want Gone closed, context alive, Departed", o)
	}
	Eventually(t, "request finished", func() bool { return g.Stats().InFlight == 0 })
	if st := g.Stats(); st.Detached != 0 {
		t.Errorf("detached = %d after the handler returned", st.Detached)
	}
}

// Eventually waits, for at most WaitLong, until cond is true: for what the
// server does after the handler returned, such as updating its counters.
func Eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(WaitLong)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("never: %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// WantPanic fails t unless f panics; what names f in the message.
func WantPanic(t testing.TB, what string, f func()) {
	t.Helper()
	defer func() {
		if recover() == nil {
			t.Errorf("%s did not panic", what)
		}
	}()
	f()
}
