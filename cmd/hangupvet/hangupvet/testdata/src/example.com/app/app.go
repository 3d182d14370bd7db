// Package app's handlers call into store and mid, and are told at each
// call that breaks the chain.
package app

import (
	"context"
	"net/http"

	"example.com/mid"
	"example.com/store"
)

var db *store.DB

func upload(w http.ResponseWriter, r *http.Request) {
	db.Save(r.Context(), "x")        // want `^store\.DB\.Save breaks the request's cancellation: s\.db\.Exec has no context in store\.DB\.Save → store\.DB\.insert \(handler upload\); pass the request's context to it and have it use the context$`
	mid.Record(r.Context(), db, "x") // want `^mid\.Record breaks the request's cancellation: s\.db\.Exec has no context in mid\.Record → store\.DB\.Save → store\.DB\.insert \(handler upload\)`
	store.Wait()                     // want `^store\.Wait breaks the request's cancellation: time\.Sleep ignores the request's context in store\.Wait \(handler upload\)`
	save(r.Context())

	// Calls that keep the chain: nothing to report.
	db.Load(r.Context())
	mid.Verified(r.Context(), db)
	db.Flush()
	store.Forget()

	//hangup:detached
	store.Spawn(r.Context())
}

func save(ctx context.Context) {
	store.Spawn(ctx) // want `^store\.Spawn breaks .* \(handler upload → save\)`
}

// Not reached from a handler.
func warmup() {
	store.Wait()
}
