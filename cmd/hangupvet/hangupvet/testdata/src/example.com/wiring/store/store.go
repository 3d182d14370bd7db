// Package store implements login.Storer without importing login.
package store

import (
	"context"
	"database/sql"
	"time"
)

type DB struct{ db *sql.DB }

func (s *DB) Save(email string) error { // want Save:`breaksChain: s\.db\.Exec has no context in store\.DB\.Save`
	_, err := s.db.Exec("INSERT INTO users VALUES (?)", email)
	return err
}

func (s *DB) Find(email string) error { // want Find:`breaksChain: context\.Background\(\) in store\.DB\.Find`
	return s.db.QueryRowContext(context.Background(), "SELECT 1 FROM users WHERE email = ?", email).Err()
}

func (s *DB) Load(ctx context.Context, email string) error {
	return s.db.QueryRowContext(ctx, "SELECT 1 FROM users WHERE email = ?", email).Err()
}

func (s *DB) Purge() { // want Purge:`breaksChain: s\.db\.Exec has no context in store\.DB\.Purge`
	s.db.Exec("DELETE FROM users")
}

// Cache implements login.Storer too, and honours every context.
type Cache struct{}

func (Cache) Save(email string) error                      { return nil }
func (Cache) Find(email string) error                      { return nil }
func (Cache) Load(ctx context.Context, email string) error { return ctx.Err() }
func (Cache) Purge()                                       {}

// Archive implements login.Storer; only its Save breaks the chain.
type Archive struct{ db *sql.DB }

func (a *Archive) Save(email string) error { // want Save:`breaksChain: time\.Sleep ignores the request's context in store\.Archive\.Save`
	time.Sleep(time.Second)
	return nil
}
func (a *Archive) Find(email string) error                      { return nil }
func (a *Archive) Load(ctx context.Context, email string) error { return nil }
func (a *Archive) Purge()                                       {}
