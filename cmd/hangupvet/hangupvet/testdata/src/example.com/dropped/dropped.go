// Package dropped checks functions on a handler's path that are handed a
// context and then do blocking work without it.
package dropped

import (
	"context"
	"database/sql"
	"net"
	"net/http"
	"time"
)

type service struct{ db *sql.DB }

func (s *service) handle(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	s.unused(ctx, 1)
	s.blank(ctx)
	s.shadowed(ctx, []int{1})
	s.replaced(ctx)
	s.literal(ctx)
	s.passed(ctx)
	s.fallback(ctx)
	s.derived(ctx)
	s.elsewhere(ctx)
	s.audit(ctx)
}

// The parameter is never used: the fix passes it.
func (s *service) unused(ctx context.Context, id int) {
	s.db.Query("SELECT * FROM t WHERE id = ?", id) // want `^s\.db\.Query has no context: this query keeps running after the client leaves, though service\.unused was handed the request's context as ctx and never uses it \(handler service\.handle → service\.unused\); use QueryContext\(ctx, …\)$`
}

func (s *service) blank(_ context.Context) {
	net.Dial("tcp", "db:5432") // want `^net\.Dial has no context: the dial keeps waiting after the client leaves, though service\.blank was handed a context and ignores it \(the parameter is blank\) \(handler service\.handle → service\.blank\); name the context parameter and pass it on$`
}

func (s *service) shadowed(ctx context.Context, ids []int) {
	for _, id := range ids {
		ctx := context.Background()                 // want `^context\.Background\(\): cuts the request's cancellation`
		s.db.Exec("DELETE FROM t WHERE id = ?", id) // want `^s\.db\.Exec has no context: .*, though service\.shadowed was handed the request's context as ctx and shadows it at line 40 \(handler service\.handle → service\.shadowed\); keep ctx as it was handed and pass it on$`
		_ = ctx
	}
}

func (s *service) replaced(ctx context.Context) {
	ctx = context.TODO()    // want `^context\.TODO\(\): cuts`
	time.Sleep(time.Second) // want `^time\.Sleep ignores the request's context: the handler keeps sleeping after the client left, though service\.replaced was handed the request's context as ctx and replaces it at line 47 \(handler service\.handle → service\.replaced\); keep ctx as it was handed and pass it on$`
	_ = ctx
}

// A literal works for the function it is written in.
func (s *service) literal(ctx context.Context) {
	defer func() {
		s.db.Exec("UPDATE t SET seen = 1") // want `^s\.db\.Exec has no context: .*, though service\.literal was handed the request's context as ctx and never uses it \(handler service\.handle → service\.literal → defer func\); use ExecContext\(ctx, …\)$`
	}()
}

// Passed on: nothing to report.
func (s *service) passed(ctx context.Context) {
	s.db.QueryContext(ctx, "SELECT 1")
	t := time.NewTimer(time.Second)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// Filling in for a caller that passed nil cuts nothing.
func (s *service) fallback(ctx context.Context) {
	if ctx == nil {
		ctx = context.Background()
	}
	s.db.ExecContext(ctx, "SELECT 1")
}

// A context made from the one handed in is the same chain.
func (s *service) derived(ctx context.Context) {
	ctx = withUser(ctx)
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	s.db.ExecContext(ctx, "SELECT 1")
}

func withUser(ctx context.Context) context.Context { return ctx }

// The context is used, just not here: an ordinary no-context finding.
func (s *service) elsewhere(ctx context.Context) {
	s.db.PingContext(ctx)
	s.db.Exec("SELECT 1") // want `^s\.db\.Exec has no context: this statement keeps running after the client leaves \(handler service\.handle → service\.elsewhere\); use ExecContext\(ctx, …\)$`
}

// Detached on purpose: nothing to report.
//
//hangup:detached
func (s *service) audit(ctx context.Context) {
	s.db.Exec("INSERT INTO audit VALUES (1)")
}

// A background worker no handler starts: nothing to report.
func worker(ctx context.Context, s *service) {
	for {
		s.db.Exec("DELETE FROM sessions WHERE expired")
		time.Sleep(time.Minute)
	}
}
