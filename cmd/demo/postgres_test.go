package demo_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hangup-dev/hangup/cmd/demo"
	"github.com/hangup-dev/hangup/cmd/internal/pgtest"
	"github.com/jackc/pgx/v5"
)

// pgGoneWithin bounds how long PostgreSQL may keep running the query of a
// client that left. The issue asks for "within 1 s"; the bound is generous
// because CI is a loaded two-core machine, and the time measured is logged.
const pgGoneWithin = 10 * time.Second

// runningDemoQueries counts the backends running the demo's query.
func runningDemoQueries(t *testing.T, c *pgx.Conn) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLong)
	defer cancel()
	var n int
	err := c.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
		WHERE state = 'active' AND query = $1 AND pid <> pg_backend_pid()`, demo.PostgresQuery).Scan(&n)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// waitRunning waits until PostgreSQL runs the demo's query.
func waitRunning(t *testing.T, watch *pgx.Conn) {
	t.Helper()
	deadline := time.Now().Add(waitLong)
	for runningDemoQueries(t, watch) != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("PostgreSQL does not run the demo's query (%d backends run it)", runningDemoQueries(t, watch))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestPostgres runs the demo's PostgreSQL work against a real server,
// started for the test: with hangup the query is cancelled in PostgreSQL
// itself when the client leaves; with --ignore-disconnect it is not, and
// runs to its end for nobody.
func TestPostgres(t *testing.T) {
	t.Parallel()
	pg := pgtest.Start(t)
	watch := pg.Connect(t)

	// The subtests share the server and count its backends: they run one
	// after the other.
	t.Run("cancelled server-side", func(t *testing.T) {
		d := startDemo(t, demo.Config{PostgresURL: pg.URL, PostgresPool: 1})
		c := d.get("/slow?seconds=120&work=postgres")
		id := d.waitStart(c.LocalAddr())
		// A second in, pg_sleep runs: the client leaves mid-statement
		// (rather than between pgx's prepare and execute).
		d.waitKind(id, "progress")
		waitRunning(t, watch)

		hungUp := time.Now()
		c.Close()
		for runningDemoQueries(t, watch) != 0 {
			if time.Since(hungUp) > pgGoneWithin {
				t.Fatalf("PostgreSQL still runs the query %v after the client left", pgGoneWithin)
			}
			time.Sleep(5 * time.Millisecond)
		}
		gone := time.Since(hungUp)
		t.Logf("the query was gone from pg_stat_activity %v after the client hung up (the issue asks for < 1 s)",
			gone.Round(100*time.Microsecond))

		end := d.waitKind(id, "end")
		expectGoneEnd(t, end, demo.OutcomeCancelled, "handler")
		if !strings.Contains(end.Err, "canceling statement due to user request") {
			t.Errorf("work error %q, want PostgreSQL's cancellation", end.Err)
		}
		rep := d.waitReport("/slow")
		t.Logf("hangup saw the client gone (%s, %s); the handler returned %v after", rep.Phase, rep.Reason, rep.StoppedAfter)
		if got := d.metric(workSeries("demo_work_total", "postgres", demo.OutcomeCancelled)); got != 1 {
			t.Errorf("demo_work_total cancelled postgres = %v, want 1", got)
		}

		// The pool's only connection is fine for the next request.
		resp, err := http.Get(d.url + "/slow?seconds=0.1&work=postgres")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("next request: %s %q", resp.Status, b)
		}
	})

	t.Run("ignore-disconnect: not cancelled", func(t *testing.T) {
		d := startDemo(t, demo.Config{PostgresURL: pg.URL, PostgresPool: 1, IgnoreDisconnect: true})
		const seconds = 4
		c := d.get("/slow?seconds=4&work=postgres")
		id := d.waitStart(c.LocalAddr())
		// A second in, pg_sleep runs. Earlier, the backend may be between
		// pgx's prepare and execute: active for the prepare, idle for a
		// moment after, which the checks below would take for a cancel.
		d.waitKind(id, "progress")
		waitRunning(t, watch)

		c.Close()
		// The demo sees the client gone and says the work goes on.
		note := d.waitEvent("the note that the work goes on", func(e demo.Event) bool {
			return e.ID == id && (e.Kind == "note" || e.Kind == "end")
		})
		if note.Kind != "note" || !strings.Contains(note.Detail, "client gone") {
			t.Fatalf("event %+v, want the note that the client is gone and the work goes on", note)
		}
		// And PostgreSQL goes on running the query, for nobody.
		for i := range 5 {
			if n := runningDemoQueries(t, watch); n != 1 {
				t.Fatalf("check %d after the client left: %d backends run the query, want 1: it was cancelled", i, n)
			}
			time.Sleep(100 * time.Millisecond)
		}

		end := d.waitKind(id, "end")
		expectGoneEnd(t, end, demo.OutcomeWasted, "handler")
		rep := d.waitReport("/slow")
		t.Logf("the query ran on %v after the client left, to its end: %s", rep.StoppedAfter, end.Detail)
		if end.ElapsedMs < seconds*1000*0.9 {
			t.Errorf("the work took %v ms, want about %d s: it should have run to its end", end.ElapsedMs, seconds)
		}
		if n := runningDemoQueries(t, watch); n != 0 {
			t.Errorf("%d backends still run the query after it ended", n)
		}
		if got := d.metric(workSeries("demo_work_total", "postgres", demo.OutcomeWasted)); got != 1 {
			t.Errorf("demo_work_total wasted postgres = %v, want 1", got)
		}
		if got := d.metric(workSeries("demo_work_total", "postgres", demo.OutcomeCancelled)); got != 0 {
			t.Errorf("demo_work_total cancelled postgres = %v, want 0", got)
		}
	})
}

// TestPostgresBadURL: a malformed URL or an unreachable server is a clear
// error from New, not a panic or a hang: at once when the port refuses,
// after PostgresConnectTimeout when a server accepts but never answers.
func TestPostgresBadURL(t *testing.T) {
	t.Parallel()
	ln := listen(t)
	refused := ln.Addr().String()
	ln.Close()
	// A "server" that accepts connections and never says a word.
	silent := listen(t)
	var conns []net.Conn
	accepted := make(chan struct{})
	go func() {
		defer close(accepted)
		for {
			c, err := silent.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
		}
	}()
	defer func() {
		silent.Close()
		<-accepted
		for _, c := range conns {
			c.Close()
		}
	}()
	for _, tc := range []struct{ url, want string }{
		{"postgres://%zz", "postgres: bad URL: cannot parse"},
		{"notaurl", "not a PostgreSQL URL"},
		{"postgres://u:secret@" + refused + "/x", "postgres: cannot connect to " + refused},
		{"postgres://u:secret@" + silent.Addr().String() + "/x", "(connect timeout 5s)"},
	} {
		start := time.Now()
		s, err := demo.New(context.Background(), demo.Config{PostgresURL: tc.url, Logger: testLogger(t), SQLiteRate: 1e6})
		took := time.Since(start)
		if err == nil {
			s.Close()
			t.Errorf("%s: New succeeded", tc.url)
			continue
		}
		t.Logf("%s: %v (after %v)", tc.url, err, took.Round(time.Millisecond))
		if !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "secret") {
			t.Errorf("%s: error %q, want it to say %q (and not show the password)", tc.url, err, tc.want)
		}
		// Bounded by the connect timeout (and a second for the whole
		// check), with slack for a loaded machine: not a hang.
		if took > demo.PostgresConnectTimeout+15*time.Second {
			t.Errorf("%s: New took %v to give up", tc.url, took)
		}
		// A well-formed URL passes the check; it is the server that fails.
		wellFormed := strings.Contains(err.Error(), "cannot connect")
		if cerr := demo.CheckPostgresURL(tc.url); (cerr == nil) != wellFormed {
			t.Errorf("CheckPostgresURL(%s) = %v", tc.url, cerr)
		}
	}
}
