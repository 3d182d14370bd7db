// Package gincontext checks a *gin.Context handed on as a context.Context, // want package:`wiredCalls: example\.com/gincontext\.Store\.Get from gincontext\.Server\.get}`
// which gin never cancels unless the engine sets ContextWithFallback.
package gincontext

import (
	"context"
	"database/sql"
	"time"

	"github.com/gin-gonic/gin"
)

// Store is a repository whose methods take the context they run under.
type Store interface {
	Get(ctx context.Context, id int) error
}

type sqlStore struct{ db *sql.DB }

func (s *sqlStore) Get(ctx context.Context, id int) error {
	return s.db.QueryRowContext(ctx, "SELECT 1 WHERE ? > 0", id).Err()
}

type Server struct {
	store Store
	db    *sql.DB
	load  func(context.Context) error
}

// Reported: the *gin.Context itself handed to a service, a query, a
// derived context and a function value.
func (s *Server) get(c *gin.Context) {
	s.store.Get(c, 1)                                  // want `^c is a \*gin\.Context: as a context\.Context it is never cancelled unless the engine sets ContextWithFallback, so what it is handed to keeps running after the client leaves \(handler Server\.get\); use c\.Request\.Context\(\)$`
	s.db.QueryContext(c, "SELECT 1")                   // want `c is a \*gin\.Context`
	ctx, cancel := context.WithTimeout(c, time.Second) // want `c is a \*gin\.Context`
	defer cancel()
	s.store.Get(ctx, 2)
	s.load(c) // want `c is a \*gin\.Context`
	s.helper(c, 3)
}

// helper is reached from get (it is no handler: it takes more than the
// *gin.Context): the finding names the path.
func (s *Server) helper(ctx *gin.Context, id int) {
	s.store.Get(ctx, id) // want `\(handler Server\.get → Server\.helper\); use ctx\.Request\.Context\(\)$`
}

// Silent: the request's context passed on, the *gin.Context handed where
// a *gin.Context or any value is expected, detached work, and code that
// no handler reaches.
func (s *Server) list(c *gin.Context) {
	s.store.Get(c.Request.Context(), 1)
	s.takesGin(c)
	s.takesAny(c)
	//hangup:detached
	s.store.Get(c, 2)
}

func (s *Server) takesGin(c *gin.Context) { _ = c.Request }

func (s *Server) takesAny(v any) { _ = v }

func unreached(c *gin.Context, s Store) { s.Get(c, 1) }

func routes(e *gin.Engine, s *Server) {
	e.GET("/get", s.get)
	e.GET("/list", s.list)
}
