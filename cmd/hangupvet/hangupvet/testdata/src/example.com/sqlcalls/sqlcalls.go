// Package sqlcalls checks database/sql calls without a context and calls
// that have a ...Context sibling.
package sqlcalls

import (
	"context"
	"database/sql"
	"net/http"

	"github.com/jmoiron/sqlx"
)

type store struct {
	db *sql.DB
}

// appDB embeds *sql.DB; its promoted methods are database/sql's.
type appDB struct {
	*sql.DB
}

func (s *store) handler(w http.ResponseWriter, r *http.Request) {
	id := r.URL.Query().Get("id")
	rows, _ := s.db.Query("SELECT * FROM t WHERE id = ?", id) // want `^s\.db\.Query has no context: this query keeps running after the client leaves \(handler store\.handler\); use QueryContext\(r\.Context\(\), …\)$`
	defer rows.Close()
	row := s.db.QueryRow("SELECT 1") // want `s\.db\.QueryRow has no context: this query keeps running`
	_ = row
	args := []any{1, 2}
	s.db.Exec("UPDATE t SET a = ? WHERE b = ?", args...) // want `s\.db\.Exec has no context: this statement keeps running .*; use ExecContext\(r\.Context\(\), …\)$`
	stmt, _ := s.db.Prepare("SELECT 1")                  // want `s\.db\.Prepare has no context: preparing the statement goes on after`
	stmt.Query()                                         // want `stmt\.Query has no context`
	stmt.Exec(1)                                         // want `stmt\.Exec has no context`
	s.db.Ping()                                          // want `s\.db\.Ping has no context: the ping keeps waiting .*; use PingContext\(r\.Context\(\), …\)$`
	tx, _ := s.db.Begin()                                // want `s\.db\.Begin has no context: the transaction is not tied to the request and keeps running .*; use BeginTx\(r\.Context\(\), nil\)$`
	tx.Exec("DELETE FROM t")                             // want `tx\.Exec has no context`
	tx.Stmt(stmt)                                        // want `tx\.Stmt has no context: it keeps running .*; use StmtContext\(r\.Context\(\), …\)$`
	tx.Commit()

	var a appDB
	a.Exec("VACUUM") // want `a\.Exec has no context`

	var x *sqlx.DB
	var n int
	x.Get(&n, "SELECT count(*) FROM t") // want `x\.Get has no context: it keeps running .*; use GetContext\(r\.Context\(\), …\)$`
	x.Select(&n, "SELECT 1")            // its SelectContext takes other arguments: no sibling
	x.Exec("SELECT 1")                  // want `x\.Exec has no context`

	// With the request's context: nothing to report.
	ctx := r.Context()
	s.db.QueryContext(ctx, "SELECT 1")
	s.db.ExecContext(ctx, "SELECT 1")
	x.GetContext(ctx, &n, "SELECT 1")
	tx2, _ := s.db.BeginTx(ctx, nil)
	tx2.Rollback()
}

// helper has no context to offer, so there is advice but no fix.
func (s *store) other(w http.ResponseWriter, r *http.Request) { s.count() }

func (s *store) count() {
	s.db.QueryRow("SELECT count(*) FROM t") // want `\(handler store\.other → store\.count\); pass the request's context down and use QueryRowContext$`
}

// connOnly uses *sql.Conn, whose methods all take a context.
func connOnly(ctx context.Context, c *sql.Conn) {
	c.ExecContext(ctx, "SELECT 1")
}
