// Package detached checks the //hangup:detached directive.
package detached

import (
	"context"
	"database/sql"
	"net/http"
	"time"
)

var db *sql.DB

func pay(w http.ResponseWriter, r *http.Request) {
	// The line before a statement.
	//hangup:detached
	db.Exec("INSERT INTO payments")

	db.Exec("INSERT INTO audit") //hangup:detached: the audit trail must be complete

	// A trailing directive applies to its own line only.
	time.Sleep(time.Millisecond) // want `time\.Sleep`

	// A detached statement takes everything inside it along, calls too.
	//hangup:detached
	go func() {
		ctx := context.WithoutCancel(r.Context())
		notify(ctx)
		time.Sleep(time.Second)
	}()

	go func() { //hangup:detached
		time.Sleep(time.Second)
	}()

	// A multi-line statement is detached by a directive on any of its
	// lines that carries a finding.
	send(context.Background(), //hangup:detached
		"receipt")

	// Unmarked, the same code is reported.
	go func() {
		ctx := context.WithoutCancel(r.Context()) // want `^context\.WithoutCancel: drops the request's cancellation: work under it keeps running after the client leaves \(handler pay → go func\); if it must finish, say so with a //hangup:detached comment$`
		notify(ctx)
	}()

	settle()
	reconcile()
}

func notify(ctx context.Context) {
	time.Sleep(time.Second) // want `\(handler pay → go func → notify\)`
}

func send(ctx context.Context, what string) {}

// settle is detached whole, and so is what only it calls.
//
//hangup:detached
func settle() {
	time.Sleep(time.Second)
	ledger()
}

func ledger() {
	_ = context.Background()
}

// reconcile is not detached: the directive must be the whole comment word.
//
//hangup:detachedness
func reconcile() {
	time.Sleep(time.Second) // want `\(handler pay → reconcile\)`
}

// A detached handler is silenced as a whole.
//
//hangup:detached
func webhook(w http.ResponseWriter, r *http.Request) {
	time.Sleep(time.Second)
}

func routes(mux *http.ServeMux) {
	//hangup:detached
	mux.HandleFunc("/batch", func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(time.Second)
	})
}
