// Package contexts checks fresh root contexts and context.WithoutCancel.
package contexts

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/jackc/pgx/v5"
)

var conn *pgx.Conn

func handler(w http.ResponseWriter, r *http.Request) {
	ctx := context.Background() // want `^context\.Background\(\): cuts the request's cancellation: work under it keeps running after the client leaves \(handler handler\); use r\.Context\(\)$`
	_ = ctx
	tctx, cancel := context.WithTimeout(context.TODO(), time.Second) // want `^context\.TODO\(\): cuts the request's cancellation: .* \(handler handler\); use r\.Context\(\)$`
	defer cancel()
	_ = tctx

	// pgx takes a context first; handing it a fresh one is the mistake.
	conn.Exec(context.Background(), "DELETE FROM sessions") // want `context\.Background\(\)`

	// Passed along, the request's context is fine.
	conn.Exec(r.Context(), "DELETE FROM sessions")

	// A logger only reads values from its context.
	slog.Default().LogAttrs(context.Background(), slog.LevelInfo, "request")
	slog.InfoContext(context.TODO(), "request")
	slog.Info("request")

	query(r.Context(), nil)
	detach(r.Context())
}

func query(ctx context.Context, c *pgx.Conn) {
	if ctx == nil {
		// Filling in for a caller that passed nothing cuts nothing.
		ctx = context.Background()
	}
	if c == nil {
		ctx = context.Background() // want `\(handler handler → query\); keep using ctx$`
	}
	_ = ctx
}

func detach(ctx context.Context) {
	_ = context.WithoutCancel(ctx) // want `context\.WithoutCancel: drops`
}
