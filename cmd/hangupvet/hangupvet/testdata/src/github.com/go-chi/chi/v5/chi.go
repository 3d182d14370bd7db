// Package chi is a stub of github.com/go-chi/chi/v5, whose handlers are
// plain net/http handlers.
package chi

import "net/http"

// Mux is a router.
type Mux struct{}

// NewRouter returns a router.
func NewRouter() *Mux { return &Mux{} }

// Get registers h for GET requests to pattern.
func (m *Mux) Get(pattern string, h http.HandlerFunc) {}
