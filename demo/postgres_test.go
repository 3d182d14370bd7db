package demo_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hangup-dev/hangup/demo"
	"github.com/hangup-dev/hangup/internal/pgtest"
	"github.com/jackc/pgx/v5"
)

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

// TestPostgresQueryCancelledServerSide: when the client leaves, the demo's
// PostgreSQL query is cancelled in the server too: no backend goes on
// running it, and the connection serves the next request.
func TestPostgresQueryCancelledServerSide(t *testing.T) {
	t.Parallel()
	pg := pgtest.Start(t)
	watch := pg.Connect(t)
	d := startDemo(t, demo.Config{PostgresURL: pg.URL, PostgresPool: 1})

	c := d.get("/slow?seconds=120&work=postgres")
	id := d.waitStart(c.LocalAddr())
	d.waitKind(id, "progress")
	if n := runningDemoQueries(t, watch); n != 1 {
		t.Fatalf("%d backends run the demo's query, want 1", n)
	}
	hungUp := time.Now()
	c.Close()
	end := d.waitKind(id, "end")
	expectGoneEnd(t, end, demo.OutcomeCancelled, "handler")
	if !strings.Contains(end.Err, "canceling statement due to user request") {
		t.Errorf("work error %q, want PostgreSQL's cancellation", end.Err)
	}
	rep := d.waitReport("/slow")
	for runningDemoQueries(t, watch) != 0 {
		if time.Since(hungUp) > waitLong {
			t.Fatal("PostgreSQL still runs the query of a client that left")
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("handler returned %v after the disconnect; the query was gone from pg_stat_activity %v after the hang-up",
		rep.StoppedAfter, time.Since(hungUp).Round(time.Millisecond))
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
}
