// Package store is a library with no handlers: its functions that break
// the chain carry a fact, which handlers elsewhere are told about.
package store

import (
	"context"
	"database/sql"
	"time"
)

// DB stores values.
type DB struct {
	db *sql.DB
}

// Save breaks the chain one call down, although it takes a context.
func (s *DB) Save(ctx context.Context, v string) error { // want Save:`^breaksChain: s\.db\.Exec has no context in store\.DB\.Save → store\.DB\.insert$`
	return s.insert(v)
}

func (s *DB) insert(v string) error {
	_, err := s.db.Exec("INSERT INTO t VALUES (?)", v)
	return err
}

// Load passes its context on: no fact.
func (s *DB) Load(ctx context.Context) error {
	_, err := s.db.ExecContext(ctx, "SELECT 1")
	return err
}

// Flush must finish on purpose: no fact.
//
//hangup:detached
func (s *DB) Flush() {
	s.insert("flush")
}

// Wait sleeps.
func Wait() { // want Wait:`^breaksChain: time\.Sleep ignores the request's context in store\.Wait$`
	time.Sleep(time.Second)
}

// Spawn leaves a goroutine blocked while holding the caller's context.
func Spawn(ctx context.Context) { // want Spawn:`^breaksChain: channel receive without a context case in store\.Spawn → go func$`
	go func() {
		<-make(chan int)
		_ = ctx
	}()
}

// Forget starts a goroutine of its own: its work is not the caller's.
func Forget() {
	go func() { time.Sleep(time.Second) }()
}
