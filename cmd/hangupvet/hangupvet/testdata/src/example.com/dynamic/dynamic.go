// Package dynamic checks calls through interfaces and function values, // want package:`wiredCalls: example\.com/dynamic\.Repo\.Find from dynamic\.Handler\.get; example\.com/dynamic\.Notifier\.Notify from dynamic\.notify; example\.com/dynamic\.Store\.Load from dynamic\.api\.load}`
// which hangupvet resolves on the package's SSA form.
package dynamic

import (
	"context"
	"database/sql"
	"net/http"
	"time"
)

// An interface with one implementation: a handler over a service over a
// repository, wired up elsewhere.
type Repo interface {
	Find(id int) error
}

type sqlRepo struct{ db *sql.DB }

func (r *sqlRepo) Find(id int) error { // want Find:`breaksChain: r\.db\.Query has no context in dynamic\.sqlRepo\.Find`
	_, err := r.db.Query("SELECT * FROM t WHERE id = ?", id) // want `^r\.db\.Query has no context: .*\(handler Handler\.get → sqlRepo\.Find\); pass the request's context down and use QueryContext$`
	return err
}

type Handler struct{ repo Repo }

func (h *Handler) get(w http.ResponseWriter, r *http.Request) { h.repo.Find(1) }

// An interface with two implementations: a call may run either.
type Notifier interface{ Notify(msg string) }

type mailer struct{}

func (mailer) Notify(msg string) { time.Sleep(time.Second) } // want `\(handler notify → mailer\.Notify\)` Notify:`dynamic\.mailer\.Notify`

type pager struct{}

func (*pager) Notify(msg string) { // want Notify:`dynamic\.pager\.Notify`
	time.Sleep(time.Second) // want `\(handler notify → pager\.Notify\)`
}

var notifier Notifier

func notify(w http.ResponseWriter, r *http.Request) { notifier.Notify("hi") }

// A method value stored in a struct field runs where the field is called.
type jobs struct{ run func() }

type worker struct{ db *sql.DB }

func (wk *worker) purge() {
	wk.db.Exec("DELETE FROM t") // want `\(handler runJob → worker\.purge\)`
}

func newJobs(wk *worker) *jobs { return &jobs{run: wk.purge} }

var registry *jobs

func runJob(w http.ResponseWriter, r *http.Request) { registry.run() }

// A closure returned by a constructor and registered as a handler is a
// handler; a helper it calls through a value is followed.
func NewUpload(db *sql.DB, store func(*sql.DB)) http.HandlerFunc { // want NewUpload:`in dynamic\.NewUpload → func literal \(dynamic\.go:64\) → dynamic\.storeBlob`
	return func(w http.ResponseWriter, r *http.Request) {
		store(db)
	}
}

func storeBlob(db *sql.DB) {
	db.Exec("INSERT INTO blobs VALUES (1)") // want `\(handler func literal \(dynamic\.go:\d+\) → storeBlob\)`
}

func routes(mux *http.ServeMux, db *sql.DB) {
	mux.Handle("/upload", NewUpload(db, storeBlob))
}

// Contexts passed correctly through an interface: nothing to report.
type Store interface {
	Load(ctx context.Context, id int) error
}

type pgStore struct{ db *sql.DB }

func (s pgStore) Load(ctx context.Context, id int) error {
	return s.db.QueryRowContext(ctx, "SELECT 1").Err()
}

type api struct{ store Store }

func (a *api) load(w http.ResponseWriter, r *http.Request) { a.store.Load(r.Context(), 1) }

// An implementation no handler's interface call reaches: nothing to
// report.
type Clock interface{ Tick() }

type slowClock struct{}

func (slowClock) Tick() { time.Sleep(time.Second) } // want Tick:`dynamic\.slowClock\.Tick`

// A function value no handler calls: nothing to report.
var onStart = func() { time.Sleep(time.Second) }

func start() { onStart() }
