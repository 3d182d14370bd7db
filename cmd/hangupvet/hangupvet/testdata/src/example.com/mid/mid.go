// Package mid sits between app and store: calling store.Save makes its own
// Record break the chain too, and its handler is told at the call.
package mid

import (
	"context"
	"net/http"

	"example.com/store"
)

// Record saves v.
func Record(ctx context.Context, s *store.DB, v string) error { // want Record:`^breaksChain: s\.db\.Exec has no context in mid\.Record → store\.DB\.Save → store\.DB\.insert$`
	return s.Save(ctx, v) // want `^store\.DB\.Save breaks the request's cancellation: .* \(handler Handler → Record\)`
}

// Handler is a handler of mid's own.
func Handler(w http.ResponseWriter, r *http.Request) { // want Handler:`breaksChain: s\.db\.Exec has no context in mid\.Handler → mid\.Record → store\.DB\.Save → store\.DB\.insert`
	Record(r.Context(), nil, "x")
}

// Unreached calls store.Wait, but no handler reaches it here.
func unreached() {
	store.Wait()
}

// Verified calls nothing that breaks the chain: no fact.
func Verified(ctx context.Context, s *store.DB) error {
	return s.Load(ctx)
}
