// Package sqlx is a stub of github.com/jmoiron/sqlx: context-less methods
// with ...Context siblings.
package sqlx

import (
	"context"
	"database/sql"
)

// DB wraps a *sql.DB.
type DB struct {
	*sql.DB
}

// Get runs a query that returns one row into dest.
func (db *DB) Get(dest any, query string, args ...any) error { return nil }

// GetContext is Get with a context.
func (db *DB) GetContext(ctx context.Context, dest any, query string, args ...any) error { return nil }

// Select runs a query into dest; its sibling takes different arguments,
// so it is not a sibling.
func (db *DB) Select(dest any, query string) error { return nil }

// SelectContext takes a limit Select does not.
func (db *DB) SelectContext(ctx context.Context, dest any, query string, limit int) error { return nil }
